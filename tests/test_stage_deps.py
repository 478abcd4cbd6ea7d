"""dvc.yaml sees every code change: each stage's ``deps`` cover the local modules it runs.

The import closure of a stage is derived from its code, not declared: start at the module
of its ``cmd`` (``python -m stages.X``), parse every ``import`` / ``from … import`` anywhere
in the file (top level or inside a function), plus string constants naming a local module
(``importlib.import_module`` registries such as ``auxqual.detectors.registry``), and follow
them recursively through the local packages (``auxqual``, ``stages``, ``flows``), package
``__init__`` files included. A dep covers a file when it is that file or a folder above it.

Two exemptions, both sound: a module whose body is only a docstring (``stages/__init__.py``,
``auxqual/__init__.py`` today) cannot change what a stage computes, so it need not be a dep
(the moment it gains a statement, the test asks for it). Non-code deps (data folders,
``${data.path}``) are not checked here.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LOCAL_PACKAGES = ("auxqual", "stages", "flows")
SHARED_STAGE_MODULES = ("stages/common.py", "stages/fanout.py")
_MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """The file of local module ``name`` (``a/b.py`` or ``a/b/__init__.py``), else ``None``."""
    if name.split(".")[0] not in LOCAL_PACKAGES:
        return None
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _with_parents(name: str) -> list[str]:
    """``a.b.c`` → ``a``, ``a.b``, ``a.b.c``: importing a module runs its packages first."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def imported_names(name: str, path: Path) -> set[str]:
    """Module names ``path`` (module ``name``) may import: every Import / ImportFrom node
    anywhere in its AST, and every string constant that is a dotted local module name."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.update(_with_parents(alias.name))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = _package_of(name, path).split(".")
                anchor = ".".join(package[:len(package) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            found.update(_with_parents(base))
            found.update(f"{base}.{alias.name}" for alias in node.names)   # submodules; attributes resolve to None
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _MODULE_NAME.fullmatch(node.value):
            found.update(_with_parents(node.value))
    return found


def import_closure(entry: str, root: Path = ROOT) -> dict[str, Path]:
    """``{module name: file}`` of every local module that running ``entry`` may import."""
    todo, seen = _with_parents(entry), {}
    while todo:
        name = todo.pop()
        path = module_file(name, root)
        if name in seen or path is None:
            continue
        seen[name] = path
        todo.extend(imported_names(name, path) - set(seen))
    return seen


def _inert(path: Path) -> bool:
    """A module that holds only a docstring, ``from __future__`` and a ``__version__`` string
    does nothing a stage computes with."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return all((isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str))
               or (isinstance(s, ast.ImportFrom) and s.module == "__future__")
               or (isinstance(s, ast.Assign) and [getattr(t, "id", None) for t in s.targets] == ["__version__"]
                   and isinstance(s.value, ast.Constant)) for s in body)


def code_files(entry: str, root: Path = ROOT) -> list[str]:
    """The repository-relative files of ``entry``'s closure that a stage must depend on."""
    return sorted(p.relative_to(root).as_posix() for p in import_closure(entry, root).values() if not _inert(p))


def _covers(dep: str, file: str) -> bool:
    dep = dep.rstrip("/")
    return file == dep or file.startswith(dep + "/")


def _stages() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def _entry(stage: dict) -> str:
    match = re.fullmatch(r"python -m ([\w.]+)", stage["cmd"].strip())
    assert match, f"cmd {stage['cmd']!r}: expected `python -m <module>`"
    return match.group(1)


def _code_deps(stage: dict) -> list[str]:
    return [d for d in stage.get("deps", []) if str(d).split("/")[0] in LOCAL_PACKAGES]


# --------------------------------------------------------------------------- the helper itself
def test_closure_follows_lazy_imports_registries_and_packages():
    files = code_files("stages.score")
    assert "auxqual/row_stats.py" in files          # score_cell's `from auxqual.quality import` → eap → row_stats
    assert "auxqual/quality/__init__.py" in files   # a package's __init__ runs on import
    assert "stages/__init__.py" not in files        # docstring only: inert
    trained = code_files("stages.train")
    assert "auxqual/detectors/torch_classifier.py" in trained   # named by a string in the detector registry
    assert "auxqual/device.py" in trained                        # ... and what that module imports


