"""``<zarr@>`` and ``<photon@>`` on a ``file`` store never follow a symbolic link out of the store (issue 11):
a fetch of a row whose array folder was replaced by a link, and an insert below a linked table folder."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.djcodecs.conftest import Database, array_dirs, declare_recording

pytest.importorskip("datajoint")

from zarrbridge.errors import UnsafeNameError

pytestmark = pytest.mark.db


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("codec", ["zarr", "photon"])
def test_fetch_through_a_link_out_of_the_store_is_refused(
    postgres: Database, store_dir: Path, make_schema: Any, tmp_path: Path, codec: str
) -> None:
    inst = postgres.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    Recording = declare_recording(make_schema(inst), codec=codec)
    movie = np.random.default_rng(0).poisson(5.0, size=(4, 8, 8)).astype("uint16")
    Recording.insert1({"recording_id": 1, "waveform": movie if codec == "photon" else np.arange(1000.0)})
    (folder,) = array_dirs(store_dir)
    outside = tmp_path / "outside"
    shutil.move(store_dir / folder, outside)  # someone else's copy of the array, now outside the store
    (store_dir / folder).symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafeNameError, match="outside the store"):
        (Recording & {"recording_id": 1}).fetch1("waveform")


def test_insert_below_a_linked_table_folder_is_refused(
    postgres: Database, store_dir: Path, make_schema: Any, tmp_path: Path
) -> None:
    inst = postgres.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    Recording = declare_recording(make_schema(inst))
    Recording.insert1({"recording_id": 1, "waveform": np.arange(10.0)})
    (folder,) = array_dirs(store_dir)
    table = (store_dir / folder).parent.parent  # schema/table
    outside = tmp_path / "outside"
    shutil.move(table, outside)
    table.symlink_to(outside, target_is_directory=True)
    before = _snapshot(outside)
    for values in (np.arange(10.0), np.arange(300_000.0)):  # the one-write path and zarr's own
        with pytest.raises(UnsafeNameError, match="symbolic link"):
            Recording.insert1({"recording_id": 2, "waveform": values})
    assert _snapshot(outside) == before and len(Recording()) == 1
