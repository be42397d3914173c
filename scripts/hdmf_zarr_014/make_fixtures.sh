#!/usr/bin/env bash
# Regenerate the hdmf-zarr 0.14 fixtures in tests/fixtures/hdmf_zarr_014/ with the REAL hdmf-zarr 0.14.0.
#
# hdmf-zarr 0.14 needs zarr >= 3.4, which needs Python >= 3.12; it is installed in an isolated, test-only
# venv, .hdmf-zarr-014-venv (git-ignored), reused while its pins match. PYTHON picks a 3.12+ interpreter
# (default: python3.12 on PATH, else pyenv's 3.12.1).
# Usage: scripts/hdmf_zarr_014/make_fixtures.sh [OUTDIR]   (default: tests/fixtures/hdmf_zarr_014)
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=".hdmf-zarr-014-venv"
outdir="${1:-tests/fixtures/hdmf_zarr_014}"
py="${PYTHON:-}"
if [ -z "$py" ]; then
  if python3.12 -c "" 2>/dev/null; then py=python3.12; else py=/root/.pyenv/versions/3.12.1/bin/python; fi
fi
pins=(
  "hdmf-zarr==0.14.0"
  "zarr==3.4.2"
  "numcodecs==0.17.1"
  "hdmf==6.2.0"
  "pynwb==4.2.0"
  "numpy==2.5.5"
  "h5py==3.16.0"
)
PYTHON="$py" bash scripts/pinned_venv.sh "$venv" "${pins[@]}"
# Keep README.md; replace everything the generator writes.
mkdir -p "$outdir"
find "$outdir" -mindepth 1 -maxdepth 1 \( -name "*.nwb.zarr" -o -name hdf5 \) -exec rm -rf {} +
"$venv/bin/python" scripts/hdmf_zarr_014/write_fixtures.py "$outdir"
echo "fixtures written to $outdir:"
du -s --apparent-size -B1 "$outdir"/* | sort -k2
