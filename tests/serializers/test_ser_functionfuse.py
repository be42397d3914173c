"""Function Fuse as a real client: zarrbridge's serializers on its storages, its serializers on zarrbridge's.

The Function Fuse side is :mod:`functionfuse_contract`, written from its documented contract (it is not on
PyPI, and its code is not copied).
"""

from __future__ import annotations

import io
import os
import posixpath
import uuid
from typing import Any, ClassVar

import dask.array as da
import h5py
import numpy as np
import pytest
from functionfuse_contract import (
    FF_FILE_PROTOCOL,
    FF_S3_PROTOCOL,
    ContractFileStorage,
    ContractS3Storage,
    ContractStorage,
    run_workflow,
)
from ser_conformance import CASES

from zarrbridge import storage_factory
from zarrbridge.errors import ResultNotFoundError
from zarrbridge.serializers import (
    FILE_PROTOCOL,
    S3_PROTOCOL,
    DaskArraySerializer,
    NumpyArraySerializer,
    ResultStorage,
)


def test_protocol_keys_are_function_fuses() -> None:
    assert (FILE_PROTOCOL, S3_PROTOCOL) == (FF_FILE_PROTOCOL, FF_S3_PROTOCOL)
    assert DaskArraySerializer.name == "dask-array" and NumpyArraySerializer.name == "numpy-array"


@pytest.fixture(params=["file", "s3"])
def ff_storage(request: Any, tmp_path: Any) -> ContractStorage:
    if request.param == "file":
        storage: ContractStorage = ContractFileStorage(str(tmp_path / "ff"))
    else:
        options = request.getfixturevalue("s3_storage_options")
        bucket = request.getfixturevalue("s3_bucket")
        storage = ContractS3Storage(f"{bucket}/ff", options)
    storage.register_persistent_serializers(DaskArraySerializer, NumpyArraySerializer)
    return storage


def test_zarrbridge_serializers_on_function_fuse_storages(ff_storage: Any) -> None:
    lazy = da.random.default_rng(2).random((60, 8), chunks=(16, 8))
    big = np.arange(200_000, dtype="f8")  # over NumpyArraySerializer.min_bytes: to an array file
    small = np.arange(5)  # under it: pickle() returns None and it stays in the pickle
    objects = np.array([{"a": 1}, None], dtype=object)  # never to an array file
    ff_storage.new_workflow("wf")
    ff_storage.save("wf", "step", {"lazy": lazy, "big": big, "small": small, "objects": objects, "n": 3})
    assert len(ff_storage.bigdata_files("wf")) >= 2  # the lazy and the big array went out of the pickle
    back = ff_storage.read_task("wf", "step")
    assert isinstance(back["lazy"], da.Array)
    np.testing.assert_array_equal(back["lazy"].compute(), lazy.compute())
    np.testing.assert_array_equal(back["big"], big)
    np.testing.assert_array_equal(back["small"], small)
    assert list(back["objects"]) == [{"a": 1}, None] and back["n"] == 3
    ff_storage.remove_task("wf", "step")
    assert ff_storage.bigdata_files("wf") == []  # remove(inner, protocols) removed every array file
    with pytest.raises(FileNotFoundError):
        ff_storage.read_task("wf", "step")


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_case_through_function_fuse_storages(ff_storage: Any, case: str) -> None:
    original = CASES[case]()
    ff_storage.new_workflow("wf")
    ff_storage.save("wf", "t", {"x": original, "eager": np.asarray(original.compute())})
    back = ff_storage.read_task("wf", "t")
    expected = original.compute()
    assert back["x"].dtype == expected.dtype and back["x"].shape == expected.shape
    np.testing.assert_array_equal(back["x"].compute(), expected)
    np.testing.assert_array_equal(back["eager"], expected)
    ff_storage.remove_task("wf", "t")
    assert ff_storage.bigdata_files("wf") == []


def test_workflow_on_function_fuse_storage_skips_saved_steps(ff_storage: Any) -> None:
    steps = {"load": lambda _: da.arange(100, chunks=30), "double": lambda x: x * 2}
    computed: list[str] = []
    first = run_workflow(ff_storage, "wf", steps, computed)
    again = run_workflow(ff_storage, "wf", steps, computed)
    assert computed == ["load", "double"]  # the second run read both steps
    np.testing.assert_array_equal(again["double"].compute(), first["double"].compute())


# -- Function Fuse's own serializers on zarrbridge's storages -----------------------------------------------
class SeedStyleSerializer:
    """A serializer with Function Fuse's duck-typed interface, written after the seed's description:
    HDF5 through the file protocol's ``open()``, a ``.npy`` object through the S3 client."""

    serializer_class: ClassVar[type] = da.Array
    name: ClassVar[str] = "HDFSerializer"
    datapath: ClassVar[str] = "dask_arrays"
    removed: ClassVar[list[str]] = []

    @classmethod
    def pickle(cls, obj: Any, protocols: dict[str, Any]) -> Any:
        filename = str(uuid.uuid4())
        if FF_FILE_PROTOCOL in protocols:
            f = protocols[FF_FILE_PROTOCOL].open(filename, "w+b")
            with h5py.File(f, mode="w") as hdf:
                hdf.create_dataset(cls.datapath, data=np.asarray(obj.compute()))
            f.close()
        else:
            s3 = protocols[FF_S3_PROTOCOL]
            with s3["client"].open(posixpath.join(s3["folder"], cls.datapath, filename), "wb") as f:
                np.save(f, np.asarray(obj.compute()))
        return cls.name, ("0.0.0", filename)

    @classmethod
    def unpickle(cls, pid: Any, protocols: dict[str, Any]) -> Any:
        _, filename = pid
        if FF_FILE_PROTOCOL in protocols:
            with protocols[FF_FILE_PROTOCOL].open(filename, "rb") as f, h5py.File(f, mode="r") as hdf:
                return da.from_array(hdf[cls.datapath][()])
        s3 = protocols[FF_S3_PROTOCOL]
        with s3["client"].open(posixpath.join(s3["folder"], cls.datapath, filename), "rb") as f:
            return da.from_array(np.load(io.BytesIO(f.read())))

    @classmethod
    def remove(cls, pid: Any, protocols: dict[str, Any]) -> None:
        _, filename = pid
        cls.removed.append(filename)
        if FF_FILE_PROTOCOL in protocols:
            protocols[FF_FILE_PROTOCOL].remove(filename)
        else:
            s3 = protocols[FF_S3_PROTOCOL]
            s3["client"].rm_file(posixpath.join(s3["folder"], cls.datapath, filename))


