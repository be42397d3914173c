"""Legacy chunks and metadata cannot make the reader allocate more than the array needs (issue 11).

Decompression bombs, lying blosc/lz4/zstd/vlen headers and giant chunk or array shapes are refused with a
:class:`ResourceLimitError` before the memory is taken (``tracemalloc`` shows the peak); garbled or truncated
chunks of every compressor are :class:`CorruptChunkError` naming the array and the chunk key.
"""

from __future__ import annotations

import json
import struct
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pytest
from legacy_helpers import copy_fixture, open_legacy

from zarrbridge.core.bounds import MAX_CHUNK_BYTES
from zarrbridge.errors import CorruptChunkError, ResourceLimitError

pytestmark = pytest.mark.filterwarnings("ignore:The 'manufacturer' field is deprecated:DeprecationWarning")

SERIES = "acquisition/ElectricalSeriesGzip/data"  # int16 (200, 4), chunks (50, 4): 400 bytes a chunk, gzip
TEXT = "general/extracellular_ephys/electrodes/location"  # |O, vlen-utf8 + blosc, 6 elements in one chunk
PEAK_LIMIT = 64 * 2**20


@pytest.fixture
def ecephys(tmp_path: Path) -> Path:
    return copy_fixture("ecephys.nwb.zarr", tmp_path)


@pytest.fixture
def peak() -> Iterator[Callable[[], int]]:
    tracemalloc.start()
    try:
        yield lambda: tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def edit_metadata(root: Path, key: str, change: Callable[[dict[str, Any]], None]) -> None:
    doc = json.loads((root / key).read_text())
    change(doc)
    (root / key).write_text(json.dumps(doc))
    consolidated = json.loads((root / ".zmetadata").read_text())
    change(consolidated["metadata"][key])
    (root / ".zmetadata").write_text(json.dumps(consolidated))


def read(root: Path, path: str, key: Any = slice(None)) -> Any:
    with open_legacy(root) as io:
        return io.get_builder(path).data[key]


