"""Saving from and loading onto a real ``distributed.LocalCluster``."""

from __future__ import annotations

import pickle
from typing import Any

import dask
import dask.array as da
import numpy as np
import pytest
from ser_conformance import inner

from zarrbridge.serializers import (
    FILE_PROTOCOL,
    S3_PROTOCOL,
    DaskArraySerializer,
    DaskHDF5Serializer,
    DaskZarrSerializer,
    HDF5Options,
    PersistentSerializer,
)
from zarrbridge.serializers.base import active_client


def _source() -> da.Array:
    return da.random.default_rng(7).random((64, 16), chunks=(8, 16))


def _store_workers(events: list[dict[str, Any]]) -> set[str]:
    return {e["worker"] for e in events if "store" in str(e["key"]) or "random" in str(e["key"])}


def test_active_client_follows_the_scheduler(dask_client: Any) -> None:
    assert active_client() is None
    with dask.config.set(scheduler=dask_client):
        assert active_client() is dask_client


@pytest.mark.parametrize("serializer", [DaskZarrSerializer, DaskHDF5Serializer])
def test_save_from_cluster(
    dask_client: Any, file_protocols: dict[str, Any], serializer: type[PersistentSerializer]
) -> None:
    from distributed import get_task_stream

    x = _source()
    with dask.config.set(scheduler=dask_client), get_task_stream(client=dask_client) as stream:
        pid = serializer.pickle(x, file_protocols)
    # the blocks were computed by both workers (Zarr: and written there; HDF5: written here, one by one)
    assert len(_store_workers(stream.data)) == 2
    np.testing.assert_array_equal(serializer.unpickle(pid, file_protocols).compute(), x.compute())


@pytest.mark.s3
def test_zarr_on_s3_written_by_workers(dask_client: Any, s3_protocols: dict[str, Any]) -> None:
    from distributed import get_task_stream

    x = _source()
    with dask.config.set(scheduler=dask_client), get_task_stream(client=dask_client) as stream:
        pid = DaskArraySerializer.pickle(x, s3_protocols)
    assert inner(pid)[2] == S3_PROTOCOL
    assert len({e["worker"] for e in stream.data if "store" in str(e["key"])}) == 2
    loaded = DaskArraySerializer.unpickle(pid, s3_protocols)
    np.testing.assert_allclose(dask_client.compute(loaded.sum()).result(), float(x.sum().compute()))


@pytest.mark.parametrize("serializer", [DaskHDF5Serializer, DaskZarrSerializer])
def test_loaded_arrays_ship_to_workers(
    dask_client: Any, file_protocols: dict[str, Any], serializer: type[PersistentSerializer]
) -> None:
    x = _source()
    loaded = serializer.unpickle(serializer.pickle(x, file_protocols), file_protocols)
    restored = pickle.loads(pickle.dumps(loaded))  # no open file handle inside the graph
    total = dask_client.compute((restored * 2).sum()).result()
    np.testing.assert_allclose(total, 2 * float(x.sum().compute()))


@pytest.mark.parametrize("serializer", [DaskHDF5Serializer, DaskZarrSerializer])
def test_interrupted_save_on_cluster_is_never_complete(
    dask_client: Any, file_protocols: dict[str, Any], serializer: type[PersistentSerializer]
) -> None:
    import os
    import time

    from ser_conformance import Boom, failing_array

    with dask.config.set(scheduler=dask_client), pytest.raises(Boom):
        serializer.pickle(failing_array(), file_protocols)
    time.sleep(0.3)  # a block already running on a worker when another failed may still land
    root = file_protocols[FILE_PROTOCOL].root
    left = [f for _, _, files in os.walk(root) for f in files] if os.path.exists(root) else []
    # nothing was published: no finished HDF5 file, no zarr completion marker
    assert not any(f.endswith(".h5") or f == "zarrbridge.json" for f in left), left


class GzipHDF5(DaskHDF5Serializer):
    options = HDF5Options(compression="gzip")


@pytest.mark.parametrize(("serializer", "route"), [(DaskHDF5Serializer, "raw chunks"), (GzipHDF5, "h5py")])
def test_hdf5_from_cluster_is_written_here_one_block_at_a_time(
    dask_client: Any,
    file_protocols: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    serializer: type[DaskHDF5Serializer],
    route: str,
) -> None:
    import threading

    from distributed import get_task_stream

    from zarrbridge.serializers import dask_hdf5

    writers: list[str] = []
    active: list[int] = [0]
    overlaps: list[int] = []
    target = dask_hdf5.ChunkWriter if route == "raw chunks" else dask_hdf5._EncodingTarget
    original = target.__setitem__

    def spy(self: Any, sel: Any, block: Any) -> None:
        active[0] += 1
        overlaps.append(active[0])
        writers.append(threading.current_thread().name)
        try:
            original(self, sel, block)
        finally:
            active[0] -= 1

    monkeypatch.setattr(target, "__setitem__", spy)
    x = _source()
    with dask.config.set(scheduler=dask_client), get_task_stream(client=dask_client) as stream:
        pid = serializer.pickle(x, file_protocols)
    assert not any("store" in str(e["key"]) for e in stream.data)  # no worker touched the file
    assert len({e["worker"] for e in stream.data}) == 2  # both computed blocks
    assert set(writers) == {threading.current_thread().name} and len(writers) == x.npartitions
    assert max(overlaps) == 1  # one block written at a time
    np.testing.assert_array_equal(serializer.unpickle(pid, file_protocols).compute(), x.compute())


def test_zarr_from_cluster_is_written_by_the_workers(
    dask_client: Any, file_protocols: dict[str, Any]
) -> None:
    from distributed import get_task_stream

    x = _source()
    with dask.config.set(scheduler=dask_client), get_task_stream(client=dask_client) as stream:
        DaskZarrSerializer.pickle(x, file_protocols)
    store_tasks = [e for e in stream.data if "store-map" in str(e["key"])]  # the tasks that write blocks
    assert {tuple(e["key"][1:]) for e in store_tasks} == {(i, 0) for i in range(x.npartitions)}
    assert len({e["worker"] for e in store_tasks}) == 2
