from __future__ import annotations

import json
import math

import numcodecs
import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st
from zarr.core.sync import sync
from zarr.storage import MemoryStore

from zarrbridge.core import ArrayPolicy, auto_chunks, copy_array, create_array, iter_blocks, to_zarr_codecs
from zarrbridge.errors import InvalidOptionError, MissingChunkError, ShapeMismatchError


async def _keys(store: MemoryStore, prefix: str) -> list[str]:
    return [key async for key in store.list_prefix(prefix)]


@given(st.lists(st.integers(0, 5000), min_size=1, max_size=4), st.sampled_from([1, 2, 4, 8]))
@settings(max_examples=60, deadline=None)
def test_auto_chunks_fit_budget(shape: list[int], itemsize: int) -> None:
    chunks = auto_chunks(shape, itemsize, target_bytes=64 * 1024)
    assert len(chunks) == len(shape)
    assert all(1 <= c <= max(1, s) for c, s in zip(chunks, shape))
    assert math.prod(chunks) * itemsize <= 64 * 1024 or max(chunks) == 1


@given(st.lists(st.integers(0, 30), min_size=0, max_size=3), st.data())
@settings(max_examples=50, deadline=None)
def test_iter_blocks_tile_exactly(shape: list[int], data: st.DataObject) -> None:
    block = [data.draw(st.integers(1, 7)) for _ in shape]
    seen = np.zeros(shape, dtype=int)
    for sel in iter_blocks(shape, block):
        seen[sel] += 1
    assert (seen == 1).all()


def _meta(store: MemoryStore, key: str) -> dict:
    return json.loads(store._store_dict[key].to_bytes())


def test_numcodecs_compressors_become_v3_codecs() -> None:
    store = MemoryStore()
    policy = ArrayPolicy(
        chunks=(5,),
        compressors=numcodecs.Blosc(cname="zstd", clevel=3, shuffle=2),
        filters=(numcodecs.Delta(dtype="i4"), numcodecs.Shuffle(elementsize=4)),
    )
    a = create_array(store, "a", shape=(10,), dtype="i4", policy=policy)
    a[:] = np.arange(10)
    codecs = [c["name"] for c in _meta(store, "a/zarr.json")["codecs"]]
    assert codecs[0] == "numcodecs.delta" and codecs[-1] == "blosc" and "numcodecs.shuffle" in codecs
    np.testing.assert_array_equal(a[:], np.arange(10))
    assert to_zarr_codecs([numcodecs.GZip(3)])[0].to_dict()["name"] == "gzip"
    assert to_zarr_codecs(None) == ()
    with pytest.raises(InvalidOptionError, match="not a zarr codec"):
        to_zarr_codecs(["zip"])


def test_sharded_and_v2_arrays() -> None:
    store = MemoryStore()
    a = create_array(
        store, "s", shape=(100, 4), dtype="f4", policy=ArrayPolicy(chunks=(10, 4), shards=(50, 4))
    )
    assert a.shards == (50, 4) and a.chunks == (10, 4)
    b = create_array(
        store,
        "v2",
        shape=(6,),
        dtype="u1",
        zarr_format=2,
        policy=ArrayPolicy(compressors=numcodecs.Zlib(1), fill_value=7),
    )
    assert b.metadata.zarr_format == 2
    with pytest.raises(MissingChunkError, match="v2/0"):  # complete arrays: a chunk never written is missing
        b[0]
    b[:] = 7
    assert b[0] == 7 and sorted(sync(_keys(store, "v2/"))) == ["v2/.zarray", "v2/.zattrs", "v2/0"]
    with pytest.raises(InvalidOptionError, match="multiple"):
        ArrayPolicy(chunks=(3,), shards=(4,))
    with pytest.raises(InvalidOptionError, match="positive integers"):
        ArrayPolicy(chunks=(0, 2))
    with pytest.raises(ShapeMismatchError):
        create_array(store, "bad", shape=(4, 4), dtype="f4", policy=ArrayPolicy(chunks=(2,)))


@pytest.mark.parametrize("workers", [1, 3])
def test_copy_array_bounded_blocks(workers: int) -> None:
    src = np.random.default_rng(0).normal(size=(1000, 7)).astype("f8")
    seen: list[int] = []
    dest = create_array(
        MemoryStore(), "d", shape=src.shape, dtype=src.dtype, policy=ArrayPolicy(chunks=(64, 7))
    )
    n = copy_array(src, dest, max_block_bytes=8 * 64 * 7 * 4, workers=workers, progress=seen.append)
    np.testing.assert_array_equal(dest[:], src)
    assert n == src.nbytes and sum(seen) == src.nbytes
    assert max(seen) <= 8 * 64 * 7 * 4
    with pytest.raises(ShapeMismatchError):
        copy_array(src[:10], dest)


def test_copy_scalar_and_empty() -> None:
    store = MemoryStore()
    z = create_array(store, "z", shape=(), dtype="i8")
    copy_array(np.array(5), z)
    assert z[()] == 5
    e = create_array(store, "e", shape=(0, 3), dtype="f4")
    assert copy_array(np.zeros((0, 3), "f4"), e) == 0
    assert isinstance(zarr.open_array(store, path="e").shape, tuple)
