"""A save killed mid-write (SIGKILL, no clean-up code runs) leaves the previous result readable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any

import dask.array as da
import numpy as np
import pytest

from zarrbridge import storage_factory
from zarrbridge.errors import WriteInterruptedError
from zarrbridge.serializers import FILE_PROTOCOL, S3_PROTOCOL, DaskArraySerializer, DaskZarrSerializer


class ZarrOnFiles(DaskArraySerializer):
    formats = {FILE_PROTOCOL: DaskZarrSerializer, S3_PROTOCOL: DaskZarrSerializer}


_CHILD = textwrap.dedent("""
    import os, sys, time
    import dask, dask.array as da
    from zarrbridge import storage_factory
    from zarrbridge.serializers import FILE_PROTOCOL, S3_PROTOCOL, DaskArraySerializer, DaskZarrSerializer

    class ZarrOnFiles(DaskArraySerializer):
        formats = {FILE_PROTOCOL: DaskZarrSerializer, S3_PROTOCOL: DaskZarrSerializer}

    root, fmt, started = sys.argv[1:4]

    def slow(block, block_info=None):
        if block_info[0]["chunk-location"][0] >= 2:  # the first blocks are written, then the save hangs
            time.sleep(0.5)
            open(started, "w").close()
            time.sleep(60)
        return block + 1

    storage = storage_factory({"kind": "file", "options": {"path": root}})
    storage.register_persistent_serializers(ZarrOnFiles if fmt == "zarr" else DaskArraySerializer)
    with dask.config.set(scheduler="threads", num_workers=2):
        storage.save("r", {"x": da.zeros(40, chunks=10).map_blocks(slow, dtype="f8")})
""")


@pytest.mark.parametrize("fmt", ["hdf5", "zarr"])
def test_killed_save_keeps_previous_result(tmp_path: Any, fmt: str) -> None:
    root, started = str(tmp_path / "store"), str(tmp_path / "started")
    serializer = ZarrOnFiles if fmt == "zarr" else DaskArraySerializer
    storage = storage_factory({"kind": "file", "options": {"path": root}})
    storage.register_persistent_serializers(serializer)
    storage.save("r", {"x": da.arange(5, chunks=5)})
    arrays = storage.protocols[FILE_PROTOCOL].root
    before = sorted(os.listdir(arrays))

    child = subprocess.Popen([sys.executable, "-c", _CHILD, root, fmt, started])
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(started):
            assert child.poll() is None, "the saving process ended before it was killed"
            assert time.monotonic() < deadline, "the saving process never started writing"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    leftovers = sorted(set(os.listdir(arrays)) - set(before))
    assert len(leftovers) == 1  # the unfinished array is there...
    np.testing.assert_array_equal(storage.load("r")["x"].compute(), np.arange(5))  # ...and never read
    name = leftovers[0]
    if fmt == "hdf5":
        assert name.endswith(".h5.partial")
        pid: tuple[Any, ...] = ("zarrbridge.dask-hdf5", 1, FILE_PROTOCOL, name[: -len(".partial")])
    else:
        assert sorted(os.listdir(os.path.join(arrays, name))) and "zarrbridge.json" not in os.listdir(
            os.path.join(arrays, name)
        )
        pid = ("zarrbridge.dask-zarr", 1, FILE_PROTOCOL, name)
    with pytest.raises(WriteInterruptedError):  # were an id to name it, it would not be read as complete
        serializer.unpickle(pid, storage.protocols)
    assert storage.collect_garbage(older_than=0) == [f"arrays/{name}"]
    assert sorted(os.listdir(arrays)) == before
    np.testing.assert_array_equal(storage.load("r")["x"].compute(), np.arange(5))
