"""Consolidated metadata that disagrees with an array's own ``zarr.json`` is an error, not a silent choice."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from trust_helpers import Dest, write_nwb

from zarrbridge import read_nwb
from zarrbridge.errors import CorruptMetadataError

BIG = "acquisition/ts/data"
SMALL = "acquisition/small/data"


def _edit_listing(d: Dest, path: str, change: Callable[[dict[str, Any]], None]) -> None:
    root = json.loads(d.read("zarr.json"))
    change(root["consolidated_metadata"]["metadata"][path])
    d.write("zarr.json", json.dumps(root).encode())


def _dtype(entry: dict[str, Any]) -> None:
    entry["data_type"] = "int64" if entry["data_type"] == "float64" else "float64"


def _shape(entry: dict[str, Any]) -> None:
    entry["shape"] = [entry["shape"][0] // 2, *entry["shape"][1:]]


def _chunks(entry: dict[str, Any]) -> None:
    grid = entry["chunk_grid"]["configuration"]["chunk_shape"]
    grid[0] = max(1, grid[0] // 2)


CHANGES = {"dtype": _dtype, "shape": _shape, "chunks": _chunks}


@pytest.mark.parametrize("which", [BIG, SMALL], ids=["multi-chunk", "one-chunk"])
@pytest.mark.parametrize("change", list(CHANGES))
def test_listing_disagrees_with_own_document(dest: Dest, which: str, change: str) -> None:
    write_nwb(dest)
    _edit_listing(dest, which, CHANGES[change])
    nwbfile = read_nwb(dest.url, storage_options=dest.storage_options)
    try:
        data = nwbfile.acquisition[which.split("/")[1]].data
        with pytest.raises(CorruptMetadataError, match=rf"metadata '{which}/zarr.json'.* is corrupt"):
            data[:]
    finally:
        nwbfile.read_io.close()


def test_own_document_missing(dest: Dest) -> None:
    write_nwb(dest)
    dest.remove(f"{BIG}/zarr.json")
    nwbfile = read_nwb(dest.url, storage_options=dest.storage_options)
    try:
        with pytest.raises(CorruptMetadataError, match="own document is missing"):
            nwbfile.acquisition["ts"].data[:]
    finally:
        nwbfile.read_io.close()


def test_scalar_listing_disagrees_fails_at_open(dest: Dest) -> None:
    """Scalars are read while opening: a scalar whose listed type is not its own is refused there."""
    write_nwb(dest)
    root = json.loads(dest.read("zarr.json"))
    scalar = root["consolidated_metadata"]["metadata"]["session_description"]
    scalar["shape"] = [1]
    scalar["chunk_grid"]["configuration"]["chunk_shape"] = [1]
    dest.write("zarr.json", json.dumps(root).encode())
    with pytest.raises(CorruptMetadataError, match="session_description/zarr.json"):
        read_nwb(dest.url, storage_options=dest.storage_options)


def test_attributes_may_differ(dest: Dest) -> None:
    """Only what decides the decoded values is compared: an attribute changed in the listing is not damage."""
    write_nwb(dest)

    def note(entry: dict[str, Any]) -> None:
        entry["attributes"]["conversion"] = 2.0

    _edit_listing(dest, BIG, note)
    nwbfile = read_nwb(dest.url, storage_options=dest.storage_options)
    try:
        assert nwbfile.acquisition["ts"].data[:].shape == (2000, 4)
    finally:
        nwbfile.read_io.close()
