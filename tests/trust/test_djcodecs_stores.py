"""DataJoint ``file`` stores never follow a symbolic link out of the store (issue 11, outside the store):
reads, writes and removals of ``<zarr@>``/``<photon@>`` objects, at the level of the store target (no
database needed; the end-to-end cases through inserts and fetches are in tests/djcodecs/test_symlinks.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

pytest.importorskip("datajoint")

from zarrbridge.djcodecs.stores import StoreTarget, resolve_store
from zarrbridge.errors import UnsafeNameError

ROW = "schema/table/id=1/waveform.zarr"


@pytest.fixture
def target(tmp_path: Path) -> StoreTarget:
    from datajoint.settings import config

    (tmp_path / "store").mkdir()
    own = type(config)()
    own.stores = {"main": {"protocol": "file", "location": str(tmp_path / "store")}}
    return resolve_store("main", own)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the store holding someone else's file."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "zarr.json").write_text('{"victim": true}')
    return folder


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _write_row(target: StoreTarget, path: str = ROW) -> None:
    array = zarr.create_array(target.zarr_store(path, read_only=False), shape=(4,), chunks=(2,), dtype="f8")
    array[:] = np.arange(4.0)


def test_row_folder_linked_outside_is_refused_on_every_operation(target: StoreTarget, outside: Path) -> None:
    root = Path(target.full_path(""))
    (root / "schema" / "table" / "id=1").mkdir(parents=True)
    (root / "schema" / "table" / "id=1" / "waveform.zarr").symlink_to(outside, target_is_directory=True)
    before = _snapshot(outside)
    with pytest.raises(UnsafeNameError, match="outside the store"):
        target.read_object(ROW, "zarr.json")
    with pytest.raises(UnsafeNameError, match="outside the store"):
        target.zarr_store(ROW, read_only=True)
    with pytest.raises(UnsafeNameError, match="symbolic link"):
        target.remove(ROW)
    assert _snapshot(outside) == before


@pytest.mark.parametrize("linked", ["schema", "schema/table", "schema/table/id=1"])
def test_parent_folder_linked_outside_is_refused_on_write(
    target: StoreTarget, outside: Path, linked: str
) -> None:
    root = Path(target.full_path(""))
    (root / linked).parent.mkdir(parents=True, exist_ok=True)
    (root / linked).symlink_to(outside, target_is_directory=True)
    before = _snapshot(outside)
    with pytest.raises(UnsafeNameError, match=f"symbolic link '{root / linked}'"):
        _write_row(target)
    with pytest.raises(UnsafeNameError):  # the small-array path (one write of all its objects)
        target.put_objects(ROW, {"zarr.json": b"{}", "c/0": b"x"})
    with pytest.raises(UnsafeNameError):
        target.remove(ROW)
    assert _snapshot(outside) == before


def test_object_file_linked_outside_is_refused(target: StoreTarget, outside: Path) -> None:
    _write_row(target)
    document = Path(target.full_path(ROW)) / "zarr.json"
    document.unlink()
    document.symlink_to(outside / "zarr.json")
    with pytest.raises(UnsafeNameError, match="zarr.json"):
        target.read_object(ROW, "zarr.json")


def test_chunk_linked_outside_is_refused_on_read(target: StoreTarget, tmp_path: Path) -> None:
    _write_row(target)
    chunk = Path(target.full_path(ROW)) / "c" / "1"
    secret = tmp_path / "secret-chunk"
    secret.write_bytes(chunk.read_bytes())
    chunk.unlink()
    chunk.symlink_to(secret)
    array = zarr.open_array(target.zarr_store(ROW, read_only=True), mode="r")
    with pytest.raises(UnsafeNameError, match="outside the store"):
        array[:]


def test_links_inside_the_store_are_followed(target: StoreTarget) -> None:
    _write_row(target, "schema/table/id=2/waveform.zarr")
    root = Path(target.full_path(""))
    (root / "schema" / "table" / "id=1").mkdir(parents=True)
    os.symlink(root / "schema/table/id=2/waveform.zarr", root / ROW, target_is_directory=True)
    assert target.read_object(ROW, "zarr.json").startswith(b"{")
    values: Any = zarr.open_array(target.zarr_store(ROW, read_only=True), mode="r")[:]
    np.testing.assert_array_equal(values, np.arange(4.0))
