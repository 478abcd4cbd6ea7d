"""Helpers shared by the stage scripts: params, logging, seeds, atomic output folders.

Nothing here holds an algorithm; it is the plumbing between params.yaml, files and
the library.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from auxqual.io import feature_columns_of
from auxqual.io import publish_dir as publish_dir  # the stages import it from here
from auxqual.params.benchmark import BenchmarkParams, load_benchmark_params

PARAMS_FILE = Path("params.yaml")
PREPARED_DIR = Path("data/prepared")
AUX_DIR = Path("data/aux")
SCORES_DIR = Path("data/scores")
PREDICTIONS_DIR = Path("data/predictions")
MODELS_DIR = Path("models")
SELECTED_MODELS_DIR = Path("models_selected")  # the models stage select chose (Q3)
RESULTS_DIR = Path("results")
PLOTS_DIR = Path("plots")
REPORTS_DIR = Path("reports")
BENCHMARK_GENERATOR = "benchmark_mixture"
BUDGETS_FILE = "budgets.json"                # data/scores/<dataset>/budgets.json (stage score)
TIMINGS_DIR = RESULTS_DIR / "timings"        # wall-clock times: git-ignored, never a DVC output
TIMINGS_PATH = TIMINGS_DIR / "score.json"
SCORE_META = ("dataset", "generator", "aux_id", "kind")   # key columns of a scores table
DVC_FILE = Path("dvc.yaml")
CODE_ROOTS = ("auxqual", "stages", "flows")  # a dvc.yaml dep under one of these is code


class StageError(RuntimeError):
    """A stage cannot run; the message says why (file, dataset, parameter, counts)."""


# --------------------------------------------------------------------------- params
def load_params(path: str | os.PathLike = PARAMS_FILE) -> BenchmarkParams:
    """The whole params file, checked against the schema before the stage does any work
    (``auxqual.params.benchmark``): a typo in any section is one ``ValueError`` naming the
    file, the key and the closest valid key, so ``dvc repro`` stops at its first stage."""
    return load_params_and_file(path)[0]


def load_params_and_file(path: str | os.PathLike = PARAMS_FILE) -> tuple[BenchmarkParams, dict[str, Any]]:
    """``load_params`` and the file as read: a stage records the section as written
    (lineage sidecars), so the bytes it writes do not depend on the schema's defaults."""
    path = Path(path)
    if not path.exists():
        raise StageError(f"{path}: params file not found (run the stage from the repository root)")
    return load_benchmark_params(path)


def named_params(names: list[str], per_name: dict[str, dict]) -> list[tuple[str, dict]]:
    """``[(name, params), ...]`` for each of ``names`` (a checked list) from the per-name
    keyword arguments (``score.params``), ``{}`` for a name without any."""
    return [(str(name), dict(per_name.get(name) or {})) for name in names]


def cell_seed(base: int, *keys: Any) -> int:
    """A seed for one cell, a stable function of ``base`` and the cell's keys (independent
    of the process, of Python's hash randomisation and of the order cells run in)."""
    text = "/".join(str(k) for k in keys).encode("utf-8")
    return int(np.random.SeedSequence([int(base), zlib.crc32(text)]).generate_state(1)[0] % (2**31 - 1))


def stage_code_deps(stage: str, path: str | os.PathLike = DVC_FILE) -> list[str]:
    """The code deps of ``stage`` in dvc.yaml (the files and folders under
    ``CODE_ROOTS``), sorted.

    tests/test_stage_deps.py checks that they cover every local module the stage imports,
    so a content hash of them (``auxqual.lineage.code_sha256``) says which code made an
    output, without a git revision (which would change dvc.lock after every commit).
    """
    path = Path(path)
    if not path.is_file():
        raise StageError(f"{path}: not found (run the stage from the repository root)")
    with path.open(encoding="utf-8") as handle:
        stages = (yaml.safe_load(handle) or {}).get("stages") or {}
    if stage not in stages:
        raise StageError(f"{path}: no stage {stage!r}")
    deps = [str(d) for d in stages[stage].get("deps") or [] if isinstance(d, str)]
    return sorted(d.rstrip("/") for d in deps if d.split("/")[0] in CODE_ROOTS)


