"""The safety knobs of the public read entry points (issue 11): ``max_bytes`` (an allocation budget:
:class:`ResourceLimitError` before a larger read) and ``missing_chunks`` (``"error"`` by default, ``"fill"``
for files other tools wrote with regions left unwritten) on ``ZarrIO``, ``NWBZarrIO``, ``read_nwb`` and
``ResultStorage.load``: keyword-only, validated, and what they say on every store kind."""

from __future__ import annotations

import inspect
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pytest
from trust_helpers import Dest, nwbfile_with_data, write_nwb

from zarrbridge import NWBZarrIO, ZarrIO, read_nwb, storage_factory
from zarrbridge.errors import InvalidOptionError, MissingChunkError, ResourceLimitError
from zarrbridge.serializers import (
    FILE_PROTOCOL,
    S3_PROTOCOL,
    DaskArraySerializer,
    DaskZarrSerializer,
    NumpyArraySerializer,
    ResultStorage,
)

LEGACY = Path(__file__).resolve().parent.parent / "fixtures" / "legacy" / "ecephys.nwb.zarr"
SERIES = "acquisition/ElectricalSeriesGzip/data"  # int16 (200, 4), chunks (50, 4), gzip
BAD_MAX_BYTES = [0, -5, 1.5, "1000", True, [1]]
BAD_MISSING = ["warn", "", None, 1, True, "FILL"]


def _results(tmp_path: Path) -> ResultStorage:
    return storage_factory({"kind": "file", "options": {"path": str(tmp_path / "results")}})


ENTRY_POINTS: dict[str, Callable[..., Any]] = {
    "ZarrIO": lambda path, **kw: ZarrIO(path, mode="r", **kw),
    "NWBZarrIO": lambda path, **kw: NWBZarrIO(path, mode="r", **kw),
    "read_nwb": lambda path, **kw: read_nwb(path, **kw),
    "NWBZarrIO.read_nwb": lambda path, **kw: NWBZarrIO.read_nwb(path, **kw),
}


# ------------------------------------------------------------------------------------------ the arguments
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize(
    ("option", "bad"),
    [("max_bytes", v) for v in BAD_MAX_BYTES] + [("missing_chunks", v) for v in BAD_MISSING],
)
def test_wrong_values_are_refused_by_name(tmp_path: Path, entry: str, option: str, bad: Any) -> None:
    d = Dest("dir", str(tmp_path / "f.nwb.zarr"))
    write_nwb(d, nwbfile_with_data(10))
    with pytest.raises(InvalidOptionError, match=f"{option} must be"):
        ENTRY_POINTS[entry](d.url, **{option: bad})


@pytest.mark.parametrize(
    ("option", "bad"),
    [("max_bytes", v) for v in BAD_MAX_BYTES] + [("missing_chunks", v) for v in BAD_MISSING],
)
def test_wrong_values_are_refused_by_result_load(tmp_path: Path, option: str, bad: Any) -> None:
    storage = _results(tmp_path)
    storage.save("r", [1, 2])
    with pytest.raises(InvalidOptionError, match=f"load: {option} must be"):
        storage.load("r", **{option: bad})


