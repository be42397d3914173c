"""Missing and corrupt chunks: what zarrbridge wrote reads back as stored, or as a clear error naming the key.

Cases per store kind (directory, zip, moto S3), for the core (create_array + strict_array), the chunkio fast
path and NWBZarrIO / read_nwb.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pytest
import zarr
from trust_helpers import Dest, nwbfile_with_data, write_nwb

from zarrbridge import read_nwb
from zarrbridge.core.arrays import ArrayPolicy, create_array
from zarrbridge.core.chunkio import read_selection, read_whole
from zarrbridge.core.integrity import (
    COMPLETE_ATTRIBUTE,
    fill_missing_chunks,
    is_complete,
    open_array_strict,
    scan_array,
    strict_array,
)
from zarrbridge.core.location import open_store
from zarrbridge.errors import CorruptChunkError, MissingChunkError

BIG = "acquisition/ts/data"
SMALL = "acquisition/small/data"


def _garble(kind: str, raw: bytes) -> bytes:
    if kind == "truncated":
        return raw[: max(1, len(raw) // 2)]
    if kind == "flipped":
        body = bytearray(raw)
        for i in range(len(body) // 3, len(body)):
            body[i] ^= 0x5A
        return bytes(body)
    return b"\x00not a chunk at all\xff" * 3  # garbage


# ----------------------------------------------------------------------------------------------- core
_CODECS = {
    "zstd": numcodecs.Zstd(level=3),
    "blosc": numcodecs.Blosc(cname="lz4"),
    "gzip": numcodecs.GZip(level=5),
    "zlib": numcodecs.Zlib(level=1),
    "raw": None,
}
# flipped bytes in an uncompressed chunk of the right length are other numbers: only a checksum codec (crc32c)
# could tell, so that combination is not a case
_CORRUPT_CASES = [
    (c, d) for c in _CODECS for d in ("truncated", "flipped", "garbage") if (c, d) != ("raw", "flipped")
]


@pytest.mark.parametrize(("codec", "damage"), _CORRUPT_CASES)
def test_core_corrupt_chunk_names_key(tmp_path: Path, codec: str, damage: str) -> None:
    compressor = _CODECS[codec]
    store = zarr.storage.LocalStore(tmp_path / "a.zarr")
    compressors = (compressor,) if compressor is not None else None
    a = create_array(
        store, "x", shape=(20, 3), dtype="f8", policy=ArrayPolicy(chunks=(10, 3), compressors=compressors)
    )
    a[:] = np.round(np.random.default_rng(0).normal(size=(20, 3)), 1)  # compressible
    key = tmp_path / "a.zarr" / "x" / "c" / "1" / "0"
    key.write_bytes(_garble(damage, key.read_bytes()))
    reopened = open_array_strict(store, "x", location="a.zarr")
    with pytest.raises(CorruptChunkError, match=r"chunk 'x/c/1/0' of array '/x' in 'a.zarr' is corrupt"):
        reopened[:]
    np.testing.assert_array_equal(reopened[:10], a[:10])  # the good chunk still reads
    with pytest.raises(CorruptChunkError, match="x/c/1/0"):
        read_selection(
            reopened, ..., max_chunks=64
        )  # the fast path (where the codecs allow it) says the same


def test_core_missing_chunk_and_marker(tmp_path: Path) -> None:
    store = zarr.storage.LocalStore(tmp_path / "a.zarr")
    a = create_array(store, "x", shape=(10,), dtype="i4", policy=ArrayPolicy(chunks=(5,)))
    a[:] = 0  # only fill values: still stored
    assert sorted(os.listdir(tmp_path / "a.zarr" / "x" / "c")) == ["0", "1"]
    assert a.attrs[COMPLETE_ATTRIBUTE] == "complete" and is_complete(a)
    os.remove(tmp_path / "a.zarr" / "x" / "c" / "1")
    with pytest.raises(MissingChunkError, match=r"chunk 'x/c/1' of array '/x'.* is missing"):
        open_array_strict(store, "x")[:]
    with pytest.raises(MissingChunkError, match="x/c/1"):
        read_whole(open_array_strict(store, "x"))
    assert open_array_strict(store, "x")[:5].tolist() == [0] * 5


def test_core_other_tools_arrays_keep_fill_value_rule(tmp_path: Path) -> None:
    store = zarr.storage.LocalStore(tmp_path / "a.zarr")
    plain = zarr.create_array(store, name="p", shape=(10,), chunks=(5,), dtype="i4", fill_value=-1)
    plain[:5] = 1  # chunk 1 never written: it is the fill value by the zarr specification
    assert open_array_strict(store, "p")[:].tolist() == [1] * 5 + [-1] * 5
    report = scan_array(zarr.open_array(store, path="p"))
    assert report.filled == ("p/c/1",) and report.missing == () and report.corrupt == ()


def test_core_sharded_missing_shard(tmp_path: Path) -> None:
    store = zarr.storage.LocalStore(tmp_path / "a.zarr")
    a = create_array(store, "s", shape=(8, 4), dtype="f4", policy=ArrayPolicy(chunks=(2, 4), shards=(4, 4)))
    a[:] = 0
    os.remove(tmp_path / "a.zarr" / "s" / "c" / "1" / "0")
    with pytest.raises(MissingChunkError, match="s/c/1/0"):
        open_array_strict(store, "s")[:]
    assert scan_array(zarr.open_array(store, path="s")).missing == ("s/c/1/0",)


def test_strict_writes_keep_every_chunk(tmp_path: Path) -> None:
    store = zarr.storage.LocalStore(tmp_path / "a.zarr")
    a = create_array(store, "x", shape=(10,), dtype="i4", policy=ArrayPolicy(chunks=(5,)))
    a[:] = 1
    again = strict_array(zarr.open_array(store, path="x", mode="r+"))  # a later handle (append)
    again[:] = 0  # zarr would delete chunks that now hold only the fill value
    assert sorted(os.listdir(tmp_path / "a.zarr" / "x" / "c")) == ["0", "1"]


def test_fill_missing_chunks(tmp_path: Path) -> None:
    store = zarr.storage.LocalStore(tmp_path / "a.zarr")
    a = create_array(store, "x", shape=(10, 2), dtype="f4", policy=ArrayPolicy(chunks=(4, 2), fill_value=3.0))
    a[:4] = 1
    assert fill_missing_chunks(a) == 2 and fill_missing_chunks(a) == 0
    np.testing.assert_array_equal(
        open_array_strict(store, "x")[:], np.r_[np.ones((4, 2)), np.full((6, 2), 3.0)]
    )


def test_v2_array_missing_and_corrupt(tmp_path: Path) -> None:
    store = zarr.storage.LocalStore(tmp_path / "a.zarr")
    a = create_array(store, "v", shape=(6,), dtype="u1", zarr_format=2, policy=ArrayPolicy(chunks=(3,)))
    a[:] = 5
    (tmp_path / "a.zarr" / "v" / "1").write_bytes(b"junk")
    with pytest.raises(CorruptChunkError, match="v/1"):
        open_array_strict(store, "v")[:]
    os.remove(tmp_path / "a.zarr" / "v" / "1")
    with pytest.raises(MissingChunkError, match="v/1"):
        open_array_strict(store, "v")[:]


# ------------------------------------------------------------------------------------------------ NWB
def _nwb_array(d: Dest, path: str) -> Any:
    nwbfile = read_nwb(d.url, storage_options=d.storage_options)
    name = path.split("/")[1]
    return nwbfile, nwbfile.acquisition[name].data


def test_nwb_writes_every_chunk(dest: Dest) -> None:
    from pynwb import TimeSeries

    from zarrbridge import ZarrDataIO

    f = nwbfile_with_data()

    f.add_acquisition(
        TimeSeries(name="zeros", data=ZarrDataIO(np.zeros((1000, 2)), chunks=(100, 2)), unit="V", rate=1.0)
    )
    write_nwb(dest, f)
    keys = dest.keys()
    assert sum(k.startswith("acquisition/zeros/data/c/") for k in keys) == 10  # all fill-valued, all stored
    assert sum(k.startswith(BIG + "/c/") for k in keys) == 4


@pytest.mark.parametrize("which", [BIG, SMALL], ids=["multi-chunk", "one-chunk"])
def test_nwb_missing_chunk(dest: Dest, which: str) -> None:
    write_nwb(dest)
    key = sorted(k for k in dest.keys() if k.startswith(which + "/c"))[-1]
    dest.remove(key)
    nwbfile, data = _nwb_array(dest, which)
    try:
        with pytest.raises(MissingChunkError, match=rf"chunk '{key}' of array '/{which}'"):
            data[:]
    finally:
        nwbfile.read_io.close()


@pytest.mark.parametrize("which", [BIG, SMALL], ids=["multi-chunk", "one-chunk"])
@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_nwb_corrupt_chunk(dest: Dest, which: str, damage: str) -> None:
    write_nwb(dest)
    key = sorted(k for k in dest.keys() if k.startswith(which + "/c"))[0]
    dest.write(key, _garble(damage, dest.read(key)))
    nwbfile, data = _nwb_array(dest, which)
    try:
        with pytest.raises(CorruptChunkError, match=rf"chunk '{key}' of array '/{which}'.* is corrupt"):
            data[:]
    finally:
        nwbfile.read_io.close()


def test_nwb_scalar_chunk_missing_fails_at_open(tmp_path: Path) -> None:
    """Scalars are read when the file is opened: a missing one is an error there, not an empty string."""
    d = Dest("dir", str(tmp_path / "f.nwb.zarr"))
    write_nwb(d)
    (Path(d.url) / "session_description" / "c").unlink()
    with pytest.raises(MissingChunkError, match="session_description/c"):
        read_nwb(d.url)


def test_gzip_and_zlib_error_types_do_not_leak(tmp_path: Path) -> None:
    """The library errors codecs raise are mapped, whatever their type (zlib.error is not an OSError)."""
    assert not issubclass(zlib.error, OSError) and issubclass(gzip.BadGzipFile, OSError)
    store = open_store(tmp_path / "g.zarr", mode="w")
    a = create_array(store, "g", shape=(4,), dtype="i8", policy=ArrayPolicy(compressors=(numcodecs.GZip(),)))
    a[:] = 1
    (tmp_path / "g.zarr" / "g" / "c" / "0").write_bytes(b"\x1f\x8b" + b"\x00" * 20)
    with pytest.raises(CorruptChunkError):
        open_array_strict(store, "g")[:]
