"""Time the hdmf-zarr 0.13.0 baseline; run with ``.hdmf-zarr-venv/bin/python`` (zarr 2),
one operation per process.

Made to be called as a subprocess by zarrbridge's benchmarks, so the baseline never shares a process (or a
zarr major version) with zarrbridge. Prints exactly one JSON line on stdout::

    {"tool": "hdmf-zarr", "op": "export", "seconds": 1.23, "peak_rss_bytes": ..., ...}

Usage::

    .hdmf-zarr-venv/bin/python benchmarks/hdmf_zarr_baseline.py --export SRC.nwb DST.nwb.zarr
    .hdmf-zarr-venv/bin/python benchmarks/hdmf_zarr_baseline.py --read PATH.nwb.zarr [--touch metadata|data]

``--export``: HDF5 -> Zarr with ``NWBZarrIO.export(src_io=NWBHDF5IO(SRC), write_args={"link_data": False})``,
the seed's recipe; DST must not exist. ``--read``: ``NWBZarrIO(PATH, "r").read()``, then every neurodata
object's fields are visited; with ``--touch data`` (default) every array-like field is read in full.

``seconds`` covers only the operation (imports and interpreter start are excluded); ``peak_rss_bytes`` is
the process's peak resident set size (``getrusage``), which includes the ``rss_before_bytes`` baseline
taken after imports. Exit status 1 with a one-line message on stderr on failure.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any


def _rss_bytes() -> int:
    # Linux reports ru_maxrss in KiB (macOS in bytes; this baseline runs on Linux).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def export(src: Path, dst: Path) -> dict[str, Any]:
    """HDF5 -> Zarr export with hdmf-zarr; returns the measurement record."""
    from hdmf_zarr.nwb import NWBZarrIO
    from pynwb import NWBHDF5IO

    if not src.is_file():
        raise FileNotFoundError(f"no HDF5 file at {src}")
    if dst.exists():
        raise FileExistsError(f"{dst} exists; give a new destination")
    before = _rss_bytes()
    start = time.perf_counter()
    with NWBHDF5IO(str(src), "r") as read_io, NWBZarrIO(str(dst), mode="w") as export_io:
        export_io.export(src_io=read_io, write_args={"link_data": False})
    seconds = time.perf_counter() - start
    size = sum(p.stat().st_size for p in dst.rglob("*") if p.is_file())
    n_files = sum(1 for p in dst.rglob("*") if p.is_file())
    return {
        "op": "export",
        "src": str(src),
        "dst": str(dst),
        "seconds": seconds,
        "rss_before_bytes": before,
        "dst_bytes": size,
        "dst_files": n_files,
    }


def _touch(value: Any, *, data: bool) -> int:
    """Visit one field; read it in full if it is array-like and ``data``. Returns elements read."""
    if not data or isinstance(value, (str, bytes)) or not hasattr(value, "__getitem__"):
        return 0
    shape = getattr(value, "shape", None)
    if shape is None:
        return 0
    if hasattr(value, "__iter__") and type(value).__name__.endswith(("ReferenceDataset", "TableDataset")):
        return sum(1 for _ in value)  # hdmf-zarr's reference-resolving wrappers: resolve every element
    loaded = value[()] if len(shape) == 0 else value[:]
    return int(getattr(loaded, "size", 1))


def read(path: Path, *, touch: str) -> dict[str, Any]:
    """Open, ``read()`` and visit every object of a Zarr NWB file with hdmf-zarr."""
    from hdmf_zarr.nwb import NWBZarrIO

    if not path.is_dir():
        raise FileNotFoundError(f"no Zarr directory store at {path}")
    before = _rss_bytes()
    start = time.perf_counter()
    elements = 0
    with NWBZarrIO(str(path), mode="r") as io:
        nwbfile = io.read()
        objects = list(nwbfile.objects.values())
        fields = 0
        for obj in objects:
            for value in obj.fields.values():
                fields += 1
                elements += _touch(value, data=touch == "data")
    seconds = time.perf_counter() - start
    return {
        "op": "read",
        "path": str(path),
        "touch": touch,
        "seconds": seconds,
        "rss_before_bytes": before,
        "objects": len(objects),
        "fields": fields,
        "elements_read": elements,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument(
        "--export",
        nargs=2,
        metavar=("SRC", "DST"),
        type=Path,
        help="export the NWB HDF5 file SRC to the new Zarr store DST",
    )
    group.add_argument("--read", metavar="PATH", type=Path, help="open, read() and touch a Zarr NWB file")
    parser.add_argument(
        "--touch",
        choices=("metadata", "data"),
        default="data",
        help="with --read: visit fields only, or also read every array in full (default)",
    )
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # the baseline's deprecation chatter must not reach the caller's stdout
    try:
        record = export(*args.export) if args.export else read(args.read, touch=args.touch)
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as exc:
        print(f"hdmf_zarr_baseline: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    record.update(
        tool="hdmf-zarr", version=version("hdmf-zarr"), zarr=version("zarr"), peak_rss_bytes=_rss_bytes()
    )
    print(json.dumps(record, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
