#!/usr/bin/env bash
# Regenerate the legacy hdmf-zarr fixtures in tests/fixtures/legacy/ with the REAL hdmf-zarr 0.13.0.
#
# hdmf-zarr 0.13 needs zarr 2 and numcodecs < 0.16, which cannot live next to zarrbridge's zarr 3, so it is
# installed in an isolated venv, .legacy-venv (git-ignored). The venv is reused when its pins match.
# Usage: scripts/legacy/make_fixtures.sh [OUTDIR]   (default: tests/fixtures/legacy)
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=".legacy-venv"
outdir="${1:-tests/fixtures/legacy}"
py="${PYTHON:-python3}"
pins=(
  "hdmf-zarr==0.13.0"
  "zarr==2.18.7"
  "numcodecs==0.15.1"   # < 0.16: its Pickle codec still decodes, so hdmf-zarr can read its own files back
  "hdmf==4.3.1"
  "pynwb==3.1.3"
  "numpy==2.4.6"
  "h5py==3.16.0"
)
PYTHON="$py" bash scripts/pinned_venv.sh "$venv" "${pins[@]}"
# Keep README.md; replace everything the generator writes.
mkdir -p "$outdir"
find "$outdir" -mindepth 1 -maxdepth 1 -name "*.nwb.zarr" -exec rm -rf {} +
"$venv/bin/python" scripts/legacy/write_fixtures.py "$outdir"
echo "fixtures written to $outdir:"
du -s --apparent-size -B1 "$outdir"/* | sort -k2
