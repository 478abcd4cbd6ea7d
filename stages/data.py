"""Stage ``data``: build the embedded default data (no network) in the ADBench layout.

Writes ``data/default/<name>.npz`` (arrays ``X``, ``y``; 1 = anomaly): ``digits`` with
one digit class as the anomalies, plus the other datasets bundled with scikit-learn
as sources of unrealistic auxiliary anomalies. Params: ``data.default``.

Real benchmark folders are not built here: ``prepare`` reads ``data.path``.
"""

from __future__ import annotations

from pathlib import Path

from auxqual.datasets import EMBEDDED_SOURCES, embedded_datasets, save_npz
from stages.common import Log, load_params, main_wrapper, publish_dir, section

OUT_DIR = Path("data/default")


def main() -> None:
    log = Log("data")
    config = section(section(load_params(), "data"), "default")
    anomaly_digit = int(config.get("anomaly_digit", 0))
    sources = list(config.get("sources", EMBEDDED_SOURCES))
    arrays = embedded_datasets(anomaly_digit=anomaly_digit, sources=sources)
    with publish_dir(OUT_DIR) as staging:
        for name, (X, y) in arrays.items():
            save_npz(staging / f"{name}.npz", X, y)
            log(f"{name}: {X.shape[0]} rows, {X.shape[1]} features, {int(y.sum())} anomalies")
    log(f"wrote {len(arrays)} datasets to {OUT_DIR}")


if __name__ == "__main__":
    main_wrapper("data", main)
