"""Write a benchmark's markdown table into README.md between its markers."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def update_readme_section(name: str, markdown: str, readme: Path = README) -> bool:
    """Replace the text between ``<!-- name:start -->`` and ``<!-- name:end -->``.

    Headings of ``markdown`` are demoted three levels so they nest under the
    README's own sections. Returns False (and changes nothing) when the README has
    no such markers.
    """
    markdown = re.sub(r"^(#{1,3}) ", lambda m: "#" * (len(m.group(1)) + 3) + " ", markdown, flags=re.M)
    if not readme.exists():
        return False
    text = readme.read_text(encoding="utf-8")
    pattern = re.compile(rf"(<!-- {re.escape(name)}:start -->\n).*?(<!-- {re.escape(name)}:end -->)", re.S)
    if not pattern.search(text):
        return False
    readme.write_text(pattern.sub(lambda m: m.group(1) + markdown.rstrip() + "\n" + m.group(2), text),
                      encoding="utf-8")
    return True
