"""The documentation cannot rot: its examples run, its API reference is complete, the site builds.

- Every fenced ``python`` and ``bash`` block of ``README.md`` and ``docs/**.md`` runs, the blocks of
  one page in order, in one temporary folder with the project's ``.venv`` beside it (so that
  ``source .venv/bin/activate`` works as written) and ``.venv/bin`` first on ``PATH``. A ``cd`` in a
  bash block holds for the page's later blocks, as in the reader's shell; the python blocks of a
  page share one namespace, as in one interpreter session.
- A block that cannot run in a test (a server, a GPU, a run of many minutes) is preceded by
  ``<!-- skip: the reason -->``; each one is reported as a skipped test with its reason, and their
  number per page is pinned below, so that none is skipped silently. A block preceded by
  ``<!-- same-as: PAGE -->`` must be identical to a block of PAGE that runs there.
- Every package that exports names (its ``__all__``) has its ``::: module`` entry in
  ``docs/reference/``.
- ``mkdocs build --strict`` succeeds, and the built API reference holds an entry for every exported
  name (skipped where the ``docs`` extra is not installed).
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RUNNABLE = ("python", "bash")
# skipped blocks per page: change a number only together with the page's skip markers
EXPECTED_SKIPS = {
    "README.md": 1,
    "docs/development.md": 2,
    "docs/getting-started.md": 1,
    "docs/orchestration.md": 3,
    "docs/tutorials/auditing.md": 1,
    "docs/tutorials/benchmark.md": 5,
    "docs/tutorials/own-data.md": 2,
    "docs/tutorials/selection.md": 1,
}
BLOCK_TIMEOUT_S = 600
FENCE = re.compile(r"^(?P<indent> {0,3})```(?P<lang>[\w+-]*)\s*$")
MARKER = re.compile(r"^<!--\s*(?P<kind>skip|same-as):\s*(?P<value>.*?)\s*-->\s*$")
# modules whose __all__ the reference lists name by name, besides every package that has one
MODULES_WITH_ALL = ("auxqual.protocol", "auxqual.sampling", "auxqual.card")


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    lang: str
    code: str
    skip: str | None = None
    same_as: str | None = None

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def pages() -> list[Path]:
    """README.md and every Markdown page of docs/, in a stable order."""
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def parse_blocks(path: Path) -> list[Block]:
    """Every fenced block of ``path`` with its language and the marker on the line before it."""
    page = path.relative_to(ROOT).as_posix()
    lines = path.read_text(encoding="utf-8").split("\n")
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
        if end is None:
            raise ValueError(f"{page}:{i + 1}: a code block that is never closed")
        previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = MARKER.match(previous.strip())
        kind, value = (marker.group("kind"), marker.group("value")) if marker else (None, None)
        blocks.append(Block(page, i + 1, opening.group("lang"), "\n".join(lines[i + 1:end]) + "\n",
                            skip=value if kind == "skip" else None,
                            same_as=value if kind == "same-as" else None))
        i = end + 1
    return blocks


ALL_BLOCKS = [block for path in pages() for block in parse_blocks(path)]
RUN_PAGES = sorted({b.page for b in ALL_BLOCKS if b.lang in RUNNABLE and not b.skip and not b.same_as})
SKIPPED = [b for b in ALL_BLOCKS if b.lang in RUNNABLE and b.skip is not None]


def test_every_code_block_names_its_language():
    """An untagged block could be a command nobody runs: each says what it is (``text`` for output)."""
    untagged = [b.where for b in ALL_BLOCKS if not b.lang]
    assert not untagged, f"code blocks without a language: {untagged}"


def test_skipped_blocks_are_counted_and_give_a_reason():
    counts: dict[str, int] = {}
    for block in SKIPPED:
        assert len(block.skip) >= 10, f"{block.where}: a skip marker says why the block cannot run"
        counts[block.page] = counts.get(block.page, 0) + 1
    assert counts == EXPECTED_SKIPS, "skipped blocks per page changed: update EXPECTED_SKIPS with the markers"


@pytest.mark.parametrize("block", SKIPPED, ids=lambda b: b.where)
def test_skipped_block(block: Block):
    """One skipped test per skipped block, so that ``pytest -ra`` lists each with its reason."""
    pytest.skip(f"{block.where}: {block.skip}")


def test_same_as_blocks_run_on_the_page_they_name():
    pairs = [b for b in ALL_BLOCKS if b.same_as]
    assert pairs, "the README's quick start is run on its tutorial page (a same-as marker)"
    for block in pairs:
        target = ROOT / block.same_as
        assert target.is_file(), f"{block.where}: same-as names {block.same_as}, which does not exist"
        runs_there = [b for b in parse_blocks(target) if not b.skip and not b.same_as and b.lang == block.lang]
        assert any(b.code == block.code for b in runs_there), (
            f"{block.where}: not identical to any block that runs on {block.same_as}")


def _environment() -> dict[str, str]:
    venv_bin = ROOT / ".venv" / "bin"
    bin_dir = venv_bin if venv_bin.is_dir() else Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
               DVC_NO_ANALYTICS="1", PREFECT_SERVER_ANALYTICS_ENABLED="false", MPLBACKEND="Agg")
    env.setdefault("GIT_AUTHOR_NAME", "auxqual docs test")
    env.setdefault("GIT_AUTHOR_EMAIL", "docs@auxqual.invalid")
    env.setdefault("GIT_COMMITTER_NAME", env["GIT_AUTHOR_NAME"])
    env.setdefault("GIT_COMMITTER_EMAIL", env["GIT_AUTHOR_EMAIL"])
    env.pop("VIRTUAL_ENV", None)
    return env


def _run_bash(block: Block, cwd: Path, env: dict[str, str], state: Path) -> Path:
    """Run one bash block in ``cwd``; return the folder it ended in (a ``cd`` holds)."""
    script = f"set -euo pipefail\n{block.code}\npwd > {str(state)!r}\n"
    done = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=BLOCK_TIMEOUT_S, check=False)
    assert done.returncode == 0, (f"{block.where}: the bash block exited {done.returncode}\n"
                                  f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}")
    return Path(state.read_text().strip())


def _run_python(block: Block, namespace: dict) -> None:
    code = compile(block.code, block.where, "exec")
    exec(code, namespace)  # the documentation's own example, run as the reader would


def _page_params():
    for page in RUN_PAGES:
        marks = [pytest.mark.slow] if page == "docs/tutorials/own-data.md" else []
        yield pytest.param(page, id=page, marks=marks)


@pytest.mark.parametrize("page", list(_page_params()))
def test_code_blocks_of_the_page_run(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The page's python and bash blocks, in order, as a reader would run them."""
    workdir = tmp_path / "reader"
    workdir.mkdir()
    venv = ROOT / ".venv"
    if venv.is_dir():
        (workdir / ".venv").symlink_to(venv)
    else:  # an environment made otherwise: `source .venv/bin/activate` puts this Python first
        (workdir / ".venv" / "bin").mkdir(parents=True)
        (workdir / ".venv" / "bin" / "activate").write_text(f'export PATH="{Path(sys.executable).parent}:$PATH"\n')
    env = _environment()
    cwd, namespace, ran = workdir, {"__name__": "__main__"}, 0
    monkeypatch.setenv("MPLBACKEND", "Agg")
    for block in parse_blocks(ROOT / page):
        if block.lang not in RUNNABLE or block.skip or block.same_as:
            continue
        if block.lang == "bash":
            cwd = _run_bash(block, cwd, env, tmp_path / "cwd")
        else:
            monkeypatch.chdir(cwd)
            _run_python(block, namespace)
        ran += 1
    assert ran, f"{page}: no block ran"


