"""Conformance suite every dask-array serializer passes, written once and subclassed per backend/protocol.

A subclass sets ``serializer`` and provides the ``protocols`` fixture, plus the few hooks that reach into
the stored files (to corrupt them or fake a crash) of its format.
"""

from __future__ import annotations

from typing import Any, ClassVar

import dask.array as da
import numpy as np
import pytest

from zarrbridge.errors import (
    BrokenLinkError,
    CorruptMetadataError,
    InvalidOptionError,
    UnsafeNameError,
    UnsupportedDtypeError,
    UnsupportedFormatVersionError,
    WriteInterruptedError,
)
from zarrbridge.serializers import FILE_PROTOCOL, S3_PROTOCOL, PersistentSerializer


def inner(pid: Any) -> Any:
    """The inner id of a persistent id ``(serializer name, inner)`` (what ``unpickle`` receives)."""
    assert isinstance(pid, tuple) and len(pid) == 2 and isinstance(pid[0], str), pid
    return pid[1]


class Boom(RuntimeError):
    """Raised by a block on purpose, to interrupt a save."""


def _explode(block: np.ndarray[Any, Any], block_info: Any = None) -> np.ndarray[Any, Any]:
    if block_info is not None and block_info[0]["chunk-location"][0] == 2:
        raise Boom("block 2 failed")
    return block


def failing_array() -> da.Array:
    """A dask array whose third block raises while it is being saved."""
    return da.ones((40, 6), chunks=(10, 6), dtype="f4").map_blocks(_explode, dtype="f4")


def nan_chunked() -> da.Array:
    x = da.arange(20, chunks=6)
    return x[x % 3 == 0]


CASES: dict[str, Any] = {
    "float32-2d": lambda: da.random.default_rng(1).random((30, 7), chunks=(8, 4)).astype("f4"),
    "irregular-chunks": lambda: da.from_array(
        np.arange(50, dtype="i8").reshape(10, 5), chunks=((3, 1, 6), (2, 3))
    ),
    "zero-dim": lambda: da.from_array(np.float64(2.5)),
    "zero-length": lambda: da.zeros((0,), chunks=5, dtype="f8"),
    "zero-length-2d": lambda: da.zeros((3, 0), chunks=(2, 1), dtype="i2"),
    "unicode": lambda: da.from_array(np.array([["åbc", ""], ["x", "日本語"], ["z", "q"]]), chunks=(2, 1)),
    "unicode-0d": lambda: da.from_array(np.array("héllo")),
    "bytes": lambda: da.from_array(np.array([b"ab", b"c", b""]), chunks=2),
    "bool": lambda: da.from_array(np.array([True, False, True]), chunks=2),
    "complex": lambda: da.from_array(np.array([1 + 2j, -3j], dtype="c8"), chunks=1),
    "datetime": lambda: da.from_array(np.array(["2024-01-02T03:04", "NaT"], dtype="M8[m]"), chunks=1),
    "timedelta": lambda: da.from_array(np.array([1, -5], dtype="m8[ms]"), chunks=1),
    "big-endian": lambda: da.from_array(np.arange(6, dtype=">i4"), chunks=4),
    "structured": lambda: da.from_array(
        np.array([(1, 2.5), (3, -1.0)], dtype=[("a", "<i4"), ("b", "<f8")]), chunks=1
    ),
    "nan-chunks": nan_chunked,
}


