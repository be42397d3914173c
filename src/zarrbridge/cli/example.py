"""``zarrbridge example PATH``: write the built-in example NWB recording (HDF5, or Zarr for ``*.zarr``)."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path
from typing import Any, TextIO

from .._optional import import_optional
from ..errors import InvalidOptionError
from .argtypes import Subparsers, subcommand

__all__ = ["add_parser", "run", "write_example"]

EPILOG = """\
examples:
  zarrbridge example rec.nwb                    HDF5 (gzip-compressed, chunked ElectricalSeries)
  zarrbridge example rec.nwb.zarr               Zarr (current convention)
  zarrbridge example rec.nwb && zarrbridge convert rec.nwb rec.nwb.zarr && zarrbridge tree rec.nwb.zarr

The recording: one shank of 8 electrodes, one second of 30 kHz int16 voltage, 6 units with spike times,
4 trials and a processing module with a running-speed TimeSeries (see zarrbridge.examples.demo).
"""
FEATURE = "zarrbridge example"


def add_parser(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> None:
    parser = subcommand(
        subparsers,
        parents,
        "example",
        help="write the built-in example NWB recording",
        description="Write the built-in example NWB recording, to try the other commands on.",
        epilog=EPILOG,
        run=run,
    )
    parser.add_argument(
        "path", help="where to write it: a Zarr directory if it ends in .zarr, HDF5 otherwise"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace PATH if it exists")


def _h5_wrap(voltage: Any, chunks: tuple[int, int]) -> Any:
    from hdmf.backends.hdf5 import H5DataIO

    return H5DataIO(voltage, chunks=chunks, compression="gzip", compression_opts=4, shuffle=True)


def write_example(path: str | os.PathLike[str], *, overwrite: bool = False) -> str:
    """Write the example recording to ``path``; return ``"hdf5"`` or ``"zarr"``.

    Raises
    ------
    InvalidOptionError
        If ``path`` exists and ``overwrite`` is false.
    """
    pynwb = import_optional("pynwb", extra="nwb", feature=FEATURE)
    from ..examples import demo

    target = Path(path)
    if os.path.lexists(target):
        if not overwrite:
            raise InvalidOptionError(f"{target} already exists; pass --overwrite to replace it")
        if target.is_dir() and not target.name.endswith(".zarr"):
            raise InvalidOptionError(f"{target} is a directory; give a file name ending in .nwb or .zarr")
    if not target.parent.is_dir():
        raise InvalidOptionError(f"the directory {target.parent} does not exist; create it first")
    if target.name.endswith(".zarr"):
        if target.exists() and target.is_file():
            target.unlink()
        demo.write_and_read(demo.build_recording(), target)
        return "zarr"
    if target.exists():
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pynwb.NWBHDF5IO(str(target), mode="w") as io:
        io.write(demo.build_recording(wrap=_h5_wrap))
    return "hdf5"


def run(args: argparse.Namespace, out: TextIO) -> int:
    kind = write_example(args.path, overwrite=args.overwrite)
    if not args.quiet:
        out.write(f"wrote the example recording to {args.path} ({kind})\n")
    return 0
