"""``zarrbridge convert SRC DST``: HDF5 -> Zarr, Zarr -> HDF5 and Zarr -> Zarr,
with a progress bar by bytes."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import TextIO

from ..errors import InvalidOptionError
from ..progress import progress_wanted
from .argtypes import Subparsers, at_least, subcommand
from .info import human_bytes
from .opening import HDF5_SUFFIXES, detect_kind, is_url

__all__ = ["add_parser", "dest_kind", "run"]

MIB = 1024 * 1024
LEVELS = {"zstd": (-131072, 22), "gzip": (0, 9), "blosc": (0, 9)}
EPILOG = """\
examples:
  zarrbridge convert rec.nwb rec.nwb.zarr                  HDF5 -> Zarr v3, same chunks and compression
  zarrbridge convert rec.nwb.zarr rec.nwb                  Zarr -> HDF5 (DST ends in .nwb/.h5/.hdf5)
  zarrbridge convert rec.nwb rec.nwb.zarr --compressor zstd --level 5 --chunks auto --shard-size-mb 64
  zarrbridge convert old.nwb.zarr new.nwb.zarr --zarr-format 3 --jobs 4 --overwrite
  zarrbridge convert rec.nwb s3://bucket/rec.nwb.zarr \\
      --storage-option key=KEY --storage-option secret=SECRET \\
      --storage-option 'client_kwargs={"endpoint_url": "http://127.0.0.1:9000"}'

