#!/usr/bin/env bash
# EAP on a GPU: the tests (CPU-vs-GPU agreement and the reference fixtures, on the GPU by default)
# and the speed benchmark with the device named, as run on a lent GPU machine whose Python already
# has torch, numba and scikit-learn (the detector and CLI tests also need pyod, POT and
# imbalanced-learn: there they were installed from wheels carried along):
#     AUXQUAL_SHARED=/path/to/shared bash benchmarks/gpu_run.sh OUT_DIR
# (GPU_TESTS: the test files to run, GPU_SIZES: the benchmark's sizes, GPU_N_JOBS: its threads)
# Results: OUT_DIR/{eap_gpu_info.txt, eap_gpu_tests.log} and benchmarks/results/eap_speed_gpu.{json,md}
# (copied to OUT_DIR), written after each size so that a run cut short keeps what it measured.
set -uo pipefail
out=${1:-benchmarks/results}
mkdir -p "$out"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/eap_gpu_info.txt"
python3 -c "import torch, numba, sklearn; print('torch', torch.__version__, 'numba', numba.__version__, 'sklearn', sklearn.__version__)" | tee -a "$out/eap_gpu_info.txt"
python3 -m pytest -q -p no:cacheprovider ${GPU_TESTS:-tests/test_row_stats.py tests/test_eap.py} 2>&1 | tail -20 | tee "$out/eap_gpu_tests.log"
python3 benchmarks/eap_speed.py --device cuda --n-jobs "${GPU_N_JOBS:-4}" --tag gpu --sizes ${GPU_SIZES:-1000 5000 20000 50000}
cp benchmarks/results/eap_speed_gpu.* "$out/" 2>/dev/null
