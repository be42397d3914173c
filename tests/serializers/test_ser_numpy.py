"""``NumpyArraySerializer``: which arrays it takes, and round trips through files and S3."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from ser_conformance import inner

from zarrbridge.errors import InvalidOptionError
from zarrbridge.serializers import NumpyArraySerializer


class EveryArray(NumpyArraySerializer):
    min_bytes = 0
    chunk_bytes = 64


def test_accepts() -> None:
    assert NumpyArraySerializer.accepts(np.zeros(1 << 18, dtype="f4"))  # exactly 1 MiB
    assert not NumpyArraySerializer.accepts(np.zeros(10))  # small: stays in the pickle
    assert not NumpyArraySerializer.accepts(np.zeros(1 << 18, dtype=object))
    assert not NumpyArraySerializer.accepts(np.ma.masked_array(np.zeros(1 << 18)))
    assert not NumpyArraySerializer.accepts([0.0] * (1 << 18))
    assert EveryArray.accepts(np.zeros(3))


@pytest.mark.parametrize(
    "value",
    [
        np.arange(100, dtype="i8").reshape(25, 4),
        np.array(1.5, dtype="f4"),
        np.zeros((0, 4)),
        np.array(["a", "bcd", "日本"]),
        np.array([1 + 1j, 2j]),
    ],
)
def test_round_trip_files(file_protocols: dict[str, Any], value: np.ndarray[Any, Any]) -> None:
    got = EveryArray.unpickle(EveryArray.pickle(value, file_protocols), file_protocols)
    assert type(got) is np.ndarray and got.dtype == value.dtype and got.shape == value.shape
    np.testing.assert_array_equal(got, value)


def test_memmap_comes_back_as_ndarray(file_protocols: dict[str, Any], tmp_path: Any) -> None:
    mm = np.memmap(str(tmp_path / "m.bin"), dtype="f4", mode="w+", shape=(300,))
    mm[:] = np.arange(300)
    assert EveryArray.accepts(mm)
    got = EveryArray.unpickle(EveryArray.pickle(mm, file_protocols), file_protocols)
    assert type(got) is np.ndarray
    np.testing.assert_array_equal(got, np.arange(300, dtype="f4"))


@pytest.mark.s3
def test_round_trip_s3(s3_protocols: dict[str, Any]) -> None:
    value = np.arange(1000, dtype="u2").reshape(100, 10)
    pid = EveryArray.pickle(value, s3_protocols)
    assert inner(pid)[0] == "zarrbridge.dask-zarr"
    np.testing.assert_array_equal(EveryArray.unpickle(pid, s3_protocols), value)
    EveryArray.remove(pid, s3_protocols)


def test_wrong_type(file_protocols: dict[str, Any]) -> None:
    with pytest.raises(InvalidOptionError, match="numpy arrays, got list"):
        EveryArray.pickle([1, 2], file_protocols)
