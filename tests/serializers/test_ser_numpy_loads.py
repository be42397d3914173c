"""Large ndarrays saved as HDF5 are loaded by reading each chunk straight into its rows of the result."""

from __future__ import annotations

import os
from typing import Any

import dask.array as da
import numpy as np
import pytest
from ser_conformance import inner
from test_ser_arrays import GzipHDF5, OpenOnlyFiles
from tests.serializers.conftest import drop_from_page_cache

from zarrbridge.errors import CorruptMetadataError, MissingChunkError
from zarrbridge.serializers import (
    FILE_PROTOCOL,
    DaskArraySerializer,
    DaskZarrSerializer,
    NumpyArraySerializer,
    hdf5_chunks,
    mapped,
)
from zarrbridge.serializers.hdf5_chunks import ChunkIndex, read_rows_into


class EveryArray(NumpyArraySerializer):
    min_bytes = 0
    chunk_bytes = 4096  # several chunks even for small test arrays


class GzipEverywhere(DaskArraySerializer):
    formats = {FILE_PROTOCOL: GzipHDF5}


class ZarrEverywhere(DaskArraySerializer):
    formats = {FILE_PROTOCOL: DaskZarrSerializer}


@pytest.fixture()
def direct_reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bool, int | None]]:
    """What each read_rows_into call returned (True: read into the result) and with how many workers."""
    from zarrbridge.serializers import dask_hdf5

    calls: list[tuple[bool, int | None]] = []

    def spy(path: str, index: ChunkIndex, out: Any, *, what: str, workers: int | None = None) -> bool:
        calls.append((read_rows_into(path, index, out, what=what, workers=workers), workers))
        return calls[-1][0]

    monkeypatch.setattr(dask_hdf5, "read_rows_into", spy)
    return calls


class MiBChunks(EveryArray):
    chunk_bytes = 1 << 20  # larger than the kernel's read-ahead around HDF5's metadata reads


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(1).random((1000, 30)),  # edge chunk: 1000 rows in chunks of 17
        np.arange(5000, dtype="i2"),
        np.arange(40 * 6 * 5, dtype="u4").reshape(40, 6, 5),
        np.arange(300 * 4, dtype=">f4").reshape(300, 4),
    ],
    ids=["2-d", "1-d", "3-d", "big-endian"],
)
def test_chunks_are_read_into_the_result(
    file_protocols: dict[str, Any], direct_reads: list[Any], values: np.ndarray[Any, Any]
) -> None:
    pid = EveryArray.pickle(values, file_protocols)
    loaded = EveryArray.unpickle(pid, file_protocols)
    assert direct_reads == [(True, None)]  # in the page cache (just written): parallel reads
    np.testing.assert_array_equal(loaded, values)
    assert loaded.dtype == values.dtype and loaded.flags.writeable and loaded.flags.c_contiguous


@pytest.mark.parametrize("cache", ["hot", "cold"])
def test_files_not_in_the_page_cache_are_read_by_one_thread(
    file_protocols: dict[str, Any], direct_reads: list[Any], cache: str
) -> None:
    values = np.random.default_rng(3).random((512, 1024))  # 4 MiB in four chunks
    pid = MiBChunks.pickle(values, file_protocols)
    path = file_protocols[FILE_PROTOCOL].local_path(inner(pid)[3])
    with open(path, "rb") as f:
        f.read()
    if cache == "cold":
        drop_from_page_cache(path)
    np.testing.assert_array_equal(MiBChunks.unpickle(pid, file_protocols), values)
    assert direct_reads == [(True, None if cache == "hot" else 1)]  # from the disk: one sequential stream


