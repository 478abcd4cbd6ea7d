"""Rewrite the reStructuredText of docstrings that the documentation site cannot render.

The documentation site renders docstrings with mkdocstrings, which reads Markdown and does not
resolve Sphinx roles: ``:func:`make_scorer``` would appear on the page as written. This script
turns every role into the literal it names:

- ``:func:`make_scorer``` becomes ````make_scorer````;
- ``:class:`~auxqual.quality.eap.EAP``` becomes ````EAP```` (the ``~`` keeps the last part, as
  Sphinx shows it);
- ``:meth:`title <target>``` becomes ````title````;
- ``:py:func:`x``` is treated as ``:func:`x```.

Two other reStructuredText forms are rewritten too: a paragraph ending in ``::`` before an
indented literal block ends in ``:`` (Markdown shows the indented block as code, and would print
the ``::``), and a two-column simple table (rows between ``=====  =====`` borders) becomes a
Markdown table. Last, a numpy-style docstring whose ``Parameters`` (or ``Attributes``) section is
followed by a plain paragraph gets a ``Notes`` heading before that paragraph: the numpy parser
(griffe) would read the paragraph as more parameters ("No types or annotations for parameters
['A']") and the strict site build fails. And a power such as ``2**18`` written bare in a
docstring becomes a literal, since Markdown reads the ``**`` as bold.

Usage::

    python scripts/convert_sphinx_roles.py --check          # count, change nothing; exit 1 if any
    python scripts/convert_sphinx_roles.py                  # rewrite auxqual/, stages/, flows/
    python scripts/convert_sphinx_roles.py PATH [PATH ...]  # files or folders of your choice

Each file is rewritten atomically (a temporary file in the same folder, then ``os.replace``), and
only when it changes. Running it twice changes nothing the second time.
"""

from __future__ import annotations

import argparse
import ast
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


LITERAL_BLOCK = re.compile(r"(?<=[^\s:]):: *\n(?= *\n)")
BORDER = re.compile(r"^(?P<indent> *)(?P<left>=+)(?P<gap> +)(?P<right>=+) *$")


def simple_tables(text: str) -> tuple[str, int]:
    """Rewrite two-column reStructuredText simple tables as Markdown tables."""
    lines, out, count, i = text.split("\n"), [], 0, 0
    while i < len(lines):
        top = BORDER.match(lines[i])
        end = next((j for j in range(i + 1, len(lines)) if lines[j] == lines[i]), None) if top else None
        if top is None or end is None:
            out.append(lines[i])
            i += 1
            continue
        indent, split = top.group("indent"), len(top.group("indent")) + len(top.group("left") + top.group("gap"))
        rows: list[list[str]] = []
        for line in lines[i + 1:end]:
            left, right = line[:split].strip(), line[split:].strip()
            if left or not rows:
                rows.append([left, right])
            else:  # a continuation line of the right column
                rows[-1][1] = f"{rows[-1][1]} {right}".strip()
        out += [f"{indent}| name | meaning |", f"{indent}| --- | --- |",
                *(f"{indent}| {a} | {b} |" for a, b in rows)]
        count += 1
        i = end + 1
    return "\n".join(out), count


SECTION = re.compile(r"^(?P<indent> *)(?:Parameters|Other Parameters|Attributes) *$")
ENTRY = re.compile(r"^[\w*]+(?:, [\w*]+)*(?: : .+)?$")


def notes_after_entries(text: str) -> tuple[str, int]:
    """Put a ``Notes`` heading before a plain paragraph that follows a section of ``name : type`` entries."""
    lines, count = text.split("\n"), 0
    i = 0
    while i < len(lines):
        section = SECTION.match(lines[i])
        if not (section and i + 1 < len(lines) and re.fullmatch(r" *-{3,} *", lines[i + 1])):
            i += 1
            continue
        base, j, blank = section.group("indent"), i + 2, False
        while j < len(lines):
            line = lines[j]
            if not line.strip():
                blank = True
            elif '"""' in line or len(line) - len(line.lstrip()) < len(base):
                break  # the docstring ends
            elif len(line) - len(line.lstrip()) > len(base):
                blank = False  # an entry's description
            elif j + 1 < len(lines) and re.fullmatch(r" *-{3,} *", lines[j + 1]):
                break  # the next section
            elif ENTRY.match(line.strip()):
                blank = False
            else:
                if blank:
                    lines[j:j] = [f"{base}Notes", f"{base}-----"]
                    count += 1
                break
            j += 1
        i = j
    return "\n".join(lines), count


POWER = re.compile(r"(?<![`\w*])(\d+\*\*\d+)(?![`\w*])")


def docstring_lines(text: str) -> set[int]:
    """The 0-based numbers of the lines that docstrings occupy (empty when ``text`` does not parse)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set()
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                lines.update(range(first.lineno - 1, (first.end_lineno or first.lineno)))
    return lines


def bare_powers(text: str) -> tuple[str, int]:
    """Wrap ``2**18``-style powers of docstrings in double backticks (never in code)."""
    inside, lines, count = docstring_lines(text), text.split("\n"), 0
    for i in sorted(inside):
        if i < len(lines):
            lines[i], n = POWER.subn(r"``\1``", lines[i])
            count += n
    return "\n".join(lines), count


def convert(text: str) -> tuple[str, int]:
    """Return ``text`` with every role, literal-block marker and simple table rewritten, and how many."""
    text, roles = ROLE.subn(literal, text)
    text, markers = LITERAL_BLOCK.subn(":\n", text)
    text, tables = simple_tables(text)
    text, notes = notes_after_entries(text)
    text, powers = bare_powers(text)
    return text, roles + markers + tables + notes + powers


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
        print(f"{path}: {count} rewrite(s)")
        if not args.check:
            write_atomically(path, new)
    verb = "found" if args.check else "rewritten"
    print(f"{total} reStructuredText form(s) {verb} in {changed} of {len(files)} file(s)")
    return 1 if args.check and total else 0


if __name__ == "__main__":
    sys.exit(main())
