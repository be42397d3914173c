"""Saves of unfiltered numeric dask arrays write blocks that are whole chunks with h5py's write_direct_chunk.

Every file is checked with h5py itself (not only with the serializer's reader): the direct chunk writes must
make an ordinary HDF5 file that any HDF5 tool reads.
"""

from __future__ import annotations

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

from zarrbridge.serializers import FILE_PROTOCOL, DaskHDF5Serializer, HDF5Options
from zarrbridge.serializers.hdf5_chunks import ChunkWriter


class ShuffledHDF5(DaskHDF5Serializer):
    options = HDF5Options(shuffle=True)


@pytest.fixture()
def raw_blocks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[tuple[slice, ...], str]]:
    """The blocks written through ChunkWriter, with the name of the thread that wrote each."""
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
def test_blocks_are_written_as_direct_chunks(
    file_protocols: dict[str, Any],
    raw_blocks: list[Any],
    values: np.ndarray[Any, Any],
    chunks: tuple[int, ...],
) -> None:
    x = da.from_array(values, chunks=chunks)
    pid = DaskHDF5Serializer.pickle(x, file_protocols)
    assert len(raw_blocks) == x.npartitions  # every block
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


def test_file_protocols_without_local_paths_write_direct_chunks(tmp_path: Any, raw_blocks: list[Any]) -> None:
    protocols = {FILE_PROTOCOL: OpenOnlyFiles(str(tmp_path))}
    x = da.arange(100, chunks=25, dtype="f4")
    pid = DaskHDF5Serializer.pickle(x, protocols)
    assert len(raw_blocks) == 4  # h5py writes the chunks through the protocol's file object
    with h5py.File(protocols[FILE_PROTOCOL].local_path_for_tests(pid[1][3]), "r") as f:
        np.testing.assert_array_equal(f["data"][()], np.arange(100.0))
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


def test_irregular_chunks_are_written_block_by_block(file_protocols: dict[str, Any]) -> None:
    x = da.arange(30, chunks=((10, 5, 15),), dtype="f8")  # HDF5 chunks of 15: no block is one whole chunk
    pid = DaskHDF5Serializer.pickle(x, file_protocols)
    stored, layout = _read_with_h5py(file_protocols, pid)
    np.testing.assert_array_equal(stored, np.arange(30.0))
    assert layout[0] == (15,)


def test_chunk_writer_writes_whole_chunks_and_other_blocks(tmp_path: Any) -> None:
    path = str(tmp_path / "f.h5")
    with h5py.File(path, "w") as f:
        dset = f.create_dataset("d", shape=(35, 4), dtype=">i4", chunks=(10, 4), fillvalue=-1)
        writer = ChunkWriter(dset)
        writer[(slice(10, 20), slice(0, 4))] = np.arange(40).reshape(10, 4)  # a whole chunk
        writer[(slice(30, 35), slice(0, 4))] = np.full((5, 4), 7)  # the edge chunk
        writer[(slice(2, 4), slice(1, 3))] = np.full((2, 2), 5)  # inside a chunk, not whole
        writer[(slice(0, 1), slice(0, 1))] = np.zeros((1, 1))  # a float block: converted like h5py does
    with h5py.File(path, "r") as f:
        stored = f["d"][()]
        assert f["d"].id.get_num_chunks() == 3  # chunk (20, 0) was never written
    expected = np.full((35, 4), -1)
    expected[10:20] = np.arange(40).reshape(10, 4)
    expected[30:] = 7
    expected[2:4, 1:3] = 5
    expected[0, 0] = 0
    np.testing.assert_array_equal(stored, expected)
