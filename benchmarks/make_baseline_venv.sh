#!/usr/bin/env bash
# Build .hdmf-zarr-venv: hdmf-zarr 0.13.0 (and its zarr 2) on the SAME host stack as .venv.
#
# The benchmarks compare storage layers, so everything else is held equal: hdmf, pynwb, pandas, numpy and h5py
# are pinned to the releases installed in .venv (which is what `pip install hdmf-zarr==0.13.0 pynwb` resolves
# today: hdmf's own "zarr" extra allows hdmf-zarr >= 0.12 with zarr < 3). Only zarr (2.18 vs 3), numcodecs
# (< 0.16, which hdmf-zarr 0.13 requires) and the backend differ. The fixtures venv, .legacy-venv, keeps the
# older hdmf/pynwb that its committed fixtures were written with.
# Usage: benchmarks/make_baseline_venv.sh   (after scripts/setup.sh has made .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=".hdmf-zarr-venv"
[ -x .venv/bin/python ] || { echo "error: .venv missing; run scripts/setup.sh first" >&2; exit 1; }
mapfile -t host < <(.venv/bin/python - <<'PY'
from importlib.metadata import version
for name in ("hdmf", "pynwb", "pandas", "numpy", "h5py"):
    print(f"{name}=={version(name)}")
PY
)
pins=("hdmf-zarr==0.13.0" "zarr==2.18.7" "numcodecs==0.15.1" "${host[@]}")
bash scripts/pinned_venv.sh "$venv" "${pins[@]}"
echo "$venv: ${pins[*]}"
