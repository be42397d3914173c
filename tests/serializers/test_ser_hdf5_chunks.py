"""Loaded HDF5 arrays read blocks that are one unfiltered chunk with h5py's read_direct_chunk,
the rest with h5py."""

from __future__ import annotations

import pickle
from typing import Any

import dask.array as da
import h5py
import numpy as np
import pytest
from dask.array.core import slices_from_chunks
from test_ser_arrays import GzipHDF5, OpenOnlyFiles

from zarrbridge.errors import BrokenLinkError, CorruptChunkError
from zarrbridge.serializers import FILE_PROTOCOL, DaskHDF5Serializer, LocalFiles
from zarrbridge.serializers.dask_hdf5 import HDF5Source
from zarrbridge.serializers.hdf5_chunks import has_plain_chunks, read_chunk_block


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
        files.local_path(pid[1][3]) if hasattr(files, "local_path") else files.local_path_for_tests(pid[1][3])
    )


@pytest.fixture()
def direct_blocks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The selections read with read_direct_chunk (read_chunk_block returned a block for them)."""
    from zarrbridge.serializers import dask_hdf5

    done: list[tuple[Any, ...]] = []

    def spy(dset: Any, sel: tuple[Any, ...]) -> Any:
        block = read_chunk_block(dset, sel)
        if block is not None:
            done.append(sel)
        return block

    monkeypatch.setattr(dask_hdf5, "read_chunk_block", spy)
    return done


@pytest.mark.parametrize(
    "values",
    [
        np.arange(20 * 9, dtype="f4").reshape(20, 9),
        np.arange(20 * 9, dtype=">i2").reshape(20, 9),
        np.arange(20 * 9, dtype="u8").reshape(20, 9),
    ],
    ids=["f4", "big-endian-i2", "u8"],
)
@pytest.mark.parametrize("protocol_kind", ["local", "open-only"])
def test_blocks_read_as_direct_chunks_match_h5py(
    values: np.ndarray[Any, Any], protocol_kind: str, tmp_path: Any, direct_blocks: list[Any]
) -> None:
    files = OpenOnlyFiles(str(tmp_path)) if protocol_kind == "open-only" else LocalFiles(str(tmp_path / "a"))
    protocols = {FILE_PROTOCOL: files}
    x = da.from_array(values, chunks=(7, 4))
    pid, loaded = _save(x, protocols)
    assert _source(loaded).plain_chunks
    computed = loaded.compute()
    np.testing.assert_array_equal(computed, values)  # edge chunks in both axes included
    assert computed.dtype == values.dtype
    assert len(direct_blocks) == x.npartitions  # every block, edge chunks too
    np.testing.assert_array_equal(loaded[3:17, 1:].compute(), values[3:17, 1:])  # selections across chunks
    np.testing.assert_array_equal(loaded[::-2].compute(), values[::-2])
    with h5py.File(_path(protocols, pid), "r") as h5:
        dset = h5["data"]
        for sel in slices_from_chunks(loaded.chunks):
            block = read_chunk_block(dset, sel)
            assert block is not None and block.flags.writeable
            np.testing.assert_array_equal(block, dset[sel])
        inner = (slice(8, 10), slice(5, 7))  # inside one chunk, not whole
        np.testing.assert_array_equal(read_chunk_block(dset, inner), values[inner])
        assert read_chunk_block(dset, (slice(5, 10), slice(0, 4))) is None  # across chunks: h5py reads it


@pytest.mark.parametrize(
    "values",
    [
        np.array([True, False] * 5),
        np.arange(10, dtype="c8"),
        np.zeros(10, dtype=[("a", "i4"), ("b", "f8")]),
        np.array(["åbc", "", "x", "日本語", "z"] * 2),  # stored as code points (u4)
        np.arange(10).astype("M8[s]"),  # stored as int64
    ],
    ids=["bool", "complex", "structured", "unicode", "datetime"],
)
def test_types_without_numpy_layout_go_through_h5py_or_are_stored_as_numbers(
    file_protocols: dict[str, Any], values: np.ndarray[Any, Any], direct_blocks: list[Any]
) -> None:
    _, loaded = _save(da.from_array(values, chunks=3), file_protocols)
    np.testing.assert_array_equal(loaded.compute(), values)
    assert loaded.compute().dtype == values.dtype
    stored_as_numbers = values.dtype.kind in "UM"  # code points / int64: plain chunks of those
    assert _source(loaded).plain_chunks is stored_as_numbers
    assert bool(direct_blocks) is stored_as_numbers


def test_filtered_datasets_go_through_h5py(file_protocols: dict[str, Any], direct_blocks: list[Any]) -> None:
    _, loaded = _save(da.arange(1000, chunks=100), file_protocols, GzipHDF5)
    assert not _source(loaded).plain_chunks
    assert int(loaded.sum().compute()) == 499500
    assert direct_blocks == []


def test_chunks_never_written_read_as_the_fill_value(tmp_path: Any) -> None:
    path = str(tmp_path / "f.h5")
    with h5py.File(path, "w") as h5:
        dset = h5.create_dataset("d", shape=(30,), dtype="f4", chunks=(10,), fillvalue=-1.0)
        dset[10:20] = np.arange(10.0)
    with h5py.File(path, "r") as h5:
        dset = h5["d"]
        assert has_plain_chunks(dset)
        assert read_chunk_block(dset, (slice(0, 10),)) is None  # never written: h5py supplies -1
        np.testing.assert_array_equal(read_chunk_block(dset, (slice(12, 15),)), [2.0, 3.0, 4.0])


def test_has_plain_chunks(tmp_path: Any) -> None:
    with h5py.File(str(tmp_path / "f.h5"), "w") as h5:
        assert has_plain_chunks(h5.create_dataset("a", data=np.arange(10.0), chunks=(5,)))
        assert not has_plain_chunks(h5.create_dataset("b", data=np.arange(10.0)))  # contiguous
        assert not has_plain_chunks(h5.create_dataset("c", data=np.arange(10.0), chunks=(5,), shuffle=True))
        assert not has_plain_chunks(h5.create_dataset("d", data=np.arange(10) % 2 == 0, chunks=(5,)))


def test_a_file_with_a_user_block_reads_its_chunks(tmp_path: Any) -> None:
    """HDF5 locates the chunks (here after a 512-byte user block), not zarrbridge."""
    path = str(tmp_path / "ub.h5")
    with h5py.File(path, "w", userblock_size=512) as h5:
        h5.create_dataset("d", data=np.arange(10.0), chunks=(5,))
    with h5py.File(path, "r") as h5:
        np.testing.assert_array_equal(read_chunk_block(h5["d"], (slice(5, 10),)), np.arange(5.0, 10.0))


def test_blocks_are_private_and_the_file_unchanged(file_protocols: dict[str, Any]) -> None:
    pid, loaded = _save(da.arange(100, chunks=25, dtype="f8"), file_protocols)
    with open(_path(file_protocols, pid), "rb") as f:
        before = f.read()
    block = _source(loaded)[(slice(25, 50),)]
    assert block.flags.writeable
    block[:] = -1
    np.testing.assert_array_equal(loaded.compute(), np.arange(100))
    with open(_path(file_protocols, pid), "rb") as f:
        assert f.read() == before


def test_loaded_graph_pickles_without_file_handles(file_protocols: dict[str, Any]) -> None:
    x = da.random.default_rng(3).random((30, 8), chunks=(10, 8))
    _, loaded = _save(x, file_protocols)
    restored = pickle.loads(pickle.dumps(loaded))
    assert _source(restored) == _source(loaded)
    np.testing.assert_array_equal(restored.compute(), x.compute())


def test_files_changed_behind_an_open_only_protocol_are_errors(tmp_path: Any) -> None:
    """Without local paths there is no file identity to compare: HDF5's own checks (a file shorter than its
    superblock says) and the protocol's open() (a missing file) report the change."""
    files = OpenOnlyFiles(str(tmp_path))
    protocols = {FILE_PROTOCOL: files}
    pid, loaded = _save(da.ones((64, 64), chunks=(16, 64), dtype="f8"), protocols)
    path = files.local_path_for_tests(pid[1][3])
    with open(path, "r+b") as f:
        f.truncate(4096)
    with pytest.raises(CorruptChunkError, match="HDF5 cannot read it: .*truncated file"):
        loaded.compute()
    files.remove(pid[1][3])
    with pytest.raises(BrokenLinkError, match="deleted after the array was loaded"):
        loaded.compute()
