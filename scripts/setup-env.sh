#!/usr/bin/env bash
# Create .venv (if missing) and install auxqual with its test and dev (lint, types) extras.
# torch goes first and pinned: a CPU build of torch 2.13.0 where one is on local disk, or the user's
# own (CUDA) build if torch is already installed; the project's range (>=2.4,<2.14) then keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "auxqual: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "auxqual: installing torch 2.13.0"
  .venv/bin/pip install --quiet "torch==2.13.0"
fi
stamp=.venv/.auxqual-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "auxqual: installing auxqual and its dependencies"
  .venv/bin/pip install --quiet -e ".[test,dev,docs]"
  touch "$stamp"
fi
