#!/usr/bin/env bash
# Make (or reuse) an isolated venv holding exactly the given pins; reinstalled only when the pins change.
# Usage: scripts/pinned_venv.sh VENV PIN [PIN...]   (PYTHON picks the interpreter; default python3)
set -euo pipefail
venv="$1"
shift
stamp="$venv/.zarrbridge-pins"
if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$*" ]; then
  "$venv/bin/python" -m pip install --quiet "$@"
  echo "$*" > "$stamp"
fi
