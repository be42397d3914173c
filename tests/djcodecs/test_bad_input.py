"""Clear errors and nothing half-written for everything the codecs cannot store or read."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from tests.djcodecs.conftest import Database, array_dirs, declare_recording, stored_files

dj = pytest.importorskip("datajoint")

from zarrbridge.djcodecs import PhotonCodec, ZarrCodec, ZarrValue  # noqa: E402
from zarrbridge.djcodecs.paths import check_object_path  # noqa: E402
from zarrbridge.djcodecs.registration import register  # noqa: E402
from zarrbridge.errors import (  # noqa: E402
    CodecNameClashError,
    CorruptMetadataError,
    ForeignRowError,
    InvalidOptionError,
    LocationError,
    MissingDependencyError,
    NodeNotFoundError,
    StoreUnreachableError,
    UnsupportedDtypeError,
    UnsupportedFormatVersionError,
    UnsupportedValueTypeError,
    ZarrBridgeWarning,
)


@pytest.mark.parametrize(
    "value",
    [
        np.array(["a", "b"]),
        np.array([{"a": 1}], dtype=object),
        np.array([b"x"]),
        np.array(["2020-01-01"], dtype="M8[D]"),
        np.zeros(2, dtype=[("a", "i4")]),
    ],
)
def test_unstorable_dtypes(value: np.ndarray[Any, Any]) -> None:
    with pytest.raises(UnsupportedDtypeError, match="Only numeric and bool arrays"):
        ZarrCodec().validate(value)


@pytest.mark.parametrize("value", [[1, 2, 3], 3.0, "abc", {"a": 1}, None, b"raw"])
def test_non_array_values(value: Any) -> None:
    with pytest.raises(UnsupportedValueTypeError, match="numpy.ndarray, a zarr.Array or a dask"):
        ZarrCodec().validate(value)


def test_bad_zarr_value_options() -> None:
    with pytest.raises(InvalidOptionError, match="chunks"):
        ZarrValue(np.zeros((4, 4)), chunks=(2,))
    with pytest.raises(InvalidOptionError, match="chunks must be a tuple of positive integers"):
        ZarrValue(np.zeros((4, 4)), chunks=(0, 2))
    with pytest.raises(InvalidOptionError, match="not a zarr codec"):
        ZarrValue(np.zeros(4), compressors="zstd")  # a name, not a codec
    with pytest.raises(UnsupportedValueTypeError):
        ZarrValue([1, 2])


def test_zarr_without_store_is_refused_at_declaration(
    postgres: Database, store_dir: Path, make_schema: Any
) -> None:
    inst = postgres.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    schema = make_schema(inst)

    class NoStore(dj.Manual):
        definition = """
        k : int32
        ---
        x : <zarr>
        """

    with pytest.raises(InvalidOptionError, match=r"needs one: declare the attribute as <zarr@>"):
        schema(NoStore)


def test_store_not_configured(postgres: Database, store_dir: Path, make_schema: Any) -> None:
    inst = postgres.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    Recording = declare_recording(make_schema(inst), store="elsewhere")
    with pytest.raises(LocationError, match=r"Configured stores: \['main'\]"):
        Recording.insert1({"recording_id": 1, "waveform": np.ones(3)})
    assert stored_files(store_dir) == []


@pytest.mark.s3
def test_unreachable_s3_endpoint(postgres: Database, s3_store: dict[str, Any], make_schema: Any) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    inst = postgres.instance({"main": {**s3_store, "endpoint": dead}})
    Recording = declare_recording(make_schema(inst))
    with pytest.raises(StoreUnreachableError, match=f"store 'main' at 'http://{dead}' cannot be reached"):
        Recording.insert1({"recording_id": 1, "waveform": np.ones(3)})
    assert len(Recording()) == 0


def test_primary_keys_cannot_escape_the_store(postgres: Database, tmp_path: Path, make_schema: Any) -> None:
    location = tmp_path / "store"
    location.mkdir()
    inst = postgres.instance({"main": {"protocol": "file", "location": str(location)}})
    schema = make_schema(inst)

    @schema
    class Named(dj.Manual):
        definition = """
        name : varchar(400)
        ---
        x : <zarr@main>
        """

    names = ["../../escape", "/etc/passwd", "..", "a\\..\\b", "x" * 300]
    Named.insert({"name": n, "x": np.full(2, i)} for i, n in enumerate(names))
    assert not (tmp_path / "escape").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["store"]
    table_dir = location / "_schema" / schema.database / "named"
    dirs = array_dirs(location)
    assert len(dirs) == 5 and all((location / d).resolve().is_relative_to(table_dir.resolve()) for d in dirs)
    got = {row["name"]: row["x"] for row in Named.to_dicts()}
    for i, n in enumerate(names):
        np.testing.assert_array_equal(got[n][:], i)
    with pytest.raises(LocationError, match="control characters"):
        Named.insert1({"name": "bad\x00name\n", "x": np.ones(2)})
    assert len(array_dirs(location)) == 5


@pytest.mark.parametrize(
    "path",
    [
        "/abs/x.zarr",
        "a/../b.zarr",
        "a//b",
        "./a",
        "a\\b",
        "a/\nb",
        "",
        "C:/x",
        "a/" + "x" * 256,
        "/".join(["abcdefgh"] * 120),
    ],
)
def test_check_object_path_refuses(path: str) -> None:
    with pytest.raises(LocationError):
        check_object_path(path)


def test_name_clash_names_both_owners() -> None:
    class Other:
        name = "zarr"

    Other.__module__ = "other_zarr_codecs"  # not dj-zarr-codecs, whose rows <zarr@> reads
    registry: dict[str, Any] = {"zarr": Other()}
    with (
        pytest.raises(
            CodecNameClashError,
            match=r"other_zarr_codecs:.*Other.*zarrbridge\.djcodecs\.zarr_codec:ZarrCodec",
        ),
        pytest.warns(ZarrBridgeWarning, match="registered twice"),  # DataJoint would only log the error
    ):
        register(ZarrCodec, registry=registry)
    same: dict[str, Any] = {}
    register(PhotonCodec, registry=same)
    register(PhotonCodec, registry=same)  # idempotent for our own class
    assert isinstance(same["photon"], PhotonCodec)


def test_name_clash_with_another_installed_package(tmp_path: Path) -> None:
    """A second distribution declaring a `zarr` entry point makes importing our codecs fail, naming it."""
    dist = tmp_path / "other_zarr-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: other-zarr\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[datajoint.codecs]\nzarr = other_zarr:ZarrCodec\n")
    code = textwrap.dedent(f"""
        import sys, warnings
        warnings.simplefilter("ignore")
        sys.path.insert(0, {str(tmp_path)!r})
        from zarrbridge.errors import CodecNameClashError
        try:
            import zarrbridge.djcodecs
        except CodecNameClashError as exc:
            print("CLASH", exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("CLASH") and "other-zarr" in out and "zarrbridge.djcodecs.zarr_codec" in out


def test_missing_datajoint_names_the_extra() -> None:
    code = textwrap.dedent("""
        import sys
        sys.modules["datajoint"] = None  # as if not installed
        import zarrbridge
        try:
            zarrbridge.ZarrCodec
        except ImportError as exc:
            print(type(exc).__name__, exc)
        try:
            import zarrbridge.djcodecs.zarr_codec  # what DataJoint's entry point loads
        except ImportError as exc:
            print(type(exc).__name__, exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert len(lines) == 2
    for line in lines:
        assert (
            line.startswith(MissingDependencyError.__name__) and 'pip install "zarrbridge[datajoint]"' in line
        )


def test_corrupt_and_unknown_version_metadata(postgres: Database, store_dir: Path, make_schema: Any) -> None:
    inst = postgres.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    Recording = declare_recording(make_schema(inst))
    Recording.insert1({"recording_id": 1, "waveform": np.ones(3)})
    row = Recording.proj("waveform").cursor(as_dict=True).fetchone()["waveform"]
    meta = row if isinstance(row, dict) else json.loads(row)
    codec = ZarrCodec()
    with pytest.raises(UnsupportedFormatVersionError, match="format version 99"):
        codec.decode({**meta, "format_version": 99})
    with pytest.raises(ForeignRowError, match="names codec 'npy'"):
        codec.decode({**meta, "codec": "npy"})
    with pytest.raises(CorruptMetadataError, match="not JSON"):
        codec.decode("{not json")
    with pytest.raises(LocationError):
        codec.decode({**meta, "path": "../../../etc"})
    config = inst.connection._config
    zjson = store_dir / meta["path"] / "zarr.json"
    doc = json.loads(zjson.read_text())
    doc["attributes"]["zarrbridge"]["format_version"] = 7
    zjson.unlink()  # replaced, not written into: the file is read-only and may be shared by other rows
    zjson.write_text(json.dumps(doc))
    with pytest.raises(UnsupportedFormatVersionError, match="zarr.json"):
        codec.decode(meta, context={"config": config})
    doc["attributes"]["zarrbridge"]["format_version"] = 1
    doc["data_type"] = "int32"
    zjson.write_text(json.dumps(doc))
    with pytest.raises(CorruptMetadataError, match="dtype <i4, but the row recorded '<f8'"):
        codec.decode(meta, context={"config": config})
    zjson.write_text("{ truncated")
    with pytest.raises(CorruptMetadataError):
        codec.decode(meta, context={"config": config})
    zjson.unlink()
    with pytest.raises(NodeNotFoundError, match="no longer in the store"):
        Recording.fetch1("waveform")


def test_interrupted_write_leaves_nothing(postgres: Database, store_dir: Path, make_schema: Any) -> None:
    da = pytest.importorskip("dask.array")
    inst = postgres.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    Recording = declare_recording(make_schema(inst))

    def boom(block: np.ndarray[Any, Any], block_info: Any = None) -> np.ndarray[Any, Any]:
        if block_info[0]["chunk-location"][0] == 3:
            raise RuntimeError("source failed mid-way")
        return block

    lazy = da.ones((1000, 4), chunks=(100, 4)).map_blocks(boom, dtype="f8")
    with pytest.raises(RuntimeError, match="source failed mid-way"):
        Recording.insert1({"recording_id": 1, "waveform": ZarrValue(lazy, chunks=(100, 4))})
    assert stored_files(store_dir) == [] and len(Recording()) == 0
    wrong = zarr.create_array(zarr.storage.MemoryStore(), shape=(3,), dtype="f8")
    Recording.insert1({"recording_id": 2, "waveform": wrong})
    np.testing.assert_array_equal((Recording & {"recording_id": 2}).fetch1("waveform")[:], 0)
