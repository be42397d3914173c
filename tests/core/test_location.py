"""Conformance suite for opening every kind of location as a zarr store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from zarr.storage import MemoryStore

from zarrbridge.core import Location, open_store
from zarrbridge.errors import InvalidOptionError, LocationError, NotAZarrStoreError, StoreExistsError


class LocationTests:
    """Subclassed once per kind of location; ``make`` returns a fresh location spec."""

    def make(self, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
        raise NotImplementedError

    def kwargs(self, request: pytest.FixtureRequest) -> dict[str, Any]:
        return {}

    def roundtrip(self, spec: Any, kw: dict[str, Any]) -> None:
        store = open_store(spec, mode="w", **kw)
        root = zarr.create_group(store, attributes={"a": 1})
        arr = root.create_array("x", shape=(10,), dtype="i4", chunks=(4,))
        arr[:] = np.arange(10)
        store.close()
        store = open_store(spec, mode="r", **kw)
        g = zarr.open_group(store, mode="r")
        assert g.attrs["a"] == 1
        np.testing.assert_array_equal(g["x"][:], np.arange(10))
        store.close()

    def test_write_then_read(self, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.roundtrip(self.make(tmp_path, request), self.kwargs(request))

    def test_read_missing_is_not_a_store(self, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        with pytest.raises(NotAZarrStoreError, match="not a zarr store"):
            open_store(self.make(tmp_path, request), mode="r", **self.kwargs(request))

    def test_exclusive_create_refuses_existing(self, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        spec, kw = self.make(tmp_path, request), self.kwargs(request)
        self.roundtrip(spec, kw)
        with pytest.raises(StoreExistsError, match="already exists"):
            open_store(spec, mode="w-", **kw)

    def test_mode_w_replaces(self, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        spec, kw = self.make(tmp_path, request), self.kwargs(request)
        self.roundtrip(spec, kw)
        store = open_store(spec, mode="w", **kw)
        zarr.create_group(store, attributes={"b": 2})
        store.close()
        g = zarr.open_group(open_store(spec, mode="r", **kw), mode="r")
        assert dict(g.attrs) == {"b": 2}
        assert "x" not in g

    def test_read_only_refuses_writes(self, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        spec, kw = self.make(tmp_path, request), self.kwargs(request)
        self.roundtrip(spec, kw)
        g = zarr.open_group(open_store(spec, mode="r", **kw), mode="r")
        with pytest.raises((ValueError, PermissionError)):
            g.attrs["c"] = 3


class TestLocalLocation(LocationTests):
    def make(self, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
        return tmp_path / "f.zarr"


class TestLocalStrLocation(LocationTests):
    def make(self, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
        return str(tmp_path / "sub" / "f.nwb.zarr")


class TestZipLocation(LocationTests):
    def make(self, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
        return str(tmp_path / "f.zarr.zip")


@pytest.mark.s3
class TestS3Location(LocationTests):
    def make(self, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
        bucket = request.getfixturevalue("s3_bucket")
        return f"s3://{bucket}/data/f.zarr"

    def kwargs(self, request: pytest.FixtureRequest) -> dict[str, Any]:
        return {"storage_options": request.getfixturevalue("s3_storage_options")}


def test_memory_store_object() -> None:
    store = MemoryStore()
    with pytest.raises(NotAZarrStoreError):
        open_store(store, mode="r")
    zarr.create_group(open_store(store, mode="w"), attributes={"k": "v"})
    ro = open_store(store, mode="r")
    assert ro.read_only
    assert zarr.open_group(ro, mode="r").attrs["k"] == "v"


def test_bad_locations() -> None:
    with pytest.raises(LocationError, match="not int"):
        Location.parse(3)
    with pytest.raises(LocationError, match="empty"):
        Location.parse("")
    with pytest.raises(InvalidOptionError, match="URLs only"):
        Location.parse("/tmp/x.zarr", storage_options={"anon": True})
    with pytest.raises(InvalidOptionError, match="mode must be"):
        open_store("/tmp/nowhere.zarr", mode="q")  # type: ignore[arg-type]


def test_non_zarr_directory(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_text("hello")
    with pytest.raises(NotAZarrStoreError, match="zarr.json"):
        open_store(tmp_path / "d", mode="r")
    assert (tmp_path / "d" / "notes.txt").exists()


def test_relative_locations_are_posix(tmp_path: Path) -> None:
    a = Location.parse(tmp_path / "x" / "a.zarr")
    b = Location.parse(tmp_path / "y" / "b.zarr")
    rel = b.relative_to(a)
    assert rel == "../y/b.zarr" and "\\" not in rel
    assert a.resolve(rel) == b
    assert a.resolve("..\\y\\b.zarr") == b  # written by a Windows tool
    s1 = Location.parse("s3://bk/p/a.zarr")
    s2 = Location.parse("s3://bk/q/b.zarr")
    assert s2.relative_to(s1) == "../q/b.zarr"
    assert s1.resolve("../q/b.zarr") == s2
    assert Location.parse("s3://other/b.zarr").relative_to(s1) == "s3://other/b.zarr"
    assert os.sep not in Location.parse(tmp_path).path or os.sep == "/"


_S3_SCRIPT = """
import json, sys, warnings
warnings.simplefilter("default")  # ResourceWarning is hidden by default
import s3fs, zarr
from zarrbridge.core import filesystem_store
options, bucket = json.loads(sys.argv[1]), sys.argv[2]
fs = s3fs.S3FileSystem(**options)
array = zarr.create_array(filesystem_store(fs, bucket + "/a.zarr"), shape=(4,), dtype="i4")
array[:] = 7
print(zarr.open_array(filesystem_store(fs, bucket + "/a.zarr", read_only=True))[:].tolist())
"""


@pytest.mark.s3
def test_s3_sessions_are_closed_at_exit(s3_bucket: str, s3_storage_options: dict[str, Any]) -> None:
    """The asynchronous s3fs instances made for zarr leave no unclosed aiohttp session behind at exit."""
    import json
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", _S3_SCRIPT, json.dumps(s3_storage_options), s3_bucket],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[7, 7, 7, 7]"
    assert "Unclosed" not in proc.stderr, proc.stderr