def _exports(module_name: str) -> list[str]:
    return list(importlib.import_module(module_name).__all__)


def _packages_with_all() -> list[str]:
    """Every package under auxqual/ whose ``__init__.py`` assigns ``__all__`` (read without importing)."""
    names = []
    for init in sorted((ROOT / "auxqual").rglob("__init__.py")):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        if any(isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets)
               for node in tree.body):
            names.append(".".join(init.parent.relative_to(ROOT).parts))
    return names


def _documented_modules() -> set[str]:
    reference = "\n".join(p.read_text(encoding="utf-8") for p in sorted((DOCS / "reference").glob("*.md")))
    return set(re.findall(r"^::: ([\w.]+)\s*$", reference, flags=re.M))


def _public_modules() -> list[str]:
    return sorted({*_packages_with_all(), *MODULES_WITH_ALL})


def test_the_api_reference_has_every_module_that_exports_names():
    """Each package with an ``__all__`` is rendered whole (mkdocstrings renders its ``__all__``)."""
    modules = _public_modules()
    assert {"auxqual.quality", "auxqual.detectors", "auxqual.generators"} <= set(modules)
    missing = [m for m in modules if m not in _documented_modules()]
    assert not missing, f"modules with an __all__ but no '::: module' entry in docs/reference/: {missing}"


