"""``zarrbridge tree PATH``: the hierarchy with neurodata types, shapes, dtypes, chunking and compression."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from .argtypes import FILE_HELP, Subparsers, at_least, subcommand
from .opening import open_file
from .walk import Node, walk

__all__ = ["add_parser", "format_node", "run"]

EPILOG = """\
examples:
  zarrbridge tree rec.nwb.zarr                 every group, dataset and link
  zarrbridge tree rec.nwb --depth 2            an HDF5 file, two levels deep
  zarrbridge tree rec.nwb.zarr --no-data-details
  zarrbridge tree rec.nwb.zarr --json | jq '.nodes[] | select(.kind == "dataset")'

Columns: name, neurodata type (namespace), shape, dtype, chunks (and shards), codecs, and the compression
ratio (bytes in memory / bytes stored). Array data is never read.
"""


def add_parser(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> None:
    parser = subcommand(
        subparsers,
        parents,
        "tree",
        help="print the hierarchy with types, shapes, chunking and compression",
        description="Print the hierarchy of an NWB/HDMF file (Zarr, legacy hdmf-zarr or HDF5).",
        epilog=EPILOG,
        run=run,
    )
    parser.add_argument("path", help=FILE_HELP)
    parser.add_argument(
        "--depth",
        type=at_least(int, 0),
        default=None,
        metavar="N",
        help="show N levels below the root (default: all)",
    )
    parser.add_argument(
        "--no-data-details",
        dest="details",
        action="store_false",
        help="only names and neurodata types, no shapes/dtypes/chunks/compression",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _shape(shape: tuple[int, ...] | None) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def format_node(node: Node) -> tuple[str, str]:
    """The name column (indented) and the detail column of one node."""
    indent = "  " * node.depth
    if node.kind == "link":
        return f"{indent}{node.name} -> {node.target}", "(link)"
    name = f"{indent}{node.name}" + ("/" if node.kind == "group" and node.depth else "")
    parts = []
    if node.neurodata_type:
        parts.append(node.neurodata_type + (f" ({node.namespace})" if node.namespace else ""))
    storage = node.storage
    if storage is not None:
        parts.append(f"{_shape(storage.shape)} {storage.dtype or '?'}")
        if storage.chunks is not None and storage.shape:
            parts.append("chunks " + "x".join(map(str, storage.chunks)))
        if storage.shards is not None:
            parts.append("shards " + "x".join(map(str, storage.shards)))
        if storage.codecs:
            parts.append("+".join(storage.codecs))
        ratio = storage.ratio
        if ratio is not None and storage.shape and storage.codecs:
            parts.append(f"ratio {ratio:.2f}")
    return name, "  ".join(parts)


def tree_lines(nodes: list[Node]) -> list[str]:
    """Aligned text lines for ``nodes``."""
    rows = [format_node(n) for n in nodes]
    width = max((len(name) for name, detail in rows if detail), default=0)
    return [f"{name.ljust(width)}  {detail}".rstrip() if detail else name for name, detail in rows]


def run(args: argparse.Namespace, out: TextIO) -> int:
    with open_file(args.path, storage_options=args.storage_options) as opened:
        nodes = list(walk(opened.io.read_builder(), details=args.details, max_depth=args.depth))
        if args.json:
            document = {"path": args.path, "format": opened.kind, "nodes": [n.to_dict() for n in nodes]}
            out.write(json.dumps(document, indent=2) + "\n")
        else:
            for line in tree_lines(nodes):
                out.write(line + "\n")
    return 0
