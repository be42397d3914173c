#!/usr/bin/env bash
# Set up .venv and run the main job on the built-in example: write an NWB file to Zarr, read it back, print its tree.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh all
.venv/bin/python -m zarrbridge.examples.demo "${1:-_demo}"
