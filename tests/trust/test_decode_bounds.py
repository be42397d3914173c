"""zarr's own decode path is bounded too (issue 11, memory exhaustion): arrays read through
:func:`zarrbridge.core.integrity.strict_array` (every array zarrbridge opens: NWB datasets, ``<zarr@>`` rows,
results) refuse a chunk shape larger than a chunk may be and a stored chunk whose compressor header declares
more than its chunk holds, with :class:`ResourceLimitError`, before anything is allocated."""

from __future__ import annotations

import json
import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pytest
import zarr
from trust_helpers import Dest, nwbfile_with_data, write_nwb
from zarr.storage import LocalStore

from zarrbridge import read_nwb
from zarrbridge.core.bounds import MAX_CHUNK_BYTES
from zarrbridge.core.chunkio import SMALL_ARRAY_BYTES
from zarrbridge.core.integrity import open_array_strict
from zarrbridge.errors import ResourceLimitError

N = 200_000  # 1.6 MB of float64: above the in-thread fast path, so zarr's own pipeline decodes it
GIB_64 = 64 * 2**30


def _zstd_frame(content_size: int) -> bytes:
    """A zstd frame header (single segment, 8-byte content size) followed by a few bytes of nothing."""
    return struct.pack("<I", 0xFD2FB528) + bytes([0xE0]) + struct.pack("<Q", content_size) + b"\x01\x00\x00"


def _blosc_frame(nbytes: int) -> bytes:
    """A blosc header declaring ``nbytes`` decoded bytes, its stated length true (32 bytes in all)."""
    return bytes([2, 1, 0x01, 8]) + struct.pack("<III", nbytes, 2**16, 32) + b"\0" * 16


