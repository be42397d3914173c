"""The dask-array serializers, each through the conformance suite: HDF5 and Zarr on files, Zarr on S3."""

from __future__ import annotations

import json
import posixpath
from typing import Any

import dask.array as da
import h5py
import numcodecs
import numpy as np
import pytest
import zarr
from ser_conformance import SerializerTests, inner

from zarrbridge.core import ArrayPolicy
from zarrbridge.errors import InvalidOptionError
from zarrbridge.serializers import (
    FILE_PROTOCOL,
    S3_PROTOCOL,
    DaskArraySerializer,
    DaskHDF5Serializer,
    DaskZarrSerializer,
    HDF5Options,
)


class HDF5Hooks:
    def path(self, protocols: dict[str, Any], pid: Any) -> str:
        return str(protocols[FILE_PROTOCOL].local_path(inner(pid)[3]))

    def corrupt(self, protocols: dict[str, Any], pid: Any) -> None:
        with open(self.path(protocols, pid), "r+b") as f:
            f.write(b"not an HDF5 file at all")

    def set_stored_version(self, protocols: dict[str, Any], pid: Any, version: int) -> None:
        with h5py.File(self.path(protocols, pid), "r+") as h5:
            h5["data"].attrs["zarrbridge_format_version"] = version

    def fake_crash(self, protocols: dict[str, Any], pid: Any) -> None:
        protocols[FILE_PROTOCOL].rename(inner(pid)[3], inner(pid)[3] + ".partial")


class ZarrHooks:
    def store_key(self, protocols: dict[str, Any], pid: Any, key: str) -> tuple[Any, str]:
        if inner(pid)[2] == S3_PROTOCOL:
            p = protocols[S3_PROTOCOL]
            return p["client"], posixpath.join(p["folder"], inner(pid)[3], key)
        import fsspec

        return fsspec.filesystem("file"), protocols[FILE_PROTOCOL].local_path(inner(pid)[3]) + "/" + key

    def corrupt(self, protocols: dict[str, Any], pid: Any) -> None:
        fs, path = self.store_key(protocols, pid, "zarr.json")
        fs.pipe_file(path, b"{ not json")

    def set_stored_version(self, protocols: dict[str, Any], pid: Any, version: int) -> None:
        fs, path = self.store_key(protocols, pid, "zarrbridge.json")
        doc = json.loads(fs.cat_file(path))
        fs.pipe_file(path, json.dumps({**doc, "format_version": version}).encode())

    def fake_crash(self, protocols: dict[str, Any], pid: Any) -> None:
        fs, path = self.store_key(protocols, pid, "zarrbridge.json")
        fs.rm_file(path)


class TestHDF5OnFiles(HDF5Hooks, SerializerTests):
    serializer = DaskHDF5Serializer

    @pytest.fixture()
    def protocols(self, file_protocols: dict[str, Any]) -> dict[str, Any]:
        return file_protocols

    def test_hdf5_chunks_are_the_dask_chunks(self, protocols: dict[str, Any]) -> None:
        pid = self.serializer.pickle(da.ones((20, 9), chunks=(7, 4)), protocols)
        with h5py.File(self.path(protocols, pid), "r") as h5:
            assert h5["data"].chunks == (7, 4)


class TestZarrOnFiles(ZarrHooks, SerializerTests):
    serializer = DaskZarrSerializer

    @pytest.fixture()
    def protocols(self, file_protocols: dict[str, Any]) -> dict[str, Any]:
        return file_protocols


@pytest.mark.s3
class TestZarrOnS3(ZarrHooks, SerializerTests):
    serializer = DaskZarrSerializer

    @pytest.fixture()
    def protocols(self, s3_protocols: dict[str, Any]) -> dict[str, Any]:
        return s3_protocols


class TestDispatchOnFiles(HDF5Hooks, SerializerTests):
    """DaskArraySerializer on files: HDF5 by default."""

    serializer = DaskArraySerializer

    @pytest.fixture()
    def protocols(self, file_protocols: dict[str, Any]) -> dict[str, Any]:
        return file_protocols

    def test_writes_hdf5(self, protocols: dict[str, Any]) -> None:
        assert inner(DaskArraySerializer.pickle(da.ones(3), protocols))[0] == DaskHDF5Serializer.format_name


@pytest.mark.s3
class TestDispatchOnS3(ZarrHooks, SerializerTests):
    """DaskArraySerializer on S3: Zarr."""

    serializer = DaskArraySerializer

    @pytest.fixture()
    def protocols(self, s3_protocols: dict[str, Any]) -> dict[str, Any]:
        return s3_protocols

    def test_writes_zarr(self, protocols: dict[str, Any]) -> None:
        assert inner(DaskArraySerializer.pickle(da.ones(3), protocols))[0] == DaskZarrSerializer.format_name


class BloscZarr(DaskZarrSerializer):
    policy = ArrayPolicy(compressors=(numcodecs.Blosc(cname="lz4", clevel=3),))


