"""Result storages under attack and failure (#11): hostile manifests, symlinks, lazy readers,
missing chunks."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import dask.array as da
import numpy as np
import pytest

from zarrbridge import storage_factory
from zarrbridge.errors import MissingChunkError, UnsafeNameError, ZarrBridgeError
from zarrbridge.serializers import (
    FILE_PROTOCOL,
    S3_PROTOCOL,
    DaskArraySerializer,
    DaskZarrSerializer,
    NumpyArraySerializer,
    ResultStorage,
)


class ZarrOnFiles(DaskArraySerializer):
    formats = {FILE_PROTOCOL: DaskZarrSerializer, S3_PROTOCOL: DaskZarrSerializer}


class Victim:
    """A file beside the storage that nothing may read or delete."""

    def __init__(self, storage: ResultStorage, tmp_path: Any) -> None:
        self.storage = storage
        if FILE_PROTOCOL in storage.protocols:
            self.path = str(tmp_path / "victim.txt")
            with open(self.path, "wb") as f:
                f.write(b"precious")
        else:
            client = storage.protocols[S3_PROTOCOL]["client"]
            self.path = storage.options.bucket + "/victim.txt"  # type: ignore[attr-defined]
            client.pipe_file(self.path, b"precious")

    def intact(self) -> bool:
        if FILE_PROTOCOL in self.storage.protocols:
            with open(self.path, "rb") as f:
                return f.read() == b"precious"
        client = self.storage.protocols[S3_PROTOCOL]["client"]
        client.invalidate_cache()
        return bool(client.cat_file(self.path) == b"precious")


@pytest.fixture(params=["file", "s3"])
def make_storage(request: Any, tmp_path: Any) -> Callable[[], ResultStorage]:
    def make() -> ResultStorage:
        if request.param == "file":
            storage = storage_factory({"kind": "file", "options": {"path": str(tmp_path / "store")}})
        else:
            options = request.getfixturevalue("s3_storage_options")
            bucket = request.getfixturevalue("s3_bucket")
            storage = storage_factory(
                {"kind": "s3", "options": {"bucket": bucket, "prefix": "store", "storage_options": options}}
            )
        storage.register_persistent_serializers(DaskArraySerializer, NumpyArraySerializer)
        return storage

    return make


def _manifest(storage: ResultStorage, name: str) -> dict[str, Any]:
    return dict(json.loads(storage._get(f"results/{name}.json")))


# -- hostile manifests ---------------------------------------------------------------------------------------
OUTSIDE = [
    "../victim.txt",
    "../../victim.txt",
    "../../../victim.txt",
    "/victim.txt",
    "pickles/../../victim.txt",
]


@pytest.mark.parametrize("target", [*OUTSIDE, "pickles/a\x00b.pkl"])
def test_manifest_pickle_outside_the_store(make_storage: Any, tmp_path: Any, target: str) -> None:
    storage = make_storage()
    victim = Victim(storage, tmp_path)
    storage.save("r", {"x": da.ones(3)})
    manifest = _manifest(storage, "r")
    storage._put("results/r.json", json.dumps({**manifest, "pickle": target}).encode())
    for action in (
        lambda: storage.load("r", restricted=True),
        lambda: storage.load("r"),
        lambda: storage.remove("r"),
    ):
        with pytest.raises(UnsafeNameError, match="pickle named by results/r.json"):
            action()
    storage.save("r", 2)  # replacing it deletes nothing it names
    storage.collect_garbage(older_than=0)
    assert victim.intact() and storage.load("r") == 2


@pytest.mark.parametrize("target", [*OUTSIDE, "a\x00b.h5", ""])
def test_manifest_array_outside_the_store(make_storage: Any, tmp_path: Any, target: str) -> None:
    storage = make_storage()
    victim = Victim(storage, tmp_path)
    storage.save("r", {"x": da.ones(3)})
    manifest = _manifest(storage, "r")
    (tag, (fmt, version, protocol, _)), *_ = manifest["arrays"]
    hostile = {**manifest, "arrays": [[tag, [fmt, version, protocol, target]]]}
    storage._put("results/r.json", json.dumps(hostile).encode())
    with pytest.raises(UnsafeNameError):
        storage.remove("r")
    with pytest.raises(UnsafeNameError):
        storage.load("r", restricted=True)
    assert storage.exists("r")  # a refused removal removes nothing
    storage.save("r", 3)
    storage.remove("r")
    storage.collect_garbage(older_than=0)
    assert victim.intact()


def test_garbage_document_outside_the_store(make_storage: Any, tmp_path: Any) -> None:
    storage = make_storage()
    victim = Victim(storage, tmp_path)
    storage.save("r", {"x": da.ones(3)})
    storage.save("r", 1)  # the first version's files are now garbage
    (key,) = storage._keys("garbage")
    document = json.loads(storage._get(key))
    (tag, (fmt, version, protocol, _)), *_ = document["arrays"]
    hostile = {
        **document,
        "pickle": "../victim.txt",
        "arrays": [[tag, [fmt, version, protocol, "../../victim.txt"]]],
    }
    storage._put(key, json.dumps(hostile).encode())
    storage.collect_garbage(older_than=0)
    assert victim.intact() and storage.load("r") == 1


def test_persistent_id_in_the_pickle_outside_the_store(make_storage: Any, tmp_path: Any) -> None:
    storage = make_storage()
    victim = Victim(storage, tmp_path)
    storage.save("r", {"x": da.ones(3)})
    manifest = _manifest(storage, "r")
    (_, (_, _, _, name)), *_ = manifest["arrays"]
    data = storage._get(manifest["pickle"])
    assert name.encode() in data
    storage._put(
        manifest["pickle"],
        data.replace(name.encode(), b"../../victim.txt"[: len(name)].ljust(len(name), b"/")),
    )
    with pytest.raises(UnsafeNameError):
        storage.load("r", restricted=True)
    assert victim.intact()


# -- symbolic links ------------------------------------------------------------------------------------------
@pytest.fixture()
def local(tmp_path: Any) -> ResultStorage:
    storage = storage_factory({"kind": "file", "options": {"path": str(tmp_path / "store")}})
    storage.register_persistent_serializers(DaskArraySerializer, NumpyArraySerializer)
    return storage


def _array_file(storage: ResultStorage, name: str) -> str:
    (_, (_, _, _, file_name)), *_ = _manifest(storage, name)["arrays"]
    return str(os.path.join(storage.location, "arrays", file_name))


def test_symlinked_array_file_is_not_followed(local: ResultStorage, tmp_path: Any) -> None:
    local.save("other", {"x": da.arange(4, chunks=2)})
    local.save("r", {"x": da.ones(4, chunks=2)})
    outside = str(tmp_path / "outside.h5")
    os.replace(_array_file(local, "other"), outside)  # an HDF5 file out of the store
    path = _array_file(local, "r")
    os.remove(path)
    os.symlink(outside, path)
    with pytest.raises(UnsafeNameError, match="symbolic link"):
        local.load("r")["x"].compute()
    local.remove("r")
    local.collect_garbage(older_than=0)
    assert not os.path.lexists(path) and os.path.exists(outside)  # the link went, its target stayed


def test_symlink_inside_a_zarr_result_is_not_followed(tmp_path: Any) -> None:
    storage = storage_factory({"kind": "file", "options": {"path": str(tmp_path / "store")}})
    storage.register_persistent_serializers(ZarrOnFiles)
    storage.save("r", {"x": da.arange(10, chunks=5)})
    folder = _array_file(storage, "r")
    chunk = os.path.join(folder, "c", "1")
    outside = str(tmp_path / "secret")
    os.replace(chunk, outside)
    os.symlink(outside, chunk)
    with pytest.raises(UnsafeNameError, match="symbolic link"):
        storage.load("r")["x"].compute()


def test_symlinked_manifest_and_array_folder(local: ResultStorage, tmp_path: Any) -> None:
    local.save("r", {"x": da.ones(3)})
    elsewhere = tmp_path / "elsewhere.json"
    os.replace(os.path.join(local.location, "results", "r.json"), elsewhere)
    os.symlink(elsewhere, os.path.join(local.location, "results", "r.json"))
    with pytest.raises(UnsafeNameError, match="symbolic link"):
        local.load("r")
    arrays = os.path.join(local.location, "arrays")
    os.replace(arrays, tmp_path / "arrays-elsewhere")
    os.symlink(tmp_path / "arrays-elsewhere", arrays)
    with pytest.raises(UnsafeNameError, match="symbolic link"):
        local.save("s", {"x": da.ones(3)})


# -- lazy readers never see zeros ----------------------------------------------------------------------------
@pytest.fixture(params=["hdf5-files", "zarr-files", "zarr-s3"])
def lazy_storage(request: Any, tmp_path: Any) -> ResultStorage:
    if request.param == "zarr-s3":
        options = request.getfixturevalue("s3_storage_options")
        bucket = request.getfixturevalue("s3_bucket")
        storage = storage_factory({"kind": "s3", "options": {"bucket": bucket, "storage_options": options}})
    else:
        storage = storage_factory({"kind": "file", "options": {"path": str(tmp_path / "store")}})
    storage.register_persistent_serializers(
        ZarrOnFiles if request.param == "zarr-files" else DaskArraySerializer
    )
    return storage


def test_overwrite_and_removal_keep_loaded_arrays_until_collected(lazy_storage: ResultStorage) -> None:
    old = np.arange(1, 41, dtype="f8")  # no zeros in it: zeros read back would show
    lazy_storage.save("r", {"x": da.from_array(old, chunks=10)})
    loaded = lazy_storage.load("r")["x"]
    lazy_storage.save("r", {"x": da.full(40, 7.0, chunks=10)})  # overwritten while `loaded` is in use
    np.testing.assert_array_equal(loaded.compute(), old)
    np.testing.assert_array_equal(lazy_storage.load("r")["x"].compute(), np.full(40, 7.0))
    newer = lazy_storage.load("r")["x"]
    lazy_storage.remove("r")  # removed while `newer` is in use
    np.testing.assert_array_equal(newer.compute(), np.full(40, 7.0))
    assert lazy_storage.collect_garbage(older_than=3600) == []  # both still within the retention time
    removed = lazy_storage.collect_garbage(older_than=0)
    assert sum(key.startswith("garbage/") for key in removed) == 2
    assert not lazy_storage._keys("garbage") and not lazy_storage._keys("pickles")
    for gone in (loaded, newer):
        with pytest.raises(ZarrBridgeError):  # a clear error, never fill values
            gone.compute()


@pytest.fixture(params=["files", "s3"])
def zarr_storage(request: Any, tmp_path: Any) -> ResultStorage:
    if request.param == "s3":
        options = request.getfixturevalue("s3_storage_options")
        bucket = request.getfixturevalue("s3_bucket")
        storage = storage_factory({"kind": "s3", "options": {"bucket": bucket, "storage_options": options}})
    else:
        storage = storage_factory({"kind": "file", "options": {"path": str(tmp_path / "store")}})
    storage.register_persistent_serializers(ZarrOnFiles)
    return storage


def test_missing_chunk_of_a_zarr_result_is_an_error(zarr_storage: ResultStorage) -> None:
    zarr_storage.save("r", {"x": da.zeros(30, chunks=10)})  # all fill values: every chunk stored all the same
    (_, (_, _, protocol, name)), *_ = _manifest(zarr_storage, "r")["arrays"]
    if protocol == S3_PROTOCOL:
        p = zarr_storage.protocols[S3_PROTOCOL]
        p["client"].rm_file(f"{p['folder']}/{name}/c/1")
    else:
        os.remove(os.path.join(zarr_storage.protocols[FILE_PROTOCOL].root, name, "c", "1"))
    with pytest.raises(MissingChunkError, match="c/1"):
        zarr_storage.load("r")["x"].compute()


def test_garbage_of_an_unregistered_serializer_waits_for_it(tmp_path: Any) -> None:
    root = str(tmp_path / "store")
    writer = storage_factory({"kind": "file", "options": {"path": root}})
    writer.register_persistent_serializers(DaskArraySerializer)
    writer.save("r", {"x": da.ones(3)})
    writer.remove("r")
    reader = storage_factory({"kind": "file", "options": {"path": root}})  # no serializer registered
    assert reader.collect_garbage(older_than=0) == []  # nothing it cannot remove properly, and no error
    assert len(os.listdir(os.path.join(root, "arrays"))) == 1
    removed = writer.collect_garbage(older_than=0)
    assert any(key.startswith("arrays/") for key in removed)
    assert os.listdir(os.path.join(root, "arrays")) == [] and writer._keys("garbage") == []
