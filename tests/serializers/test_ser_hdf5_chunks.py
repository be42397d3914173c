"""Loaded HDF5 arrays read unfiltered numeric chunks from the file directly (memory map / readinto)."""

from __future__ import annotations

import pickle
from typing import Any

import dask.array as da
import h5py
import numpy as np
import pytest
from dask.array.core import slices_from_chunks
from ser_conformance import inner
from test_ser_arrays import GzipHDF5, OpenOnlyFiles
from tests.serializers.conftest import drop_from_page_cache

from zarrbridge.errors import MissingChunkError
from zarrbridge.serializers import FILE_PROTOCOL, DaskHDF5Serializer, hdf5_chunks, mapped
from zarrbridge.serializers.dask_hdf5 import HDF5Source
from zarrbridge.serializers.hdf5_chunks import ChunkIndex, read_chunk


def _source(loaded: da.Array) -> HDF5Source:
    sources = [v for v in loaded.dask.values() if isinstance(v, HDF5Source)]
    assert len(sources) == 1
    return sources[0]


def _save(
    x: da.Array, protocols: dict[str, Any], serializer: type[DaskHDF5Serializer] = DaskHDF5Serializer
) -> Any:
    pid = serializer.pickle(x, protocols)
    return pid, serializer.unpickle(pid, protocols)


def _path(protocols: dict[str, Any], pid: Any) -> str:
    files = protocols[FILE_PROTOCOL]
    return str(
        files.local_path(inner(pid)[3])
        if hasattr(files, "local_path")
        else files.local_path_for_tests(inner(pid)[3])
    )