def test_the_readme_stays_short_and_starts_with_the_set_up_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 150
    first = next(b for b in parse_blocks(ROOT / "README.md") if b.lang in RUNNABLE)
    assert first.code.splitlines()[:2] == [
        "bash scripts/run-pipeline.sh   # set-up (once) + `dvc repro` on the embedded default data",
        "bash scripts/test.sh           # set-up (once) + the whole test suite"]


def test_the_site_builds_strictly(tmp_path: Path):
    pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install -e '.[docs]'")
    pytest.importorskip("mkdocstrings_handlers.python", reason="the docs extra is not installed")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(tmp_path / "site")]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    html = "\n".join(p.read_text(encoding="utf-8") for p in (tmp_path / "site" / "reference").rglob("*.html"))
    missing = [f"{m}.{name}" for m in _public_modules() for name in _exports(m) if f'id="{m}.{name}"' not in html]
    assert not missing, f"public names the API reference does not render: {missing}"


def test_every_generated_benchmark_block_has_its_markers_on_the_benchmarks_page(tmp_path: Path):
    """``benchmarks/*.py`` write their tables into docs/benchmarks.md between markers: each one's are there."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from _readme import README, update_readme_section
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert README == DOCS / "benchmarks.md"
    call = re.compile(r'update_readme_section\(\s*"([\w-]+)"')
    names = sorted({name for script in (ROOT / "benchmarks").glob("*.py")
                    for name in call.findall(script.read_text(encoding="utf-8"))})
    assert len(names) >= 6
    page = README.read_text(encoding="utf-8")
    missing = [n for n in names if f"<!-- {n}:start -->" not in page or f"<!-- {n}:end -->" not in page]
    assert not missing, f"docs/benchmarks.md lacks the markers of {missing}"
    copy = tmp_path / "benchmarks.md"
    copy.write_text(page, encoding="utf-8")
    assert update_readme_section(names[0], "# New table\n\n| a |\n| --- |\n| 1 |\n", readme=copy)
    rewritten = copy.read_text(encoding="utf-8")
    assert f"<!-- {names[0]}:start -->\n#### New table\n" in rewritten
    assert rewritten.count(f"<!-- {names[0]}:start -->") == 1
    assert not update_readme_section("no-such-block", "x", readme=copy)


def test_convert_sphinx_roles_rewrites_what_mkdocstrings_cannot_render(tmp_path: Path):
    """scripts/convert_sphinx_roles.py on a docstring with every form it rewrites, then again (no change)."""
    source = '''LIMIT = 2**18


def f(a, b):
    """Call :func:`make_scorer`, :class:`~auxqual.quality.eap.EAP`, :py:meth:`fit it <EAP.fit>`.

    Known names::

        {"a": 1}

    ==========  ====================
    ``one``     the first
    ``two``     the second, on
                two lines
    ==========  ====================

    Parameters
    ----------
    a : int
        The first.
    b, c : float
        Two more, at most 2**18.

    A scikit-learn estimator (``clone``): scoring before ``fit`` raises.
    """
'''
    path = tmp_path / "module.py"
    path.write_text(source, encoding="utf-8")
    script = [sys.executable, str(ROOT / "scripts" / "convert_sphinx_roles.py")]
    check = subprocess.run([*script, "--check", str(path)], capture_output=True, text=True, check=False)
    assert check.returncode == 1 and "7 reStructuredText form(s) found" in check.stdout
    assert path.read_text(encoding="utf-8") == source  # --check changes nothing
    subprocess.run([*script, str(path)], check=True, capture_output=True)
    text = path.read_text(encoding="utf-8")
    assert "Call ``make_scorer``, ``EAP``, ``fit it``." in text
    assert text.startswith("LIMIT = 2**18\n")  # code is never touched
    assert "Known names:\n\n" in text
    assert "| ``two`` | the second, on two lines |" in text
    assert "        Two more, at most ``2**18``.\n\n    Notes\n    -----\n    A scikit-learn estimator" in text
    again = subprocess.run([*script, "--check", str(path)], capture_output=True, text=True, check=False)
    assert again.returncode == 0 and "0 reStructuredText form(s) found" in again.stdout


def test_the_readmes_links_and_images_point_to_files_of_the_repository():
    """README.md is not part of the site, so ``mkdocs build --strict`` does not check its links: this does."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text) + re.findall(r'<img src="([^"]+)"', text)
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    assert len(local) >= 10
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"
