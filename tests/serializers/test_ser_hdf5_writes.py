"""Saves of unfiltered numeric dask arrays to local HDF5 files write the blocks as raw chunk bytes, in parallel.

Every file is checked with h5py itself (not only with the serializer's reader): the raw writes must make an
ordinary HDF5 file that any HDF5 tool reads.
"""

from __future__ import annotations

import errno
import os
import threading
from typing import Any

import dask
import dask.array as da
import h5py
import numpy as np
import pytest
from ser_conformance import inner
from test_ser_arrays import GzipHDF5, OpenOnlyFiles

from zarrbridge.core.localfiles import read_at, write_at
from zarrbridge.serializers import FILE_PROTOCOL, DaskHDF5Serializer, HDF5Options, dask_hdf5
from zarrbridge.serializers.hdf5_chunks import ChunkIndex, ChunkWriter


class ShuffledHDF5(DaskHDF5Serializer):
    options = HDF5Options(shuffle=True)


@pytest.fixture()
def raw_blocks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[tuple[slice, ...], str]]:
    """The blocks written as raw chunk bytes, with the name of the thread that wrote each."""
    written: list[tuple[tuple[slice, ...], str]] = []
    setitem = ChunkWriter.__setitem__

    def recording(self: ChunkWriter, sel: tuple[slice, ...], block: np.ndarray[Any, Any]) -> None:
        written.append((sel, threading.current_thread().name))
        setitem(self, sel, block)

    monkeypatch.setattr(ChunkWriter, "__setitem__", recording)
    return written


def _read_with_h5py(protocols: dict[str, Any], pid: Any) -> tuple[np.ndarray[Any, Any], Any]:
    with h5py.File(protocols[FILE_PROTOCOL].local_path(inner(pid)[3]), "r") as f:
        dset = f[DaskHDF5Serializer.datapath]
        return dset[()], (dset.chunks, dset.compression, dset.shuffle, dset.dtype)


@pytest.mark.parametrize(
    ("values", "chunks"),
    [
        (np.arange(64 * 40, dtype="f4").reshape(64, 40), (16, 40)),  # whole chunks
        (np.arange(50 * 37, dtype="f8").reshape(50, 37), (16, 10)),  # edge chunks in both axes
        (np.arange(1001, dtype="i2") - 500, (100,)),
        (np.arange(5 * 6 * 7, dtype="u8").reshape(5, 6, 7), (2, 4, 3)),
        (np.arange(30 * 4, dtype=">i4").reshape(30, 4), (7, 4)),  # big-endian, stored as it is
    ],
    ids=["whole", "edges", "1-d", "3-d", "big-endian"],
)
def test_blocks_are_written_as_raw_chunks(
    file_protocols: dict[str, Any],
    raw_blocks: list[Any],
    values: np.ndarray[Any, Any],
    chunks: tuple[int, ...],
) -> None:
    x = da.from_array(values, chunks=chunks)
    pid = DaskHDF5Serializer.pickle(x, file_protocols)
    assert len(raw_blocks) == x.npartitions  # every block, none through h5py
    stored, layout = _read_with_h5py(file_protocols, pid)
    np.testing.assert_array_equal(stored, values)
    assert layout == (chunks, None, False, values.dtype)
    loaded = DaskHDF5Serializer.unpickle(pid, file_protocols)
    np.testing.assert_array_equal(loaded.compute(), values)
    assert loaded.chunks == x.chunks and loaded.dtype == values.dtype


def test_blocks_are_written_by_several_threads(file_protocols: dict[str, Any], raw_blocks: list[Any]) -> None:
    x = da.random.default_rng(2).random((400, 300), chunks=(10, 300))
    with dask.config.set(num_workers=2):
        pid = DaskHDF5Serializer.pickle(x, file_protocols)
    assert len(raw_blocks) == 40 and len({thread for _, thread in raw_blocks}) == 2
    np.testing.assert_array_equal(_read_with_h5py(file_protocols, pid)[0], x.compute())


@pytest.mark.parametrize(
    ("case", "serializer", "x"),
    [
        ("irregular chunks", DaskHDF5Serializer, da.arange(30, chunks=((10, 5, 15),), dtype="f8")),
        ("gzip", GzipHDF5, da.arange(30, chunks=10, dtype="f8")),
        ("shuffle", ShuffledHDF5, da.arange(30, chunks=10, dtype="f8")),
        ("bool", DaskHDF5Serializer, da.arange(30, chunks=10) % 2 == 0),
        ("complex", DaskHDF5Serializer, da.arange(30, chunks=10) * 1j),
        ("unicode", DaskHDF5Serializer, da.from_array(np.array(["a", "bc", "déf"] * 10), chunks=10)),
        ("datetime", DaskHDF5Serializer, da.from_array(np.arange(30).astype("M8[s]"), chunks=10)),
    ],
)
def test_other_arrays_are_written_through_h5py(
    file_protocols: dict[str, Any],
    raw_blocks: list[Any],
    case: str,
    serializer: type[DaskHDF5Serializer],
    x: Any,
) -> None:
    pid = serializer.pickle(x, file_protocols)
    assert raw_blocks == []
    np.testing.assert_array_equal(serializer.unpickle(pid, file_protocols).compute(), x.compute())


