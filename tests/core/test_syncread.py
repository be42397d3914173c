"""Synchronous reads through chains of store wrappers (zarr 3.4 WrapperStore raises on async-only stores)."""

from __future__ import annotations

import numpy as np
import zarr
from zarr.core.buffer import default_buffer_prototype
from zarr.storage import FsspecStore, LocalStore, MemoryStore, WrapperStore

from zarrbridge.core.chunkio import read_selection, read_whole
from zarrbridge.core.syncread import get_now, supports_get_sync


def _fsspec_store() -> FsspecStore:
    return FsspecStore.from_url(f"memory://syncread-{np.random.default_rng().integers(1 << 40)}")


def test_wrapper_of_async_only_store_is_not_synchronous() -> None:
    inner = _fsspec_store()
    assert not supports_get_sync(inner)
    assert not supports_get_sync(WrapperStore(inner))
    assert not supports_get_sync(WrapperStore(WrapperStore(inner)))


def test_wrappers_of_local_and_memory_stores_are_synchronous(tmp_path: object) -> None:
    for inner in (LocalStore(str(tmp_path)), MemoryStore()):
        assert supports_get_sync(inner) == callable(getattr(type(inner), "get_sync", None))
        # zarr 3.1's WrapperStore has no get_sync at all; from 3.4 it forwards to a synchronous inner store
        expected = supports_get_sync(inner) and callable(getattr(WrapperStore, "get_sync", None))
        assert supports_get_sync(WrapperStore(WrapperStore(inner))) == expected


def test_get_now_reads_through_a_wrapped_fsspec_store() -> None:
    inner = _fsspec_store()
    zarr.create_array(inner, name="a", data=np.arange(7, dtype="i4"), chunks=(7,))
    wrapped = WrapperStore(inner)
    found = get_now(wrapped, "a/zarr.json", default_buffer_prototype())
    assert found is not None and b'"shape"' in found.to_bytes()
    assert get_now(wrapped, "a/absent", default_buffer_prototype()) is None


def test_whole_array_reads_through_a_wrapped_fsspec_store() -> None:
    inner = _fsspec_store()
    data = np.arange(20, dtype="i8") * 3
    zarr.create_array(inner, name="a", data=data, chunks=(20,))
    array = zarr.open_array(WrapperStore(inner), path="a", mode="r")
    np.testing.assert_array_equal(read_whole(array), data)
    np.testing.assert_array_equal(read_selection(array, slice(2, 5)), data[2:5])