@pytest.mark.parametrize(
    "function", [ZarrIO.__init__, NWBZarrIO.__init__, read_nwb, NWBZarrIO.read_nwb, ResultStorage.load]
)
def test_the_options_are_keyword_only_and_documented(function: Any) -> None:
    parameters = inspect.signature(function).parameters
    for name, default in (("max_bytes", None), ("missing_chunks", "error")):
        assert parameters[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert parameters[name].default == default
    owner = function if function is not NWBZarrIO.read_nwb else read_nwb
    doc = inspect.getdoc(
        ZarrIO if owner is ZarrIO.__init__ else NWBZarrIO if owner is NWBZarrIO.__init__ else owner
    )
    assert doc is not None and "max_bytes" in doc and "missing_chunks" in doc


# ------------------------------------------------------------------------------------------ max_bytes
def test_max_bytes_bounds_one_read_of_a_dataset(dest: Dest) -> None:
    """``ts`` is 2000 x 4 float64 (64 kB) in chunks of 500 rows (16 kB)."""
    write_nwb(dest, nwbfile_with_data())
    f = read_nwb(dest.url, storage_options=dest.storage_options, max_bytes=20_000)
    try:
        data = f.acquisition["ts"].data
        np.testing.assert_array_equal(data[:100], np.arange(400.0).reshape(100, 4))
        with pytest.raises(ResourceLimitError, match="max_bytes") as info:
            data[:]
        assert info.value.requested == 64_000 and info.value.limit == 20_000
        assert "acquisition/ts/data" in str(info.value)
    finally:
        f.read_io.close()
    f = read_nwb(dest.url, storage_options=dest.storage_options, max_bytes=10_000)
    try:  # a chunk larger than the budget cannot be decoded for any selection
        with pytest.raises(ResourceLimitError, match=r"chunk shape \[500, 4\]"):
            f.acquisition["ts"].data[:10]
    finally:
        f.read_io.close()


def test_max_bytes_bounds_legacy_reads(tmp_path: Path) -> None:
    with ZarrIO(str(LEGACY), mode="r", max_bytes=1000) as io:
        data = io.get_builder("/" + SERIES).data
        assert data[:10].shape == (10, 4)
        with pytest.raises(ResourceLimitError, match="max_bytes"):
            data[:]  # 1600 bytes


# ------------------------------------------------------------------------------------------ missing_chunks
def test_missing_chunks_error_by_default_fill_when_asked(dest: Dest) -> None:
    write_nwb(dest, nwbfile_with_data())
    dest.remove("acquisition/ts/data/c/1/0")
    expected = np.arange(8000.0).reshape(2000, 4)
    expected[500:1000] = 0.0  # the fill value
    f = read_nwb(dest.url, storage_options=dest.storage_options)
    try:
        with pytest.raises(MissingChunkError, match="acquisition/ts/data/c/1/0"):
            f.acquisition["ts"].data[:]
    finally:
        f.read_io.close()
    for opened in (
        lambda: read_nwb(dest.url, storage_options=dest.storage_options, missing_chunks="fill"),
        lambda: NWBZarrIO(
            dest.url, mode="r", storage_options=dest.storage_options, missing_chunks="fill"
        ).read(),
    ):
        f = opened()
        try:
            np.testing.assert_array_equal(f.acquisition["ts"].data[:], expected)
        finally:
            f.read_io.close()


def test_missing_chunks_of_legacy_files(tmp_path: Path) -> None:
    path = tmp_path / "ecephys.nwb.zarr"
    shutil.copytree(LEGACY, path)
    with ZarrIO(str(path), mode="r") as io:
        expected = np.array(io.get_builder("/" + SERIES).data[:])
    os.remove(path / SERIES / "1.0")
    expected[50:100] = 0
    with ZarrIO(str(path), mode="r") as io:
        with pytest.raises(MissingChunkError, match="1.0"):
            io.get_builder("/" + SERIES).data[:]
    with ZarrIO(str(path), mode="r", missing_chunks="fill") as io:
        np.testing.assert_array_equal(io.get_builder("/" + SERIES).data[:], expected)


# ------------------------------------------------------------------------------------------ results
class ZarrResults(DaskArraySerializer):
    formats = {FILE_PROTOCOL: DaskZarrSerializer, S3_PROTOCOL: DaskZarrSerializer}


def test_result_load_max_bytes(tmp_path: Path) -> None:
    storage = _results(tmp_path)
    storage.register_persistent_serializers(DaskArraySerializer, NumpyArraySerializer)
    storage.save("eager", {"x": np.arange(200_000.0)})  # 1.6 MB, loaded whole
    storage.save("lazy", {"x": da.arange(100_000.0, chunks=10_000)})  # blocks of 80 kB
    with pytest.raises(ResourceLimitError, match="max_bytes") as info:
        storage.load("eager", max_bytes=1_000_000)
    assert info.value.requested == 1_600_000
    with pytest.raises(ResourceLimitError, match="one block"):
        storage.load("lazy", max_bytes=50_000)
    assert float(storage.load("lazy", max_bytes=100_000)["x"].sum().compute()) == float(
        np.arange(100_000.0).sum()
    )
    np.testing.assert_array_equal(storage.load("eager", max_bytes=1_600_000)["x"], np.arange(200_000.0))
    with pytest.raises(ResourceLimitError):  # a restricted load too
        storage.load("eager", restricted=True, max_bytes=1_000_000)


def test_result_load_missing_chunks(tmp_path: Path) -> None:
    storage = _results(tmp_path)
    storage.register_persistent_serializers(ZarrResults)
    storage.save("r", {"x": da.arange(1, 101, chunks=25, dtype="f8")})
    chunks = sorted(p for p in (tmp_path / "results").rglob("c/1") if p.is_file())
    assert len(chunks) == 1
    chunks[0].unlink()
    with pytest.raises(MissingChunkError, match="c/1"):
        storage.load("r")["x"].compute()
    filled = storage.load("r", missing_chunks="fill")["x"].compute()
    expected = np.arange(1, 101, dtype="f8")
    expected[25:50] = 0.0
    np.testing.assert_array_equal(filled, expected)