@pytest.fixture(params=["file", "s3"])
def zb_storage(request: Any, tmp_path: Any) -> ResultStorage:
    if request.param == "file":
        return storage_factory({"kind": "file", "options": {"path": str(tmp_path / "zb")}})
    options = request.getfixturevalue("s3_storage_options")
    bucket = request.getfixturevalue("s3_bucket")
    return storage_factory({"kind": "s3", "options": {"bucket": bucket, "storage_options": options}})


def _their_files(storage: ResultStorage) -> list[str]:
    if FILE_PROTOCOL in storage.protocols:
        root = storage.protocols[FILE_PROTOCOL].root
        return sorted(f for f in os.listdir(root) if "-" in f) if os.path.isdir(root) else []
    p = storage.protocols[S3_PROTOCOL]
    p["client"].invalidate_cache()
    return sorted(p["client"].find(posixpath.join(p["folder"], SeedStyleSerializer.datapath)))


def test_function_fuse_serializers_on_zarrbridge_storages(zb_storage: ResultStorage) -> None:
    zb_storage.register_persistent_serializers(SeedStyleSerializer, NumpyArraySerializer)
    x = da.arange(24, chunks=10).reshape(4, 6)
    zb_storage.save("wf/step", {"x": x, "big": np.ones(200_000)})
    assert len(_their_files(zb_storage)) == 1
    back = zb_storage.load("wf/step")
    np.testing.assert_array_equal(back["x"].compute(), x.compute())
    np.testing.assert_array_equal(back["big"], np.ones(200_000))
    assert zb_storage.collect_garbage(older_than=0) == []  # their files are never taken for leftovers
    zb_storage.remove("wf/step")
    SeedStyleSerializer.removed.clear()
    zb_storage.collect_garbage(older_than=0)
    assert len(SeedStyleSerializer.removed) == 1 and _their_files(zb_storage) == []  # their remove() ran


# -- what Function Fuse's workflows call, on zarrbridge's storages -------------------------------------------
def test_function_fuse_workflow_runs_on_zarrbridge_storage(zb_storage: ResultStorage) -> None:
    zb_storage.register_persistent_serializers(DaskArraySerializer, NumpyArraySerializer)
    steps = {
        "load_0000": lambda _: da.arange(100, chunks=30),
        "outer.<locals>.double_0001": lambda x: x * 2,  # Function Fuse names nodes by __qualname__
        "summary_0002": lambda x: {"total": int(x.sum().compute())},
    }
    computed: list[str] = []
    zb_storage.always_read = True
    first = run_workflow(zb_storage, "wf", steps, computed)
    assert first["summary_0002"] == {"total": 9900}
    assert computed == list(steps)
    again = run_workflow(zb_storage, "wf", steps, computed)
    assert computed == list(steps)  # nothing computed twice: every step was read back
    np.testing.assert_array_equal(again["outer.<locals>.double_0001"].compute(), np.arange(100) * 2)

    assert zb_storage.file_exists("wf", "load_0000") and not zb_storage.file_exists("wf", "nope")
    assert zb_storage.list_tasks("wf", "*_000[01]") == ["load_0000", "outer.<locals>.double_0001"]
    assert zb_storage.list_tasks("other", "*") == []
    zb_storage.remove_task("wf", pattern="load_*")
    assert zb_storage.list_tasks("wf", "*") == ["outer.<locals>.double_0001", "summary_0002"]
    zb_storage.remove_task("wf", "summary_0002")
    with pytest.raises(FileNotFoundError):
        zb_storage.remove_task("wf", "summary_0002")
    with pytest.raises(ResultNotFoundError):
        zb_storage.read_task("wf", "summary_0002")
    zb_storage.save("wf2", "kept", 1)
    zb_storage.remove_workflow("wf")
    zb_storage.remove_workflow("never-ran")
    assert zb_storage.names() == ["wf2/kept"]


def test_duck_typed_registration_says_what_is_missing(tmp_path: Any) -> None:
    from zarrbridge.errors import InvalidOptionError

    storage = storage_factory({"kind": "file", "options": {"path": str(tmp_path)}})

    class NoName:
        serializer_class = da.Array

        @classmethod
        def pickle(cls, obj: Any, protocols: Any) -> Any:
            return ("elsewhere", ("0", "x"))

        unpickle = remove = pickle

    with pytest.raises(InvalidOptionError, match=r"lacks name \(a str\)"):
        storage.register_persistent_serializers(NoName)
    NoName.name = "mine"  # type: ignore[attr-defined]
    storage.register_persistent_serializers(NoName)
    with pytest.raises(InvalidOptionError, match="name of a serializer registered on this storage"):
        storage.save("r", da.ones(3))  # its id names a serializer the storage could never read back
    assert storage.names() == []
