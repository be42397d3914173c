"""The protocols a storage hands its serializers, and how a serializer picks one."""

from __future__ import annotations

import os
from typing import Any

import dask.array as da
import numpy as np
import pytest

from zarrbridge.core.names import check_relative_path
from zarrbridge.errors import InvalidOptionError, UnsafeNameError
from zarrbridge.serializers import (
    FILE_PROTOCOL,
    S3_PROTOCOL,
    DaskArraySerializer,
    DaskHDF5Serializer,
    DaskZarrSerializer,
    LocalFiles,
)
from zarrbridge.serializers.protocols import ARRAY_NAME, s3_folder


@pytest.mark.parametrize(
    "protocol",
    [
        {"folder": "b/p"},
        {"client": object()},
        {"client": object(), "folder": "/"},
        {"client": object(), "folder": 3},
        "s3://b/p",
    ],
    ids=["no-client", "no-folder", "empty-folder", "folder-not-str", "not-a-dict"],
)
def test_malformed_s3_protocol(protocol: Any) -> None:
    with pytest.raises(InvalidOptionError, match="bucket/prefix"):
        s3_folder(protocol)
    with pytest.raises(InvalidOptionError, match="bucket/prefix"):
        DaskZarrSerializer.pickle(da.ones(3), {S3_PROTOCOL: protocol})


@pytest.mark.parametrize("serializer", [DaskArraySerializer, DaskHDF5Serializer, DaskZarrSerializer])
def test_protocols_must_be_a_dict(serializer: type[DaskArraySerializer], tmp_path: Any) -> None:
    with pytest.raises(InvalidOptionError, match="protocols must be a dict"):
        serializer.pickle(da.ones(3), [LocalFiles(str(tmp_path))])  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", "/abs", "a/../b", "a//b", "./a", "a\\b", 7, None])
def test_names_cannot_escape_the_root(name: Any, tmp_path: Any) -> None:
    with pytest.raises(UnsafeNameError, match="array file name"):
        check_relative_path(name, what=ARRAY_NAME)
    with pytest.raises(UnsafeNameError):
        LocalFiles(str(tmp_path)).open(name, "rb")


def test_local_files(tmp_path: Any) -> None:
    files = LocalFiles(str(tmp_path / "root"))
    with pytest.raises(InvalidOptionError, match="binary"):
        files.open("a.txt", "w")
    with files.open("d/a.bin", "wb") as f:  # parent folders are created
        f.write(b"1")
    with files.open("d/b.bin", "wb") as f:
        f.write(b"2")
    files.rename("d/b.bin", "d/a.bin")  # replaces the target
    with files.open("d/a.bin", "rb") as f:
        assert f.read() == b"2"
    assert not files.exists("d/b.bin")
    files.remove("d")  # folders too
    files.remove("d")  # and a missing name is fine
    assert not files.exists("d") and os.path.isdir(files.root)
    with pytest.raises(InvalidOptionError, match="path"):
        LocalFiles(3)  # type: ignore[arg-type]


def test_storage_with_both_protocols_follows_protocol_order(
    tmp_path: Any, s3_protocols: dict[str, Any]
) -> None:
    both = {FILE_PROTOCOL: LocalFiles(str(tmp_path)), **s3_protocols}
    pid = DaskArraySerializer.pickle(da.arange(4), both)
    assert pid[1][:3] == (DaskZarrSerializer.format_name, 1, S3_PROTOCOL)  # S3 first by default

    class FilesFirst(DaskArraySerializer):
        protocol_order = (FILE_PROTOCOL, S3_PROTOCOL)

    pid = FilesFirst.pickle(da.arange(4), both)
    assert pid[1][:3] == (DaskHDF5Serializer.format_name, 1, FILE_PROTOCOL)
    np.testing.assert_array_equal(DaskArraySerializer.unpickle(pid, both).compute(), np.arange(4))


def test_format_missing_for_the_offered_protocol(tmp_path: Any) -> None:
    class S3Only(DaskArraySerializer):
        formats = {S3_PROTOCOL: DaskZarrSerializer}

    with pytest.raises(InvalidOptionError, match="no format for the 'file_protocol' protocol"):
        S3Only.pickle(da.ones(3), {FILE_PROTOCOL: LocalFiles(str(tmp_path))})
    with pytest.raises(InvalidOptionError, match="needs one of the protocols"):
        DaskArraySerializer.pickle(da.ones(3), {"ftp": object()})


def test_array_written_through_a_protocol_the_storage_lacks(
    tmp_path: Any, s3_protocols: dict[str, Any]
) -> None:
    pid = DaskArraySerializer.pickle(da.ones(3), s3_protocols)
    with pytest.raises(InvalidOptionError, match="'s3 protocol' protocol, which the storage does not offer"):
        DaskArraySerializer.unpickle(pid, {FILE_PROTOCOL: LocalFiles(str(tmp_path))})
