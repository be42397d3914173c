"""Rows whose chunks went missing or were garbled are errors naming the array and the key, never zeros."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.djcodecs.conftest import Database, array_dirs, declare_recording

dj = pytest.importorskip("datajoint")

from zarrbridge.djcodecs import PhotonValue, ZarrValue  # noqa: E402
from zarrbridge.errors import CorruptChunkError, MissingChunkError  # noqa: E402

pytestmark = pytest.mark.db


@pytest.mark.parametrize(
    "value, key",
    [
        (np.arange(40.0).reshape(10, 4), "c.0.0"),  # one chunk, written in memory
        (ZarrValue(np.zeros((100, 4)), chunks=(10, 4)), "c/3/0"),  # all zeros: every chunk still stored
    ],
)
def test_zarr_row_missing_or_garbled_chunk(
    postgres: Database, store_dir: Path, make_schema: Any, value: Any, key: str
) -> None:
    inst = postgres.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    Recording = declare_recording(make_schema(inst))
    Recording.insert1({"recording_id": 1, "waveform": value})
    [folder] = array_dirs(store_dir)
    chunk = store_dir / folder / key
    assert chunk.is_file()
    good = chunk.read_bytes()
    chunk.write_bytes(good[: len(good) // 2])
    with pytest.raises(CorruptChunkError, match=key.replace(".", r"\.")) as info:
        Recording.fetch1("waveform")[:]
    assert folder in str(info.value)
    chunk.unlink()
    with pytest.raises(MissingChunkError, match=key.replace(".", r"\.")) as missing:
        Recording.fetch1("waveform")[:]
    assert folder in str(missing.value)


def test_photon_row_missing_chunk(postgres: Database, store_dir: Path, make_schema: Any) -> None:
    inst = postgres.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    Scan = declare_recording(make_schema(inst), codec="photon")
    movie = (30 * np.random.default_rng(1).poisson(2.0, (20, 8, 8)) + 500).astype("u2")
    Scan.insert1(
        {
            "recording_id": 1,
            "waveform": PhotonValue(movie, sensitivity=30.0, zero_level=500.0, frames_per_chunk=5),
        }
    )
    [folder] = array_dirs(store_dir)
    (store_dir / folder / "c" / "2" / "0" / "0").unlink()
    got = Scan.fetch1("waveform")
    assert got[:5].shape == (5, 8, 8)  # other chunks read
    with pytest.raises(MissingChunkError, match="c/2/0/0"):
        got[10:15]


def test_replaced_or_removed_row_keeps_old_values_until_gc_then_errors(
    postgres: Database, store_dir: Path, make_schema: Any
) -> None:
    """A fetched array outlives the delete and re-insert of its row: the old array stays in the store,
    unreachable for new fetches, until DataJoint's GC removes it; then reads say what is missing."""
    inst = postgres.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    schema = make_schema(inst)
    Recording = declare_recording(schema)
    old = np.arange(400.0).reshape(100, 4)
    Recording.insert1({"recording_id": 1, "waveform": ZarrValue(old, chunks=(10, 4))})
    held = Recording.fetch1("waveform")
    (Recording & {"recording_id": 1}).delete(prompt=False)  # (PostgreSQL has no REPLACE: delete, insert)
    Recording.insert1({"recording_id": 1, "waveform": ZarrValue(old * 0, chunks=(10, 4))})
    np.testing.assert_array_equal(held[:], old)  # old values, not the new row's zeros
    np.testing.assert_array_equal(Recording.fetch1("waveform")[:], 0)  # new fetches see the new row
    assert dj.gc.GarbageCollector(schema, store="main").collect(dry_run=False)["errors"] == 0
    with pytest.raises(MissingChunkError, match="c/5/0"):
        held[50:60]
