"""Fixtures of the serializer tests: protocols on local files and on the moto S3 server,
a real LocalCluster."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from zarrbridge.serializers import FILE_PROTOCOL, S3_PROTOCOL, LocalFiles


@pytest.fixture()
def file_protocols(tmp_path: Any) -> dict[str, Any]:
    return {FILE_PROTOCOL: LocalFiles(str(tmp_path / "arrays"))}


@pytest.fixture()
def s3_protocols(s3_storage_options: dict[str, Any], s3_bucket: str) -> dict[str, Any]:
    import s3fs

    client = s3fs.S3FileSystem(**s3_storage_options)
    return {S3_PROTOCOL: {"client": client, "folder": f"{s3_bucket}/arrays"}}


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    """A real distributed cluster: two in-process workers of one thread each (fast to start)."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        with Client(cluster, set_as_default=False) as client:
            yield client
