"""``progress=`` of the storages' saves and loads: callable and tqdm forms, wrong types, a real cluster."""

from __future__ import annotations

import io
import logging
import threading
import time
from typing import Any, ClassVar

import dask
import dask.array as da
import numpy as np
import pytest
import tqdm
import zarr

from zarrbridge import storage_factory
from zarrbridge.core.arrays import copy_array
from zarrbridge.errors import InvalidOptionError
from zarrbridge.progress import ByteProgress, reporting
from zarrbridge.serializers import (
    FILE_PROTOCOL,
    DaskArraySerializer,
    DaskHDF5Serializer,
    DaskZarrSerializer,
    NumpyArraySerializer,
    ResultStorage,
)


class HDF5Everywhere(DaskArraySerializer):
    formats: ClassVar[dict[str, Any]] = {FILE_PROTOCOL: DaskHDF5Serializer}


class ZarrEverywhere(DaskArraySerializer):
    formats: ClassVar[dict[str, Any]] = {FILE_PROTOCOL: DaskZarrSerializer}


def _storage(tmp_path: Any, *serializers: Any) -> ResultStorage:
    storage = storage_factory({"kind": "file", "options": {"path": str(tmp_path / "results")}})
    storage.register_persistent_serializers(*serializers)
    return storage


class Recorder:
    """A progress callable that keeps every increment (thread-safe)."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.times: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, nbytes: int) -> None:
        with self._lock:
            self.calls.append(nbytes)
            self.times.append(time.time())


def _source() -> da.Array:
    return da.random.default_rng(3).random((96, 40), chunks=(16, 40))


@pytest.mark.parametrize("serializer", [HDF5Everywhere, ZarrEverywhere])
def test_save_reports_every_block_and_adds_up(tmp_path: Any, serializer: type) -> None:
    x = _source()
    storage = _storage(tmp_path, serializer)
    seen = Recorder()
    storage.save("r", {"x": x, "y": x[:32] + 1}, progress=seen)
    assert sum(seen.calls) == x.nbytes + x[:32].nbytes
    assert len(seen.calls) == x.npartitions + 2  # one call per block written
    np.testing.assert_array_equal(storage.load("r")["x"].compute(), x.compute())


def test_numpy_loads_report_the_bytes_read(tmp_path: Any) -> None:
    class Small(NumpyArraySerializer):
        min_bytes = 0

    values = np.arange(300_000, dtype="f8").reshape(3000, 100)
    storage = _storage(tmp_path, Small, DaskArraySerializer)
    saved = Recorder()
    storage.save("r", values, progress=saved)
    assert sum(saved.calls) == values.nbytes
    loaded = Recorder()
    back = storage.load("r", progress=loaded)
    np.testing.assert_array_equal(back, values)
    assert sum(loaded.calls) == values.nbytes
    silent = storage.load("r")  # off by default: the same values, nothing reported
    np.testing.assert_array_equal(silent, values)


def test_a_zarr_whole_array_load_reports_too(file_protocols: dict[str, Any]) -> None:
    protocols = file_protocols
    x = _source()
    _, inner = DaskZarrSerializer.pickle(x, protocols)
    seen = Recorder()
    with reporting(seen):
        back = DaskZarrSerializer.load(inner, protocols)
    np.testing.assert_array_equal(back, x.compute())
    assert sum(seen.calls) == x.nbytes and len(seen.calls) == x.npartitions


class RecordingBar(tqdm.tqdm):  # type: ignore[misc]
    """A real tqdm class that draws into a buffer and remembers its instances."""

    made: ClassVar[list[RecordingBar]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.screen = io.StringIO()
        self.closed_total: tuple[float, float] | None = None
        super().__init__(*args, file=self.screen, mininterval=0, **kwargs)
        RecordingBar.made.append(self)

    def close(self) -> None:
        self.closed_total = (self.n, self.total)
        super().close()


def test_a_tqdm_class_is_instantiated_with_the_total_and_closed(tmp_path: Any) -> None:
    RecordingBar.made.clear()
    x = _source()
    _storage(tmp_path, HDF5Everywhere).save("r", x, progress=RecordingBar)
    (bar,) = RecordingBar.made
    assert bar.closed_total == (x.nbytes, x.nbytes)
    assert bar.unit == "B" and "saving r" in bar.screen.getvalue()


def test_progress_true_draws_a_tqdm_bar_on_stderr(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _storage(tmp_path, HDF5Everywhere).save("r", _source(), progress=True)
    err = capsys.readouterr().err
    assert "saving r" in err and "B/s" in err


@pytest.mark.parametrize("wrong", ["yes", 3, [1], object(), dict, int])
def test_wrong_progress_values_are_a_clear_error(tmp_path: Any, wrong: Any) -> None:
    storage = _storage(tmp_path, HDF5Everywhere)
    with pytest.raises(InvalidOptionError, match="progress"):
        storage.save("r", _source(), progress=wrong)
    assert not storage.exists("r")
    with pytest.raises(InvalidOptionError, match="progress"):
        ByteProgress(wrong)


def test_a_failing_callback_stops_the_save_and_leaves_nothing(tmp_path: Any) -> None:
    storage = _storage(tmp_path, ZarrEverywhere)

    def broken(nbytes: int) -> None:
        raise RuntimeError("the progress display is gone")

    with pytest.raises(RuntimeError, match="display is gone"):
        storage.save("r", _source(), progress=broken)
    assert not storage.exists("r") and storage.names() == []


@pytest.mark.parametrize("serializer", [HDF5Everywhere, ZarrEverywhere])
def test_on_a_cluster_progress_follows_the_completed_blocks(
    tmp_path: Any, dask_client: Any, serializer: type
) -> None:
    from distributed import get_task_stream

    x = _source()
    storage = _storage(tmp_path, serializer)
    seen = Recorder()
    with dask.config.set(scheduler=dask_client), get_task_stream(client=dask_client) as stream:
        storage.save("r", x, progress=seen)
    assert sum(seen.calls) == x.nbytes and len(seen.calls) == x.npartitions
    # every report comes after the cluster finished that many block tasks (computed, for HDF5 written here;
    # written on the workers for Zarr), never ahead of the cluster's work
    wanted = "_write_block" if serializer is ZarrEverywhere else "random"
    ends = sorted(
        max(s["stop"] for s in event["startstops"]) for event in stream.data if wanted in str(event["key"])
    )
    assert len(ends) == x.npartitions
    assert {event["worker"] for event in stream.data if wanted in str(event["key"])} == set(
        dask_client.nthreads()
    )
    for done, when in enumerate(sorted(seen.times), start=1):
        assert sum(end <= when + 0.05 for end in ends) >= done  # (slack: clocks of one process, rounding)
    np.testing.assert_array_equal(storage.load("r").compute(), x.compute())


def test_copy_array_on_a_cluster_reports_completed_blocks(tmp_path: Any, dask_client: Any) -> None:
    source = zarr.create_array(str(tmp_path / "src.zarr"), shape=(64, 50), chunks=(8, 50), dtype="i4")
    source[:] = np.arange(64 * 50, dtype="i4").reshape(64, 50)
    dest = zarr.create_array(str(tmp_path / "dst.zarr"), shape=(64, 50), chunks=(8, 50), dtype="i4")
    seen = Recorder()
    copied = copy_array(source, dest, max_block_bytes=8 * 50 * 4 * 4, client=dask_client, progress=seen)
    assert copied == sum(seen.calls) == source.nbytes and len(seen.calls) == 8
    np.testing.assert_array_equal(dest[:], source[:])


def test_saves_log_what_they_chose(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="zarrbridge"):
        _storage(tmp_path, HDF5Everywhere).save("h", _source())
        _storage(tmp_path, ZarrEverywhere).save("z", _source())
    hdf5 = [r for r in caplog.records if r.name.startswith("zarrbridge.serializers") and "HDF5" in r.message]
    assert hdf5 and "chunks (16, 40)" in hdf5[0].message and "write_direct_chunk" in hdf5[0].message
    zarr_lines = [r.message for r in caplog.records if "as zarr" in r.message]
    assert zarr_lines and "chunks (16, 40)" in zarr_lines[0]
    assert any(r.name == "zarrbridge.daskwrite" and "threads" in r.message for r in caplog.records)
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name.startswith("zarrbridge"))