@pytest.mark.parametrize(
    ("case", "serializer", "values"),
    [
        (
            "chunks split the columns",
            DaskArraySerializer,
            da.random.default_rng(2).random((20, 3000), chunks=(10, 1000)),
        ),
        ("gzip", GzipEverywhere, da.arange(3000.0, chunks=1000)),
        ("unicode", DaskArraySerializer, da.from_array(np.array(["ab", "c", "déf"] * 500), chunks=500)),
        ("datetime", DaskArraySerializer, da.from_array(np.arange(2000).astype("M8[ms]"), chunks=500)),
        ("zarr", ZarrEverywhere, da.arange(3000.0, chunks=1000)),
    ],
)
def test_other_arrays_load_through_dask(
    file_protocols: dict[str, Any],
    direct_reads: list[Any],
    case: str,
    serializer: type[DaskArraySerializer],
    values: Any,
) -> None:
    pid = serializer.pickle(values, file_protocols)
    loaded = serializer.load(pid, file_protocols)
    assert all(not done for done, _ in direct_reads)
    assert isinstance(loaded, np.ndarray) and loaded.dtype == values.dtype
    np.testing.assert_array_equal(loaded, values.compute())


def test_file_protocols_without_local_paths_load_through_dask(tmp_path: Any, direct_reads: list[Any]) -> None:
    protocols = {FILE_PROTOCOL: OpenOnlyFiles(str(tmp_path))}
    values = np.arange(3000.0)
    np.testing.assert_array_equal(
        EveryArray.unpickle(EveryArray.pickle(values, protocols), protocols), values
    )
    assert direct_reads == []


def test_a_file_cut_short_is_an_error(file_protocols: dict[str, Any]) -> None:
    pid = EveryArray.pickle(np.arange(3000.0), file_protocols)
    path = file_protocols[FILE_PROTOCOL].local_path(inner(pid)[3])
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 100)
    with pytest.raises(CorruptMetadataError, match="truncated file"):  # HDF5 itself notices
        EveryArray.unpickle(pid, file_protocols)


def test_read_rows_into_refuses_what_it_cannot_fill(tmp_path: Any) -> None:
    index = ChunkIndex((10, 4), (5, 4), np.dtype("<f8"), {(0, 0): 0, (1, 0): 160})
    path = str(tmp_path / "raw.bin")
    with open(path, "wb") as f:
        f.write(np.arange(40.0).tobytes())
    for out in (np.empty((10, 3)), np.empty((10, 4), dtype="f4"), np.empty((4, 10)).T):
        assert not read_rows_into(path, index, out, what="w")  # wrong shape, dtype, or not C-ordered
    columns = ChunkIndex((10, 4), (5, 2), np.dtype("<f8"), {(0, 0): 0, (0, 1): 80, (1, 0): 160, (1, 1): 240})
    assert not read_rows_into(path, columns, np.empty((10, 4)), what="w")  # chunks split the columns
    unallocated = ChunkIndex((10, 4), (5, 4), np.dtype("<f8"), {(0, 0): 0})
    assert not read_rows_into(path, unallocated, np.empty((10, 4)), what="w")
    out = np.full((10, 4), -1.0)
    assert read_rows_into(path, index, out, what="w", workers=2)
    np.testing.assert_array_equal(out, np.arange(40.0).reshape(10, 4))
    with open(path, "r+b") as f:
        f.truncate(300)  # cut short after the index was made
    with pytest.raises(MissingChunkError, match="'at byte 160' of w is missing .*ends 20 bytes before"):
        read_rows_into(path, index, out, what="w")


def test_in_page_cache(tmp_path: Any) -> None:
    path = str(tmp_path / "f.bin")
    with open(path, "wb") as f:
        f.write(os.urandom(1 << 20))
    with open(path, "rb") as f:
        f.read()
    assert mapped.in_page_cache(path, 0, 1 << 20)
    assert not mapped.in_page_cache(path, 4096, 1 << 20)  # past the end of the file
    assert not mapped.in_page_cache(path, 0, 0)
    drop_from_page_cache(path)
    assert not mapped.in_page_cache(path, 0, 1 << 20)
    assert hdf5_chunks.read_rows_into is read_rows_into  # (the function the loads use)
