"""core.chunkio: small arrays encoded and read in the calling thread must be exactly
what zarr makes and reads."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pytest
import zarr
import zarr.codecs
from zarr.abc.store import ByteRequest, Store
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import LocalStore, MemoryStore, WrapperStore

try:  # zarr >= 3.1.6
    from zarr.abc.codec import SupportsSyncCodec
except ImportError:  # pragma: no cover - depends on the installed zarr
    SupportsSyncCodec = None  # type: ignore[assignment,misc]

from zarrbridge.core.arrays import ArrayPolicy, create_array, to_zarr_codecs
from zarrbridge.core.chunkio import (
    MAX_CHUNKS,
    SMALL_ARRAY_BYTES,
    consolidated_root,
    group_document,
    read_whole,
    small_array,
)
from zarrbridge.core.transfer import copy_store, put_many
from zarrbridge.errors import ShapeMismatchError

TEXT = np.dtypes.StringDType()
COMPOUND = np.dtype([("a", "<i4"), ("b", "<f8")])

CASES: list[tuple[tuple[int, ...], Any, ArrayPolicy]] = [
    ((150,), "float32", ArrayPolicy()),
    ((3, 4), "int16", ArrayPolicy(chunks=(2, 3))),  # edge chunks padded with the fill value
    ((), "float64", ArrayPolicy()),
    ((5,), TEXT, ArrayPolicy()),
    ((2, 2), "str", ArrayPolicy()),
    ((), "str", ArrayPolicy()),
    ((4,), COMPOUND, ArrayPolicy()),
    ((10,), "uint8", ArrayPolicy(compressors=(numcodecs.Blosc(cname="lz4", shuffle=1),))),
    ((7,), "float64", ArrayPolicy(compressors=(zarr.codecs.GzipCodec(level=3), zarr.codecs.Crc32cCodec()))),
    ((0, 3), "float32", ArrayPolicy()),
    ((6,), "int64", ArrayPolicy(compressors=None)),
    ((5,), "bool", ArrayPolicy(fill_value=True)),
    ((4, 3), "float32", ArrayPolicy(filters=(zarr.codecs.TransposeCodec(order=(1, 0)),))),
]


def _values(shape: tuple[int, ...], native: np.dtype[Any], rng: np.random.Generator) -> np.ndarray[Any, Any]:
    n = int(np.prod(shape))
    if native.kind == "T":
        return np.array([f"{i}é" for i in range(n)], dtype=native).reshape(shape)
    if native.names:
        out = np.zeros(shape, dtype=native)
        out["a"], out["b"] = np.arange(n).reshape(shape), 1.5
        return out
    return (rng.random(shape) * 100).astype(native)


def _quiet_zarr() -> Any:
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.filterwarnings("ignore", message=".*does not have a Zarr V3 specification.*")
    return ctx


@pytest.mark.parametrize(("shape", "dtype", "policy"), CASES, ids=lambda v: repr(v)[:40])
def test_encoded_array_is_what_zarr_writes_and_reads(
    shape: tuple[int, ...], dtype: Any, policy: ArrayPolicy
) -> None:
    store = MemoryStore()
    ctx = _quiet_zarr()
    try:
        ref = create_array(store, "ref", shape=shape, dtype=dtype, policy=policy, attributes={"a": [1, "x"]})
        small = small_array(shape, dtype, policy, {"a": [1, "x"]})
        assert small is not None
        expected = ref.metadata.to_dict()
        got = json.loads(json.dumps(small.document))
        # the one difference: a one-chunk array keys its chunk "c.0" beside zarr.json
        single = all(c >= s for c, s in zip(small.chunks, shape))
        assert got.pop("chunk_key_encoding")["configuration"]["separator"] == ("." if single else "/")
        expected.pop("chunk_key_encoding")
        assert got == json.loads(json.dumps(expected))
        values = _values(shape, ref.metadata.dtype.to_native_dtype(), np.random.default_rng(0))
        put_many(store, {f"new/{k}": v for k, v in small.encode(values).items()})
        ref[...] = values
        new = zarr.open_array(store, path="new")
        np.testing.assert_array_equal(new[...], values)
        np.testing.assert_array_equal(new[...], ref[...])
        whole = read_whole(new)
        assert whole is not None and whole.dtype == ref.metadata.dtype.to_native_dtype()
        np.testing.assert_array_equal(whole, values)
        whole_ref = read_whole(ref)
        assert whole_ref is not None
        np.testing.assert_array_equal(whole_ref, values)
    finally:
        ctx.__exit__(None, None, None)


def test_edge_chunks_are_padded_with_the_fill_value() -> None:
    small = small_array((3,), "int32", ArrayPolicy(chunks=(2,), fill_value=-7), {})
    assert small is not None
    encoded = small.encode(np.array([1, 2, 3], dtype="int32"))
    assert sorted(encoded) == ["c/0", "c/1", "zarr.json"]
    store = MemoryStore()
    put_many(store, encoded)
    last = zarr.open_array(store).metadata.codecs  # the padding is visible only in the raw chunk
    assert last
    raw = sync(store.get("c/1", default_buffer_prototype()))
    assert raw is not None
    decoded = np.frombuffer(numcodecs.Zstd().decode(raw.to_bytes()), dtype="<i4")
    assert decoded.tolist() == [3, -7]


def test_what_takes_zarrs_own_path() -> None:
    assert small_array((10,), "f4", ArrayPolicy(), {}, zarr_format=2) is None
    assert small_array((10,), "f4", ArrayPolicy(chunks=(5,), shards=(10,)), {}) is None  # sharding
    too_big = SMALL_ARRAY_BYTES // 8 + 1
    assert small_array((too_big,), "f8", ArrayPolicy(), {}) is None
    assert small_array((MAX_CHUNKS + 1,), "u1", ArrayPolicy(chunks=(1,)), {}) is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # a numcodecs filter wrapped by zarr: synchronous from zarr 3.2 on, zarr's own path before
        delta = ArrayPolicy(filters=(numcodecs.Delta(dtype="f8"),))
        (wrapped,) = to_zarr_codecs(delta.filters)
        small = small_array((10,), "f8", delta, {})
        if SupportsSyncCodec is None or not isinstance(wrapped, SupportsSyncCodec):
            assert small is None
        else:  # then the chunks it encodes are what zarr reads back
            assert small is not None
            store = MemoryStore()
            values = np.linspace(0.0, 9.0, 10) ** 2
            put_many(store, small.encode(values))
            np.testing.assert_array_equal(zarr.open_array(store, mode="r")[:], values)
        big = zarr.create_array(MemoryStore(), shape=(too_big,), dtype="f8")
        assert read_whole(big) is None
        many = zarr.create_array(MemoryStore(), shape=(10,), chunks=(2,), dtype="f8")
        assert read_whole(many, max_chunks=1) is None
        v2 = zarr.create_array(MemoryStore(), shape=(10,), dtype="f8", zarr_format=2)
        assert read_whole(v2) is None


def test_wrong_shape_is_refused() -> None:
    small = small_array((4,), "f8", ArrayPolicy(), {})
    assert small is not None
    with pytest.raises(ShapeMismatchError, match=r"\(4,\)"):
        small.encode(np.zeros(5))


def test_missing_chunks_read_as_the_fill_value(tmp_path: Path) -> None:
    arr = zarr.create_array(
        LocalStore(tmp_path / "a.zarr"), shape=(4,), chunks=(2,), dtype="i2", fill_value=9
    )
    arr[:2] = [1, 2]
    whole = read_whole(zarr.open_array(LocalStore(tmp_path / "a.zarr", read_only=True)))
    assert whole is not None and whole.tolist() == [1, 2, 9, 9]


def test_corrupt_chunk_is_an_error_not_wrong_data(tmp_path: Path) -> None:
    policy = ArrayPolicy(compressors=(zarr.codecs.Crc32cCodec(),))
    small = small_array((8,), "f8", policy, {})
    assert small is not None
    store = LocalStore(tmp_path / "c.zarr")
    put_many(store, small.encode(np.arange(8.0)))
    chunk = tmp_path / "c.zarr" / "c.0"
    raw = bytearray(chunk.read_bytes())
    raw[3] ^= 0xFF
    chunk.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="checksum"):
        read_whole(zarr.open_array(store))


def test_consolidated_root_opens_as_zarrs_own(tmp_path: Path) -> None:
    small = small_array((3,), "f4", ArrayPolicy(), {"units": "s"})
    assert small is not None
    nodes = {"g": group_document({"k": 1}), "g/x": small.document}
    items = {f"g/x/{k}": v for k, v in small.encode(np.array([1, 2, 3], dtype="f4")).items()}
    items["g/zarr.json"] = default_buffer_prototype().buffer.from_bytes(json.dumps(nodes["g"]).encode())
    items.update(consolidated_root({"root": True}, nodes))
    store = LocalStore(tmp_path / "r.zarr")
    assert put_many(store, items) == len(items)
    root = zarr.open_group(store, mode="r")
    assert root.metadata.consolidated_metadata is not None
    assert root.attrs["root"] is True and root["g"].attrs["k"] == 1
    x = root["g/x"]
    assert isinstance(x, zarr.Array) and x.attrs["units"] == "s" and x[:].tolist() == [1.0, 2.0, 3.0]


def test_put_many_and_copy_store_on_directories_and_memory(tmp_path: Path) -> None:
    buf = default_buffer_prototype().buffer.from_bytes
    items = {"a/zarr.json": buf(b"{}"), "a/b/c.0": buf(b"xyz")}
    local = LocalStore(tmp_path / "d")
    assert put_many(local, items) == 2
    assert (tmp_path / "d" / "a" / "b" / "c.0").read_bytes() == b"xyz"
    memory = MemoryStore()
    assert copy_store(local, memory, exclude={"a/zarr.json"}) == 1
    got = sync(memory.get("a/b/c.0", default_buffer_prototype()))
    assert got is not None and got.to_bytes() == b"xyz"
    assert sync(memory.get("a/zarr.json", default_buffer_prototype())) is None
    with pytest.raises(ValueError, match="read-only|read only"):
        put_many(LocalStore(tmp_path / "d", read_only=True), items)


@pytest.mark.s3
def test_read_whole_from_s3(s3_storage_options: dict[str, Any], s3_bucket: str) -> None:
    from zarrbridge.core.location import open_store

    store = open_store(f"s3://{s3_bucket}/a.zarr", mode="w", storage_options=s3_storage_options)
    small = small_array((2, 3), "i4", ArrayPolicy(), {})
    assert small is not None
    put_many(store, small.encode(np.arange(6, dtype="i4").reshape(2, 3)))
    whole = read_whole(zarr.open_array(store, mode="r"))
    assert whole is not None and whole.tolist() == [[0, 1, 2], [3, 4, 5]]


def test_read_selection_reads_what_zarr_reads(tmp_path: Path) -> None:
    from zarrbridge.core.chunkio import basic_selection, read_selection

    arr = zarr.create_array(LocalStore(tmp_path / "s.zarr"), shape=(5, 3), chunks=(5, 3), dtype="f8")
    arr[...] = np.arange(15.0).reshape(5, 3)
    keys = [
        0,
        -1,
        (1, 2),
        slice(1, 4),
        slice(None, None, 2),
        (slice(0, 5, 3), 1),
        Ellipsis,
        (Ellipsis, 0),
        [0, 2],
        np.int64(3),
        (),
    ]
    for key in keys:
        np.testing.assert_array_equal(read_selection(arr, key), arr[key])
    assert (
        not basic_selection([0, 2])
        and not basic_selection(slice(None, None, -1))
        and basic_selection((1, ...))
    )
    with pytest.raises(IndexError):
        read_selection(arr, 5)


def test_read_file_reads_whole_files(tmp_path: Path) -> None:
    from zarrbridge.core.localfiles import read_file

    for size in (0, 1, 553, 300_000):
        path = tmp_path / f"f{size}"
        data = np.random.default_rng(size).bytes(size)
        path.write_bytes(data)
        assert read_file(path) == data and read_file(str(path)) == data
    with pytest.raises(FileNotFoundError):
        read_file(tmp_path / "missing")
    with pytest.raises(IsADirectoryError):
        read_file(tmp_path)


def test_write_file_creates_or_replaces_whole_files(tmp_path: Path) -> None:
    import os
    import stat

    from zarrbridge.core.localfiles import read_file, write_file

    path = tmp_path / "f"
    write_file(path, b"a longer first content", exclusive=True, mode=0o444)
    assert read_file(path) == b"a longer first content"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o444 & ~_umask()
    with pytest.raises(FileExistsError):  # exclusive never touches an existing file
        write_file(path, b"x", exclusive=True)
    assert read_file(path) == b"a longer first content"
    other = tmp_path / "g"
    write_file(other, b"a longer first content")
    write_file(other, memoryview(b"short"))  # rewritten whole: no tail of the old content left
    assert read_file(other) == b"short"
    with pytest.raises(FileNotFoundError):  # the folder must exist
        write_file(tmp_path / "missing" / "f", b"x")


def _umask() -> int:
    import os

    current = os.umask(0)
    os.umask(current)
    return current


class _SyncOnlyWrapper(WrapperStore[Store]):
    """A wrapper whose ``get`` must not be used: reads go through ``get_sync`` (in the calling thread)."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.sync_reads: list[str] = []

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        if not key.startswith("c/"):  # opening the array reads its metadata through zarr
            return await self._store.get(key, prototype, byte_range)
        raise AssertionError(f"chunk {key} read through the event loop")

    def get_sync(
        self, key: str, *, prototype: BufferPrototype | None = None, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        self.sync_reads.append(key)
        return sync(self._store.get(key, prototype or default_buffer_prototype(), byte_range))


def test_stores_with_a_synchronous_read_are_read_in_the_calling_thread(tmp_path: Path) -> None:
    from zarrbridge.core.chunkio import read_selection

    arr = zarr.create_array(
        LocalStore(tmp_path / "s.zarr"), shape=(4, 3), chunks=(2, 3), dtype="i4", fill_value=7
    )
    arr[:2] = np.arange(6, dtype="i4").reshape(2, 3)  # second chunk never written: the fill value
    store = _SyncOnlyWrapper(LocalStore(tmp_path / "s.zarr", read_only=True))
    opened = zarr.open_array(store, mode="r")
    whole = read_whole(opened)
    assert whole is not None and whole.tolist() == [[0, 1, 2], [3, 4, 5], [7, 7, 7], [7, 7, 7]]
    assert store.sync_reads == ["c/0/0", "c/1/0"]
    np.testing.assert_array_equal(read_selection(opened, (1, slice(0, 2)), max_chunks=2), [3, 4])


def test_a_single_chunk_is_returned_as_an_owned_writable_copy(tmp_path: Path) -> None:
    memory = MemoryStore()
    for store in (LocalStore(tmp_path / "o.zarr"), memory):
        for compressors in (None, "auto"):
            arr = zarr.create_array(
                store,
                name=f"a{compressors}",
                shape=(3, 2),
                chunks=(3, 2),
                dtype="f8",
                fill_value=-1.0,
                compressors=compressors,
            )
            assert (
                read_whole(arr) is not None and read_whole(arr).tolist() == [[-1.0] * 2] * 3
            )  # no chunk yet
            arr[...] = np.arange(6.0).reshape(3, 2)
            whole = read_whole(arr)
            assert whole is not None and whole.flags.writeable and whole.flags.owndata
            whole[0, 0] = 99.0  # must not reach the store (a memory store hands out its own buffers)
            assert arr[0, 0] == 0.0 and whole[1].tolist() == [2.0, 3.0]
