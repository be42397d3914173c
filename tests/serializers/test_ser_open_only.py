"""The seed's file protocol, exactly: an object whose only method is ``open()``, as Python's ``open()``."""

from __future__ import annotations

import errno
import os
from typing import Any

import dask.array as da
import h5py
import numpy as np
import pytest
from ser_conformance import CASES, Boom, SerializerTests, failing_array, inner

from zarrbridge.errors import BrokenLinkError, InvalidOptionError, StorageFullError
from zarrbridge.serializers import (
    FILE_PROTOCOL,
    DaskArraySerializer,
    DaskHDF5Serializer,
    DaskZarrSerializer,
    NumpyArraySerializer,
)


class SeedFiles:
    """The seed's file protocol: ``open()`` and nothing else (``root`` is only read by the tests)."""

    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(root, exist_ok=True)

    def open(self, name: str, mode: str) -> Any:
        return open(os.path.join(self.root, name), mode)


class TestSeedProtocol(SerializerTests):
    """The whole serializer conformance suite through ``open()`` alone."""

    serializer = DaskHDF5Serializer

    @pytest.fixture()
    def protocols(self, tmp_path: Any) -> dict[str, Any]:
        return {FILE_PROTOCOL: SeedFiles(str(tmp_path / "arrays"))}

    def path(self, protocols: dict[str, Any], pid: Any) -> str:
        return os.path.join(protocols[FILE_PROTOCOL].root, inner(pid)[3])

    def corrupt(self, protocols: dict[str, Any], pid: Any) -> None:
        with open(self.path(protocols, pid), "r+b") as f:
            f.write(b"not an HDF5 file at all")

    def set_stored_version(self, protocols: dict[str, Any], pid: Any, version: int) -> None:
        with h5py.File(self.path(protocols, pid), "r+") as h5:
            h5["data"].attrs["zarrbridge_format_version"] = version

    def test_no_partial_file_and_no_rename(self, protocols: dict[str, Any]) -> None:
        pid = self.serializer.pickle(da.ones(30, chunks=10), protocols)
        assert self.stored_files(protocols) == [inner(pid)[3]]  # written under its final, fresh name

    def test_crash_before_publish_is_never_read_as_complete(self, protocols: dict[str, Any]) -> None:
        """Without rename() a crashed save leaves a file under a fresh name that no id ever named."""
        with pytest.raises(Boom):
            self.serializer.pickle(failing_array(), protocols)
        (left,) = self.stored_files(protocols)
        assert os.path.getsize(os.path.join(protocols[FILE_PROTOCOL].root, left)) == 0  # space given back

    def test_interrupted_save_leaves_nothing(self, protocols: dict[str, Any]) -> None:
        kept = self.serializer.pickle(da.arange(5, chunks=5), protocols)
        with pytest.raises(Boom):
            self.serializer.pickle(failing_array(), protocols)
        sizes = {
            f: os.path.getsize(os.path.join(protocols[FILE_PROTOCOL].root, f))
            for f in self.stored_files(protocols)
        }
        assert sizes.pop(inner(kept)[3]) > 0 and list(sizes.values()) == [0]
        np.testing.assert_array_equal(self.serializer.unpickle(kept, protocols).compute(), np.arange(5))

    def test_missing_files(self, protocols: dict[str, Any]) -> None:
        """remove() cannot delete through open() alone (the file stays); a file gone is a clear error."""
        pid = self.serializer.pickle(da.ones(3), protocols)
        self.serializer.remove(pid, protocols)  # no error: nothing can delete it through this protocol
        assert self.stored_files(protocols) == [inner(pid)[3]]
        os.remove(self.path(protocols, pid))
        with pytest.raises(BrokenLinkError, match="save the result again"):
            self.serializer.unpickle(pid, protocols)


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_case_through_the_dispatching_serializers(tmp_path: Any, case: str) -> None:
    protocols = {FILE_PROTOCOL: SeedFiles(str(tmp_path))}
    original = CASES[case]()
    expected = original.compute()
    lazy = DaskArraySerializer.unpickle(DaskArraySerializer.pickle(original, protocols)[1], protocols)
    assert lazy.dtype == expected.dtype and lazy.shape == expected.shape
    np.testing.assert_array_equal(lazy.compute(), expected)

    class EveryArray(NumpyArraySerializer):
        min_bytes = 0

    tag, inner_id = EveryArray.pickle(np.asarray(expected), protocols)  # type: ignore[misc]
    eager = EveryArray.unpickle(inner_id, protocols)
    assert tag == "numpy-array" and eager.dtype == expected.dtype
    np.testing.assert_array_equal(eager, expected)


def _counting(calls: list[int]) -> da.Array:
    def count(block: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        calls.append(1)
        return block

    x = da.ones(20, chunks=5).map_blocks(count, dtype="f8")
    calls.clear()  # (map_blocks ran it once on an empty block to learn its output)
    return x


def test_a_protocol_without_open_is_refused_before_any_work(tmp_path: Any) -> None:
    class NoOpen:
        def remove(self, name: str) -> None: ...

    calls: list[int] = []
    with pytest.raises(InvalidOptionError, match=r"has no open\(\) \(it has remove\)"):
        DaskArraySerializer.pickle(_counting(calls), {FILE_PROTOCOL: NoOpen()})
    assert calls == []


def test_zarr_through_open_only_is_refused_before_any_work(tmp_path: Any) -> None:
    calls: list[int] = []
    with pytest.raises(InvalidOptionError, match="choose the HDF5 format"):
        DaskZarrSerializer.pickle(_counting(calls), {FILE_PROTOCOL: SeedFiles(str(tmp_path))})
    assert calls == [] and os.listdir(tmp_path) == []


class _FillingFile:
    """A file that accepts ``room`` bytes and then fails as a full disk does (a fault we cannot cause here
    without a small file system; tests/serializers/test_ser_result_safety.py also uses a real tmpfs)."""

    def __init__(self, raw: Any, room: list[int]) -> None:
        self._raw, self._room = raw, room

    def write(self, data: Any) -> int:
        n = len(memoryview(data).cast("B"))
        if n > self._room[0]:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._room[0] -= n
        return int(self._raw.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def __enter__(self) -> _FillingFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._raw.close()


class FillingSeedFiles(SeedFiles):
    def __init__(self, root: str, room: int) -> None:
        super().__init__(root)
        self.room = [room]

    def open(self, name: str, mode: str) -> Any:
        return _FillingFile(super().open(name, mode), self.room)


def test_full_disk_through_open_only_is_a_clear_error(tmp_path: Any) -> None:
    files = FillingSeedFiles(str(tmp_path), room=20_000)
    with pytest.raises(StorageFullError, match="no space left for array") as info:
        DaskArraySerializer.pickle(da.ones((200, 100), chunks=(50, 100)), {FILE_PROTOCOL: files})
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOSPC
    assert [os.path.getsize(tmp_path / f) for f in os.listdir(tmp_path)] == [0]  # nothing partial kept
