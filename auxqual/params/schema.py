"""What both params schemas share: sections that refuse unknown keys, one line naming the
key at fault (and the closest valid key), estimator parameters checked against the
constructors' names, paths kept inside their folder, and the Markdown table of every key.

``auxqual.params.benchmark.BenchmarkParams`` (this repository's ``params.yaml``) and
``auxqual.project.params.ProjectParams`` (a project made by ``auxqual init``) are built on it.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticUndefined

from auxqual.paths import escape_reason

Model = TypeVar("Model", bound=BaseModel)


class Section(BaseModel):
    """A section of a params file: an unknown key is an error, never silently ignored, and a
    value of another type is refused (``true`` is no integer, ``"5"`` no number)."""

    model_config = ConfigDict(extra="forbid", strict=True)


def defaults(model: type[Model]) -> Callable[[], Model]:
    """A ``default_factory`` for a section left out: the section with every key at its default."""
    return lambda: model.model_validate({})


class KeyProblem(ValueError):
    """A problem whose message already names the full key (raised inside validators)."""


def closest(name: str, valid: Iterable[str]) -> str | None:
    """The valid name closest to ``name`` (``difflib``), or ``None`` when none is close."""
    found = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1)
    return found[0] if found else None


def unknown(key: str, name: str, valid: Iterable[str], what: str = "key") -> KeyProblem:
    """``unknown key 'score.params.eapp'; did you mean 'score.params.eap'?``: ``key`` is the
    dotted path of the section (or list) that holds ``name``."""
    valid = [str(v) for v in valid]
    close = closest(name, valid)
    if what == "key":
        full = f"{key}.{name}" if key else str(name)
        hint = f"did you mean {(f'{key}.{close}' if key else close)!r}?" if close else f"valid keys here: {valid}"
        return KeyProblem(f"unknown key {full!r}; {hint}")
    hint = f"did you mean {close!r}?" if close else f"expected one of {valid}"
    return KeyProblem(f"{key}: unknown {what} {name!r}; {hint}")


def check_names(key: str, names: Iterable[str], valid: Iterable[str], what: str = "key") -> None:
    """Every one of ``names`` is in ``valid``, else one line naming ``key`` and the closest
    (``what="key"``: the names are keys of the mapping ``key``)."""
    valid = list(valid)
    for name in names:
        if name not in valid:
            raise unknown(key, name, valid, what)


def check_estimator_params(key: str, per_name: Mapping[str, Mapping[str, Any]],
                           accepted: Mapping[str, tuple[str, ...]], what: str) -> None:
    """``per_name`` (``{"eap": {"n_subsets": 10}}``): each name a known ``what`` and each
    parameter one its constructor takes (``accepted``: name -> parameter names).

    An unknown name or parameter is ``unknown key 'score.params.eap.n_subsetz'; did you
    mean 'score.params.eap.n_subsets'?``."""
    for name, params in per_name.items():
        if name not in accepted:
            raise unknown(key, name, accepted)
        for param in params:
            if param not in accepted[name]:
                raise unknown(f"{key}.{name}", param, accepted[name])


def inside(key: str, value: str, hint: str = "it must stay inside its folder") -> str:
    """``value``, a path relative to its folder that stays there: an absolute path, a ``..``
    component, a backslash or an empty part is one line naming ``key`` (and ``hint``)."""
    text = str(value)
    reason = escape_reason(text)
    if reason is not None:
        raise KeyProblem(f"{key} entry {value!r} is {reason}; {hint}")
    return text


# --------------------------------------------------------------------------- reading
def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """A params file as a mapping; a missing, unreadable or non-mapping file is one ``ValueError``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: params file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: not valid YAML ({' '.join(str(error).split())})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    return raw


def parse(model: type[Model], raw: Any, where: str) -> Model:
    """``model`` from the mapping ``raw``; the first problem as one ``ValueError`` line
    ``<where>: <problem>`` naming the key."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: expected a mapping of sections, got {type(raw).__name__}")
    try:
        return model.model_validate(dict(raw))
    except ValidationError as error:
        raise ValueError(f"{where}: {first_problem(error, model)}") from None


def first_problem(error: ValidationError, model: type[BaseModel]) -> str:
    """The first problem of ``error`` as one line naming the key."""
    problem = error.errors()[0]
    cause = (problem.get("ctx") or {}).get("error")
    if isinstance(cause, KeyProblem):
        return str(cause)
    location = [str(part) for part in problem["loc"] if not _UNION_TAG.fullmatch(str(part))]
    key = ".".join(location)
    if problem["type"] == "extra_forbidden":
        return str(unknown(".".join(location[:-1]), location[-1], valid_keys(model, location[:-1])))
    if problem["type"] == "missing":
        return f"missing key {key!r}"
    message = problem["msg"].removeprefix("Value error, ")
    if not location:
        return message
    return f"{key}: {message} (got {problem.get('input')!r})"


# the tags pydantic adds to a location inside a union (``select.q.int``): not keys of the file
_UNION_TAG = re.compile(r"(int|float|str|bool|none|list\[.*\]|dict\[.*\]|function-\w+\[.*\]|literal\[.*\]|"
                        r"[A-Z]\w*)")


def _section_model(annotation: Any) -> type[BaseModel] | None:
    """The section model inside ``annotation`` (``Inner``, ``Inner | None``), else ``None``."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def valid_keys(model: type[BaseModel], path: list[str]) -> list[str]:
    """The keys the section at ``path`` of ``model`` accepts."""
    for part in path:
        field = model.model_fields.get(part)
        inner = None if field is None else _section_model(field.annotation)
        if inner is None:
            return []
        model = inner
    return list(model.model_fields)


# --------------------------------------------------------------------------- documentation
def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is typing.Literal:
        return " or ".join(repr(a) for a in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _range(field: Any) -> str:
    bounds = []
    for item in field.metadata:
        for attr, sign in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤"), ("min_length", "length ≥")):
            value = getattr(item, attr, None)
            if value is not None:
                bounds.append(f"{sign} {value}")
    return ", ".join(bounds)


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if value is PydanticUndefined:
        return "required"
    return f"`{yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix('...').strip()}`"


def schema_rows(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str, str, str]]:
    """``(key, type, default, range, description)`` for every key of ``model``, sections first
    by their order in the model; a nested section gives a row per key (``data.default.sources``)."""
    rows: list[tuple[str, str, str, str, str]] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        inner = _section_model(field.annotation)
        if inner is not None and typing.get_origin(field.annotation) is None:
            rows.extend(schema_rows(inner, f"{key}."))
            continue
        if typing.get_origin(field.annotation) is dict:   # name -> a section of its own
            value = _section_model(typing.get_args(field.annotation)[1])
            if value is not None:
                rows.append((key, "mapping", _default(field), "", " ".join((field.description or "").split())))
                rows.extend(schema_rows(value, f"{key}.<name>."))
                continue
        rows.append((key, _type_name(field.annotation), _default(field), _range(field),
                     " ".join((field.description or "").split())))
    return rows


def markdown_table(model: type[BaseModel]) -> str:
    """Every key of ``model`` as one Markdown table (key, type, default, range, meaning)."""
    lines = ["| key | type | default | range | meaning |", "| --- | --- | --- | --- | --- |"]
    for key, kind, default, bounds, meaning in schema_rows(model):
        cells = [f"`{key}`", f"`{kind}`", default, bounds, meaning.replace("<", "&lt;").replace(">", "&gt;")]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)
