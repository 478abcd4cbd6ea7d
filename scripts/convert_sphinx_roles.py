"""Rewrite Sphinx cross-reference roles in Python sources as plain double-backtick literals.

The documentation site renders docstrings with mkdocstrings, which reads Markdown and does not
resolve Sphinx roles: ``:func:`make_scorer``` would appear on the page as written. This script
turns every role into the literal it names:

- ``:func:`make_scorer``` becomes ````make_scorer````;
- ``:class:`~auxqual.quality.eap.EAP``` becomes ````EAP```` (the ``~`` keeps the last part, as
  Sphinx shows it);
- ``:meth:`title <target>``` becomes ````title````;
- ``:py:func:`x``` is treated as ``:func:`x```.

Usage::

    python scripts/convert_sphinx_roles.py --check          # count, change nothing; exit 1 if any
    python scripts/convert_sphinx_roles.py                  # rewrite auxqual/, stages/, flows/
    python scripts/convert_sphinx_roles.py PATH [PATH ...]  # files or folders of your choice

Each file is rewritten atomically (a temporary file in the same folder, then ``os.replace``), and
only when it changes. Running it twice changes nothing the second time.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

ROLES = ("func", "class", "meth", "mod", "data", "attr", "exc", "obj", "const")
ROLE = re.compile(r":(?:py:)?(?P<role>" + "|".join(ROLES) + r"):`(?P<body>[^`\n]+)`")
DEFAULT_PATHS = ("auxqual", "stages", "flows")


def literal(match: re.Match[str]) -> str:
    """The double-backtick literal that replaces one role (its title, or its target's shown part)."""
    body = match.group("body").strip()
    titled = re.fullmatch(r"(?P<title>.+?)\s*<(?P<target>[^<>]+)>", body)
    if titled:
        text = titled.group("title")
    elif body.startswith("~"):
        text = body[1:].rsplit(".", 1)[-1]
    else:
        text = body.lstrip("!")
    return f"``{text}``"


def convert(text: str) -> tuple[str, int]:
    """Return ``text`` with every role replaced, and how many were replaced."""
    return ROLE.subn(literal, text)


def python_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Every ``.py`` file under ``paths`` (files are taken as they are), sorted, caches skipped."""
    for path in map(Path, paths):
        if not path.exists():
            raise ValueError(f"convert_sphinx_roles: {path}: no such file or folder")
        if path.is_file():
            yield path
        else:
            yield from sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` through a temporary file in its folder, keeping its mode."""
    mode = path.stat().st_mode
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", default=list(DEFAULT_PATHS),
                        help="files or folders (default: auxqual stages flows)")
    parser.add_argument("--check", action="store_true", help="count the roles, change nothing; exit 1 if any")
    args = parser.parse_args(argv)
    try:
        files = list(python_files(args.paths))
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    total = changed = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        new, count = convert(text)
        if not count:
            continue
        total += count
        changed += 1
        print(f"{path}: {count} role(s)")
        if not args.check:
            write_atomically(path, new)
    verb = "found" if args.check else "rewritten"
    print(f"{total} Sphinx role(s) {verb} in {changed} of {len(files)} file(s)")
    return 1 if args.check and total else 0


if __name__ == "__main__":
    sys.exit(main())
