"""Where a project made by ``auxqual init`` keeps each file, relative to its root: one place for
the stages, the run records and the audit card to agree on."""

from __future__ import annotations

from pathlib import Path

SCHEMA_RECORD = Path("results/schema.json")        # validate: the training table's schema, for the next run
GENERATED_DIR = Path("data/generated")             # generate: one set per generator
SCORES_DIR = Path("data/scores")                   # score: one table per auxiliary set
SCORING_RECORD = Path("results/scoring.json")      # score: the rows the scores were fitted on
SELECTION = Path("results/selection.json")         # select: the decision and every alternative
CANDIDATE_DIR = Path("models/candidate")           # train: tonight's model
EVALUATION = Path("results/evaluation.json")       # evaluate: the candidate's validation AUROC
GATE_RECORD = Path("results/gate.json")            # gate: the verdict against the last good run
PRODUCTION_DIR = Path("models/production")         # gate: the model to ship
LINEAGE_TABLE = Path("results/lineage.parquet")    # lineage: every sidecar as one table
RUNS_DIR = Path("runs")                            # gate and the flow: one record per run
CARD_STEM = Path("reports/card")                   # card: .md, .json, .html
MODEL_STEM = "model"                               # models/*/model.{joblib,pt}
