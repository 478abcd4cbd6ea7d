#!/usr/bin/env bash
# The test suite: set up the environment if needed, then pytest on every core (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
export DVC_NO_ANALYTICS=1 PREFECT_SERVER_ANALYTICS_ENABLED=false
export VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH"
# one worker per core (AUXQUAL_TEST_WORKERS to change it), each test file on one worker: a file's
# module fixtures are built once and its tests keep their order
exec .venv/bin/python -m pytest -n "${AUXQUAL_TEST_WORKERS:-auto}" --dist loadfile "$@"
