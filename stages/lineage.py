"""Stage ``lineage``: gather every model's sidecar into one table.

Writes ``results/lineage.parquet`` (``auxqual.lineage.collect_lineage`` of ``models`` from
stage train and ``models_selected`` from stage select): one row per model and input, linking each
model's sha256 to the auxiliary anomaly set
(path, sha256, generator, score, q) that produced it. ``auxqual lineage`` queries it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from auxqual.io import write_parquet
from auxqual.lineage import collect_lineage
from stages.common import (
    MODELS_DIR,
    RESULTS_DIR,
    SELECTED_MODELS_DIR,
    Log,
    StageError,
    load_params,
    main_wrapper,
    remove_stale,
)

LINEAGE_PATH = RESULTS_DIR / "lineage.parquet"


def main() -> None:
    log = Log("lineage")
    load_params()             # no lineage param, but a typo anywhere in params.yaml stops every stage
    remove_stale(LINEAGE_PATH)
    if not Path(MODELS_DIR).is_dir():
        raise StageError(f"{MODELS_DIR}: not found; run stage 'train' first")
    tables = [collect_lineage(folder) for folder in (MODELS_DIR, SELECTED_MODELS_DIR) if Path(folder).is_dir()]
    table = pd.concat(tables, ignore_index=True)
    if len(table) == 0:
        raise StageError(f"{MODELS_DIR}: no lineage sidecars found")
    sort_by = [c for c in ("model_path", "role", "path") if c in table.columns]
    if sort_by:
        table = table.sort_values(sort_by, kind="mergesort").reset_index(drop=True)
    write_parquet(table, LINEAGE_PATH)
    log(f"wrote {LINEAGE_PATH}: {len(table)} rows")


if __name__ == "__main__":
    main_wrapper("lineage", main)
