"""Conformance suite every result storage passes, written once and subclassed per storage kind."""

from __future__ import annotations

import datetime
import json
from typing import Any

import dask.array as da
import numpy as np
import pytest
from ser_conformance import Boom, failing_array

from zarrbridge.errors import (
    BrokenLinkError,
    CorruptMetadataError,
    InvalidOptionError,
    ResultNotFoundError,
    UnsafeNameError,
    UnsafePickleError,
    UnsupportedFormatVersionError,
)
from zarrbridge.serializers import DaskArraySerializer, NumpyArraySerializer, ResultStorage


class Opaque:
    """A class a restricted load must refuse to build."""

    def __init__(self, value: int) -> None:
        self.value = value


class TaggedArray(da.Array):
    """A dask array subclass: registered serializers match subclasses."""


class StorageTests:
    """What every result storage must do; a subclass provides the ``storage`` fixture and ``array_files``."""

    @pytest.fixture()
    def storage(self) -> ResultStorage:
        raise NotImplementedError

    def array_files(self, storage: ResultStorage) -> list[str]:
        raise NotImplementedError

    def raw_put(self, storage: ResultStorage, key: str, data: bytes) -> None:
        storage._put(key, data)

    def raw_delete(self, storage: ResultStorage, key: str) -> None:
        storage._delete(key)

    @pytest.fixture()
    def ready(self, storage: ResultStorage) -> ResultStorage:
        storage.register_persistent_serializers(DaskArraySerializer, NumpyArraySerializer)
        return storage

    # round trips ---------------------------------------------------------------------------------------
    def test_save_and_load(self, ready: ResultStorage) -> None:
        x = da.random.default_rng(0).random((40, 5), chunks=(10, 5))
        big = np.arange(300_000, dtype="f8")
        when = datetime.datetime(2024, 5, 6, tzinfo=datetime.UTC)
        ready.save("run/step-1", {"x": x, "big": big, "small": np.arange(3), "meta": ("a", 1, when)})
        got = ready.load("run/step-1")
        assert isinstance(got["x"], da.Array) and got["x"].name.startswith("zarrbridge-")
        np.testing.assert_array_equal(got["x"].compute(), x.compute())
        assert type(got["big"]) is np.ndarray
        np.testing.assert_array_equal(got["big"], big)
        np.testing.assert_array_equal(got["small"], np.arange(3))
        assert got["meta"] == ("a", 1, when)
        assert len(self.array_files(ready)) >= 2  # x and big left the pickle
        assert ready.names() == ["run/step-1"] and "run/step-1" in ready and ready.exists("run/step-1")

    def test_same_array_twice_is_stored_once(self, ready: ResultStorage) -> None:
        x = da.ones(10, chunks=5)
        ready.save("twice", [x, x])
        got = ready.load("twice")
        manifest = json.loads(ready._get("results/twice.json"))
        assert len(manifest["arrays"]) == 1
        assert got[0].name == got[1].name

    def test_subclasses_are_matched(self, ready: ResultStorage) -> None:
        x = da.arange(6, chunks=3)
        tagged = TaggedArray(x.dask, x.name, x.chunks, meta=x._meta)
        ready.save("tagged", tagged)
        assert len(json.loads(ready._get("results/tagged.json"))["arrays"]) == 1
        np.testing.assert_array_equal(ready.load("tagged").compute(), np.arange(6))

    def test_numpy_subclasses_with_state_stay_in_the_pickle(self, ready: ResultStorage) -> None:
        masked = np.ma.masked_array(np.arange(300_000.0), mask=np.arange(300_000) % 2 == 0)
        ready.save("masked", masked)
        assert json.loads(ready._get("results/masked.json"))["arrays"] == []
        got = ready.load("masked")
        assert isinstance(got, np.ma.MaskedArray) and bool(got.mask[0]) and not bool(got.mask[1])

    # replace and remove --------------------------------------------------------------------------------
    def test_overwrite_keeps_old_array_files_until_collected(self, ready: ResultStorage) -> None:
        ready.save("r", da.zeros(10, chunks=5))
        first = self.array_files(ready)
        ready.save("r", da.ones(10, chunks=5))
        assert float(ready.load("r").sum().compute()) == 10.0
        assert first and set(first) <= set(self.array_files(ready))  # retained for readers still using them
        assert ready.collect_garbage() == []  # unreachable for less than an hour
        removed = ready.collect_garbage(older_than=0)
        assert {f"arrays/{f}" for f in first} <= set(removed)
        second = self.array_files(ready)
        assert second and not set(first) & set(second)
        assert float(ready.load("r").sum().compute()) == 10.0

    def test_remove(self, ready: ResultStorage) -> None:
        ready.save("gone", {"a": da.ones(4, chunks=2)})
        ready.remove("gone")
        assert ready.names() == [] and "gone" not in ready
        assert ready.collect_garbage(older_than=0)
        assert self.array_files(ready) == [] and ready._keys("pickles") == [] and ready._keys("garbage") == []
        with pytest.raises(ResultNotFoundError, match="'gone'"):
            ready.remove("gone")

    def test_interrupted_save_keeps_previous_result(self, ready: ResultStorage) -> None:
        ready.save("r", {"x": da.arange(5, chunks=5)})
        files = self.array_files(ready)
        with pytest.raises(Boom) as info:
            ready.save("r", {"ok": da.ones(3), "x": failing_array()})
        assert any("previous version is unchanged" in note for note in info.value.__notes__)
        assert self.array_files(ready) == files  # the arrays written before the failure were removed
        assert len(ready._keys("pickles")) == 1
        np.testing.assert_array_equal(ready.load("r")["x"].compute(), np.arange(5))

    def test_crash_before_manifest_keeps_previous_result(self, ready: ResultStorage) -> None:
        ready.save("r", 1)
        # a save that died after writing its pickle but before publishing its manifest
        self.raw_put(ready, "pickles/orphan.pkl", b"\x80\x05K\x02.")
        assert ready.load("r") == 1

    # restricted loading -----------------------------------------------------------------------------------
    def test_restricted_load_of_plain_data_and_arrays(self, ready: ResultStorage) -> None:
        ready.save("plain", {"x": da.ones(4, chunks=2), "n": np.float32(2), "l": [1, 2.5, None, b"b"]})
        got = ready.load("plain", restricted=True)
        assert float(got["x"].sum().compute()) == 4.0 and got["n"] == np.float32(2)
        assert got["l"] == [1, 2.5, None, b"b"]

    def test_restricted_load_refuses_other_classes(self, ready: ResultStorage) -> None:
        ready.save("opaque", Opaque(3))
        with pytest.raises(UnsafePickleError, match="Opaque"):
            ready.load("opaque", restricted=True)
        assert ready.load("opaque", restricted=True, allowed=frozenset({(__name__, "Opaque")})).value == 3
        assert ready.load("opaque").value == 3

    # errors ----------------------------------------------------------------------------------------------
    def test_missing_result(self, ready: ResultStorage) -> None:
        with pytest.raises(ResultNotFoundError, match="storage.names"):
            ready.load("nope")
        assert isinstance(ResultNotFoundError("x", "y"), KeyError)
        with pytest.raises(FileNotFoundError):  # how Function Fuse's workflows learn a step must run
            ready.load("nope")

    @pytest.mark.parametrize(
        "name", ["", "/abs", "a//b", "../up", "x/../y", ".hidden", "a\x00b", "a\\b", 7, None]
    )
    def test_bad_names(self, ready: ResultStorage, name: Any) -> None:
        with pytest.raises(UnsafeNameError, match="result name"):
            ready.save(name, 1)

    def test_corrupt_manifest(self, ready: ResultStorage) -> None:
        ready.save("r", 1)
        self.raw_put(ready, "results/r.json", b"{ broken")
        with pytest.raises(CorruptMetadataError, match="results/r.json"):
            ready.load("r")
        self.raw_put(ready, "results/r.json", json.dumps({"format": "other"}).encode())
        with pytest.raises(CorruptMetadataError, match="manifest"):
            ready.load("r")
        ready.save("r", 2)  # a damaged result can be replaced
        assert ready.load("r") == 2

    def test_unknown_manifest_version(self, ready: ResultStorage) -> None:
        ready.save("r", 1)
        manifest = json.loads(ready._get("results/r.json"))
        self.raw_put(ready, "results/r.json", json.dumps({**manifest, "format_version": 7}).encode())
        with pytest.raises(UnsupportedFormatVersionError, match="7"):
            ready.load("r")

    def test_corrupt_pickle(self, ready: ResultStorage) -> None:
        ready.save("r", [1, 2])
        manifest = json.loads(ready._get("results/r.json"))
        self.raw_put(ready, manifest["pickle"], b"\x80\x05garbage")
        with pytest.raises(CorruptMetadataError, match="not a valid pickle"):
            ready.load("r")
        with pytest.raises(CorruptMetadataError, match="not a valid pickle"):
            ready.load("r", restricted=True)

    def test_missing_pickle(self, ready: ResultStorage) -> None:
        ready.save("r", [1, 2])
        self.raw_delete(ready, json.loads(ready._get("results/r.json"))["pickle"])
        with pytest.raises(BrokenLinkError):
            ready.load("r")

    def test_missing_array_files(self, ready: ResultStorage) -> None:
        ready.save("r", da.ones(3))
        pid = json.loads(ready._get("results/r.json"))["arrays"][0]
        DaskArraySerializer.remove(tuple(pid[1]), ready.protocols)
        with pytest.raises(BrokenLinkError, match="save the result again"):
            ready.load("r")

    def test_unregistered_serializer_on_load(self, ready: ResultStorage, storage_factory_args: Any) -> None:
        ready.save("r", da.ones(3))
        fresh = storage_factory_args()
        with pytest.raises(InvalidOptionError, match="register_persistent_serializers"):
            fresh.load("r")

    def test_registration_checks(self, storage: ResultStorage) -> None:
        class Other(DaskArraySerializer):
            pass

        storage.register_persistent_serializers(DaskArraySerializer, DaskArraySerializer)
        assert storage.serializers == (DaskArraySerializer,)
        with pytest.raises(InvalidOptionError, match="DaskArraySerializer and .*Other"):
            storage.register_persistent_serializers(Other)
        with pytest.raises(InvalidOptionError, match="serializer_class, name, pickle, unpickle and remove"):
            storage.register_persistent_serializers(DaskArraySerializer())  # type: ignore[arg-type]

    def test_object_dask_array_fails_cleanly(self, ready: ResultStorage) -> None:
        from zarrbridge.errors import UnsupportedDtypeError

        bad = da.from_array(np.array([None, 1], dtype=object), chunks=1)
        with pytest.raises(UnsupportedDtypeError, match="object"):
            ready.save("r", {"ok": da.ones(3), "bad": bad})
        assert self.array_files(ready) == [] and ready.names() == []

    def test_collect_garbage(self, ready: ResultStorage) -> None:
        ready.save("r", {"x": da.arange(4, chunks=2), "big": np.ones(300_000)})
        kept = self.array_files(ready)
        self.raw_put(ready, "pickles/orphan.pkl", b"\x80\x05K\x02.")  # a save that crashed before publishing
        DaskArraySerializer.pickle(da.ones(3), ready.protocols)  # array files no result refers to
        assert ready.collect_garbage() == []  # too recent: could be a save still running
        removed = ready.collect_garbage(older_than=0)
        assert "pickles/orphan.pkl" in removed and len(removed) == 2
        assert self.array_files(ready) == kept
        np.testing.assert_array_equal(ready.load("r")["x"].compute(), np.arange(4))
        with pytest.raises(InvalidOptionError, match="older_than"):
            ready.collect_garbage(older_than=-1)