def _write(root: Path, **kw: Any) -> zarr.Array[Any]:
    array = zarr.create_array(LocalStore(root), name="x", shape=(N,), chunks=(N // 4,), dtype="f8", **kw)
    array[:] = np.arange(N, dtype="f8")
    assert array.nbytes > SMALL_ARRAY_BYTES
    return array


def _read(root: Path, selection: Any = slice(None)) -> Any:
    return open_array_strict(LocalStore(root), "x", location=str(root))[selection]


def _refused_without_allocating(read: Callable[[], Any], match: str) -> ResourceLimitError:
    tracemalloc.start()
    try:
        with pytest.raises(ResourceLimitError, match=match) as info:
            read()
        assert tracemalloc.get_traced_memory()[1] < 64 * 2**20  # nothing near what was asked for
    finally:
        tracemalloc.stop()
    return info.value


def _edit_document(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))


# ----------------------------------------------------------------------------------- declared chunk shapes
def test_v3_chunk_shape_of_2_28_is_refused(tmp_path: Path) -> None:
    _write(tmp_path)

    def claim(document: dict[str, Any]) -> None:
        document["shape"] = [2**28]
        document["chunk_grid"]["configuration"]["chunk_shape"] = [2**28]

    _edit_document(tmp_path / "x" / "zarr.json", claim)
    error = _refused_without_allocating(lambda: _read(tmp_path, slice(0, 10)), r"chunk shape \[268435456\]")
    assert error.requested == 2**31 and error.limit == MAX_CHUNK_BYTES and "'/x'" in str(error)
    with pytest.raises(ResourceLimitError):  # and again: the refusal is not a one-time check
        _read(tmp_path, slice(0, 10))


def test_v3_sharded_inner_chunk_shape_of_2_28_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, shards=(N // 2,))

    def claim(document: dict[str, Any]) -> None:
        document["shape"] = [2**29]
        document["chunk_grid"]["configuration"]["chunk_shape"] = [2**29]
        document["codecs"][0]["configuration"]["chunk_shape"] = [2**28]

    _edit_document(tmp_path / "x" / "zarr.json", claim)
    error = _refused_without_allocating(lambda: _read(tmp_path, slice(0, 10)), r"chunk shape \[268435456\]")
    assert error.requested == 2**31


def test_v2_chunk_shape_of_2_28_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, zarr_format=2)

    def claim(document: dict[str, Any]) -> None:
        document["shape"] = [2**28]
        document["chunks"] = [2**28]

    _edit_document(tmp_path / "x" / ".zarray", claim)
    _refused_without_allocating(lambda: _read(tmp_path, slice(0, 10)), r"chunk shape \[268435456\]")


# ----------------------------------------------------------------------------------- declared decoded sizes
@pytest.mark.parametrize(
    ("compressors", "frame", "requested"),
    [
        ([zarr.codecs.ZstdCodec()], _zstd_frame(GIB_64), GIB_64),
        ([zarr.codecs.ZstdCodec(checksum=True)], _zstd_frame(GIB_64), GIB_64),
        ([zarr.codecs.BloscCodec(cname="lz4")], _blosc_frame(2**32 - 1), 2**32 - 1),
    ],
    ids=["zstd", "zstd-checksum", "blosc"],
)
def test_v3_compressor_header_declaring_too_much_is_refused(
    tmp_path: Path, compressors: list[Any], frame: bytes, requested: int
) -> None:
    _write(tmp_path, compressors=compressors)
    assert _read(tmp_path, slice(0, 3)).tolist() == [0.0, 1.0, 2.0]
    (tmp_path / "x" / "c" / "1").write_bytes(frame)
    error = _refused_without_allocating(lambda: _read(tmp_path), "header declares more")
    assert error.requested == requested and error.limit == N // 4 * 8
    assert "x/c/1" in str(error) and str(tmp_path) in str(error)
    assert _read(tmp_path, slice(0, 3)).tolist() == [0.0, 1.0, 2.0]  # the other chunks still read


def test_v3_crc32c_after_zstd_is_checked_at_the_front(tmp_path: Path) -> None:
    """crc32c appends its checksum: the zstd frame header still starts the stored chunk."""
    _write(tmp_path, compressors=[zarr.codecs.ZstdCodec()])
    _edit_document(
        tmp_path / "x" / "zarr.json", lambda d: d["codecs"].append({"name": "crc32c"})
    )  # a new array with that pipeline, written by zarr
    zarr.open_array(LocalStore(tmp_path), path="x", mode="r+")[:] = np.arange(N, dtype="f8")
    assert _read(tmp_path)[-1] == N - 1
    (tmp_path / "x" / "c" / "2").write_bytes(_zstd_frame(GIB_64) + b"\0\0\0\0")
    _refused_without_allocating(lambda: _read(tmp_path), "zstd header declares more")


def test_v2_zstd_header_declaring_64_gib_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, zarr_format=2, compressors=numcodecs.Zstd())
    (tmp_path / "x" / "1").write_bytes(_zstd_frame(GIB_64))
    error = _refused_without_allocating(lambda: _read(tmp_path), "zstd header declares more")
    assert error.requested == GIB_64


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"compressors": [zarr.codecs.BloscCodec()]},
        {"compressors": [zarr.codecs.GzipCodec()]},
        {"compressors": None},
        {"shards": (N // 2,)},
        {"zarr_format": 2},
        {"zarr_format": 2, "filters": [numcodecs.Delta(dtype="f8")]},
    ],
    ids=["zstd", "blosc", "gzip", "raw", "sharded", "v2-blosc", "v2-filter"],
)
def test_genuine_arrays_still_read(tmp_path: Path, kw: dict[str, Any]) -> None:
    _write(tmp_path, **kw)
    np.testing.assert_array_equal(_read(tmp_path), np.arange(N, dtype="f8"))


def test_variable_length_strings_still_read(tmp_path: Path) -> None:
    values = np.array([f"value {i} " * (i % 7) for i in range(40_000)], dtype=object)
    array = zarr.create_array(LocalStore(tmp_path), name="x", shape=values.shape, chunks=(10_000,), dtype=str)
    array[:] = values
    assert list(_read(tmp_path)) == list(values)


# ----------------------------------------------------------------------------------- through read_nwb
def test_read_nwb_refuses_a_hostile_zstd_chunk(dest: Dest) -> None:
    """The NWB reader's lazy datasets (directory, zip, S3): a chunk declaring 64 GiB is refused by name."""
    write_nwb(dest, nwbfile_with_data())
    dest.write("acquisition/ts/data/c/1/0", _zstd_frame(GIB_64))
    nwbfile = read_nwb(dest.url, storage_options=dest.storage_options)
    try:
        data = nwbfile.acquisition["ts"].data
        np.testing.assert_array_equal(data[:500], np.arange(2000.0).reshape(500, 4))  # chunk 0 is fine
        error = _refused_without_allocating(lambda: data[:], "zstd header declares more")
        assert error.requested == GIB_64 and "acquisition/ts/data/c/1/0" in str(error)
    finally:
        nwbfile.read_io.close()
