#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment in .venv and install zarrbridge with the given extras.
# Usage: scripts/setup.sh EXTRAS   e.g. scripts/setup.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-all}"
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
stamp=".venv/.zarrbridge-installed-$extras"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements/constraints.txt -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  # pinned versions: an unconstrained resolve backtracks through s3fs/fsspec/aiobotocore releases for
  # many minutes and can end on ancient sdists that no longer build
  .venv/bin/python -m pip install --quiet -c requirements/constraints.txt -e ".[$extras]"
  touch "$stamp"
fi