def test_closure_resolves_relative_imports(tmp_path):
    (tmp_path / "auxqual" / "sub").mkdir(parents=True)
    (tmp_path / "auxqual" / "__init__.py").write_text("from . import top\n")
    (tmp_path / "auxqual" / "top.py").write_text("def f():\n    from .sub import leaf\n")
    (tmp_path / "auxqual" / "sub" / "__init__.py").write_text('"""doc"""\n')
    (tmp_path / "auxqual" / "sub" / "leaf.py").write_text("from ..top import f\n")
    assert code_files("auxqual.sub.leaf", tmp_path) == ["auxqual/__init__.py", "auxqual/sub/leaf.py",
                                                        "auxqual/top.py"]


# --------------------------------------------------------------------------- dvc.yaml
@pytest.mark.parametrize("name", list(_stages()))
def test_every_local_module_a_stage_imports_is_a_dep(name):
    stage = _stages()[name]
    deps = _code_deps(stage)
    missing = [f for f in code_files(_entry(stage)) if not any(_covers(d, f) for d in deps)]
    assert not missing, f"dvc.yaml stage {name!r}: add to deps {missing}"


@pytest.mark.parametrize("name", list(_stages()))
def test_every_code_dep_of_a_stage_exists_and_is_imported(name):
    stage = _stages()[name]
    files = code_files(_entry(stage))
    gone = [d for d in _code_deps(stage) if not (ROOT / d).exists()]
    assert not gone, f"dvc.yaml stage {name!r}: deps that do not exist {gone}"
    unused = [d for d in _code_deps(stage) if not any(_covers(d, f) for f in files)]
    assert not unused, f"dvc.yaml stage {name!r}: deps the stage never imports {unused} (they re-run it for nothing)"


@pytest.mark.parametrize("name", list(_stages()))
def test_a_stage_imports_no_other_stage(name):
    """Shared helpers live in stages/common.py: a stage that imports another stage's script
    re-runs whenever that script changes (and once missed it in its deps)."""
    entry = _entry(_stages()[name])
    own = entry.replace(".", "/") + ".py"
    others = [f for f in code_files(entry) if f.startswith("stages/") and f not in (own, *SHARED_STAGE_MODULES)]
    assert not others, f"stage {name!r} imports {others}: move what it needs to stages/common.py"


# --------------------------------------------------------------------------- the lineage's code hash
def test_train_code_hash_changes_with_the_code_train_runs_and_nothing_else(tmp_path):
    """The sidecars' ``code_sha256`` (the hash of train's code deps in dvc.yaml) follows
    every module in train's import closure, lazy ones too, and ignores the others."""
    from auxqual.lineage import code_sha256
    from stages.common import stage_code_deps

    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copy2(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    for package in ("auxqual", "stages"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=ignore)
    deps = stage_code_deps("train", tmp_path / "dvc.yaml")
    assert deps == sorted(_code_deps(_stages()["train"]))
    first = code_sha256(deps, tmp_path)
    assert code_sha256(stage_code_deps("train", ROOT / "dvc.yaml"), ROOT) == first  # another checkout

    closure = code_files("stages.train", tmp_path)
    outside = ["auxqual/plots.py", "stages/report.py", "auxqual/quality/eap.py"]
    assert not set(outside) & set(closure)
    for name in outside:
        with (tmp_path / name).open("a") as handle:
            handle.write("# an edit that cannot change a model\n")
    assert code_sha256(deps, tmp_path) == first
    for name in ("auxqual/metrics.py", "auxqual/detectors/torch_classifier.py", "stages/common.py"):
        assert name in closure
        path = tmp_path / name
        before = path.read_bytes()
        path.write_bytes(before + b"# an edit\n")
        assert code_sha256(deps, tmp_path) != first, name
        path.write_bytes(before)
    assert code_sha256(deps, tmp_path) == first
