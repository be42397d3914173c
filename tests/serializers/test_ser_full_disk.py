"""A disk that fills up during a save, on a real (small) tmpfs: a clear error, nothing partial, no crash."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import dask.array as da
import numpy as np
import pytest

from zarrbridge import storage_factory
from zarrbridge.errors import StorageFullError
from zarrbridge.serializers import (
    FILE_PROTOCOL,
    S3_PROTOCOL,
    DaskArraySerializer,
    DaskZarrSerializer,
    NumpyArraySerializer,
    ResultStorage,
)

DISK_BYTES = 4 << 20


@pytest.fixture()
def small_disk(tmp_path: Any) -> Iterator[str]:
    """A 4 MiB tmpfs mounted for the test (needs the right to mount: root in the test container)."""
    path = str(tmp_path / "disk")
    os.makedirs(path)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", path], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); test_ser_open_only covers ENOSPC")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", path], check=False)


class ZarrOnFiles(DaskArraySerializer):
    formats = {FILE_PROTOCOL: DaskZarrSerializer, S3_PROTOCOL: DaskZarrSerializer}


def _storage(root: str, *serializers: Any) -> ResultStorage:
    storage = storage_factory({"kind": "file", "options": {"path": os.path.join(root, "store")}})
    storage.register_persistent_serializers(*serializers)
    return storage


def _files(root: str) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def _used(root: str) -> int:
    st = os.statvfs(root)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


@pytest.mark.parametrize(
    "serializers",
    [(DaskArraySerializer,), (ZarrOnFiles,), (DaskArraySerializer, NumpyArraySerializer)],
    ids=["hdf5", "zarr", "numpy-raw-chunks"],
)
def test_full_disk_during_a_save(small_disk: str, serializers: tuple[Any, ...]) -> None:
    storage = _storage(small_disk, *serializers)
    storage.save("keep", {"x": da.arange(100, chunks=50)})
    before, used = _files(small_disk), _used(small_disk)
    noise = da.random.default_rng(0).random(DISK_BYTES // 4, chunks=DISK_BYTES // 32)  # 8 MiB, incompressible
    big: Any = noise.compute() if NumpyArraySerializer in serializers else noise
    for name in ("new", "keep"):  # a new result, and an overwrite of the existing one
        with pytest.raises(StorageFullError, match="no space left for") as info:
            storage.save(name, {"x": big})
        assert info.value.errno == 28
        assert _files(small_disk) == before  # nothing partial left, the previous version untouched
        assert _used(small_disk) <= used + 64 * 1024  # the space is given back
    assert storage.names() == ["keep"]
    np.testing.assert_array_equal(storage.load("keep")["x"].compute(), np.arange(100))


def test_full_disk_while_writing_the_pickle(small_disk: str) -> None:
    storage = _storage(small_disk, DaskArraySerializer)
    storage.save("keep", [1, 2, 3])
    with open(os.path.join(small_disk, "filler"), "wb") as f:  # leave a few KiB
        f.write(b"\0" * (DISK_BYTES - 64 * 1024))
    before = _files(small_disk)
    with pytest.raises(StorageFullError, match="result 'new'"):
        storage.save("new", {"inline": b"x" * (512 * 1024), "x": da.ones(10)})
    assert _files(small_disk) == before and storage.names() == ["keep"]
    assert storage.load("keep") == [1, 2, 3]


def test_full_disk_does_not_crash_the_process(small_disk: str) -> None:
    """HDF5 left open over a failed write used to crash the interpreter (later, or at exit): run it in a
    fresh one, through h5py (gzip) and through raw chunk writes."""
    code = textwrap.dedent(
        f"""
        import dask.array as da
        from zarrbridge import storage_factory, DaskArraySerializer
        from zarrbridge.errors import StorageFullError
        from zarrbridge.serializers import DaskHDF5Serializer, HDF5Options, FILE_PROTOCOL, S3_PROTOCOL

        class Gzip(DaskHDF5Serializer):
            options = HDF5Options(compression="gzip", compression_opts=1)

        class GzipArrays(DaskArraySerializer):
            formats = {{FILE_PROTOCOL: Gzip, S3_PROTOCOL: Gzip}}

        noise = da.random.default_rng(0).random({DISK_BYTES // 4}, chunks={DISK_BYTES // 32})
        for serializer in (GzipArrays, DaskArraySerializer, GzipArrays):
            s = storage_factory({{"kind": "file", "options": {{"path": {os.path.join(small_disk, "p")!r}}}}})
            s.register_persistent_serializers(serializer)
            try:
                s.save("r", noise)
            except StorageFullError:
                print("full")
        s.save("small", da.ones(10))
        print(float(s.load("small").sum().compute()))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["full"] * 3 + ["10.0"]
