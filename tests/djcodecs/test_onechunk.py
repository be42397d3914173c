"""Small arrays encoded in memory (``zarrbridge.djcodecs.onechunk``) give exactly the objects zarr writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

pytest.importorskip("datajoint")

from zarrbridge.core.arrays import ArrayPolicy
from zarrbridge.core.integrity import mark_complete
from zarrbridge.djcodecs import ZarrCodec, ZarrValue
from zarrbridge.djcodecs.onechunk import CHUNK_KEY_ENCODING, encode_one_chunk
from zarrbridge.djcodecs.stores import StoreTarget
from zarrbridge.djcodecs.zarr_codec import default_policy
from zarrbridge.errors import StoreExistsError

ATTRS = {"zarrbridge": {"codec": "zarr", "format_version": 1}}


def through_zarr(data: np.ndarray[Any, Any], policy: ArrayPolicy) -> dict[str, bytes]:
    objects: dict[str, Any] = {}
    dest = zarr.create_array(
        zarr.storage.MemoryStore(store_dict=objects),
        shape=data.shape,
        dtype=data.dtype,
        chunks=data.shape,
        compressors=policy.compressors,
        attributes=mark_complete(ATTRS),  # zarrbridge's arrays say that every chunk is stored (issue 11)
        chunk_key_encoding=CHUNK_KEY_ENCODING,
    )
    dest[...] = data
    return {k: v.to_bytes() for k, v in objects.items()}


DTYPES = st.sampled_from(["<f8", ">f8", "<f4", "<i2", ">u4", "u1", "i1", "?", "<c16", "<f2"])


@settings(max_examples=60, deadline=None)
@given(
    data=DTYPES.flatmap(
        lambda dt: hnp.arrays(
            np.dtype(dt),
            hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=40),
            elements=None if np.dtype(dt).kind in "fc" else hnp.from_dtype(np.dtype(dt)),
        )
    )
)
def test_same_objects_as_zarr(data: np.ndarray[Any, Any]) -> None:
    policy = default_policy(data.nbytes)
    ours = encode_one_chunk(data, policy, ATTRS)
    assert ours is not None
    theirs = through_zarr(data.astype(data.dtype.newbyteorder("<")), policy)
    assert json.loads(ours["zarr.json"]) == json.loads(theirs["zarr.json"])  # (ours is compact JSON)
    key = "c." + ".".join("0" for _ in data.shape)
    assert set(ours) == {"zarr.json", key} and set(theirs) <= set(ours)  # zarr skips an all-fill-value chunk
    if key in theirs:
        assert ours[key] == theirs[key]
    back = zarr.open_array(
        zarr.storage.MemoryStore(
            store_dict={k: zarr.core.buffer.cpu.Buffer.from_bytes(v) for k, v in ours.items()}
        ),
        mode="r",
    )
    np.testing.assert_array_equal(back[...], data)


def test_strided_and_fortran_inputs() -> None:
    base = np.arange(4000, dtype="f8").reshape(100, 40)
    for data in (base[::2, ::3], np.asfortranarray(base), base.T):
        ours = encode_one_chunk(data, default_policy(data.nbytes), ATTRS)
        theirs = through_zarr(np.ascontiguousarray(data), default_policy(data.nbytes))
        assert ours is not None and json.loads(ours.pop("zarr.json")) == json.loads(theirs.pop("zarr.json"))
        assert ours == theirs


@pytest.mark.parametrize(
    "data, policy",
    [
        (np.ones(()), default_policy(8)),  # 0-d
        (np.ones((0, 3)), default_policy(0)),  # empty
        (np.ones((600_000,)), default_policy(4_800_000)),  # more than one chunk
        (np.ones((10, 10)), ArrayPolicy(chunks=(5, 10), compressors=default_policy(800).compressors)),
        (np.ones((10, 10)), ArrayPolicy(chunks=(5, 5), shards=(10, 10))),  # sharded
        (zarr.zeros((10,)), default_policy(80)),  # not numpy
    ],
)
def test_everything_else_goes_through_zarr(data: Any, policy: ArrayPolicy) -> None:
    assert encode_one_chunk(data, policy, ATTRS) is None


@pytest.mark.parametrize(
    "policy",
    [
        ArrayPolicy(compressors=(zarr.codecs.ZstdCodec(level=1),)),
        ArrayPolicy(compressors=None),
        ArrayPolicy(compressors=default_policy(800).compressors, fill_value=1.0),
    ],
)
def test_other_codecs_and_fill_values_are_encoded_as_zarr_does(policy: ArrayPolicy) -> None:
    data = np.arange(100.0).reshape(10, 10)
    ours = encode_one_chunk(data, policy, ATTRS)
    theirs = through_zarr(data, policy)
    assert (
        ours is not None
        and json.loads(ours.pop("zarr.json"))["codecs"] == json.loads(theirs.pop("zarr.json"))["codecs"]
    )
    assert ours == theirs


def test_zarr_codec_uses_it_for_bare_small_arrays_only() -> None:
    codec = ZarrCodec()
    seed_row = np.random.default_rng(0).standard_normal((1000, 32))
    small = codec.encode_in_memory(seed_row)
    assert small is not None and small[1] == {"shape": [1000, 32], "dtype": "<f8", "chunks": [1000, 32]}
    assert codec.encode_in_memory(ZarrValue(seed_row)) is None  # per-value options: zarr writes it
    assert codec.encode_in_memory(np.ones((1000, 1000))) is None  # 8 MB: two chunks


def test_put_objects_refuses_an_existing_folder(tmp_path: Path) -> None:
    import datajoint as dj
    from datajoint.hash_registry import get_store_backend

    with dj.config.override(stores={"s": {"protocol": "file", "location": str(tmp_path)}}):
        target = StoreTarget(name="s", spec=dj.config.get_store_spec("s"), backend=get_store_backend("s"))
        objects = encode_one_chunk(np.arange(3.0), default_policy(24), ATTRS)
        assert objects is not None
        target.put_objects("a/b.zarr", objects)
        with pytest.raises(StoreExistsError):
            target.put_objects("a/b.zarr", objects)
        np.testing.assert_array_equal(
            zarr.open_array(str(tmp_path / "a" / "b.zarr"), mode="r")[:], np.arange(3.0)
        )
        assert sorted(p.name for p in (tmp_path / "a" / "b.zarr").iterdir()) == ["c.0", "zarr.json"]
        assert (tmp_path / "a" / "b.zarr" / "c.0").read_bytes() == objects["c.0"]
        target.put_objects("x/y/z/d.zarr", objects)  # parents several levels up are created too
        assert (tmp_path / "x" / "y" / "z" / "d.zarr" / "zarr.json").read_bytes() == objects["zarr.json"]


def test_fetched_store_reads_in_the_calling_thread_and_refuses_writes(tmp_path: Path) -> None:
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    from zarrbridge.djcodecs.base import FetchedStore
    from zarrbridge.errors import ReadOnlyError

    (tmp_path / "c.0").write_bytes(b"0123456789")
    memory = zarr.storage.MemoryStore()
    sync(memory.set("k", default_buffer_prototype().buffer.from_bytes(b"abc")))
    local = FetchedStore(zarr.storage.LocalStore(tmp_path, read_only=True), what="x")
    got = local.get_sync("c.0")
    assert got is not None and got.to_bytes() == b"0123456789"
    assert local.get_sync("missing") is None and local.get_sync("") is None  # (a folder)
    part = local.get_sync("c.0", byte_range=zarr.abc.store.RangeByteRequest(2, 5))
    assert part is not None and part.to_bytes() == b"234"
    other = FetchedStore(memory, what="x")  # not local: the wrapped store's own synchronous read
    got = other.get_sync("k")
    assert got is not None and got.to_bytes() == b"abc" and other.get_sync("nope") is None
    with pytest.raises(ReadOnlyError):
        sync(local.set("c.0", default_buffer_prototype().buffer.from_bytes(b"x")))
