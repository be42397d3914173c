"""Large ndarrays saved as HDF5 are loaded with one h5py read into the result (Dataset.read_direct),
no dask."""

from __future__ import annotations

import os
from typing import Any

import dask.array as da
import numpy as np
import pytest
from test_ser_arrays import GzipHDF5, OpenOnlyFiles

from zarrbridge.errors import CorruptMetadataError
from zarrbridge.serializers import (
    FILE_PROTOCOL,
    DaskArraySerializer,
    DaskHDF5Serializer,
    DaskZarrSerializer,
    NumpyArraySerializer,
)


class EveryArray(NumpyArraySerializer):
    min_bytes = 0
    chunk_bytes = 4096  # several chunks even for small test arrays


class GzipEverywhere(DaskArraySerializer):
    formats = {FILE_PROTOCOL: GzipHDF5}


class ZarrEverywhere(DaskArraySerializer):
    formats = {FILE_PROTOCOL: DaskZarrSerializer}


class GzipArrays(EveryArray):
    dask_serializer = GzipEverywhere


@pytest.fixture()
def no_lazy_hdf5(monkeypatch: pytest.MonkeyPatch) -> None:
    """HDF5 loads may not go through the lazy dask array (its blocks and the copy compute() makes of them)."""

    def refuse(cls: Any, pid: Any, protocols: Any) -> Any:
        raise AssertionError("the whole-array load went through unpickle()")

    monkeypatch.setattr(DaskHDF5Serializer, "unpickle", classmethod(refuse))


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(1).random((1000, 30)),  # edge chunk: 1000 rows in chunks of 17
        np.arange(5000, dtype="i2"),
        np.arange(40 * 6 * 5, dtype="u4").reshape(40, 6, 5),
        np.arange(300 * 4, dtype=">f4").reshape(300, 4),
        np.array(["ab", "c", "déf"] * 500),
        np.arange(2000).astype("M8[ms]"),
        np.arange(2000) % 3 == 0,
        np.zeros(0, dtype="f8"),
    ],
    ids=["2-d", "1-d", "3-d", "big-endian", "unicode", "datetime", "bool", "empty"],
)
@pytest.mark.parametrize("protocol_kind", ["local", "open-only"])
def test_whole_arrays_are_read_in_one_h5py_read(
    file_protocols: dict[str, Any],
    tmp_path: Any,
    no_lazy_hdf5: None,
    values: np.ndarray[Any, Any],
    protocol_kind: str,
) -> None:
    protocols = (
        {FILE_PROTOCOL: OpenOnlyFiles(str(tmp_path / "o"))}
        if protocol_kind == "open-only"
        else file_protocols
    )
    pid = EveryArray.pickle(values, protocols)
    loaded = EveryArray.unpickle(pid, protocols)
    np.testing.assert_array_equal(loaded, values)
    assert loaded.dtype == values.dtype and loaded.shape == values.shape
    assert loaded.flags.writeable and loaded.flags.c_contiguous


def test_filtered_arrays_load_whole_too(file_protocols: dict[str, Any], no_lazy_hdf5: None) -> None:
    values = np.arange(3000.0)
    np.testing.assert_array_equal(
        GzipArrays.unpickle(GzipArrays.pickle(values, file_protocols), file_protocols), values
    )


def test_zarr_arrays_load_through_dask(file_protocols: dict[str, Any]) -> None:
    values = np.arange(3000.0)
    pid = ZarrEverywhere.pickle(da.from_array(values, chunks=1000), file_protocols)
    loaded = ZarrEverywhere.load(pid, file_protocols)
    assert isinstance(loaded, np.ndarray)
    np.testing.assert_array_equal(loaded, values)


def test_a_file_cut_short_is_an_error(file_protocols: dict[str, Any]) -> None:
    pid = EveryArray.pickle(np.arange(3000.0), file_protocols)
    path = file_protocols[FILE_PROTOCOL].local_path(pid[1][3])
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 100)
    with pytest.raises(CorruptMetadataError, match="truncated file"):  # HDF5 itself notices
        EveryArray.unpickle(pid, file_protocols)
