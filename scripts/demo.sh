#!/usr/bin/env bash
# Set up .venv and run the main job on the built-in example recording with the `zarrbridge` command:
# write it as NWB/HDF5, convert it to Zarr (chunking kept, compression mapped), print its tree and summary,
# validate it against its cached specification, and convert it back to HDF5.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh all
out="${1:-_demo}"
mkdir -p "$out"
zb=.venv/bin/zarrbridge
"$zb" example "$out/recording.nwb" --overwrite
"$zb" --progress convert "$out/recording.nwb" "$out/recording.nwb.zarr" --overwrite --jobs 2
"$zb" tree "$out/recording.nwb.zarr"
"$zb" info "$out/recording.nwb.zarr"
"$zb" validate "$out/recording.nwb.zarr"
"$zb" convert "$out/recording.nwb.zarr" "$out/roundtrip.nwb" --overwrite
"$zb" validate "$out/roundtrip.nwb"