def zlib_bomb(nbytes: int, *, gzip: bool) -> bytes:
    """A zlib (or gzip) stream of ``nbytes`` zeros, built piece by piece (a few MB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31 if gzip else 15)
    block = bytes(64 * 2**20)
    parts = [compressor.compress(block) for _ in range(nbytes // len(block))]
    return b"".join([*parts, compressor.flush()])


# ------------------------------------------------------------------------------------------ bombs
@pytest.mark.parametrize("gzip", [True, False])
def test_a_chunk_that_inflates_to_1_5_gib_is_stopped_at_the_chunk_size(
    ecephys: Path, peak: Callable[[], int], gzip: bool
) -> None:
    bomb = zlib_bomb(3 * 2**29, gzip=gzip)
    assert len(bomb) < 8 * 2**20
    if not gzip:
        edit_metadata(ecephys, f"{SERIES}/.zarray", lambda d: d.update(compressor={"id": "zlib", "level": 9}))
    (ecephys / SERIES / "0.0").write_bytes(bomb)
    del bomb
    tracemalloc.reset_peak()
    with pytest.raises(ResourceLimitError) as info:
        read(ecephys, SERIES, slice(0, 10))
    assert peak() < PEAK_LIMIT, f"peak {peak():,} bytes"
    assert "'0.0'" in str(info.value) and SERIES in str(info.value) and info.value.limit == 400


@pytest.mark.parametrize(
    ("compressor", "payload"),
    [
        ({"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0}, "blosc"),
        ({"id": "zstd", "level": 3}, "zstd"),
        ({"id": "lz4", "acceleration": 1}, "lz4"),
    ],
)
def test_headers_declaring_gigabytes_are_refused_before_decoding(
    ecephys: Path, peak: Callable[[], int], compressor: dict[str, Any], payload: str
) -> None:
    huge = 2**31 - 1  # the most an lz4 header (int32) can declare
    chunk = {
        # version 2, versionlz 1, flags, typesize 2, nbytes, blocksize, cbytes (= the chunk's length)
        "blosc": struct.pack("<BBBBIII", 2, 1, 0x01, 2, huge, 2**16, 32) + bytes(16),
        # zstd magic, single-segment frame with an 8-byte content size, then one empty raw block
        "zstd": struct.pack("<I", 0xFD2FB528)
        + bytes([0xE0])
        + struct.pack("<Q", 64 * 2**30)
        + b"\x01\x00\x00",
        "lz4": struct.pack("<i", huge) + bytes(16),
    }[payload]
    edit_metadata(ecephys, f"{SERIES}/.zarray", lambda d: d.update(compressor=compressor))
    (ecephys / SERIES / "0.0").write_bytes(chunk)
    tracemalloc.reset_peak()
    with pytest.raises(ResourceLimitError, match=payload) as info:
        read(ecephys, SERIES, slice(0, 10))
    assert peak() < PEAK_LIMIT and info.value.requested >= huge and SERIES in str(info.value)


def test_a_vlen_chunk_declaring_billions_of_items_is_corrupt(ecephys: Path, peak: Callable[[], int]) -> None:
    (ecephys / TEXT / "0").write_bytes(numcodecs.Blosc().encode(struct.pack("<I", 2**31) + bytes(64)))
    tracemalloc.reset_peak()
    with pytest.raises(CorruptChunkError, match="declares 2147483648 items, the chunk holds 6") as info:
        read(ecephys, TEXT)
    assert peak() < PEAK_LIMIT and info.value.key == "0" and TEXT in str(info.value)


def test_a_giant_chunk_shape_is_refused_before_reading(ecephys: Path, peak: Callable[[], int]) -> None:
    edit_metadata(ecephys, f"{SERIES}/.zarray", lambda d: d.update(chunks=[2**28, 4]))
    tracemalloc.reset_peak()
    with pytest.raises(ResourceLimitError, match="chunk shape") as info:
        read(ecephys, SERIES, slice(0, 1))
    assert peak() < PEAK_LIMIT and info.value.limit == MAX_CHUNK_BYTES and SERIES in str(info.value)
    assert read(ecephys, "acquisition/ElectricalSeriesBlosc/data").shape == (64, 2)  # others still read


def test_an_array_larger_than_memory_is_refused_before_allocating(
    ecephys: Path, peak: Callable[[], int]
) -> None:
    edit_metadata(ecephys, f"{SERIES}/.zarray", lambda d: d.update(shape=[2**44, 4]))
    tracemalloc.reset_peak()
    with open_legacy(ecephys) as io:
        data = io.get_builder(SERIES).data
        assert data[:3].shape == (3, 4)  # a small selection still reads
        with pytest.raises(ResourceLimitError, match="smaller selections"):
            data[:]
    assert peak() < PEAK_LIMIT


def test_genuine_chunks_of_every_compressor_still_read(ecephys: Path) -> None:
    expected = np.asarray(read(ecephys, SERIES))
    for config in [
        {"id": "zlib", "level": 1},
        {"id": "gzip", "level": 1},
        {"id": "bz2", "level": 1},
        {"id": "lzma"},
        {"id": "blosc", "cname": "zstd", "clevel": 3, "shuffle": 2, "blocksize": 0},
        {"id": "zstd", "level": 1},
        {"id": "lz4", "acceleration": 1},
    ]:
        codec = numcodecs.get_codec(dict(config))
        edit_metadata(ecephys, f"{SERIES}/.zarray", lambda d, c=config: d.update(compressor=c))
        for row in range(4):
            block = np.ascontiguousarray(expected[row * 50 : (row + 1) * 50])
            (ecephys / SERIES / f"{row}.0").write_bytes(codec.encode(block.tobytes()))
        np.testing.assert_array_equal(read(ecephys, SERIES), expected, err_msg=str(config))


# ------------------------------------------------------------------------------------------ damage
COMPRESSORS = {
    "gzip": {"id": "gzip", "level": 1},
    "zlib": {"id": "zlib", "level": 1},
    "bz2": {"id": "bz2", "level": 1},
    "lzma": {"id": "lzma"},
    "blosc": {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0},
    "zstd": {"id": "zstd", "level": 1},
    "lz4": {"id": "lz4", "acceleration": 1},
}


@pytest.mark.parametrize("damage", ["truncated", "garbled"])
@pytest.mark.parametrize("name", sorted(COMPRESSORS))
def test_damaged_chunks_are_corrupt_chunk_errors(ecephys: Path, name: str, damage: str) -> None:
    config = COMPRESSORS[name]
    edit_metadata(ecephys, f"{SERIES}/.zarray", lambda d: d.update(compressor=config))
    codec = numcodecs.get_codec(dict(config))
    for row in range(4):
        (ecephys / SERIES / f"{row}.0").write_bytes(codec.encode(np.arange(200, dtype="<i2").tobytes()))
    genuine = (ecephys / SERIES / "1.0").read_bytes()
    broken = (
        genuine[: len(genuine) // 2] if damage == "truncated" else genuine[:8] + b"\xa5" * 40 + genuine[8:]
    )
    (ecephys / SERIES / "1.0").write_bytes(broken)
    with open_legacy(ecephys) as io:
        data = io.get_builder(SERIES).data
        with pytest.raises(CorruptChunkError) as info:
            data[:]
    assert info.value.key == "1.0" and SERIES in str(info.value), str(info.value)
    assert type(info.value.__cause__).__module__.split(".")[0] in ("builtins", "zlib", "zarrbridge", "_lzma")
