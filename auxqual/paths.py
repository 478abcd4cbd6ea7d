"""Relative paths from params and tables that must stay inside their folder.

A path named in ``params.yaml`` (a dataset entry, a generator's folder) or in a lineage table is
read relative to a folder the pipeline owns; one that leads out of it (absolute, ``..``) could
read or hash any file of the machine. ``escape_reason`` says why a path is refused, in words
the one-line errors of the params schema and of the dataset loader share.
"""

from __future__ import annotations

import re


def escape_reason(text: str) -> str | None:
    """Why the ``/``-separated relative path ``text`` would not stay inside its folder, or
    ``None`` when it does: an absolute path (also ``C:``), a backslash, a ``..`` component or
    an empty name."""
    parts = text.split("/")
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        return "an absolute path"
    if "\\" in text:
        return "a backslash (use / between folders)"
    if ".." in parts:
        return "a '..' component"
    if "" in parts:
        return "an empty name or folder"
    return None


__all__ = ["escape_reason"]
