"""Loaded Zarr arrays read their blocks through zarr; damaged chunks and removed folders are clear errors."""

from __future__ import annotations

import json
import os
import pickle
from typing import Any

import dask.array as da
import numcodecs
import numpy as np
import pytest
import zarr
from dask.array.core import slices_from_chunks

from zarrbridge.core import ArrayPolicy
from zarrbridge.errors import BrokenLinkError, CorruptChunkError, CorruptMetadataError, MissingChunkError
from zarrbridge.serializers import FILE_PROTOCOL, DaskZarrSerializer
from zarrbridge.serializers.dask_zarr import ZarrSource


class RawZarr(DaskZarrSerializer):
    policy = ArrayPolicy(compressors=None)


class BloscZarr(DaskZarrSerializer):
    policy = ArrayPolicy(compressors=(numcodecs.Blosc(cname="lz4", clevel=3),))


def _source(loaded: da.Array) -> ZarrSource | None:
    sources = [v for v in loaded.dask.values() if isinstance(v, ZarrSource)]
    assert len(sources) <= 1
    return sources[0] if sources else None


def _folder(protocols: dict[str, Any], pid: Any) -> str:
    return str(protocols[FILE_PROTOCOL].local_path(pid[1][3]))


def _chunk_file(protocols: dict[str, Any], pid: Any, *position: int) -> str:
    return os.path.join(_folder(protocols, pid), "c", *map(str, position))


@pytest.mark.parametrize("serializer", [DaskZarrSerializer, RawZarr], ids=["zstd", "uncompressed"])
@pytest.mark.parametrize(
    "values",
    [
        np.arange(20 * 9, dtype="f4").reshape(20, 9),
        np.arange(20 * 9, dtype="i2").reshape(20, 9) - 90,
        np.arange(20 * 9, dtype="c16").reshape(20, 9) * (1 + 2j),
        np.arange(20 * 9).reshape(20, 9) % 3 == 0,
        np.arange(20 * 9, dtype=">i4").reshape(20, 9),  # zarr stores it little-endian: read natively
    ],
    ids=["f4", "i2", "c16", "bool", "big-endian"],
)
def test_blocks_match_zarr(
    file_protocols: dict[str, Any], serializer: type[DaskZarrSerializer], values: np.ndarray[Any, Any]
) -> None:
    x = da.from_array(values, chunks=(7, 4))
    pid = serializer.pickle(x, file_protocols)
    loaded = serializer.unpickle(pid, file_protocols)
    source = _source(loaded)
    assert source is not None and source.folder is not None
    assert source.array.read_only  # other selections read through zarr, never able to write
    np.testing.assert_array_equal(loaded.compute(), values)  # edge chunks in both axes included
    assert loaded.dtype == values.dtype and loaded.compute().dtype == values.dtype
    np.testing.assert_array_equal(loaded[3:17, 1:].compute(), values[3:17, 1:])  # selections across chunks
    np.testing.assert_array_equal(loaded[::-2].compute(), values[::-2])
    stored = zarr.open_array(_folder(file_protocols, pid), mode="r")
    for sel in slices_from_chunks(loaded.chunks):  # block by block, what zarr itself reads
        block = source[sel]
        np.testing.assert_array_equal(block, stored[sel])
        assert block.shape == stored[sel].shape and block.flags.writeable
    inner = (slice(8, 10), slice(5, 7))  # inside one chunk, not whole
    np.testing.assert_array_equal(source[inner], values[inner])


@pytest.mark.parametrize(
    ("serializer", "values"),
    [
        (BloscZarr, np.arange(100.0)),
        (DaskZarrSerializer, np.array(["a", "日本", ""] * 4)),
        (DaskZarrSerializer, np.array("", dtype="<U3")),  # 0-d: zarr returns a scalar
    ],
    ids=["blosc", "unicode", "0-d"],
)
def test_other_codecs_and_types(
    file_protocols: dict[str, Any], serializer: type[DaskZarrSerializer], values: np.ndarray[Any, Any]
) -> None:
    x = da.from_array(values, chunks=30 if values.ndim else ())
    pid = serializer.pickle(x, file_protocols)
    loaded = serializer.unpickle(pid, file_protocols)
    assert _source(loaded) is not None
    computed = loaded.compute()
    np.testing.assert_array_equal(computed, values)
    assert isinstance(computed, np.ndarray) and computed.dtype == values.dtype


@pytest.mark.parametrize("serializer", [DaskZarrSerializer, RawZarr], ids=["zstd", "uncompressed"])
def test_chunks_never_written_read_as_the_fill_value(
    file_protocols: dict[str, Any], serializer: type[DaskZarrSerializer]
) -> None:
    values = np.zeros((12, 4), dtype="f8")
    values[8:] = 7.0
    pid = serializer.pickle(da.from_array(values, chunks=(4, 4)), file_protocols)
    assert os.path.exists(_chunk_file(file_protocols, pid, 0, 0))  # stored too (issue 11: complete arrays)
    loaded = serializer.unpickle(pid, file_protocols)
    assert _source(loaded) is not None
    np.testing.assert_array_equal(loaded.compute(), values)


