#!/usr/bin/env bash
# Lint and type checks: ruff over the whole tree, mypy over the library (auxqual/).
# Both read their configuration from pyproject.toml ([tool.ruff], [tool.mypy]); extra arguments go to ruff
# (e.g. `bash scripts/lint.sh --statistics`). Both always run; the exit status is non-zero when either finds something.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
status=0
echo "lint: ruff check ($(.venv/bin/ruff --version))"
.venv/bin/ruff check "$@" . || status=1
echo "lint: mypy auxqual ($(.venv/bin/mypy --version))"
.venv/bin/mypy || status=1
if [ "$status" -ne 0 ]; then
  echo "lint: findings above; see CONTRIBUTING.md (Lint and types)" >&2
fi
exit "$status"
