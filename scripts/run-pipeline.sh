#!/usr/bin/env bash
# The main job: set up the environment if needed, then `dvc repro` on the embedded default data.
# Extra arguments go to `dvc repro` (for example: -f, or a stage name).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
export DVC_NO_ANALYTICS=1
export VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH"  # the stages run `python`: the project's
if [ ! -d .git ]; then
  echo "auxqual: dvc needs a git checkout; run this from a clone of the repository" >&2
  exit 2
fi
dvc repro "$@"
echo "auxqual: done. Results in results/, figures in reports/ (start with reports/summary.md)"