def test_file_protocols_without_local_paths_write_through_h5py(tmp_path: Any, raw_blocks: list[Any]) -> None:
    protocols = {FILE_PROTOCOL: OpenOnlyFiles(str(tmp_path))}
    x = da.arange(100, chunks=25, dtype="f4")
    pid = DaskHDF5Serializer.pickle(x, protocols)
    assert raw_blocks == []
    np.testing.assert_array_equal(DaskHDF5Serializer.unpickle(pid, protocols).compute(), x.compute())


def test_failed_block_leaves_no_file_and_keeps_nothing_partial(file_protocols: dict[str, Any]) -> None:
    def fail_third(block: np.ndarray[Any, Any], block_info: Any = None) -> np.ndarray[Any, Any]:
        if block_info[0]["chunk-location"][0] == 2:
            raise RuntimeError("block 2 failed")
        return block

    x = da.ones(100, chunks=10, dtype="f4").map_blocks(fail_third, dtype="f4")
    with pytest.raises(RuntimeError, match="block 2 failed"):
        DaskHDF5Serializer.pickle(x, file_protocols)
    assert os.listdir(file_protocols[FILE_PROTOCOL].root) == []  # the partial file was removed


def test_refused_preallocation_still_saves(
    file_protocols: dict[str, Any], monkeypatch: pytest.MonkeyPatch, raw_blocks: list[Any]
) -> None:
    def refuse(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(os, "posix_fallocate", refuse, raising=False)  # as on some network file systems
    x = da.random.default_rng(4).random((40, 30), chunks=(8, 30))
    pid = DaskHDF5Serializer.pickle(x, file_protocols)
    assert raw_blocks
    np.testing.assert_array_equal(_read_with_h5py(file_protocols, pid)[0], x.compute())


def test_full_disk_is_reported_before_any_block_and_leaves_no_file(
    file_protocols: dict[str, Any], monkeypatch: pytest.MonkeyPatch, raw_blocks: list[Any]
) -> None:
    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    with pytest.raises(OSError, match="No space left"):
        DaskHDF5Serializer.pickle(da.ones((40, 30), chunks=(8, 30)), file_protocols)
    assert raw_blocks == []  # nothing was computed or written
    assert os.listdir(file_protocols[FILE_PROTOCOL].root) == []


def test_chunk_writer_refuses_a_block_that_is_not_one_chunk(tmp_path: Any) -> None:
    path = str(tmp_path / "f.h5")
    with h5py.File(path, "w") as f:
        dset = f.create_dataset(
            "d", shape=(40,), dtype="f8", chunks=(10,), dcpl=dask_hdf5._early_allocation()
        )
        index = ChunkIndex.of(dset)
    assert index is not None and len(index.offsets) == 4  # every chunk allocated before any write
    fd = os.open(path, os.O_WRONLY)
    try:
        writer = ChunkWriter(fd, index)
        with pytest.raises(ValueError, match=r"not the start of one allocated chunk of \(10,\)"):
            writer[(slice(5, 10),)] = np.ones(5)
        with pytest.raises(ValueError, match="not the start"):
            writer[(slice(0, 20),)] = np.ones(20)  # two chunks
        writer[(slice(30, 40),)] = np.arange(10.0)
    finally:
        os.close(fd)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["d"][30:], np.arange(10.0))


def test_write_at_continues_short_writes(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    pwrite = os.pwrite
    calls: list[int] = []

    def short(fd: int, data: Any, offset: int) -> int:  # as Linux does past 2 GiB - 4 KiB per call
        calls.append(offset)
        return pwrite(fd, memoryview(data)[:7], offset)

    path = str(tmp_path / "f.bin")
    with open(path, "wb") as f:
        f.write(b"\0" * 40)
    monkeypatch.setattr(os, "pwrite", short)
    fd = os.open(path, os.O_WRONLY)
    try:
        write_at(fd, np.arange(5, dtype="<i4"), 10)
    finally:
        os.close(fd)
    assert calls == [10, 17, 24]
    with open(path, "rb") as back:
        assert back.read() == b"\0" * 10 + np.arange(5, dtype="<i4").tobytes() + b"\0" * 10


def test_read_at_fills_the_view_or_stops_at_the_end_of_the_file(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "f.bin")
    with open(path, "wb") as f:
        f.write(bytes(range(40)))
    preadv = os.preadv
    asked: list[int] = []

    def short(fd: int, buffers: Any, offset: int) -> int:  # at most 7 bytes a call: a short read mid-file
        asked.append(offset)
        return preadv(fd, [memoryview(buffers[0])[:7]], offset)

    fd = os.open(path, os.O_RDONLY)
    try:
        view = memoryview(bytearray(20))
        assert read_at(fd, view, 10) == 20 and bytes(view) == bytes(range(10, 30))
        view = memoryview(bytearray(20))
        assert read_at(fd, view, 30) == 10 and bytes(view[:10]) == bytes(range(30, 40))  # the file ended
        monkeypatch.setattr(os, "preadv", short)
        view = memoryview(bytearray(14))
        assert read_at(fd, view, 0) == 7 and asked == [0]  # a short read is taken as the end of the file
    finally:
        os.close(fd)