'keep' keeps each dataset's chunking and maps its compression to the equivalent zarr codec; filters that
have no zarr equivalent are reported as warnings. A destination that exists is only replaced with
--overwrite; an interrupted conversion never leaves a destination that opens as a complete file.
"""


def add_parser(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> None:
    parser = subcommand(
        subparsers,
        parents,
        "convert",
        help="convert HDF5 <-> Zarr and Zarr -> Zarr",
        description=(
            "Copy an NWB/HDMF file into another format or layout, chunk by chunk with bounded memory."
        ),
        epilog=EPILOG,
        run=run,
    )
    parser.add_argument(
        "source", metavar="SRC", help="the file to read (HDF5 file, .zarr directory, .zip, URL)"
    )
    parser.add_argument(
        "dest", metavar="DST", help="the file to write: HDF5 if it ends in .nwb/.h5/.hdf5, Zarr otherwise"
    )
    parser.add_argument(
        "--zarr-format",
        type=int,
        choices=(2, 3),
        default=3,
        help="zarr format of a Zarr destination (default: 3)",
    )
    parser.add_argument(
        "--compressor",
        choices=("keep", "zstd", "blosc", "gzip", "none"),
        default="keep",
        help="compression of the destination's datasets (default: keep the source's)",
    )
    parser.add_argument(
        "--level",
        type=int,
        default=None,
        metavar="N",
        help="compression level for --compressor zstd (-131072..22), blosc or gzip (0..9)",
    )
    parser.add_argument(
        "--chunks",
        choices=("keep", "auto"),
        default="keep",
        help="keep the source's chunk shapes, or choose about 4 MiB chunks (default: keep)",
    )
    parser.add_argument(
        "--shard-size-mb",
        type=at_least(float, 0.0),
        default=0.0,
        metavar="N",
        help="group chunks into shards of about N MiB (Zarr v3 only; 0 = no sharding)",
    )
    parser.add_argument(
        "--jobs",
        type=at_least(int, 1),
        default=1,
        metavar="N",
        help="copy chunks of large datasets with N workers (default: 1)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace DST if it exists")
    parser.add_argument(
        "--virtual",
        action="store_true",
        help="HDF5 SRC (path or URL) only: write DST as a virtual Zarr view, one reference file that reads "
        "SRC's chunks where they are (no array data copied); name it *.json on object storage",
    )


def dest_kind(dest: str) -> str:
    """``"hdf5"`` if ``dest`` ends in an HDF5 suffix, else ``"zarr"``."""
    return "hdf5" if dest.lower().rstrip("/").endswith(HDF5_SUFFIXES) else "zarr"


def _check(args: argparse.Namespace) -> None:
    if args.level is not None:
        if args.compressor not in LEVELS:
            raise InvalidOptionError(
                f"--level {args.level} needs --compressor zstd, blosc or gzip (got --compressor "
                f"{args.compressor})"
            )
        low, high = LEVELS[args.compressor]
        if not low <= args.level <= high:
            raise InvalidOptionError(
                f"--level {args.level} is out of range for {args.compressor}: use {low}..{high}"
            )
    if dest_kind(args.dest) == "hdf5" and args.shard_size_mb:
        raise InvalidOptionError("--shard-size-mb applies to Zarr destinations only; DST is an HDF5 file")
    source = os.path.abspath(args.source) if not is_url(args.source) else args.source
    dest = os.path.abspath(args.dest) if not is_url(args.dest) else args.dest
    if source.rstrip("/") == dest.rstrip("/"):
        raise InvalidOptionError(f"SRC and DST are the same location ({args.source}); give another DST")
    detect_kind(args.source)  # missing or unknown sources fail here, before anything is written
    if not is_url(args.dest) and os.path.lexists(args.dest) and not args.overwrite:
        raise InvalidOptionError(f"{args.dest} already exists; pass --overwrite to replace it")


def unmapped_lines(unmapped: tuple[tuple[str, str], ...], dest_format: str) -> list[str]:
    """One line per codec that had no counterpart in the destination, naming (some of) its datasets."""
    instead = "gzip" if dest_format == "hdf5" else "the default zarr compressor"
    lines = []
    for codec in sorted({c for _, c in unmapped}):
        paths = sorted(p for p, c in unmapped if c == codec)
        where = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        lines.append(
            f"codec {codec!r} has no {dest_format} counterpart; {where} stored with {instead} instead"
        )
    return lines


def run(args: argparse.Namespace, out: TextIO) -> int:
    if args.virtual:
        return _run_virtual(args, out)
    _check(args)
    from ..errors import CodecNotMappedWarning
    from ..zarrio.convert import ConvertOptions, convert

    options = ConvertOptions(
        zarr_format=args.zarr_format,
        compressor=args.compressor,
        level=args.level,
        chunks=args.chunks,
        shard_bytes=int(args.shard_size_mb * MIB) or None,
        number_of_jobs=args.jobs,
        overwrite=args.overwrite,
    )
    show = progress_wanted(forced=args.progress, quiet=args.quiet)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CodecNotMappedWarning)  # reported below from the report, grouped
        report = convert(
            args.source,
            args.dest,
            options=options,
            storage_options=args.storage_options or None,
            progress=show,  # a tqdm bar on stderr, labelled with DST's name
        )
    if not args.quiet:
        for line in unmapped_lines(report.unmapped, report.dest_format):
            sys.stderr.write(f"zarrbridge: warning: {line}\n")
        rate = report.bytes_copied / report.seconds / 1e6 if report.seconds > 0 else float("inf")
        out.write(
            f"converted {args.source} ({report.source_format}) -> {args.dest} ({report.dest_format}): "
            f"{report.datasets} datasets, {human_bytes(report.bytes_copied)} in {report.seconds:.2f} s "
            f"({rate:.1f} MB/s)\n"
        )
    return 0


def _run_virtual(args: argparse.Namespace, out: TextIO) -> int:
    """``--virtual``: a view of the HDF5 file SRC (:func:`zarrbridge.zarrio.virtual.write_virtual`)."""
    changed = [
        flag
        for flag, value, default in (
            ("--zarr-format", args.zarr_format, 3),
            ("--compressor", args.compressor, "keep"),
            ("--level", args.level, None),
            ("--chunks", args.chunks, "keep"),
            ("--shard-size-mb", args.shard_size_mb, 0.0),
        )
        if value != default
    ]
    if changed:
        raise InvalidOptionError(
            f"{', '.join(changed)} cannot apply to --virtual: a view keeps the HDF5 file's chunks and filters"
        )
    if not is_url(args.source) and detect_kind(args.source) != "hdf5":
        raise InvalidOptionError(f"--virtual needs an HDF5 SRC; {args.source} is a Zarr store")
    if not is_url(args.dest) and os.path.lexists(args.dest) and not args.overwrite:
        raise InvalidOptionError(f"{args.dest} already exists; pass --overwrite to replace it")
    from ..errors import CodecNotMappedWarning
    from ..zarrio.virtual import write_virtual

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CodecNotMappedWarning)  # reported below from the report, grouped
        report = write_virtual(
            args.source, args.dest, storage_options=args.storage_options or None, overwrite=args.overwrite
        )
    if not args.quiet:
        for line in unmapped_lines(report.unmapped, "zarr"):
            sys.stderr.write(f"zarrbridge: warning: {line} (copied into the view)\n")
        for path, why in report.copied:
            sys.stderr.write(f"zarrbridge: note: {path} copied into the view ({why})\n")
        out.write(
            f"virtual view {args.dest} of {args.source}: {len(report.referenced)} datasets referenced "
            f"({report.chunks} chunks, {human_bytes(report.referenced_bytes)}), view "
            f"{human_bytes(report.view_bytes)}, in {report.seconds:.2f} s\n"
        )
    return 0
