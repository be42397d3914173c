"""The result storages through the storage conformance suite, and ``storage_factory``."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from ser_storage_conformance import StorageTests

from zarrbridge import FILE_PROTOCOL, S3_PROTOCOL, storage_factory
from zarrbridge.errors import InvalidOptionError
from zarrbridge.serializers import (
    DaskArraySerializer,
    DaskZarrSerializer,
    FileStorage,
    FileStorageOptions,
    ResultStorage,
    S3Storage,
    S3StorageOptions,
)


class TestFileStorage(StorageTests):
    @pytest.fixture()
    def storage_factory_args(self, tmp_path: Any) -> Callable[[], ResultStorage]:
        return lambda: storage_factory({"kind": "file", "options": {"path": str(tmp_path / "store")}})

    @pytest.fixture()
    def storage(self, storage_factory_args: Callable[[], ResultStorage]) -> ResultStorage:
        return storage_factory_args()

    def array_files(self, storage: ResultStorage) -> list[str]:
        root = storage.protocols[FILE_PROTOCOL].root
        if not os.path.isdir(root):
            return []
        return sorted(os.listdir(root))

    def test_no_temporary_files_left(self, ready: ResultStorage) -> None:
        ready.save("r", [1])
        ready.save("r", [2])
        leftovers = [f for _, _, files in os.walk(ready.location) for f in files if f.startswith(".tmp-")]
        assert leftovers == []


class ZarrOnFiles(DaskArraySerializer):
    formats = {FILE_PROTOCOL: DaskZarrSerializer, S3_PROTOCOL: DaskZarrSerializer}


class TestFileStorageWithZarr(TestFileStorage):
    """The same storage, with the Zarr format chosen for local files."""

    @pytest.fixture()
    def ready(self, storage: ResultStorage) -> ResultStorage:
        from zarrbridge.serializers import NumpyArraySerializer

        class ZarrNumpy(NumpyArraySerializer):
            dask_serializer = ZarrOnFiles

        storage.register_persistent_serializers(ZarrOnFiles, ZarrNumpy)
        return storage

    def test_arrays_are_zarr(self, ready: ResultStorage) -> None:
        import dask.array as da

        ready.save("z", da.ones(3))
        assert [f.endswith(".zarr") for f in self.array_files(ready)] == [True]


@pytest.mark.s3
class TestS3Storage(StorageTests):
    @pytest.fixture()
    def storage_factory_args(
        self, s3_storage_options: dict[str, Any], s3_bucket: str
    ) -> Callable[[], ResultStorage]:
        spec = {
            "kind": "s3",
            "options": {"bucket": s3_bucket, "prefix": "runs/a", "storage_options": s3_storage_options},
        }
        return lambda: storage_factory(spec)

    @pytest.fixture()
    def storage(self, storage_factory_args: Callable[[], ResultStorage]) -> ResultStorage:
        return storage_factory_args()

    def array_files(self, storage: ResultStorage) -> list[str]:
        assert isinstance(storage, S3Storage)
        folder = storage.protocols[S3_PROTOCOL]["folder"]
        storage.client.invalidate_cache()
        if not storage.client.exists(folder):
            return []
        return sorted(p.rsplit("/", 1)[-1] for p in storage.client.ls(folder, detail=False))

    def test_location_and_layout(self, ready: ResultStorage, s3_bucket: str) -> None:
        import dask.array as da

        ready.save("r", da.ones(3))
        assert ready.location == f"s3://{s3_bucket}/runs/a"
        assert [f.endswith(".zarr") for f in self.array_files(ready)] == [True]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"kind": "ftp", "options": {}}, "kind"),
        ({"kind": "file"}, "path"),
        ({"kind": "file", "options": {"path": ""}}, "path"),
        ({"kind": "file", "options": {"path": "/x", "bucket": "b"}}, "unknown"),
        ({"kind": "s3", "options": {"prefix": "p"}}, "bucket"),
        ({"kind": "s3", "options": {"bucket": "a/b"}}, "bucket"),
        ({"kind": "s3", "options": {"bucket": "b", "storage_options": 3}}, "storage_options"),
        ({"kind": "file", "options": {"path": "/x"}, "extra": 1}, "unknown"),
        ("file", "dict"),
    ],
)
def test_factory_rejects_bad_options(spec: Any, match: str) -> None:
    with pytest.raises(InvalidOptionError, match=match):
        storage_factory(spec)


def test_options_round_trip(tmp_path: Any) -> None:
    opts = FileStorageOptions(str(tmp_path))
    assert FileStorageOptions.from_dict(opts.to_dict()) == opts
    s3 = S3StorageOptions("b", "/p/q/", {"anon": True})
    assert s3.prefix == "p/q" and s3.root == "b/p/q"
    assert S3StorageOptions.from_dict(s3.to_dict()) == s3
    with pytest.raises(InvalidOptionError, match="FileStorageOptions"):
        FileStorage({"path": str(tmp_path)})  # type: ignore[arg-type]