class ZarrEverywhere(DaskArraySerializer):
    formats = {FILE_PROTOCOL: BloscZarr, S3_PROTOCOL: BloscZarr}


class TestConfiguredZarrOnFiles(ZarrHooks, SerializerTests):
    """A per-protocol format choice (Zarr on local files) with compression options."""

    serializer = ZarrEverywhere

    @pytest.fixture()
    def protocols(self, file_protocols: dict[str, Any]) -> dict[str, Any]:
        return file_protocols

    def test_format_and_compressor(self, protocols: dict[str, Any]) -> None:
        pid = ZarrEverywhere.pickle(da.ones(3), protocols)
        assert inner(pid)[0] == DaskZarrSerializer.format_name
        arr = zarr.open_array(protocols[FILE_PROTOCOL].local_path(inner(pid)[3]), mode="r")
        assert "blosc" in type(arr.compressors[0]).__name__.lower()

    def test_default_serializer_reads_it(self, protocols: dict[str, Any]) -> None:
        pid = ZarrEverywhere.pickle(da.arange(4), protocols)
        np.testing.assert_array_equal(DaskArraySerializer.unpickle(pid, protocols).compute(), np.arange(4))


class GzipHDF5(DaskHDF5Serializer):
    options = HDF5Options(compression="gzip", compression_opts=4, shuffle=True)


def test_hdf5_compression_options(file_protocols: dict[str, Any]) -> None:
    x = da.zeros((1000,), chunks=100)
    pid = GzipHDF5.pickle(x, file_protocols)
    with h5py.File(file_protocols[FILE_PROTOCOL].local_path(inner(pid)[3]), "r") as h5:
        assert h5["data"].compression == "gzip" and h5["data"].shuffle
    assert float(GzipHDF5.unpickle(pid, file_protocols).sum().compute()) == 0.0


@pytest.mark.parametrize(
    "bad", [{"compression": "zip"}, {"compression": "lzf", "compression_opts": 3}, {"compression_opts": 11}]
)
def test_hdf5_options_validated(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidOptionError):
        HDF5Options.from_dict(bad)


def test_hdf5_options_round_trip() -> None:
    opts = HDF5Options(compression="gzip", compression_opts=2)
    assert HDF5Options.from_dict(opts.to_dict()) == opts
    with pytest.raises(InvalidOptionError, match="unknown"):
        HDF5Options.from_dict({"level": 1})


def test_hdf5_cannot_write_to_s3(s3_protocols: dict[str, Any]) -> None:
    class HDF5Everywhere(DaskArraySerializer):
        formats = {FILE_PROTOCOL: DaskHDF5Serializer, S3_PROTOCOL: DaskHDF5Serializer}

    with pytest.raises(InvalidOptionError, match="'file_protocol' protocol"):
        HDF5Everywhere.pickle(da.ones(3), s3_protocols)


def test_unknown_format_in_id(file_protocols: dict[str, Any]) -> None:
    from zarrbridge.errors import CorruptMetadataError

    with pytest.raises(CorruptMetadataError, match="no array format"):
        DaskArraySerializer.unpickle(("zarrbridge.parquet", 1, "file", "x"), file_protocols)


class OpenOnlyFiles:
    """A file protocol with only the seed's interface (open) plus remove/rename/exists: no local paths."""

    def __init__(self, root: str) -> None:
        from zarrbridge.serializers import LocalFiles

        self._inner = LocalFiles(root)
        self.root = self._inner.root

    def open(self, name: str, mode: str) -> Any:
        return self._inner.open(name, mode)

    def remove(self, name: str) -> None:
        self._inner.remove(name)

    def rename(self, source: str, target: str) -> None:
        self._inner.rename(source, target)

    def exists(self, name: str) -> bool:
        return self._inner.exists(name)

    def local_path_for_tests(self, name: str) -> str:
        return self._inner.local_path(name)


class TestHDF5ThroughOpen(HDF5Hooks, SerializerTests):
    """HDF5 written and read through the protocol's open() only, as the seed's file protocol describes."""

    serializer = DaskHDF5Serializer

    @pytest.fixture()
    def protocols(self, tmp_path: Any) -> dict[str, Any]:
        return {FILE_PROTOCOL: OpenOnlyFiles(str(tmp_path / "arrays"))}

    def path(self, protocols: dict[str, Any], pid: Any) -> str:
        return str(protocols[FILE_PROTOCOL].local_path_for_tests(inner(pid)[3]))

    def test_is_the_plain_protocol(self, protocols: dict[str, Any]) -> None:
        from zarrbridge.serializers.protocols import DirectoryCapable, FileProtocol

        assert isinstance(protocols[FILE_PROTOCOL], FileProtocol)
        assert not isinstance(protocols[FILE_PROTOCOL], DirectoryCapable)

    def test_zarr_needs_directories(self, protocols: dict[str, Any]) -> None:
        import dask.array as da

        with pytest.raises(InvalidOptionError, match="choose the HDF5 format"):
            DaskZarrSerializer.pickle(da.ones(3), protocols)