@pytest.mark.parametrize(
    "values",
    [
        np.arange(20 * 9, dtype="f4").reshape(20, 9),
        np.arange(20 * 9, dtype=">i2").reshape(20, 9),
        np.arange(20 * 9, dtype="u8").reshape(20, 9),
        np.array([["åbc", ""], ["x", "日本語"], ["z", "q"]] * 7),  # stored as code points (u4)
        np.arange(20 * 9).astype("M8[s]").reshape(20, 9),  # stored as int64
    ],
    ids=["f4", "big-endian-i2", "u8", "unicode", "datetime"],
)
@pytest.mark.parametrize("protocol_kind", ["local", "open-only"])
def test_chunks_read_directly_match_h5py(
    values: np.ndarray[Any, Any], protocol_kind: str, tmp_path: Any
) -> None:
    files = OpenOnlyFiles(str(tmp_path)) if protocol_kind == "open-only" else None
    protocols = {FILE_PROTOCOL: files} if files is not None else {FILE_PROTOCOL: _local(tmp_path)}
    x = da.from_array(values, chunks=(7, 4) if values.shape[1] > 2 else (4, 1))
    pid, loaded = _save(x, protocols)
    assert _source(loaded).chunk_index is not None  # the direct path is taken
    np.testing.assert_array_equal(loaded.compute(), values)  # edge chunks in both axes included
    np.testing.assert_array_equal(loaded[3:17, 1:].compute(), values[3:17, 1:])  # selections across chunks
    np.testing.assert_array_equal(loaded[::-2].compute(), values[::-2])
    index = _source(loaded).chunk_index
    assert index is not None
    with h5py.File(_path(protocols, pid), "r") as h5:
        stored = h5["data"][...]
    blocks = slices_from_chunks(loaded.chunks)
    first, middle, last = blocks[0], blocks[len(blocks) // 2], blocks[-1]  # the last is an edge chunk
    inner = (slice(first[0].start + 1, first[0].start + 2), first[1])  # one row inside a chunk
    partial = (
        (first[0], slice(first[1].start, first[1].stop - 1)) if first[1].stop > 1 else first
    )  # not whole rows
    extra = (slice(None),) if stored.ndim == 3 else ()
    for sel in (first, middle, last, inner, partial):
        found = index.locate(sel + extra)
        assert found is not None
        got = read_chunk(protocols[FILE_PROTOCOL], pid[1][3], index, *found)
        np.testing.assert_array_equal(got, stored[sel])


def _local(tmp_path: Any) -> Any:
    from zarrbridge.serializers import LocalFiles

    return LocalFiles(str(tmp_path / "arrays"))


def test_mapped_blocks_are_private_and_writable(file_protocols: dict[str, Any]) -> None:
    pid, loaded = _save(da.arange(100, chunks=25, dtype="f8"), file_protocols)
    index = _source(loaded).chunk_index
    assert index is not None
    found = index.locate((slice(25, 50),))
    assert found is not None
    block = read_chunk(file_protocols[FILE_PROTOCOL], inner(pid)[3], index, *found)
    assert block.flags.writeable
    block[:] = -1  # copy-on-write: the file does not change
    np.testing.assert_array_equal(loaded.compute(), np.arange(100))
    with open(_path(file_protocols, pid), "rb") as f:
        assert np.frombuffer(f.read(), dtype="f8").tolist().count(-1.0) == 0


@pytest.mark.parametrize(
    "values",
    [np.array([True, False] * 5), np.arange(10, dtype="c8"), np.zeros(10, dtype=[("a", "i4"), ("b", "f8")])],
    ids=["bool", "complex", "structured"],
)
def test_types_without_numpy_layout_go_through_h5py(
    file_protocols: dict[str, Any], values: np.ndarray[Any, Any]
) -> None:
    _, loaded = _save(da.from_array(values, chunks=3), file_protocols)
    assert _source(loaded).chunk_index is None
    np.testing.assert_array_equal(loaded.compute(), values)


def test_filtered_datasets_go_through_h5py(file_protocols: dict[str, Any]) -> None:
    _, loaded = _save(da.arange(1000, chunks=100), file_protocols, GzipHDF5)
    assert _source(loaded).chunk_index is None
    assert int(loaded.sum().compute()) == 499500


def test_files_with_a_user_block_or_no_chunks_are_not_indexed(tmp_path: Any) -> None:
    path = str(tmp_path / "ub.h5")
    with h5py.File(path, "w", userblock_size=512) as h5:
        h5.create_dataset("chunked", data=np.arange(10.0), chunks=(5,))
        h5.create_dataset("contiguous", data=np.arange(10.0))
    with h5py.File(path, "r") as h5:
        assert ChunkIndex.of(h5["chunked"]) is None
        assert ChunkIndex.of(h5["contiguous"]) is None
    plain = str(tmp_path / "plain.h5")
    with h5py.File(plain, "w") as h5:
        h5.create_dataset("chunked", data=np.arange(10.0), chunks=(5,))
    with h5py.File(plain, "r") as h5:
        index = ChunkIndex.of(h5["chunked"])
    assert index is not None and sorted(index.offsets) == [(0,), (1,)]


def test_too_many_chunks_go_through_h5py(
    file_protocols: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hdf5_chunks, "MAX_INDEXED_CHUNKS", 3)
    _, loaded = _save(da.arange(40, chunks=10), file_protocols)
    assert _source(loaded).chunk_index is None
    np.testing.assert_array_equal(loaded.compute(), np.arange(40))


@pytest.mark.parametrize(
    "sel",
    [(slice(5, 15),), (slice(0, 10, 2),), (slice(3, 3),), (0,), (slice(0, 5), slice(0, 1))],
    ids=["across-chunks", "step", "empty", "integer", "wrong-ndim"],
)
def test_locate_refuses_what_is_not_inside_one_chunk(sel: tuple[Any, ...]) -> None:
    index = ChunkIndex((30,), (10,), np.dtype("f4"), {(0,): 100, (1,): 200})
    assert index.locate(sel) is None


def test_locate_unallocated_chunk_and_inner_selection() -> None:
    index = ChunkIndex((30,), (10,), np.dtype("f4"), {(0,): 100, (1,): 200})
    assert index.locate((slice(12, 18),)) == (200, (slice(2, 8),))
    assert index.locate((slice(20, 30),)) is None  # never written: h5py supplies the fill value


@pytest.mark.parametrize("protocol_kind", ["local", "open-only"])
def test_file_cut_short_after_loading(protocol_kind: str, tmp_path: Any) -> None:
    files = OpenOnlyFiles(str(tmp_path)) if protocol_kind == "open-only" else _local(tmp_path)
    protocols = {FILE_PROTOCOL: files}
    pid, loaded = _save(da.ones((64, 64), chunks=(16, 64), dtype="f8"), protocols)
    path = _path(protocols, pid)
    index = _source(loaded).chunk_index
    assert index is not None
    with open(path, "r+b") as f:
        f.truncate(max(index.offsets.values()) + 100)  # into the last chunk, wherever HDF5 put its metadata
    with pytest.raises(MissingChunkError, match="ends .* bytes before the chunk"):
        loaded.compute()


def test_loaded_graph_pickles_without_file_handles(file_protocols: dict[str, Any]) -> None:
    x = da.random.default_rng(3).random((30, 8), chunks=(10, 8))
    _, loaded = _save(x, file_protocols)
    restored = pickle.loads(pickle.dumps(loaded))
    assert _source(restored).chunk_index == _source(loaded).chunk_index
    np.testing.assert_array_equal(restored.compute(), x.compute())


@pytest.mark.parametrize("route", ["o-direct", "populate", "willneed", "cached"])
def test_every_read_route_returns_the_saved_blocks(
    file_protocols: dict[str, Any], route: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks dropped from the page cache are read with O_DIRECT; where it is refused (tmpfs), the mapping is
    populated, or on kernels before 5.14 advised WILLNEED; blocks in the page cache are mapped and populated."""
    calls: list[str] = []
    read_direct, populate = mapped._read_direct, mapped._populate
    monkeypatch.setattr(mapped, "_read_direct", lambda *a: calls.append("direct") or read_direct(*a))
    monkeypatch.setattr(mapped, "_populate", lambda m: calls.append("populate") or populate(m))
    if route in ("populate", "willneed"):
        monkeypatch.setattr(mapped, "_O_DIRECT", 0)
    if route == "willneed":  # EINVAL, then MADV_WILLNEED
        monkeypatch.setattr(mapped, "_MADV_POPULATE_READ", 0x7FFF)
        monkeypatch.setattr(mapped, "_populate_works", True)
    x = da.random.default_rng(5).random((300, 500), chunks=(64, 500))
    pid, loaded = _save(x, file_protocols)
    path = _path(file_protocols, pid)
    with open(path, "rb") as f:
        before = f.read()  # (also puts the file in the page cache)
    if route != "cached":
        drop_from_page_cache(path)
    np.testing.assert_array_equal(loaded.compute(), x.compute())
    if route == "o-direct":
        assert calls == ["direct"] * 5  # every block, none through the page cache
    elif route == "cached":
        assert calls == ["populate"] * 5  # mapped, page tables filled by the worker
    else:  # the first block populated reads the small file around it into the page cache: the rest is mapped
        assert set(calls) == {"direct", "populate"}
    assert mapped._populate_works is (route != "willneed")
    block = loaded.blocks[1].compute()
    assert block.flags.writeable and block.flags.aligned
    with open(path, "rb") as f:
        assert f.read() == before  # loads never modify the file


def test_direct_read_of_a_misaligned_range_or_a_file_cut_short(tmp_path: Any) -> None:
    path = str(tmp_path / "bytes.bin")
    values = np.arange(3000, dtype="<f8")
    with open(path, "wb") as f:
        f.write(b"\0" * 5 + values.tobytes())
    drop_from_page_cache(path)
    got = mapped.read_range(path, 5 + 8 * 100, 8 * 2000, np.dtype("<f8"), key="k", what="w")  # not 8-aligned
    np.testing.assert_array_equal(got, values[100:2100])
    direct = mapped._read_direct(path, 5 + 8 * 100, 8 * 2000, np.dtype("u1"))
    if direct is not None:  # (None where the file system refuses O_DIRECT)
        assert direct.tobytes() == values[100:2100].tobytes()
        assert mapped._read_direct(path, 4096, 8 * 4000, np.dtype("u1")) is None  # past the end: cut short
    with pytest.raises(MissingChunkError, match="ends 8 bytes before"):
        mapped.read_range(path, 5 + 8, 8 * 3000, np.dtype("<f8"), key="k", what="w")


@pytest.mark.parametrize("cache", ["hot", "cold"])
def test_read_range_whole_file_empty_file_and_cut_short(tmp_path: Any, cache: str) -> None:
    path = str(tmp_path / "bytes.bin")
    with open(path, "wb") as f:
        f.write(np.arange(10, dtype="<i4").tobytes())
    if cache == "cold":
        drop_from_page_cache(path)
    whole = mapped.read_range(path, 8, None, np.dtype("<i4"), key="k", what="w")
    np.testing.assert_array_equal(whole, np.arange(2, 10))
    whole[0] = -1  # a private copy: the file never changes
    np.testing.assert_array_equal(
        mapped.read_range(path, 0, None, np.dtype("<i4"), key="k", what="w"), np.arange(10)
    )
    with pytest.raises(MissingChunkError, match="'k' of w is missing .*ends 4 bytes before"):
        mapped.read_range(path, 4, 40, np.dtype("<i4"), key="k", what="w")
    open(str(tmp_path / "empty.bin"), "wb").close()
    assert mapped.read_range(
        str(tmp_path / "empty.bin"), 0, None, np.dtype("f8"), key="k", what="w"
    ).shape == (0,)
