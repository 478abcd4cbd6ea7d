#!/usr/bin/env bash
# Lint and type checks: ruff over the whole tree, mypy over the library (auxqual/).
# Both read their configuration from pyproject.toml ([tool.ruff], [tool.mypy]); extra arguments go to ruff
# (e.g. `bash scripts/lint.sh --statistics`). Exits non-zero on the first tool that finds something.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
echo "lint: ruff check ($(.venv/bin/ruff --version))"
.venv/bin/ruff check "$@" .
echo "lint: mypy auxqual ($(.venv/bin/mypy --version))"
.venv/bin/mypy
