"""Write the hdmf-zarr 0.14 fixture files again, with zarrbridge (run in a zarrbridge venv, any zarr).

Usage: ``.venv/bin/python scripts/hdmf_zarr_014/write_ours.py OUTDIR``

The same deterministic builders as ``write_fixtures.py`` (object ids included), written by zarrbridge's
``NWBZarrIO`` to ``OUTDIR/zarr-<zarr version>/<name>.nwb.zarr``, so that the HDF5 twins in
``tests/fixtures/hdmf_zarr_014/hdf5/`` are their expected content too. ``read_ours.py`` (in the hdmf-zarr 0.14
venv) then reads them with hdmf-zarr.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import zarr
from pynwb import get_class, load_namespaces

from zarrbridge import NWBZarrIO

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "legacy"))

import builders
import legacy_extension

CACHED_SPEC = {"kinds"}  # the extension needs its spec; the others stay small


def _write(outdir: Path, name: str, build: Any) -> None:
    path = outdir / f"{name}.nwb.zarr"
    shutil.rmtree(path, ignore_errors=True)
    with builders.fixed_object_ids(name):
        nwbfile = build()
    with NWBZarrIO(path, mode="w") as io:
        io.write(nwbfile, cache_spec=name in CACHED_SPEC)


def main(root: Path) -> Path:
    """Write every file into ``root/zarr-<version>`` and return that directory."""
    outdir = root / f"zarr-{zarr.__version__}"
    outdir.mkdir(parents=True, exist_ok=True)
    _write(outdir, "ecephys", lambda: builders.build_ecephys(zarr_io=True))
    _write(outdir, "icephys", builders.build_icephys)
    _write(outdir, "link_target", builders.build_link_target)
    external = outdir / "external_link.nwb.zarr"
    shutil.rmtree(external, ignore_errors=True)
    with NWBZarrIO(outdir / "link_target.nwb.zarr", mode="r") as target_io:
        series = target_io.read().acquisition["target_series"]
        with builders.fixed_object_ids("external_link"):
            nwbfile = builders.build_external_link(series)
        with NWBZarrIO(external, mode="w", manager=target_io.manager) as io:
            io.write(nwbfile, link_data=True, cache_spec=False)
    with tempfile.TemporaryDirectory() as spec_dir:
        load_namespaces(str(legacy_extension.build_extension(Path(spec_dir))))
        classes = {
            name: get_class(name, legacy_extension.NAMESPACE)
            for name in (
                legacy_extension.TYPE_NAME,
                legacy_extension.COMPOUND_REFS_TYPE,
                legacy_extension.REFERENCES_TYPE,
            )
        }
        _write(outdir, "kinds", lambda: builders.build_kinds(classes))
    return outdir


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: write_ours.py OUTDIR")
    print(main(Path(sys.argv[1])))
