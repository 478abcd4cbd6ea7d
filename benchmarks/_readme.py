"""Write a benchmark's markdown table into docs/benchmarks.md between its markers."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

# the page of the documentation that holds every generated block (it was README.md before)
README = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def update_readme_section(name: str, markdown: str, readme: Path = README) -> bool:
    """Replace the text between ``<!-- name:start -->`` and ``<!-- name:end -->``.

    Headings of ``markdown`` are demoted three levels so they nest under the
    page's own sections. Returns False (and changes nothing) when the page has
    no such markers.
    """
    markdown = re.sub(r"^(#{1,3}) ", lambda m: "#" * (len(m.group(1)) + 3) + " ", markdown, flags=re.M)
    if not readme.exists():
        return False
    text = readme.read_text(encoding="utf-8")
    pattern = re.compile(rf"(<!-- {re.escape(name)}:start -->\n).*?(<!-- {re.escape(name)}:end -->)", re.S)
    if not pattern.search(text):
        return False
    new = pattern.sub(lambda m: m.group(1) + markdown.rstrip() + "\n" + m.group(2), text)
    fd, tmp = tempfile.mkstemp(dir=readme.parent, prefix=f".{readme.name}.", suffix=".tmp")
    try:  # nothing half-written: a temporary file in the same folder, then renamed over the page
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(new)
        os.chmod(tmp, readme.stat().st_mode & 0o777)
        os.replace(tmp, readme)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True
