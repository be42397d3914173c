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
from pathlib import Path
from typing import Any

import zarr

from zarrbridge import NWBZarrIO

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fixtures"))

import nwb_fixtures

CACHED_SPEC = {"kinds"}  # the extension needs its spec; the others stay small


def _write(outdir: Path, name: str, build: Any) -> None:
    path = outdir / f"{name}.nwb.zarr"
    shutil.rmtree(path, ignore_errors=True)
    with nwb_fixtures.fixed_object_ids(name):
        nwbfile = build()
    with NWBZarrIO(path, mode="w") as io:
        io.write(nwbfile, cache_spec=name in CACHED_SPEC)


def main(root: Path) -> Path:
    """Write every file into ``root/zarr-<version>`` and return that directory."""
    outdir = root / f"zarr-{zarr.__version__}"
    outdir.mkdir(parents=True, exist_ok=True)
    _write(outdir, "ecephys", lambda: nwb_fixtures.build_ecephys(zarr_io=True))
    _write(outdir, "icephys", nwb_fixtures.build_icephys)
    _write(outdir, "link_target", nwb_fixtures.build_link_target)
    nwb_fixtures.write_external_link(
        NWBZarrIO,
        outdir / "link_target.nwb.zarr",
        outdir / "external_link.nwb.zarr",
        legacy=False,
        cache_spec=False,
    )
    with nwb_fixtures.extension_classes() as classes:
        _write(outdir, "kinds", lambda: nwb_fixtures.build_kinds_014(classes))
    return outdir


if __name__ == "__main__":
    nwb_fixtures.run(main, "write_ours.py")
