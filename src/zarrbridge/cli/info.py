"""``zarrbridge info PATH``: convention and versions, stored size, object counts and cached namespaces."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from collections import Counter
from typing import Any, TextIO

from ..errors import CorruptMetadataError
from .argtypes import FILE_HELP, Subparsers, subcommand
from .opening import OpenFile, is_url, open_file
from .walk import Node, walk

__all__ = ["add_parser", "collect", "run"]

TOP_TYPES = 10
EPILOG = """\
examples:
  zarrbridge info rec.nwb.zarr
  zarrbridge info rec.nwb                       an HDF5 NWB file
  zarrbridge info rec.nwb.zarr --json | jq .counts
"""


def add_parser(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> None:
    parser = subcommand(
        subparsers,
        parents,
        "info",
        help="print convention, versions, size and object counts",
        description="Summarise an NWB/HDMF file: storage convention and version, NWB version, total stored "
        "size, numbers of groups/datasets/links/references, the most common neurodata types and "
        "the cached namespaces.",
        epilog=EPILOG,
        run=run,
    )
    parser.add_argument("path", help=FILE_HELP)
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def convention(opened: OpenFile) -> dict[str, Any]:
    """``{"name", "zarr_format", "version"}`` of the file's storage convention (``ZarrIO.convention``)."""
    if opened.kind == "hdf5":
        return {"name": "hdf5", "zarr_format": None, "version": None}
    known = getattr(opened.io, "convention", None)
    if known is not None and dataclasses.is_dataclass(known) and not isinstance(known, type):
        return {k: v for k, v in dataclasses.asdict(known).items() if k in ("name", "zarr_format", "version")}
    root = opened.io.file
    zarr_format = int(root.metadata.zarr_format)
    marker = root.attrs.get("_ZARRBRIDGE")
    if isinstance(marker, dict) and "version" in marker:
        return {"name": "zarrbridge", "zarr_format": zarr_format, "version": str(marker["version"])}
    return {
        "name": "hdmf-zarr" if zarr_format == 3 else "hdmf-zarr-legacy",
        "zarr_format": zarr_format,
        "version": None,
    }


def cached_namespaces(opened: OpenFile) -> dict[str, list[str]]:
    """Every cached namespace with all its cached versions."""
    if opened.kind == "zarr":
        from ..zarrio.specs import spec_group_path

        root = opened.io.file
        location = spec_group_path(root)
        if location is None or location not in root:
            return {}
        spec_group: Any = root[location]
        return {name: sorted(v for v, _ in group.groups()) for name, group in sorted(spec_group.groups())}
    import h5py

    with h5py.File(opened.path, "r") as f:
        ref = f.attrs.get(".specloc")
        if ref is None:
            return {}
        try:
            spec_group = f[ref]
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptMetadataError(
                ".specloc", f"it does not point at a group ({exc})", opened.path
            ) from exc
        return {
            name: sorted(group.keys())
            for name, group in sorted(spec_group.items())
            if isinstance(group, h5py.Group)
        }


def stored_bytes(opened: OpenFile) -> int:
    """Bytes the whole file takes in its storage (every chunk and metadata document)."""
    if is_url(opened.path):
        import fsspec

        fs, root = fsspec.core.url_to_fs(opened.path, **opened.storage_options)
        return int(fs.du(root, total=True))
    path = opened.path[len("file://") :] if opened.path.startswith("file://") else opened.path
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(dirpath, name)) for name in files)
    return total


def collect(opened: OpenFile) -> dict[str, Any]:
    """The info document of an open file (what ``--json`` prints)."""
    root = opened.io.read_builder()
    nodes: list[Node] = list(walk(root, details=False))
    counts = Counter(n.kind for n in nodes)
    types = Counter(n.neurodata_type for n in nodes if n.neurodata_type and n.kind != "link")
    nwb_version = root.attributes.get("nwb_version")
    return {
        "path": opened.path,
        "format": opened.kind,
        "convention": convention(opened),
        "nwb_version": str(nwb_version) if nwb_version is not None else None,
        "stored_bytes": stored_bytes(opened),
        "counts": {
            "groups": counts["group"],
            "datasets": counts["dataset"],
            "links": counts["link"],
            "references": sum(n.references for n in nodes),
        },
        "neurodata_types": dict(types.most_common(TOP_TYPES)),
        "neurodata_types_total": len(types),
        "namespaces": cached_namespaces(opened),
    }


def human_bytes(count: float) -> str:
    """``1.5 MB`` style (decimal units)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(count) < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def text_lines(doc: dict[str, Any]) -> list[str]:
    conv = doc["convention"]
    conv_text = conv["name"] + (f" version {conv['version']}" if conv.get("version") is not None else "")
    fmt = doc["format"] + (f" (zarr format {conv['zarr_format']})" if conv.get("zarr_format") else "")
    c = doc["counts"]
    lines = [
        f"path:         {doc['path']}",
        f"format:       {fmt}",
        f"convention:   {conv_text}",
        f"NWB version:  {doc['nwb_version'] or '(not an NWB file)'}",
        f"stored size:  {human_bytes(doc['stored_bytes'])} ({doc['stored_bytes']:,} bytes)",
        f"objects:      {c['groups']} groups, {c['datasets']} datasets, {c['links']} links, "
        f"{c['references']} references",
        f"neurodata types (top {TOP_TYPES} of {doc['neurodata_types_total']}):",
    ]
    width = max((len(t) for t in doc["neurodata_types"]), default=0)
    lines += [f"  {name.ljust(width)}  {count}" for name, count in doc["neurodata_types"].items()]
    lines.append("cached namespaces:" if doc["namespaces"] else "cached namespaces: (none)")
    width = max((len(t) for t in doc["namespaces"]), default=0)
    lines += [f"  {name.ljust(width)}  {', '.join(versions)}" for name, versions in doc["namespaces"].items()]
    return lines


def run(args: argparse.Namespace, out: TextIO) -> int:
    with open_file(args.path, storage_options=args.storage_options) as opened:
        doc = collect(opened)
    if args.json:
        out.write(json.dumps(doc, indent=2) + "\n")
    else:
        out.write("\n".join(text_lines(doc)) + "\n")
    return 0
