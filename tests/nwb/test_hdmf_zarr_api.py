"""hdmf-zarr 0.13/0.14 calls work on zarrbridge's ZarrIO, NWBZarrIO and ZarrDataIO (docs/hdmf-zarr-api.md)."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any

import h5py
import numcodecs
import numpy as np
import pytest
import zarr
import zarr.codecs
from hdmf.data_utils import DataChunkIterator
from pynwb import get_manager
from pynwb.testing.mock.base import mock_TimeSeries
from pynwb.testing.mock.file import mock_NWBFile

from zarrbridge import NWBZarrIO, ZarrDataIO, ZarrIO
from zarrbridge.errors import InvalidOptionError

DATA = np.arange(4000.0).reshape(1000, 4)


def _file(data: Any) -> Any:
    nwb = mock_NWBFile()
    nwb.add_acquisition(mock_TimeSeries(name="ts", data=data, rate=10.0))
    return nwb


def _read(path: Path) -> np.ndarray[Any, Any]:
    with NWBZarrIO(path, mode="r") as io:
        return np.asarray(io.read().acquisition["ts"].data[:])


def test_positional_manager_and_hdmf_zarr_arguments(tmp_path: Path) -> None:
    path = tmp_path / "f.nwb.zarr"
    # 0.13's positional order: path, mode, manager, synchronizer, object_codec_class, storage_options, force
    with NWBZarrIO(str(path), "w", get_manager(), None, numcodecs.JSON, None, False) as io:
        io.write(_file(DATA))
        assert io.object_codec_class is numcodecs.JSON and io.synchronizer is None
    # 0.14's: path, mode, manager, storage_options, force_overwrite
    with ZarrIO(path, "r", get_manager(), {}) as io:
        assert io.read().acquisition["ts"].data.shape == (1000, 4)
        assert io.path == str(path) and io.abspath == str(path) and not io.is_remote()
    with NWBZarrIO(path, "r-") as io:  # hdmf-zarr's "read without consolidated metadata"
        np.testing.assert_array_equal(io.read().acquisition["ts"].data[:], DATA)


def test_arguments_that_cannot_be_honoured_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidOptionError, match="pickle"):
        ZarrIO(tmp_path / "a.zarr", "w", object_codec_class=numcodecs.Pickle)
    with pytest.raises(InvalidOptionError, match="synchronizer"):
        ZarrIO(tmp_path / "a.zarr", "w", synchronizer=threading.Lock())
    with NWBZarrIO(tmp_path / "a.nwb.zarr", "w") as io:
        with pytest.raises(InvalidOptionError, match="multiprocessing_context"):
            io.write(_file(DATA), multiprocessing_context="threads")
        with pytest.raises(InvalidOptionError, match="number_of_jobs"):
            io.write(_file(DATA), number_of_jobs=0)


def test_force_overwrite_replaces_an_hdf5_file(tmp_path: Path) -> None:
    path = tmp_path / "f.nwb.zarr"
    with h5py.File(path, "w") as f:
        f["x"] = 1
    with NWBZarrIO(path, "w", force_overwrite=True) as io:
        io.write(_file(DATA))
    np.testing.assert_array_equal(_read(path), DATA)


@pytest.mark.parametrize("jobs", [1, 4])
def test_number_of_jobs_writes_iterators_in_parallel(tmp_path: Path, jobs: int) -> None:
    """Iterator chunks (10 rows) smaller than the stored chunks (64 rows): overlapping writes must wait."""
    path = tmp_path / "f.nwb.zarr"
    rows = DataChunkIterator(data=iter(DATA), buffer_size=10)
    with NWBZarrIO(path, "w") as io:
        io.write(
            _file(ZarrDataIO(rows, chunks=(64, 4))),
            number_of_jobs=jobs,
            max_threads_per_process=2,
            multiprocessing_context="spawn",
        )
    np.testing.assert_array_equal(_read(path), DATA)


def test_unconsolidated_then_consolidated_by_zarr(tmp_path: Path) -> None:
    path = tmp_path / "f.nwb.zarr"
    with NWBZarrIO(path, "w") as io:
        io.write(_file(DATA), consolidate_metadata=False)
    assert zarr.open_group(path, mode="r", use_consolidated=False).metadata.consolidated_metadata is None
    np.testing.assert_array_equal(_read(path), DATA)  # reads without it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zarr: consolidated metadata is not in the v3 spec
        zarr.consolidate_metadata(str(path))
    assert zarr.open_group(path, mode="r").metadata.consolidated_metadata is not None
    np.testing.assert_array_equal(_read(path), DATA)


def test_export_takes_hdmf_zarr_arguments(tmp_path: Path) -> None:
    src, dst = tmp_path / "s.nwb.zarr", tmp_path / "d.nwb.zarr"
    with NWBZarrIO(src, "w") as io:
        io.write(_file(DATA))
    with NWBZarrIO(src, "r") as read_io, NWBZarrIO(dst, "w") as export_io:
        export_io.export(
            src_io=read_io,
            number_of_jobs=2,
            max_threads_per_process=1,
            multiprocessing_context=None,
            consolidate_metadata=False,
        )
    assert zarr.open_group(dst, mode="r", use_consolidated=False).metadata.consolidated_metadata is None
    np.testing.assert_array_equal(_read(dst), DATA)


def test_zarr_data_io_from_h5py_dataset(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "s.h5", "w") as f:
        dset = f.create_dataset("d", data=DATA, chunks=(100, 4), compression="gzip", compression_opts=3)
        assert ZarrDataIO.is_h5py_dataset(dset) and not ZarrDataIO.is_h5py_dataset(DATA)
        codecs = ZarrDataIO.hdf5_to_zarr_filters(dset)
        assert [type(c) for c in codecs] == [zarr.codecs.GzipCodec] and codecs[0].level == 3
        wrapped = ZarrDataIO.from_h5py_dataset(dset)
        assert wrapped.io_settings["chunks"] == (100, 4)
        assert wrapped.get_io_params()["link_data"] is False
        path = tmp_path / "f.nwb.zarr"
        with NWBZarrIO(path, "w") as io:
            io.write(_file(wrapped))
    arr = zarr.open_group(path, mode="r")["acquisition/ts/data"]
    assert arr.chunks == (100, 4) and isinstance(arr.compressors[0], zarr.codecs.GzipCodec)
    np.testing.assert_array_equal(_read(path), DATA)


def test_compressors_as_hdmf_zarr_takes_them(tmp_path: Path) -> None:
    for compressors, expected in [(False, ()), (zarr.codecs.GzipCodec(level=2), (zarr.codecs.GzipCodec,))]:
        path = tmp_path / f"{expected!r}.nwb.zarr".replace(" ", "")
        with NWBZarrIO(path, "w") as io:
            io.write(_file(ZarrDataIO(DATA, compressors=compressors)))
        arr = zarr.open_group(path, mode="r")["acquisition/ts/data"]
        assert tuple(type(c) for c in arr.compressors) == expected
        np.testing.assert_array_equal(_read(path), DATA)


def test_read_nwb_static_method(tmp_path: Path) -> None:
    path = tmp_path / "f.nwb.zarr"
    with NWBZarrIO(path, "w") as io:
        io.write(_file(DATA))
    nwbfile = NWBZarrIO.read_nwb(path)
    try:
        np.testing.assert_array_equal(nwbfile.acquisition["ts"].data[:], DATA)
    finally:
        nwbfile.read_io.close()
