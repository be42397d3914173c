"""The codecs' failures are ``DataJointError`` too, in real inserts and fetches, and zarrbridge errors."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.djcodecs.conftest import Database, array_dirs, declare_recording, stored_files

dj = pytest.importorskip("datajoint")

from datajoint.errors import DataJointError, MissingExternalFile  # noqa: E402

from zarrbridge import errors  # noqa: E402
from zarrbridge.djcodecs import ZarrCodec, ZarrValue  # noqa: E402
from zarrbridge.djcodecs import errors as dj_errors  # noqa: E402

pytestmark = pytest.mark.db


@pytest.fixture()
def recording(postgres: Database, store_dir: Path, make_schema: Any) -> Any:
    inst = postgres.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    return declare_recording(make_schema(inst))


@pytest.mark.parametrize(
    "value, zarrbridge_class",
    [
        (np.array(["a", "b"]), errors.UnsupportedDtypeError),
        ("not an array", errors.UnsupportedValueTypeError),
        (np.zeros((0, 3), dtype=object), errors.UnsupportedDtypeError),
    ],
)
def test_insert_failures_are_caught_as_datajoint_errors(
    recording: Any, store_dir: Path, value: Any, zarrbridge_class: type[Exception]
) -> None:
    caught: BaseException | None = None
    try:
        recording.insert1({"recording_id": 1, "waveform": value})
    except DataJointError as exc:  # what DataJoint users write around an insert
        caught = exc
    assert isinstance(caught, zarrbridge_class) and isinstance(caught, errors.ZarrBridgeError)
    assert type(caught).__module__ == "zarrbridge.djcodecs.errors"
    assert len(recording()) == 0 and stored_files(store_dir) == []


def test_options_errors_keep_their_message_and_builtin() -> None:
    with pytest.raises(DataJointError, match="numpy.ndarray, a zarr.Array or a dask") as info:
        ZarrCodec().validate("abc")
    assert isinstance(info.value, errors.UnsupportedValueTypeError) and isinstance(info.value, TypeError)
    with pytest.raises(ValueError, match="chunks") as direct:
        ZarrValue(np.zeros((4, 4)), chunks=(2,))  # built outside the codec: the plain zarrbridge class
    assert isinstance(direct.value, errors.InvalidOptionError)


def test_fetch_of_a_removed_array_is_a_missing_external_file(recording: Any, store_dir: Path) -> None:
    recording.insert1({"recording_id": 1, "waveform": np.arange(12.0).reshape(3, 4)})
    [folder] = array_dirs(store_dir)
    shutil.rmtree(store_dir / folder)
    with pytest.raises(MissingExternalFile) as info:
        recording.fetch1("waveform")
    assert isinstance(info.value, errors.NodeNotFoundError) and isinstance(info.value, KeyError)
    assert isinstance(info.value, dj_errors.NodeNotFoundError)
    assert folder in str(info.value) and "restore it from a backup" in str(info.value)


def test_reads_of_a_fetched_array_raise_datajoint_errors(recording: Any, store_dir: Path) -> None:
    recording.insert1({"recording_id": 1, "waveform": ZarrValue(np.ones((100, 4)), chunks=(10, 4))})
    [folder] = array_dirs(store_dir)
    chunk = store_dir / folder / "c" / "3" / "0"
    good = chunk.read_bytes()
    chunk.write_bytes(good[: len(good) // 2])
    array = recording.fetch1("waveform")
    np.testing.assert_array_equal(array[:30], np.ones((30, 4)))  # the chunks before it are fine
    try:
        array[:]
    except DataJointError as exc:
        corrupt: BaseException = exc
    else:
        raise AssertionError("a garbled chunk read without an error")
    assert isinstance(corrupt, errors.CorruptChunkError) and "c/3/0" in str(corrupt)
    chunk.unlink()
    with pytest.raises(MissingExternalFile) as missing:
        recording.fetch1("waveform")[:]
    assert isinstance(missing.value, errors.MissingChunkError) and "c/3/0" in str(missing.value)
    with pytest.raises(errors.MissingChunkError):  # the zarrbridge class still catches it
        array[:]


def test_declaring_without_a_store_is_a_datajoint_error(postgres: Database, make_schema: Any) -> None:
    schema = make_schema(postgres.instance({}))

    class NoStore(dj.Manual):
        definition = """
        id : int32
        ---
        waveform : <zarr>
        """

    with pytest.raises(DataJointError, match="needs one") as info:
        schema(NoStore)
    assert isinstance(info.value, errors.InvalidOptionError) or "needs one" in str(info.value)


def test_every_codec_error_class_is_both() -> None:
    for name in dj_errors.__all__:
        cls = getattr(dj_errors, name)
        if isinstance(cls, type):
            assert issubclass(cls, DataJointError) and issubclass(cls, errors.ZarrBridgeError), name
            if name != "ZarrBridgeDataJointError":
                assert issubclass(cls, getattr(errors, name)), name
