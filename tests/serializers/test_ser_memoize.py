"""``memoize``: results cached in a storage, keyed by arguments and code."""

from __future__ import annotations

import inspect
import threading
from typing import Any

import dask.array as da
import numpy as np
import pytest

from zarrbridge.errors import InvalidOptionError, UnsafeNameError, UnsafePickleError
from zarrbridge.serializers import DaskArraySerializer, ResultStorage, memoize, storage_factory


@pytest.fixture()
def storage(tmp_path: Any) -> ResultStorage:
    st = storage_factory({"kind": "file", "options": {"path": str(tmp_path)}})
    st.register_persistent_serializers(DaskArraySerializer)
    return st


def test_computes_once_per_arguments(storage: ResultStorage) -> None:
    calls: list[tuple[int, float]] = []

    @memoize(storage)
    def ramp(n: int, scale: float = 1.0) -> da.Array:
        calls.append((n, scale))
        return da.arange(n, chunks=10) * scale

    first = ramp(30)
    again = ramp(30, scale=1.0)  # the same call once bound to the signature
    other = ramp(30, 2.0)
    assert calls == [(30, 1.0), (30, 2.0)]
    assert first.name == again.name and first.name.startswith("zarrbridge-hdf5")  # backed by the stored file
    np.testing.assert_array_equal(other.compute(), np.arange(30) * 2.0)
    assert ramp.is_cached(30) and not ramp.is_cached(31)
    assert inspect.signature(ramp) == inspect.signature(ramp.__wrapped__)
    assert ramp.__name__ == "ramp"


def test_array_arguments_are_hashed_by_content(storage: ResultStorage) -> None:
    calls = []

    @memoize(storage)
    def total(x: np.ndarray) -> float:
        calls.append(1)
        return float(x.sum())

    assert total(np.arange(5)) == 10.0
    assert total(np.arange(5)) == 10.0
    assert total(np.arange(6)) == 15.0
    assert len(calls) == 2


def test_code_change_starts_a_new_cache(storage: ResultStorage) -> None:
    def make(version: int) -> Any:
        namespace: dict[str, Any] = {}
        exec(f"def f(n):\n    return n + {version}\n", namespace)  # two versions of the same function
        return memoize(storage)(namespace["f"])

    old, new = make(1), make(2)
    assert old(1) == 2 and new(1) == 3
    assert old.key(1) != new.key(1)


def test_clear(storage: ResultStorage) -> None:
    @memoize(storage, prefix="cache")
    def square(n: int) -> int:
        return n * n

    square(2), square(3)
    assert len(storage.names(prefix="cache/")) == 2
    assert square.clear() == 2
    assert storage.names() == []


def test_unhashable_arguments(storage: ResultStorage) -> None:
    @memoize(storage)
    def ident(x: Any) -> Any:
        return 1

    with pytest.raises(InvalidOptionError, match="cannot hash the arguments of"):
        ident(threading.Lock())
    assert storage.names() == []


def test_wrong_arguments(storage: ResultStorage) -> None:
    @memoize(storage)
    def one(n: int) -> int:
        return n

    with pytest.raises(TypeError, match="one()"):
        one(1, 2)  # type: ignore[call-arg]
    with pytest.raises(InvalidOptionError, match="result storage"):
        memoize({"kind": "file"})  # type: ignore[arg-type]
    with pytest.raises(UnsafeNameError, match="result name"):
        memoize(storage, prefix="../x")


class Box:
    def __init__(self, v: int) -> None:
        self.v = v

    def __dask_tokenize__(self) -> Any:
        return ("Box", self.v)


def test_restricted_memoize(storage: ResultStorage) -> None:
    @memoize(storage, restricted=True)
    def boxed(v: int) -> Box:
        return Box(v)

    with pytest.raises(UnsafePickleError, match="Box"):
        boxed(1)
