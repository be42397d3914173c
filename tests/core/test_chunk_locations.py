"""Chunk locations shared by the HDF5 export and the serializers: core.arrays.chunk_containing, h5chunks."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from zarrbridge.core.arrays import chunk_containing
from zarrbridge.h5chunks import StoredChunk, read_stored_chunk, stored_chunks


@pytest.mark.parametrize(
    "sel, expected",
    [
        ((slice(0, 10), slice(0, 4)), ((0, 0), (slice(0, 10), slice(0, 4)))),
        ((slice(12, 18), slice(4, 8)), ((1, 1), (slice(2, 8), slice(0, 4)))),
        ((slice(20, 25), slice(None)), None),  # the whole second axis spans two chunks
        ((slice(20, 25), slice(4, None)), ((2, 1), (slice(0, 5), slice(0, 4)))),  # the clipped last chunk
        ((slice(5, 15), slice(0, 4)), None),  # crosses a chunk boundary
        ((slice(3, 3), slice(0, 4)), None),  # empty
        ((slice(0, 10, 2), slice(0, 4)), None),  # stepped
        ((3, slice(0, 4)), None),  # an integer index
        ((slice(0, 10),), None),  # too few axes
    ],
)
def test_chunk_containing(sel: tuple[Any, ...], expected: Any) -> None:
    assert chunk_containing(sel, (25, 8), (10, 4)) == expected


def test_stored_chunks_are_the_ones_hdf5_reports(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        dset = f.create_dataset("x", shape=(25, 8), chunks=(10, 4), dtype="<i4", compression="gzip")
        dset[0:10, 0:4] = 1
        dset[20:25, 4:8] = np.arange(20).reshape(5, 4)  # the clipped corner chunk; the others never written
    raw = path.read_bytes()
    with h5py.File(path, "r") as f:
        dset = f["x"]
        chunks = stored_chunks(dset)
        reported = [dset.id.get_chunk_info(i) for i in range(dset.id.get_num_chunks())]
        assert sorted(c.offset for c in chunks) == [(0, 0), (20, 4)]
        assert sorted(chunks, key=lambda c: c.offset) == sorted(
            (StoredChunk(tuple(i.chunk_offset), i.filter_mask, i.byte_offset, i.size) for i in reported),
            key=lambda c: c.offset,
        )
        for chunk in chunks:  # the bytes at byte_offset are the stored (compressed) chunk
            assert chunk.size > 0 and chunk.filter_mask == 0
            assert (
                raw[chunk.byte_offset : chunk.byte_offset + chunk.size]
                == dset.id.read_direct_chunk(chunk.offset)[1]
            )


def test_read_stored_chunk_gives_the_stored_bytes(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    values = np.arange(200, dtype="<i4").reshape(25, 8)
    with h5py.File(path, "w") as f:
        f.create_dataset("gz", data=values, chunks=(10, 4), compression="gzip")
        plain = f.create_dataset("plain", shape=(25, 8), chunks=(10, 4), dtype="<i4")
        plain[0:10, 0:4] = values[0:10, 0:4]
    raw = path.read_bytes()
    with h5py.File(path, "r") as f:
        for chunk in stored_chunks(f["gz"]):  # the bytes HDF5 stored, still compressed
            found = read_stored_chunk(f["gz"], chunk.offset)
            assert found == (0, raw[chunk.byte_offset : chunk.byte_offset + chunk.size])
        mask, data = read_stored_chunk(f["gz"], (20, 4)) or (None, b"")
        assert mask == 0
        corner = np.frombuffer(zlib.decompress(data), dtype="<i4").reshape(10, 4)
        np.testing.assert_array_equal(corner[:5], values[20:25, 4:8])  # a clipped chunk is stored whole
        out = np.full(10 * 4 * 4 + 7, 255, dtype=np.uint8)  # larger than the chunk
        found = read_stored_chunk(f["plain"], (0, 0), out=out)
        assert found is not None and found[0] == 0 and len(found[1]) == 160
        np.testing.assert_array_equal(out[:160].view("<i4").reshape(10, 4), values[0:10, 0:4])
        assert (out[160:] == 255).all()
        assert read_stored_chunk(f["plain"], (10, 0)) is None  # never written
        with pytest.raises(ValueError, match="160 bytes required"):
            read_stored_chunk(f["plain"], (0, 0), out=np.empty(10, dtype=np.uint8))
