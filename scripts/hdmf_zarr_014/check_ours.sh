#!/usr/bin/env bash
# Write the hdmf-zarr 0.14 fixture files with zarrbridge (one directory per zarr version) and read them with
# the real hdmf-zarr 0.14, comparing them with the HDF5 twins; the outcome is committed with the files.
#
# ZARRBRIDGE_PYTHONS lists the interpreters of zarrbridge venvs to write with (default: .venv/bin/python,
# the pinned zarr 3.1); add one with the newest zarr, e.g. a Python 3.12 venv with `pip install -e ".[test]"`.
# The hdmf-zarr 0.14 venv is the one of make_fixtures.sh (.hdmf-zarr-014-venv, built if missing).
# Usage: scripts/hdmf_zarr_014/check_ours.sh [OUTDIR]   (default: tests/fixtures/zarrbridge_written)
set -euo pipefail
cd "$(dirname "$0")/../.."
outdir="${1:-tests/fixtures/zarrbridge_written}"
read -r -a pythons <<< "${ZARRBRIDGE_PYTHONS:-.venv/bin/python}"
mkdir -p "$outdir"
dirs=()
for python in "${pythons[@]}"; do
  dirs+=("$("$python" scripts/hdmf_zarr_014/write_ours.py "$outdir" | tail -n 1)")
done
if [ ! -x .hdmf-zarr-014-venv/bin/python ]; then
  echo "building .hdmf-zarr-014-venv: run scripts/hdmf_zarr_014/make_fixtures.sh first" >&2
  exit 2
fi
.hdmf-zarr-014-venv/bin/python scripts/hdmf_zarr_014/read_ours.py "$outdir/hdmf_zarr_014_read.json" "${dirs[@]}"
