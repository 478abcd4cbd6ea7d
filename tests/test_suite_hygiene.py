"""The test suite itself: a broken import of the project must fail, never skip."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def _importorskip_targets(path: Path) -> list[str]:
    """The module names passed to ``pytest.importorskip`` in one test file (f-strings as text)."""
    targets = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "importorskip" and node.args:
            targets.append(ast.unparse(node.args[0]))
    return targets


def test_no_test_skips_on_the_projects_own_import_error():
    offenders = {path.name: target for path in sorted(TESTS.glob("test_*.py"))
                 for target in _importorskip_targets(path)
                 if any(name in target for name in ("auxqual", "stages", "flows"))}
    assert not offenders, f"importorskip on project modules turns an import error into a skip: {offenders}"
