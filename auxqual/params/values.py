"""The one ``KEY=VALUE`` parser: ``--set`` of the flows, ``--param`` of ``auxqual score`` and
``auxqual generate``.

A value is read as YAML, as ``dvc exp run -S`` reads it: ``10`` is an int, ``0.5`` and
``1e-3`` floats, ``true`` a bool, ``null`` None, ``[0, 50]`` a list, ``{k: 5}`` a mapping,
nothing (``name=``) the empty text, anything else the text itself. So one value means the
same thing wherever it is typed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

# YAML 1.1 (PyYAML) reads ``1e-3`` as text; YAML 1.2 and every person read it as a number.
_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def parse_value(text: str) -> Any:
    """``text`` as a YAML value (``"[0, 50]"`` -> ``[0, 50]``, ``"abc"`` -> ``"abc"``).

    Parameters
    ----------
    text : str
        The part after ``=``.

    Returns
    -------
    Any
        The value; text that is not valid YAML (``"a: b: c"``) raises ``ValueError``.
    """
    if not text.strip():
        return text           # ``key=``: the empty text, as dvc exp run -S (Hydra) reads it
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"{text!r} is not a valid YAML value ({' '.join(str(error).split())})") from None
    if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        return float(value)
    return value


def parse_assignment(item: str, flag: str = "--set") -> tuple[str, Any]:
    """``"train.q=[0, 50]"`` -> ``("train.q", [0, 50])``; ``ValueError`` naming ``flag`` and the item."""
    key, sep, text = str(item).partition("=")
    key = key.strip()
    if not sep or not key.lstrip("+"):
        raise ValueError(f"{flag} {item!r}: expected KEY=VALUE, e.g. random_state=1")
    try:
        return key, parse_value(text)
    except ValueError as error:
        raise ValueError(f"{flag} {key}: {error}") from None


def parse_assignments(items: Iterable[str] | Mapping[str, Any] | None, flag: str = "--set") -> dict[str, Any]:
    """Every ``KEY=VALUE`` of ``items`` as ``{key: value}`` (a later key wins); a mapping is
    taken as already parsed."""
    if not items:
        return {}
    if isinstance(items, Mapping):
        return {str(k): v for k, v in items.items()}
    return dict(parse_assignment(item, flag) for item in items)
