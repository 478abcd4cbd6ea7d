"""Stage ``prepare``: load and validate each dataset, apply the benchmark protocol.

For every dataset in ``data.datasets`` (files ``<data.path>/<name>.npz``; the other
``.npz`` files of the folder are the sources of unrealistic auxiliary anomalies) this
writes ``data/prepared/<dataset>/``. A name ``<subfolder>/<name>`` reads
``<data.path>/<subfolder>/<name>.npz`` and takes its sources from that subfolder, so one
run can mix folders (``data.path=…/adbench`` with ``tabular/cardio`` and
``image_resnet18/MVTec-AD_cable``); the output folder is the file's name either way. An
entry must stay inside ``data.path``: an absolute path or a ``..`` is an error naming
``data.datasets`` (``auxqual.datasets.split_dataset_name``), before any file is read.

- ``train.parquet``: x0 … x{d-1}, ``y`` (1 = labelled anomaly), ``dataset``, ``row``
- ``test.parquet``: the same columns (balanced test set)
- ``aux.parquet``: the benchmark auxiliary set: x0 …, ``kind`` (realistic /
  indistinguishable / unrealistic), provenance columns, ``dataset``, ``aux_id``
- ``meta.json``: the protocol's counts, the standardisation, the input file's sha256

Params: ``data`` (path, datasets), ``prepare`` (protocol settings). ``prepare.seeds`` (repeats over
seeds) is the benchmark flow's (``flows.benchmark``): here it is refused unless it is one seed equal
to ``prepare.random_state``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from auxqual.datasets import dataset_files, resolve_dataset, split_dataset_name
from auxqual.io import features_frame, load_dataset, sha256_file, write_json, write_parquet
from auxqual.params.benchmark import Prepare
from auxqual.protocol import split_benchmark
from stages.common import PREPARED_DIR, Log, StageError, load_params, main_wrapper, publish_dir


def _load(name: str, path: Path, cache: dict) -> tuple[np.ndarray, np.ndarray]:
    key = str(path)           # by path: two folders may hold files of the same name
    if key not in cache:
        try:
            cache[key] = load_dataset(path)
        except ValueError as error:
            raise ValueError(f"dataset {name!r}: {error}") from error
    return cache[key]


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "__dataclass_fields__"):
        return {k: _jsonable(getattr(value, k)) for k in value.__dataclass_fields__}
    return value


def _refuse_repeated_seeds(config: Prepare) -> None:
    """``prepare.seeds`` asks for the protocol repeated over seeds, which one ``dvc repro`` does
    not do (it runs the split of ``prepare.random_state``): say where repeats run instead of
    silently running one seed."""
    seeds = config.seeds
    if seeds is None or seeds == [config.random_state]:
        return
    raise StageError(f"params.yaml: prepare.seeds {seeds!r}: dvc repro runs one seed (prepare.random_state); "
                     "repeat the protocol over seeds with `python -m flows.benchmark --folder <data.path> "
                     "--params params.yaml` (one cached dvc repro per dataset and seed)")


def main() -> None:
    log = Log("prepare")
    params = load_params()
    config = params.prepare
    folder = Path(params.data.path)
    wanted = params.data.datasets
    folders: dict[str, dict[str, Path]] = {}
    chosen: list[tuple[str, dict[str, Path]]] = []     # (name, the files of its folder)
    entries = [split_dataset_name(entry, "data.datasets") for entry in wanted]  # all inside data.path
    for subfolder, stem in entries:
        if subfolder not in folders:
            folders[subfolder] = dataset_files(folder / subfolder if subfolder else folder)
        chosen.append((resolve_dataset(stem, folders[subfolder]), folders[subfolder]))
    names = [name for name, _ in chosen]
    if len(set(names)) != len(names):
        raise StageError(f"params.yaml: data.datasets names a dataset twice: {wanted}")
    _refuse_repeated_seeds(config)
    extra = dict(config.protocol)
    cache: dict = {}
    with publish_dir(PREPARED_DIR) as staging:
        for index, (name, files) in enumerate(chosen, 1):
            X, y = _load(name, files[name], cache)
            sources, skipped = {}, {}
            for other, path in files.items():
                if other == name:
                    continue
                try:
                    sources[other] = _load(other, path, cache)
                except ValueError as error:  # a broken file of the folder cannot be a source
                    skipped[other] = str(error)
            for other, reason in skipped.items():
                log(f"{name}: source {other} skipped: {reason}")
            try:
                split = split_benchmark(
                    X, y, dataset=name, sources=sources,
                    n_sources=config.n_sources, max_train_normals=config.max_train_normals,
                    random_state=config.random_state, **extra)
            except ValueError as error:
                message = str(error)
                if name not in message:
                    message = f"dataset {name!r}: {message}"
                raise ValueError(message) from error
            out = staging / name
            train = features_frame(split.X_train, {"y": np.asarray(split.y_train, dtype=np.int8),
                                                   "dataset": name,
                                                   "row": np.asarray(split.train_rows, dtype=np.int64)})
            test = features_frame(split.X_test, {"y": np.asarray(split.y_test, dtype=np.int8),
                                                 "dataset": name, "row": np.asarray(split.test_rows, dtype=np.int64)})
            aux = split.aux.reset_index(drop=True).copy()
            aux["dataset"] = name
            aux["aux_id"] = np.arange(len(aux), dtype=np.int64)
            write_parquet(train, out / "train.parquet")
            write_parquet(test, out / "test.parquet")
            write_parquet(aux, out / "aux.parquet")
            kinds = aux["kind"].value_counts().sort_index().to_dict() if "kind" in aux else {}
            write_json({
                "dataset": name,
                "file": str(files[name]),
                "file_sha256": sha256_file(files[name]),
                "n_rows": int(X.shape[0]), "n_features": int(X.shape[1]), "n_anomalies": int(y.sum()),
                "counts": _jsonable(getattr(split, "counts", {})),
                "aux_kinds": {str(k): int(v) for k, v in kinds.items()},
                "mean": _jsonable(getattr(split, "mean_", None)),
                "scale": _jsonable(getattr(split, "scale_", None)),
                "sources": sorted(sources),
                "skipped_sources": skipped,
                "params": _jsonable({"n_sources": config.n_sources, "max_train_normals": config.max_train_normals,
                                     "random_state": config.random_state, **extra}),
            }, out / "meta.json")
            log(f"[{index}/{len(names)}] {name}: train {len(train)} ({int(train['y'].sum())} labelled anomalies), "
                f"test {len(test)}, aux {len(aux)} {kinds}")
    log(f"wrote {PREPARED_DIR}")


if __name__ == "__main__":
    main_wrapper("prepare", main)
