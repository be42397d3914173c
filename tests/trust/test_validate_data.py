"""``zarrbridge validate --data``: every chunk is read; missing and corrupt ones are reported with paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import zarr
from trust_helpers import Dest, write_nwb

BIG = "acquisition/ts/data"
SMALL = "acquisition/small/data"


def _options(d: Dest) -> list[str]:
    if d.storage_options is None:
        return []
    return [f"--storage-option={k}={json.dumps(v)}" for k, v in d.storage_options.items()]


def test_intact_file_is_valid(dest: Dest, cli: Any) -> None:
    write_nwb(dest)
    result = cli("validate", dest.url, "--data", *_options(dest))
    assert result.code == 0, result
    assert "valid" in result.out and "chunks read" in result.out


def test_missing_and_corrupt_chunks_are_listed(dest: Dest, cli: Any) -> None:
    write_nwb(dest)
    dest.remove(f"{BIG}/c/1/0")
    dest.write(f"{SMALL}/c.0", b"definitely not zstd")
    result = cli("validate", dest.url, "--data", *_options(dest))
    assert result.code == 1, result
    assert f"/{BIG}: chunk '{BIG}/c/1/0' is missing" in result.out
    assert f"/{SMALL}: chunk '{SMALL}/c.0' is corrupt" in result.out
    assert "2 problem(s)" in result.out or "problem(s)" in result.out


def test_without_data_flag_chunks_are_not_read(tmp_path: Path, cli: Any) -> None:
    d = Dest("dir", str(tmp_path / "f.nwb.zarr"))
    write_nwb(d)
    d.remove(f"{BIG}/c/1/0")
    result = cli("validate", d.url)
    assert result.code == 0 and "valid" in result.out  # the specification check alone does not read chunks


def test_listing_problems(tmp_path: Path, cli: Any) -> None:
    d = Dest("dir", str(tmp_path / "f.nwb.zarr"))
    write_nwb(d)
    root = json.loads(d.read("zarr.json"))
    listing = root["consolidated_metadata"]["metadata"]
    listing[BIG]["data_type"] = "int64"
    del listing[SMALL]
    d.write("zarr.json", json.dumps(root).encode())
    result = cli("validate", d.url, "--data")
    assert result.code == 1
    assert f"/{SMALL}: not in the consolidated metadata" in result.out
    assert f"/{BIG}: metadata '{BIG}/zarr.json'" in result.out and "data_type" in result.out


def test_other_tools_missing_chunks_are_notes(tmp_path: Path, cli: Any) -> None:
    """A plain zarr file may leave fill-value chunks out: a note, not damage."""
    path = tmp_path / "plain.zarr"
    root = zarr.open_group(path, mode="w")
    a = root.create_array("x", shape=(10,), chunks=(5,), dtype="i4", fill_value=0)
    a[:5] = 3  # chunk 1 holds only the fill value: zarr does not store it
    zarr.consolidate_metadata(path)
    result = cli("validate", path, "--data")
    assert (
        "/x: note: 1 chunk(s) not stored (written by another tool): they read as the fill value" in result.out
    )
    assert "/x:" not in result.out.replace("/x: note:", "")  # not a problem


def test_hdf5_data(tmp_path: Path, cli: Any) -> None:
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from trust_helpers import START

    path = tmp_path / "f.nwb"
    f = NWBFile(session_description="h5", identifier="h5", session_start_time=START, file_create_date=[START])
    data = H5DataIO(np.arange(100.0), chunks=(10,), compression="gzip")
    f.add_acquisition(TimeSeries(name="ts", data=data, unit="V", rate=1.0))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(f)
    assert cli("validate", path, "--data").code == 0
    with h5py.File(path, "r") as h5:
        info = h5["acquisition/ts/data"].id.get_chunk_info(3)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset)
        fh.write(b"\xff" * info.size)
    result = cli("validate", path, "--data")
    assert result.code == 1, result
    assert "/acquisition/ts/data: block (slice(30, 40, None),) cannot be read" in result.out
