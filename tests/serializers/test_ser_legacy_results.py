"""Results saved before persistent ids followed Function Fuse's contract (protocols named "file" / "s3")."""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
from typing import Any

import dask.array as da
import numpy as np
import pytest

from zarrbridge import storage_factory
from zarrbridge.serializers import (
    DaskArraySerializer,
    DaskZarrSerializer,
    NumpyArraySerializer,
    ResultStorage,
)

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "serializers", "file_storage_v1")
LAZY = np.arange(12, dtype="i4").reshape(3, 4)


@pytest.fixture()
def legacy(tmp_path: Any) -> ResultStorage:
    root = str(tmp_path / "store")
    shutil.copytree(FIXTURE, root)
    storage = storage_factory({"kind": "file", "options": {"path": root}})
    storage.register_persistent_serializers(DaskArraySerializer, NumpyArraySerializer)
    return storage


def test_the_fixture_holds_ids_of_the_old_shape() -> None:
    with open(os.path.join(FIXTURE, "results", "hdf5", "step.json")) as f:
        arrays = json.load(f)["arrays"]
    assert {tuple(inner[:3]) for _, inner in arrays} == {("zarrbridge.dask-hdf5", 1, "file")}


@pytest.mark.parametrize("restricted", [False, True])
def test_hdf5_result_of_an_earlier_release_loads(legacy: ResultStorage, restricted: bool) -> None:
    result = legacy.load("hdf5/step", restricted=restricted)
    assert isinstance(result["lazy"], da.Array)
    np.testing.assert_array_equal(result["lazy"].compute(), LAZY)
    np.testing.assert_array_equal(result["eager"], np.linspace(0, 1, 7))
    np.testing.assert_array_equal(result["text"], np.array(["ab", "ç"]))
    assert result["meta"] == [1, "x"]


def test_zarr_result_of_an_earlier_release_loads(legacy: ResultStorage) -> None:
    result = legacy.load("zarr/step")
    np.testing.assert_array_equal(result["lazy"].compute(), LAZY)
    np.testing.assert_array_equal(result["eager"], np.linspace(0, 1, 7))
    assert result["meta"] == (2.5,)


def test_old_results_can_be_overwritten_and_collected(legacy: ResultStorage) -> None:
    arrays = os.path.join(legacy.location, "arrays")
    before = set(os.listdir(arrays))
    legacy.save("hdf5/step", {"lazy": da.ones(3, chunks=2)})
    legacy.remove("zarr/step")
    removed = legacy.collect_garbage(older_than=0)
    assert {f"arrays/{name}" for name in before} <= set(removed)  # the old ids' files were found and removed
    assert float(legacy.load("hdf5/step")["lazy"].sum().compute()) == 3.0
    assert legacy.names() == ["hdf5/step"]


class _OldIds(pickle.Pickler):
    """Pickles like zarrbridge before the change: ("dask-array", (format, 1, "s3", name))."""

    def __init__(self, file: Any, ids: dict[int, Any]) -> None:
        super().__init__(file, protocol=5)
        self.ids = ids

    def persistent_id(self, obj: Any) -> Any:
        return self.ids.get(id(obj))


def test_s3_result_with_old_ids_loads(s3_storage_options: dict[str, Any], s3_bucket: str) -> None:
    storage = storage_factory(
        {"kind": "s3", "options": {"bucket": s3_bucket, "storage_options": s3_storage_options}}
    )
    storage.register_persistent_serializers(DaskArraySerializer)
    _, (fmt, version, _, name) = DaskZarrSerializer.pickle(da.from_array(LAZY, chunks=2), storage.protocols)
    old_pid = ("dask-array", (fmt, version, "s3", name))  # the id shape earlier releases wrote
    marker = object()
    buffer = io.BytesIO()
    _OldIds(buffer, {id(marker): old_pid}).dump({"lazy": marker, "n": 3})
    storage._put("pickles/0123456789abcdef0123456789abcdef.pkl", buffer.getvalue())
    manifest = {
        "format": "zarrbridge.result",
        "format_version": 1,
        "name": "old",
        "pickle": "pickles/0123456789abcdef0123456789abcdef.pkl",
        "arrays": [["dask-array", [fmt, version, "s3", name]]],
        "saved": "2026-01-01T00:00:00+00:00",
    }
    storage._put("results/old.json", json.dumps(manifest).encode())
    result = storage.load("old", restricted=True)
    np.testing.assert_array_equal(result["lazy"].compute(), LAZY)
    assert result["n"] == 3
    storage.remove("old")
    assert f"arrays/{name}" in storage.collect_garbage(older_than=0)


def test_protocol_dicts_with_the_old_keys_still_work(tmp_path: Any) -> None:
    from zarrbridge.serializers import LocalFiles

    old_style = {"file": LocalFiles(str(tmp_path))}  # FILE_PROTOCOL's value before
    pid = DaskArraySerializer.pickle(da.arange(5, chunks=2), old_style)
    np.testing.assert_array_equal(DaskArraySerializer.unpickle(pid[1], old_style).compute(), np.arange(5))
    DaskArraySerializer.remove(pid[1], old_style)
    assert os.listdir(tmp_path) == []
