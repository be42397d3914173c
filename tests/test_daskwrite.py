"""``write_dask_array``: dask arrays into zarr arrays, block-aligned, from threads or a cluster."""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
import pytest
import zarr

from zarrbridge.daskwrite import align_chunks, is_aligned, resolve_unknown_chunks, write_dask_array
from zarrbridge.errors import ShapeMismatchError


def _dest(shape: tuple[int, ...], chunks: tuple[int, ...], dtype: str = "f8", **kw: Any) -> zarr.Array[Any]:
    return zarr.create_array(zarr.storage.MemoryStore(), shape=shape, chunks=chunks, dtype=dtype, **kw)


@pytest.mark.parametrize(
    ("dask_chunks", "zarr_chunks"),
    [((10, 5), (10, 5)), ((7, 3), (10, 5)), (((3, 9, 8), (1, 4)), (4, 2)), ((20, 5), (3, 5))],
)
def test_writes_every_value(dask_chunks: Any, zarr_chunks: tuple[int, ...]) -> None:
    values = np.arange(100, dtype="f8").reshape(20, 5)
    dest = _dest((20, 5), zarr_chunks)
    write_dask_array(da.from_array(values, chunks=dask_chunks), dest)
    np.testing.assert_array_equal(dest[:], values)


def test_sharded_destination_aligned_to_shards() -> None:
    values = np.arange(64, dtype="i4")
    dest = _dest((64,), (4,), "i4", shards=(16,))
    write_dask_array(da.from_array(values, chunks=10), dest)
    np.testing.assert_array_equal(dest[:], values)


def test_alignment_helpers() -> None:
    assert is_aligned(((4, 4, 2),), (4,)) and not is_aligned(((3, 7),), (4,))
    assert align_chunks(((7, 7, 6),), (4,)) == (8,)
    assert align_chunks(((1, 1),), (4,)) == (4,)


def test_zero_dim_empty_and_nan_chunks() -> None:
    d0 = _dest((), ())
    write_dask_array(da.from_array(np.float64(4.5)), d0)
    assert d0[()] == 4.5
    empty = _dest((0, 3), (1, 3))
    write_dask_array(da.zeros((0, 3)), empty)
    assert empty[:].shape == (0, 3)
    x = da.arange(30, chunks=7)
    y = x[x % 2 == 0]
    assert np.isnan(y.shape[0]) and resolve_unknown_chunks(y).shape == (15,)
    dest = _dest((15,), (4,), "i8")
    write_dask_array(y, dest)
    np.testing.assert_array_equal(dest[:], np.arange(0, 30, 2))


def test_shape_mismatch() -> None:
    with pytest.raises(ShapeMismatchError, match=r"\(5,\)"):
        write_dask_array(da.ones(4), _dest((5,), (5,)))


def test_client_workers_write(tmp_path: Any) -> None:
    from distributed import Client, LocalCluster, get_task_stream

    dest = zarr.create_array(zarr.storage.LocalStore(str(tmp_path)), shape=(64, 4), chunks=(8, 4), dtype="f8")
    x = da.random.default_rng(3).random((64, 4), chunks=(8, 4))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        with Client(cluster, set_as_default=False) as client, get_task_stream(client=client) as stream:
            write_dask_array(x, dest, client=client)
    assert len({e["worker"] for e in stream.data if "store" in str(e["key"])}) == 2
    np.testing.assert_array_equal(dest[:], x.compute())
