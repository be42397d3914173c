#!/usr/bin/env bash
# Create (or reuse) a virtual environment and install zarrbridge (editable) with the given extras.
# Usage: scripts/setup.sh EXTRAS   e.g. scripts/setup.sh test
#
# Environment (all optional; the defaults are the README's environment):
#   VENV         where the environment lives                 (default .venv)
#   PYTHON       the interpreter that creates it             (default python3)
#   CONSTRAINTS  a pip constraints file, or "none" for the newest versions pip resolves
#                                                            (default requirements/constraints.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-all}"
venv="${VENV:-.venv}"
py="${PYTHON:-python3}"
constraints="${CONSTRAINTS:-requirements/constraints.txt}"
if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv "$venv"
fi
stamp="$venv/.zarrbridge-installed-$extras"
wanted="$extras ${constraints}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ] || [ pyproject.toml -nt "$stamp" ] \
  || { [ "$constraints" != none ] && [ "$constraints" -nt "$stamp" ]; }; then
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  if [ "$constraints" = none ]; then
    # the newest versions pip resolves: the lower bounds of the test extra keep this resolve short
    "$venv/bin/python" -m pip install --quiet --upgrade --upgrade-strategy eager -e ".[$extras]"
  else
    # reproducible: pinned versions (requirements/constraints.txt is a pip freeze of a passing run)
    "$venv/bin/python" -m pip install --quiet -c "$constraints" -e ".[$extras]"
  fi
  echo "$wanted" > "$stamp"
fi