class SerializerTests:
    """What every dask-array serializer must do, on the protocols a subclass provides."""

    serializer: ClassVar[type[PersistentSerializer]]
    keeps_chunks: ClassVar[bool] = True

    @pytest.fixture()
    def protocols(self) -> dict[str, Any]:
        raise NotImplementedError

    # hooks into the stored files -----------------------------------------------------------------------
    def stored_files(self, protocols: dict[str, Any]) -> list[str]:
        """Every file below the array folder of ``protocols`` (names relative to it)."""
        if S3_PROTOCOL in protocols:
            client, folder = protocols[S3_PROTOCOL]["client"], protocols[S3_PROTOCOL]["folder"]
            client.invalidate_cache()
            return sorted(p[len(folder) + 1 :] for p in client.find(folder))
        import os

        root = protocols[FILE_PROTOCOL].root
        out = []
        for folder, _dirs, files in os.walk(root):
            out += [os.path.relpath(os.path.join(folder, f), root) for f in files]
        return sorted(out)

    def corrupt(self, protocols: dict[str, Any], pid: Any) -> None:
        raise NotImplementedError

    def set_stored_version(self, protocols: dict[str, Any], pid: Any, version: int) -> None:
        raise NotImplementedError

    def fake_crash(self, protocols: dict[str, Any], pid: Any) -> None:
        """Make the stored array look like a save that died before it was published."""
        raise NotImplementedError

    # round trips ---------------------------------------------------------------------------------------
    @pytest.mark.parametrize("case", sorted(CASES))
    def test_round_trip(self, protocols: dict[str, Any], case: str) -> None:
        original = CASES[case]()
        expected = original.compute()
        pid = self.serializer.pickle(original, protocols)
        loaded = self.serializer.unpickle(pid, protocols)
        assert isinstance(loaded, da.Array)
        assert loaded.shape == expected.shape
        assert loaded.dtype == expected.dtype
        np.testing.assert_array_equal(loaded.compute(), expected)

    def test_loaded_array_is_lazy_and_keeps_chunks(self, protocols: dict[str, Any]) -> None:
        x = da.arange(100, chunks=25, dtype="i4").reshape(10, 10).rechunk((5, 10))
        loaded = self.serializer.unpickle(self.serializer.pickle(x, protocols), protocols)
        if self.keeps_chunks:
            assert loaded.chunks == ((5, 5), (10,))
        assert loaded.npartitions >= 2
        assert int(loaded[7, 3].compute()) == 73

    def test_persistent_id_is_plain_versioned_data(self, protocols: dict[str, Any]) -> None:
        pid = self.serializer.pickle(da.ones(4, chunks=2), protocols)
        tag, (fmt, version, protocol, name) = pid  # Function Fuse's shape: (serializer name, inner id)
        assert tag == self.serializer.name
        assert isinstance(fmt, str) and fmt.startswith("zarrbridge.")
        assert version == 1 and protocol in protocols and isinstance(name, str)

    def test_inner_id_and_whole_id_both_load(self, protocols: dict[str, Any]) -> None:
        pid = self.serializer.pickle(da.arange(6, chunks=4), protocols)
        np.testing.assert_array_equal(self.serializer.unpickle(pid[1], protocols).compute(), np.arange(6))
        np.testing.assert_array_equal(self.serializer.unpickle(pid, protocols).compute(), np.arange(6))

    # refusals and errors -------------------------------------------------------------------------------
    def test_object_arrays_are_refused(self, protocols: dict[str, Any]) -> None:
        x = da.from_array(np.array([{"a": 1}, None], dtype=object), chunks=1)
        with pytest.raises(UnsupportedDtypeError, match="object"):
            self.serializer.pickle(x, protocols)
        assert self.stored_files(protocols) == []

    def test_wrong_type(self, protocols: dict[str, Any]) -> None:
        with pytest.raises(InvalidOptionError, match="dask arrays, got ndarray"):
            self.serializer.pickle(np.ones(3), protocols)

    def test_missing_protocol(self) -> None:
        with pytest.raises(InvalidOptionError, match="protocol"):
            self.serializer.pickle(da.ones(3), {})

    def test_unknown_id_version(self, protocols: dict[str, Any]) -> None:
        _, (fmt, _, protocol, name) = self.serializer.pickle(da.ones(3), protocols)
        with pytest.raises(UnsupportedFormatVersionError, match="99"):
            self.serializer.unpickle((fmt, 99, protocol, name), protocols)

    @pytest.mark.parametrize("pid", [None, "x", ("a", 1), ("zarrbridge.dask-hdf5", "1", "file", "x.h5")])
    def test_malformed_id(self, protocols: dict[str, Any], pid: Any) -> None:
        with pytest.raises(CorruptMetadataError, match="persistent id"):
            self.serializer.unpickle(pid, protocols)

    @pytest.mark.parametrize("name", ["../outside", "/etc/passwd", "a\x00b", "a/../../b", ""])
    def test_id_cannot_escape_the_folder(self, protocols: dict[str, Any], name: str) -> None:
        _, (fmt, version, protocol, _) = self.serializer.pickle(da.ones(3), protocols)
        with pytest.raises(UnsafeNameError, match="array file name"):
            self.serializer.unpickle((fmt, version, protocol, name), protocols)
        with pytest.raises(UnsafeNameError, match="array file name"):
            self.serializer.remove((fmt, version, protocol, name), protocols)

    def test_unknown_stored_version(self, protocols: dict[str, Any]) -> None:
        pid = self.serializer.pickle(da.ones(3), protocols)
        self.set_stored_version(protocols, pid, 42)
        with pytest.raises(UnsupportedFormatVersionError, match="42"):
            self.serializer.unpickle(pid, protocols)

    def test_missing_files(self, protocols: dict[str, Any]) -> None:
        pid = self.serializer.pickle(da.ones(3), protocols)
        self.serializer.remove(pid, protocols)
        assert self.stored_files(protocols) == []
        with pytest.raises(BrokenLinkError, match="save the result again"):
            self.serializer.unpickle(pid, protocols)
        self.serializer.remove(pid, protocols)  # removing twice is fine

    def test_corrupt_files(self, protocols: dict[str, Any]) -> None:
        pid = self.serializer.pickle(da.ones(3), protocols)
        self.corrupt(protocols, pid)
        with pytest.raises(CorruptMetadataError):
            self.serializer.unpickle(pid, protocols)

    def test_crash_before_publish_is_never_read_as_complete(self, protocols: dict[str, Any]) -> None:
        pid = self.serializer.pickle(da.ones(30, chunks=10), protocols)
        self.fake_crash(protocols, pid)
        with pytest.raises(WriteInterruptedError, match="interrupted|never completed"):
            self.serializer.unpickle(pid, protocols)

    def test_interrupted_save_leaves_nothing(self, protocols: dict[str, Any]) -> None:
        kept = self.serializer.pickle(da.arange(5, chunks=5), protocols)
        before = self.stored_files(protocols)
        with pytest.raises(Boom):
            self.serializer.pickle(failing_array(), protocols)
        assert self.stored_files(protocols) == before
        np.testing.assert_array_equal(self.serializer.unpickle(kept, protocols).compute(), np.arange(5))