# --------------------------------------------------------------------------- logging
class Log:
    """Per-stage log lines on stderr (DVC shows them), with elapsed seconds."""

    def __init__(self, stage: str):
        self.stage = stage
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        print(f"[{self.stage} {time.perf_counter() - self.start:7.1f}s] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- outputs
def _raise_on_sigterm(signum, frame):  # pragma: no cover - exercised through subprocesses
    raise SystemExit(128 + signum)


def install_signal_handlers() -> None:
    """Turn SIGTERM into ``SystemExit`` so that ``finally`` blocks (removal of temporary
    files and staging folders) run when a stage is stopped politely."""
    signal.signal(signal.SIGTERM, _raise_on_sigterm)


def remove_stale(*targets: str | os.PathLike) -> None:
    """Remove single-file outputs of a previous run (and leftovers of a killed one), so a
    failing stage never leaves an output that looks current."""
    for target in targets:
        target = Path(target)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        for leftover in target.parent.glob(f".{target.name}.*.tmp") if target.parent.exists() else []:
            leftover.unlink(missing_ok=True)


def main_wrapper(stage: str, main) -> None:
    """Run a stage's ``main``; print a one-line error (no traceback) for the errors a
    user can fix, and exit non-zero so that ``dvc repro`` stops."""
    install_signal_handlers()
    try:
        main()
    except (ValueError, StageError) as error:
        print(f"ERROR in stage {stage!r}: {error}", file=sys.stderr, flush=True)
        sys.exit(2)


# --------------------------------------------------------------------------- tables
def score_columns(frame: pd.DataFrame) -> list[str]:
    """The quality-score columns of a scores table (not the keys, not the ``_std`` columns)."""
    return [c for c in frame.columns if c not in SCORE_META and not c.endswith("_std")]


def split_features(frame: pd.DataFrame, name: str) -> tuple[np.ndarray, pd.DataFrame]:
    """Feature matrix (x0 … x{d-1}) and the metadata columns of a stage table."""
    columns = feature_columns_of(frame)
    if not columns:
        raise StageError(f"{name}: no feature columns x0 … x{{d-1}}")
    return frame[columns].to_numpy(dtype=np.float64), frame.drop(columns=columns)


def cached_table(path: str | os.PathLike) -> tuple[np.ndarray, pd.DataFrame]:
    """``split_features`` of a Parquet file, read once per process while it is unchanged.

    Cached by the absolute path and the file's size, modification time and inode, never by
    the path as given: a long-lived Dask worker runs the cells of many runs and
    repositories, whose relative paths (``data/prepared/<dataset>/train.parquet``) are the
    same while their contents differ. The arrays are shared: callers must not modify them.
    """
    stat = os.stat(path)
    return _read_table(os.path.abspath(path), str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)


@functools.lru_cache(maxsize=64)
def _read_table(absolute: str, name: str, size: int, mtime_ns: int, inode: int) -> tuple[np.ndarray, pd.DataFrame]:
    del size, mtime_ns, inode  # only the cache key: another file, or the same path rewritten
    return split_features(pd.read_parquet(absolute), name)


def dataset_dirs(root: Path, stage_name: str) -> list[str]:
    """The dataset folders under ``root`` (the output of an upstream stage), sorted."""
    if not root.is_dir():
        raise StageError(f"{root}: not found; run the upstream stage first (stage {stage_name!r})")
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not names:
        raise StageError(f"{root}: holds no dataset folder")
    return names


def protocol_seed(params: BenchmarkParams) -> int:
    """``prepare.random_state``: the seed of the protocol's split, the ``seed`` column of the
    evaluate and compare tables."""
    return params.prepare.random_state