@pytest.mark.parametrize("serializer", [DaskZarrSerializer, RawZarr], ids=["zstd", "uncompressed"])
def test_chunk_file_cut_short_after_loading(
    file_protocols: dict[str, Any], serializer: type[DaskZarrSerializer]
) -> None:
    pid = serializer.pickle(da.random.default_rng(0).random((64, 64), chunks=(16, 64)), file_protocols)
    loaded = serializer.unpickle(pid, file_protocols)
    path = _chunk_file(file_protocols, pid, 1, 0)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 100)
    with pytest.raises(CorruptChunkError, match=r"chunk 'c/1/0' of array .* is corrupt"):
        loaded.compute()
    np.testing.assert_array_equal(
        loaded[:16].compute(), serializer.unpickle(pid, file_protocols)[:16].compute()
    )


def test_chunk_file_removed_after_saving_is_missing_not_fill_values(file_protocols: dict[str, Any]) -> None:
    pid = DaskZarrSerializer.pickle(da.ones((32, 8), chunks=(16, 8)), file_protocols)
    loaded = DaskZarrSerializer.unpickle(pid, file_protocols)
    os.remove(_chunk_file(file_protocols, pid, 1, 0))
    with pytest.raises(MissingChunkError, match="'c/1/0'.*is missing"):
        loaded.compute()
    np.testing.assert_array_equal(loaded[:16].compute(), np.ones((16, 8)))


def test_garbled_zstd_chunk_is_an_error(file_protocols: dict[str, Any]) -> None:
    pid = DaskZarrSerializer.pickle(da.random.default_rng(0).random((32, 8), chunks=(16, 8)), file_protocols)
    loaded = DaskZarrSerializer.unpickle(pid, file_protocols)
    path = _chunk_file(file_protocols, pid, 0, 0)
    with open(path, "rb") as f:
        assert f.read(7)[4] == 0x60  # frame header: magic, single segment, 2-byte content size (1024 bytes)
    with open(path, "r+b") as f:  # the first block header after it names a reserved block type
        f.seek(7)
        f.write(b"\xff\xff\xff")
    with pytest.raises(CorruptChunkError, match="'c/0/0'.*is corrupt"):
        loaded.compute()
    with open(path, "wb") as f:
        f.write(numcodecs.Zstd().encode(np.zeros(7)))  # a valid frame of the wrong size
    with pytest.raises(CorruptChunkError, match="'c/0/0'.*is corrupt"):
        loaded.compute()


def test_folder_removed_after_loading(file_protocols: dict[str, Any]) -> None:
    pid = DaskZarrSerializer.pickle(da.ones((8, 8), chunks=4), file_protocols)
    loaded = DaskZarrSerializer.unpickle(pid, file_protocols)
    DaskZarrSerializer.remove(pid, file_protocols)
    with pytest.raises(BrokenLinkError):
        loaded.compute()


def test_uncompressed_blocks_are_private_and_files_unchanged(file_protocols: dict[str, Any]) -> None:
    pid = RawZarr.pickle(da.arange(100, chunks=25, dtype="f8"), file_protocols)
    source = _source(RawZarr.unpickle(pid, file_protocols))
    assert source is not None
    path = _chunk_file(file_protocols, pid, 1)
    with open(path, "rb") as f:
        before = f.read()
    block = source[(slice(25, 50),)]
    assert block.flags.writeable
    block[:] = -1
    with open(path, "rb") as f:
        assert f.read() == before
    np.testing.assert_array_equal(source[(slice(25, 50),)], np.arange(25, 50))


def test_loaded_graph_pickles_without_file_handles(file_protocols: dict[str, Any]) -> None:
    x = da.random.default_rng(3).random((30, 8), chunks=(10, 8))
    pid = DaskZarrSerializer.pickle(x, file_protocols)
    loaded = DaskZarrSerializer.unpickle(pid, file_protocols)
    restored = pickle.loads(pickle.dumps(loaded))
    assert _source(restored) == _source(loaded)
    np.testing.assert_array_equal(restored.compute(), x.compute())


class ZarrV2(DaskZarrSerializer):
    zarr_format = 2


def _edit_marker(protocols: dict[str, Any], pid: Any, **changes: Any) -> None:
    path = os.path.join(_folder(protocols, pid), "zarrbridge.json")
    with open(path, encoding="utf-8") as f:
        marker = json.load(f)
    marker.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del marker[key]
    with open(path, "w", encoding="utf-8") as f:
        json.dump(marker, f)


@pytest.mark.parametrize("serializer", [DaskZarrSerializer, ZarrV2], ids=["v3", "v2"])
def test_marker_names_the_zarr_format_and_older_markers_still_load(
    file_protocols: dict[str, Any], serializer: type[DaskZarrSerializer]
) -> None:
    x = da.arange(12, chunks=5, dtype="i4")
    pid = serializer.pickle(x, file_protocols)
    assert serializer.open_marker(pid, file_protocols)["zarr_format"] == serializer.zarr_format
    assert serializer.open_array(pid, file_protocols).metadata.zarr_format == serializer.zarr_format
    _edit_marker(file_protocols, pid, zarr_format=None)  # as saved before markers named the format
    assert "zarr_format" not in serializer.open_marker(pid, file_protocols)
    np.testing.assert_array_equal(serializer.unpickle(pid, file_protocols).compute(), np.arange(12))


@pytest.mark.parametrize("value", [4, "3", [3]])
def test_unknown_zarr_format_in_the_marker_is_an_error(file_protocols: dict[str, Any], value: Any) -> None:
    pid = DaskZarrSerializer.pickle(da.arange(12, chunks=5), file_protocols)
    _edit_marker(file_protocols, pid, zarr_format=value)
    with pytest.raises(CorruptMetadataError, match=r"zarrbridge\.json.*unknown zarr format"):
        DaskZarrSerializer.unpickle(pid, file_protocols)
