#!/usr/bin/env bash
# The paper-scale benchmark (issue 13; params/paper-scale.yaml says what and why). Two runs of the
# multi-dataset flow, resumable: run this script again after an interruption and only the cells
# (dataset, seed) not finished yet run. Then the published files are copied to benchmarks/results/.
# Keep (commit) benchmarks/results/paper-q{1,2}/cells/ to resume in another session or clone.
# Usage: bash benchmarks/paper_scale.sh [extra flow options, e.g. --workers 4]
set -euo pipefail
cd "$(dirname "$0")/.."
export DVC_NO_ANALYTICS=1 PREFECT_SERVER_ANALYTICS_ENABLED=false
ADBENCH=${ADBENCH:-../shared/datasets/adbench}
SEEDS=${SEEDS:-}                  # default: the params file's prepare.seeds (0, 1, 2)
# Q2: 12 of the 27 datasets the protocol accepts (glass, vertebral, WBC and wine have too few anomalies)
Q2_DEFAULT=tabular/cardio,tabular/letter,tabular/Ionosphere,tabular/Pima,tabular/breastw,tabular/yeast
Q2_DEFAULT=$Q2_DEFAULT,tabular/mammography,tabular/fault,tabular/annthyroid,tabular/PageBlocks
Q2_DEFAULT=$Q2_DEFAULT,image_resnet18/MVTec-AD_cable,image_resnet18/MVTec-AD_leather
Q2_DATASETS=${Q2_DATASETS:-$Q2_DEFAULT}
start=$(date +%s)
python -m flows.benchmark --params params/paper-scale.yaml --folder "$ADBENCH" ${SEEDS:+--seeds "$SEEDS"} \
    --out benchmarks/results/paper-q1 "$@"
q1_done=$(date +%s)
python -m flows.benchmark --params params/paper-scale.yaml --folder "$ADBENCH" ${SEEDS:+--seeds "$SEEDS"} \
    --datasets "$Q2_DATASETS" --out benchmarks/results/paper-q2 \
    --set 'score.scores=[eap, rarity, lava, data_shapley, random]' --set 'score.dataset_params={}' \
    --set 'train.detectors=[ssdo, mlp]' --set 'train.q=[0, 10, 25, 50, 100]' "$@"
end=$(date +%s)
cp benchmarks/results/paper-q1/q1_seeds.parquet benchmarks/results/q1_seeds.parquet
cp benchmarks/results/paper-q1/q1_cd.png benchmarks/results/q1_cd.png
cp benchmarks/results/paper-q2/q2_seeds.parquet benchmarks/results/q2_seeds.parquet
cp benchmarks/results/paper-q2/q2_gain_cd.png benchmarks/results/q2_gain_cd.png
line="$(date -u +%FT%TZ),$(git rev-parse --short HEAD),$((q1_done - start)),$((end - q1_done))"
[ -f benchmarks/results/paper_scale_runs.csv ] || echo "finished_utc,commit,q1_seconds,q2_seconds" > benchmarks/results/paper_scale_runs.csv
echo "$line" >> benchmarks/results/paper_scale_runs.csv   # one line per invocation: how the run was split
echo "paper-scale: Q1 run $((q1_done - start)) s, Q2 run $((end - q1_done)) s (this invocation; finished cells reused)"
