"""Loaded Zarr arrays in local folders decode whole chunks straight from the chunk files (no zarr round trip)."""

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
from ser_conformance import inner
from tests.serializers.conftest import drop_from_page_cache

from zarrbridge.core import ArrayPolicy
from zarrbridge.errors import BrokenLinkError, CorruptMetadataError, MissingChunkError
from zarrbridge.serializers import FILE_PROTOCOL, DaskZarrSerializer, mapped
from zarrbridge.serializers.dask_zarr import LocalZarrSource
from zarrbridge.serializers.zarr_chunks import ChunkReader, zstd_content_size


class RawZarr(DaskZarrSerializer):
    policy = ArrayPolicy(compressors=None)


class BloscZarr(DaskZarrSerializer):
    policy = ArrayPolicy(compressors=(numcodecs.Blosc(cname="lz4", clevel=3),))


def _source(loaded: da.Array) -> LocalZarrSource | None:
    sources = [v for v in loaded.dask.values() if isinstance(v, LocalZarrSource)]
    assert len(sources) <= 1
    return sources[0] if sources else None


def _folder(protocols: dict[str, Any], pid: Any) -> str:
    return str(protocols[FILE_PROTOCOL].local_path(inner(pid)[3]))


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
def test_blocks_decoded_directly_match_zarr(
    file_protocols: dict[str, Any], serializer: type[DaskZarrSerializer], values: np.ndarray[Any, Any]
) -> None:
    x = da.from_array(values, chunks=(7, 4))
    pid = serializer.pickle(x, file_protocols)
    loaded = serializer.unpickle(pid, file_protocols)
    source = _source(loaded)
    assert source is not None  # the direct path is taken
    assert source.reader.compressor == ("none" if serializer is RawZarr else "zstd")
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
    assert source.reader.locate(inner) == ((1, 1), (slice(1, 3), slice(1, 3)))
    np.testing.assert_array_equal(source[inner], values[inner])


@pytest.mark.parametrize("serializer", [DaskZarrSerializer, RawZarr], ids=["zstd", "uncompressed"])
def test_chunk_files_not_in_the_page_cache_are_read_directly(
    file_protocols: dict[str, Any], serializer: type[DaskZarrSerializer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunk files dropped from the page cache are read with O_DIRECT (where the file system allows it) and
    decoded into the block; cached ones are mapped. Both give zarr's values."""
    values = da.random.default_rng(3).random((300, 700), chunks=(100, 700))
    pid = serializer.pickle(values, file_protocols)
    calls: list[str] = []
    read_direct = mapped._read_direct
    monkeypatch.setattr(mapped, "_read_direct", lambda *a: calls.append("direct") or read_direct(*a))
    chunk_files = [_chunk_file(file_protocols, pid, i, 0) for i in range(3)]
    drop_from_page_cache(*chunk_files)
    loaded = serializer.unpickle(pid, file_protocols)
    np.testing.assert_array_equal(loaded.compute(), values.compute())
    if read_direct(chunk_files[0], 0, 1, np.dtype("u1")) is not None:  # (None: refused, as on tmpfs)
        assert calls == ["direct"] * 3
    for path in chunk_files:  # read into the page cache (an O_DIRECT read leaves it out)
        with open(path, "rb") as f:
            f.read()
    calls.clear()
    np.testing.assert_array_equal(loaded.compute(), values.compute())
    assert calls == []  # cached: mapped


def test_other_codecs_go_through_zarr(file_protocols: dict[str, Any]) -> None:
    values = np.arange(100.0)
    pid = BloscZarr.pickle(da.from_array(values, chunks=30), file_protocols)
    loaded = BloscZarr.unpickle(pid, file_protocols)
    assert _source(loaded) is None
    np.testing.assert_array_equal(loaded.compute(), values)


def test_unicode_goes_through_zarr(file_protocols: dict[str, Any]) -> None:
    values = np.array(["a", "日本", ""] * 4)
    pid = DaskZarrSerializer.pickle(da.from_array(values, chunks=5), file_protocols)
    loaded = DaskZarrSerializer.unpickle(pid, file_protocols)
    assert _source(loaded) is None
    np.testing.assert_array_equal(loaded.compute(), values)


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
    with pytest.raises(
        MissingChunkError, match=r"'c/1/0'.*is missing \(.*(ends 100 bytes before|cannot be decoded)"
    ):
        loaded.compute()
    np.testing.assert_array_equal(
        loaded[:16].compute(), serializer.unpickle(pid, file_protocols)[:16].compute()
    )


def test_garbled_zstd_chunk_is_an_error(file_protocols: dict[str, Any]) -> None:
    pid = DaskZarrSerializer.pickle(da.random.default_rng(0).random((32, 8), chunks=(16, 8)), file_protocols)
    loaded = DaskZarrSerializer.unpickle(pid, file_protocols)
    path = _chunk_file(file_protocols, pid, 0, 0)
    with open(path, "rb") as f:
        assert f.read(7)[4] == 0x60  # frame header: magic, single segment, 2-byte content size (1024 bytes)
    with open(path, "r+b") as f:  # the first block header after it names a reserved block type
        f.seek(7)
        f.write(b"\xff\xff\xff")
    with pytest.raises(MissingChunkError, match="cannot be decoded"):
        loaded.compute()
    with open(path, "wb") as f:
        f.write(numcodecs.Zstd().encode(np.zeros(7)))  # a valid frame of the wrong size
    with pytest.raises(MissingChunkError, match="declares 56 bytes, not 1024"):
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
    block[:] = -1  # copy-on-write: the file does not change
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


def test_reader_refuses_what_is_not_inside_one_chunk() -> None:
    from zarr.core.chunk_key_encodings import DefaultChunkKeyEncoding

    reader = ChunkReader("/nowhere", (30,), (10,), np.dtype("f4"), 0.0, DefaultChunkKeyEncoding(), "none")
    for sel in [(slice(5, 15),), (slice(0, 10, 2),), (slice(3, 3),), (0,), (slice(0, 5), slice(0, 1))]:
        assert reader.locate(sel) is None
    assert reader.locate((slice(22, 30),)) == ((2,), (slice(2, 10),))


@pytest.mark.parametrize("nbytes", [0, 100, 255, 256, 300, 65791, 70000, 1 << 20])
@pytest.mark.parametrize("checksum", [False, True])
def test_zstd_content_size_reads_every_header_width(nbytes: int, checksum: bool) -> None:
    frame = numcodecs.Zstd(level=1, checksum=checksum).encode(os.urandom(nbytes))
    assert zstd_content_size(frame) == nbytes


def test_zstd_content_size_of_other_data() -> None:
    assert zstd_content_size(b"") is None
    assert zstd_content_size(b"not a zstd frame at all") is None
    frame = bytearray(numcodecs.Zstd().encode(b"x" * 1000))
    frame[4] &= 0x3F  # no content size field (and not single-segment)
    frame[4] &= ~0x20
    assert zstd_content_size(bytes(frame)) is None


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
