"""Issue #4 sentences that need their own test: a fresh process with no zarrbridge import, DataJoint's
``context`` argument, chunk-by-chunk writes with bounded memory, store reads per fetch (file and S3), bad
values refused at insert with nothing written, a process killed mid-write cleaned by DataJoint's GC,
plain zarr access.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import tracemalloc
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from tests.djcodecs.conftest import Database, array_dirs, declare_recording, stored_files

dj = pytest.importorskip("datajoint")
da = pytest.importorskip("dask.array")

from zarrbridge.djcodecs import PhotonCodec, PhotonMovie, PhotonValue, ZarrCodec, ZarrValue  # noqa: E402
from zarrbridge.djcodecs.base import FetchedStore  # noqa: E402
from zarrbridge.djcodecs.stores import StoreTarget  # noqa: E402
from zarrbridge.errors import (  # noqa: E402
    CorruptMetadataError,
    InvalidOptionError,
    UnsupportedDtypeError,
    UnsupportedFormatVersionError,
    UnsupportedValueTypeError,
)

pytestmark = pytest.mark.db


def _connect_code(database: Database, stores: dict[str, Any], schema_name: str) -> str:
    """Python source that connects a fresh process to ``database`` and opens ``schema_name``."""
    return textwrap.dedent(f"""
        import json, os, sys, warnings
        warnings.simplefilter("ignore")
        import datajoint as dj  # warns on import (no datajoint.json; datajoint.migrate deprecated): not ours
        import numpy as np
        imported_before_use = "zarrbridge" in sys.modules
        # from here any warning (e.g. DataJoint's key-context one) fails the run
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message="No datajoint.json found")
        warnings.filterwarnings("ignore", message="MariaDB is not officially supported")
        inst = dj.Instance(host={database.host!r}, user={database.user!r}, password={database.password!r},
                           port={database.port}, backend={database.backend!r})
        inst.config.safemode = False
        inst.config.stores = {stores!r}
        schema = inst.Schema({schema_name!r})

        @schema
        class Recording(dj.Manual):
            definition = '''
            recording_id : int32
            ---
            waveform : <zarr@mystore>
            '''
    """)


def test_fresh_process_uses_the_codec_without_importing_zarrbridge(
    database: Database, store_dir: Path, make_schema: Any
) -> None:
    """The seed document's flow in a new interpreter whose code never names zarrbridge."""
    stores = {"mystore": {"protocol": "file", "location": str(store_dir)}}
    schema = make_schema(database.instance(stores))
    code = _connect_code(database, stores, schema.database) + textwrap.dedent("""
        # loaded by DataJoint
        assert not imported_before_use and "zarrbridge.djcodecs.zarr_codec" in sys.modules
        assert "zarr" in dj.list_codecs() and "photon" in dj.list_codecs()
        import zarr  # (zarr, not zarrbridge: the fetched value is a zarr.Array)
        data = np.random.default_rng(0).standard_normal((1000, 32))
        Recording.insert1({"recording_id": 1, "waveform": data})
        z = (Recording & {"recording_id": 1}).fetch1("waveform")
        try:
            z[0, 0] = 5.0
            refused = ""
        except PermissionError as exc:
            refused = type(exc).__name__
        try:
            Recording.insert1({"recording_id": 1, "waveform": data * 2})
            duplicate = False
        except dj.errors.DuplicateError:
            duplicate = True
        print(json.dumps({
            "zarr_array": isinstance(z, zarr.Array), "shape": list(z.shape),
            "chunks": list(z.chunks), "dtype": str(z.dtype), "read_only": z.read_only, "refused": refused,
            "mean_ok": bool(np.allclose(np.mean(z, axis=0), data.mean(axis=0))), "duplicate": duplicate,
            "unchanged": bool(np.array_equal(z[:], data)),
        }))
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out == {
        "zarr_array": True,
        "shape": [1000, 32],
        "chunks": [1000, 32],
        "dtype": "float64",
        "read_only": True,
        "refused": "ReadOnlyError",
        "mean_ok": True,
        "duplicate": True,
        "unchanged": True,
    }
    assert len(array_dirs(store_dir)) == 1  # the duplicate's array was removed in that process too


def test_context_argument_ready_for_datajoint_24(
    postgres: Database, store_dir: Path, make_schema: Any
) -> None:
    """DataJoint 2.3.5 offers ``context`` to codecs that declare it;
    2.4 drops the underscore keys from ``key``."""
    from datajoint.codecs import _accepts_kwarg

    for cls in (ZarrCodec, PhotonCodec):
        assert _accepts_kwarg(cls.encode, "context") and _accepts_kwarg(cls.decode, "context")
    inst = postgres.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    schema = make_schema(inst)
    Recording = declare_recording(schema)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Recording.insert1({"recording_id": 1, "waveform": np.arange(6.0)})
        np.testing.assert_array_equal(Recording.fetch1("waveform")[:], np.arange(6.0))
    assert [str(w.message) for w in caught] == []
    # the 2.4 call: key holds only primary-key values, the connection's config only arrives in context
    assert "main" not in dict(dj.config.stores)  # so the global config cannot be what resolves the store
    config = inst.connection._config
    codec = ZarrCodec()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        meta = codec.encode(
            np.arange(4),
            key={"recording_id": 7},
            store_name="main",
            context={"schema": schema.database, "table": "recording", "field": "waveform", "config": config},
        )
        got = codec.decode(meta, context={"config": config})
    assert meta["path"].startswith(f"_schema/{schema.database}/recording/recording_id=7/waveform_")
    np.testing.assert_array_equal(got[:], np.arange(4))


def _peak_bytes(action: Any) -> int:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_zarr_and_dask_inputs_written_chunk_by_chunk(
    postgres: Database, store_dir: Path, make_schema: Any
) -> None:
    """A 64 MB zarr or dask source is inserted holding only a few chunks in memory
    (traced numpy allocations)."""
    inst = postgres.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    Recording = declare_recording(make_schema(inst))
    shape, size = (1 << 20, 8), 64 << 20  # float64
    source = zarr.create_array(zarr.storage.MemoryStore(), shape=shape, chunks=(1 << 16, 8), dtype="f8")
    for start in range(0, shape[0], 1 << 17):
        source[start : start + (1 << 17)] = np.arange(start * 8, (start + (1 << 17)) * 8, dtype="f8").reshape(
            -1, 8
        )
    lazy = da.arange(shape[0] * 8, chunks=1 << 17, dtype="f8").reshape(shape)
    peak_zarr = _peak_bytes(lambda: Recording.insert1({"recording_id": 1, "waveform": source}))
    peak_dask = _peak_bytes(lambda: Recording.insert1({"recording_id": 2, "waveform": lazy}))
    # a whole-array read alone would need 64 MB (plus the compressed output)
    assert peak_zarr < size / 2 and peak_dask < size * 3 / 4, (peak_zarr, peak_dask)
    for k in (1, 2):
        z = (Recording & {"recording_id": k}).fetch1("waveform")
        assert z.shape == shape and z.nchunks > 8
        np.testing.assert_array_equal(
            z[-3:], np.arange(shape[0] * 8 - 24, shape[0] * 8, dtype="f8").reshape(3, 8)
        )


class _StoreReads:
    """Record every object read (zarr's ``get``, our ``read_object``) and listing, leaving them working."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, cls: type[Any]) -> None:
        self.gets: list[str] = []
        self.other: list[str] = []
        get, exists = FetchedStore.get, cls.exists  # what zarr asks the fetched array's store for

        async def counting_get(store: Any, key: str, *args: Any, **kwargs: Any) -> Any:
            self.gets.append(key)
            return await get(store, key, *args, **kwargs)

        get_sync = FetchedStore.get_sync

        def counting_get_sync(store: Any, key: str, **kwargs: Any) -> Any:
            self.gets.append(key)  # a one-chunk array's chunk, read in the calling thread
            return get_sync(store, key, **kwargs)

        async def counting_exists(store: Any, key: str) -> bool:
            self.other.append(f"exists {key}")
            return bool(await exists(store, key))

        read_object = StoreTarget.read_object

        def counting_read_object(target: StoreTarget, path: str, key: str) -> bytes:
            self.gets.append(key)  # fetch reads zarr.json itself, then hands the parsed metadata to zarr
            return read_object(target, path, key)

        monkeypatch.setattr(FetchedStore, "get", counting_get)
        monkeypatch.setattr(FetchedStore, "get_sync", counting_get_sync)
        monkeypatch.setattr(StoreTarget, "read_object", counting_read_object)
        monkeypatch.setattr(cls, "exists", counting_exists)
        for name in ("list", "list_dir", "list_prefix"):
            monkeypatch.setattr(cls, name, self._listing(getattr(cls, name), name))

    def _listing(self, original: Any, name: str) -> Any:
        def listing(store: Any, *args: Any) -> AsyncIterator[str]:
            self.other.append(name)
            return original(store, *args)  # type: ignore[no-any-return]

        return listing


@pytest.mark.s3
def test_s3_fetch_reads_one_metadata_document(
    postgres: Database, s3_store: dict[str, Any], make_schema: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zarr.storage import FsspecStore

    inst = postgres.instance({"main": s3_store})
    Recording = declare_recording(make_schema(inst))
    data = np.arange(600_000, dtype="f8").reshape(100_000, 6)
    Recording.insert1({"recording_id": 1, "waveform": ZarrValue(data, chunks=(10_000, 6))})
    reads = _StoreReads(monkeypatch, FsspecStore)
    z = Recording.fetch1("waveform")
    assert reads.gets == ["zarr.json"] and reads.other == []
    np.testing.assert_array_equal(z[25_000:25_010], data[25_000:25_010])
    assert reads.gets[1:] == ["c/2/0"] and reads.other == []  # only the chunk the slice needs


def test_photon_fetch_is_lazy(
    postgres: Database, store_dir: Path, make_schema: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    inst = postgres.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    Scan = declare_recording(make_schema(inst), codec="photon")
    rng = np.random.default_rng(3)
    movie = (20.0 * rng.poisson(5.0, (40, 16, 16)) + 100).astype("u2")
    Scan.insert1(
        {
            "recording_id": 1,
            "waveform": PhotonValue(movie, sensitivity=20.0, zero_level=100.0, frames_per_chunk=10),
        }
    )
    reads = _StoreReads(monkeypatch, zarr.storage.LocalStore)
    got = Scan.fetch1("waveform")
    assert isinstance(got, PhotonMovie) and reads.gets == ["zarr.json"] and reads.other == []
    frame = got[12]
    assert reads.gets[1:] == ["c/1/0/0"] and reads.other == []  # frames 10-19 only
    assert frame.dtype == np.float32 and np.abs(frame - movie[12]).max() <= 20.0 * 0.5 * np.sqrt(30)


def test_photon_codec_version_in_zarr_json_is_checked(
    postgres: Database, store_dir: Path, make_schema: Any
) -> None:
    inst = postgres.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    Scan = declare_recording(make_schema(inst), codec="photon")
    Scan.insert1(
        {"recording_id": 1, "waveform": PhotonValue(np.ones((3, 4, 4)), sensitivity=1.0, zero_level=0.0)}
    )
    row = Scan.proj("waveform").cursor(as_dict=True).fetchone()["waveform"]
    meta = row if isinstance(row, dict) else json.loads(row)
    zjson = store_dir / meta["path"] / "zarr.json"
    doc = json.loads(zjson.read_text())
    assert doc["attributes"]["zarrbridge"]["codec"] == "photon"
    doc["attributes"]["zarrbridge"]["format_version"] = 7
    zjson.write_text(json.dumps(doc))
    with pytest.raises(UnsupportedFormatVersionError, match=r"zarr\.json"):
        Scan.fetch1("waveform")
    doc["attributes"]["zarrbridge"]["format_version"] = 1  # known, but not the row's
    zjson.write_text(json.dumps(doc))
    with pytest.raises(CorruptMetadataError, match="format version 1, but the row recorded 2"):
        Scan.fetch1("waveform")


BAD_ZARR_VALUES = [
    (np.array(["a", "b"]), UnsupportedDtypeError),
    (np.array([{"a": 1}], dtype=object), UnsupportedDtypeError),
    (np.array(["2020-01-01"], dtype="M8[D]"), UnsupportedDtypeError),
    ([1.0, 2.0], UnsupportedValueTypeError),
    ("abc", UnsupportedValueTypeError),
    (3.5, UnsupportedValueTypeError),
]
BAD_PHOTON_VALUES = [
    (np.zeros((4, 4)), InvalidOptionError),
    (np.zeros((2, 2, 2), dtype="U1"), UnsupportedDtypeError),
    (np.full((2, 3, 3), np.nan), InvalidOptionError),  # passes the type checks, fails in the transform
    ([[[1.0]]], UnsupportedValueTypeError),
]


@pytest.mark.parametrize(
    "codec, value, error",
    [("zarr", v, e) for v, e in BAD_ZARR_VALUES] + [("photon", v, e) for v, e in BAD_PHOTON_VALUES],
)
def test_bad_values_refused_at_insert_with_nothing_written(
    postgres: Database, store_dir: Path, make_schema: Any, codec: str, value: Any, error: type[Exception]
) -> None:
    inst = postgres.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    Recording = declare_recording(make_schema(inst), codec=codec)
    with pytest.raises(error):
        Recording.insert1({"recording_id": 1, "waveform": value})
    assert stored_files(store_dir) == [] and len(Recording()) == 0


def test_process_killed_mid_write_is_cleaned_by_datajoint_gc(
    postgres: Database, store_dir: Path, make_schema: Any
) -> None:
    """A SIGKILL while chunks are being written leaves a partial array and no row;
    DataJoint's GC removes it."""
    stores = {"mystore": {"protocol": "file", "location": str(store_dir)}}
    inst = postgres.instance(stores)
    schema = make_schema(inst)
    code = _connect_code(postgres, stores, schema.database) + textwrap.dedent("""
        import signal
        import dask
        import dask.array as da
        from zarrbridge.djcodecs import ZarrValue

        def die_on_block_5(block, block_info=None):
            if block_info[0]["chunk-location"][0] == 5:
                os.kill(os.getpid(), signal.SIGKILL)
            return block

        dask.config.set(num_workers=1)  # blocks 0-4 are written before block 5 kills the process
        lazy = da.ones((800, 4), chunks=(100, 4)).map_blocks(die_on_block_5, dtype="f8")
        Recording.insert1({"recording_id": 1, "waveform": ZarrValue(lazy, chunks=(100, 4))})
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == -9, run.stderr
    Recording = declare_recording(schema, store="mystore")
    [partial] = array_dirs(store_dir)
    assert len(list((store_dir / partial).rglob("c/*/0"))) >= 1 and len(Recording()) == 0
    report = dj.gc.GarbageCollector(schema, store="mystore").collect(dry_run=False)
    assert report["errors"] == 0 and array_dirs(store_dir) == []


def test_stored_arrays_open_with_plain_zarr(postgres: Database, store_dir: Path, make_schema: Any) -> None:
    """Any zarr v3 reader can open the folder: no zarrbridge needed to read the data back."""
    inst = postgres.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    Recording = declare_recording(make_schema(inst))
    data = np.arange(5000, dtype="i4").reshape(1000, 5)
    Recording.insert1({"recording_id": 1, "waveform": ZarrValue(data, chunks=(100, 5), shards=(500, 5))})
    [folder] = array_dirs(store_dir)
    plain = zarr.open_array(str(store_dir / folder), mode="r")
    assert plain.shards == (500, 5) and plain.chunks == (100, 5)
    np.testing.assert_array_equal(plain[:], data)
    assert plain.attrs["zarrbridge"] == {"codec": "zarr", "format_version": 1}
    assert sorted(p.name for p in (store_dir / folder / "c").iterdir()) == ["0", "1"]  # two shard objects


@pytest.mark.parametrize("value", [np.ones((10, 2)), ZarrValue(np.ones((10, 2)), chunks=(5, 2))])
def test_path_collision_keeps_the_existing_array(
    postgres: Database, store_dir: Path, make_schema: Any, monkeypatch: pytest.MonkeyPatch, value: Any
) -> None:
    """A folder already at the new path (a token collision: faked, it cannot be caused) is refused,
    not removed."""
    import datajoint.storage

    inst = postgres.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    Recording = declare_recording(make_schema(inst))
    monkeypatch.setattr(datajoint.storage, "generate_token", lambda length=8: "SameTokn")
    Recording.insert1({"recording_id": 1, "waveform": np.arange(3.0)})
    before = stored_files(store_dir)
    (Recording & {"recording_id": 1}).delete_quick()  # the row goes, its array stays (an orphan for the GC)
    with pytest.raises(FileExistsError):
        Recording.insert1({"recording_id": 1, "waveform": value})
    assert stored_files(store_dir) == before and len(Recording()) == 0
