"""Stage ``data``: build the embedded default data (no network) in the ADBench layout.

Writes ``data/default/<name>.npz`` (arrays ``X``, ``y``; 1 = anomaly): ``digits`` with
one digit class as the anomalies, plus the other datasets bundled with scikit-learn
as sources of unrealistic auxiliary anomalies. Params: ``data.default``.

Real benchmark folders are not built here: ``prepare`` reads ``data.path``.
"""

from __future__ import annotations

from pathlib import Path

from stages.common import Log, StageError, load_params, main_wrapper, publish_dir

OUT_DIR = Path("data/default")


def main() -> None:
    log = Log("data")
    config = load_params().data.default
    # imported once the whole params file is checked: the first stage of `dvc repro` stops at a
    # typo without loading scikit-learn (seconds)
    from auxqual.datasets import embedded_datasets, save_npz

    try:  # only known names pass, so every file written is <name>.npz inside data/default
        arrays = embedded_datasets(anomaly_digit=config.anomaly_digit, sources=list(config.sources))
    except ValueError as error:  # "sources: …" or "anomaly_digit: …": name the parameter in full
        raise StageError(f"params.yaml: data.default.{error}") from error
    with publish_dir(OUT_DIR) as staging:
        for name, (X, y) in arrays.items():
            save_npz(staging / f"{name}.npz", X, y)
            log(f"{name}: {X.shape[0]} rows, {X.shape[1]} features, {int(y.sum())} anomalies")
    log(f"wrote {len(arrays)} datasets to {OUT_DIR}")


if __name__ == "__main__":
    main_wrapper("data", main)
