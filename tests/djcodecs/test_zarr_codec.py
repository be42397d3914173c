"""<zarr@store> against real databases and stores: the seed document's flow, inputs, GC, failed inserts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pytest
import zarr
from tests.djcodecs.conftest import Database, array_dirs, declare_recording, stored_files

dj = pytest.importorskip("datajoint")
da = pytest.importorskip("dask.array")

from zarrbridge.djcodecs import ZarrCodec, ZarrValue  # noqa: E402
from zarrbridge.djcodecs.base import FetchedStore  # noqa: E402
from zarrbridge.djcodecs.stores import StoreTarget  # noqa: E402
from zarrbridge.errors import ReadOnlyError  # noqa: E402

pytestmark = pytest.mark.db


def test_entry_point_registers_without_import() -> None:
    import subprocess
    import sys

    code = (
        "import warnings; warnings.simplefilter('ignore'); import sys, datajoint as dj; "
        "ok = 'zarr' in dj.list_codecs() and 'photon' in dj.list_codecs(); "
        "print(ok, type(dj.codecs.get_codec('zarr')).__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "zarrbridge.djcodecs.zarr_codec"]
    assert isinstance(dj.codecs.get_codec("zarr"), ZarrCodec)


def test_seed_document_flow_with_global_config(postgres: Database, store_dir: Path) -> None:
    """The seed document, as written: dj.config['stores'], dj.Schema, insert1, fetch1, numpy on the result."""
    with dj.config.override(
        stores={"mystore": {"protocol": "file", "location": str(store_dir)}},
        safemode=False,
        database__backend="postgresql",
        database__host=postgres.host,
        database__user="postgres",
        database__password="",
        database__port=5432,
    ):
        conn = dj.conn(reset=True)
        schema = dj.Schema("zbt_seed_doc", connection=conn)
        try:
            Recording = declare_recording(schema, store="mystore")
            data = np.random.default_rng(1).standard_normal((1000, 32))
            Recording.insert1({"recording_id": 1, "waveform": data})
            z = (Recording & {"recording_id": 1}).fetch1("waveform")
            assert isinstance(z, zarr.Array)
            assert (z.shape, z.dtype) == ((1000, 32), np.dtype("float64"))
            assert z.chunks == (1000, 32)
            np.testing.assert_array_equal(np.mean(z, axis=0), data.mean(axis=0))
            [folder] = array_dirs(store_dir)
            assert folder.startswith("_schema/zbt_seed_doc/recording/recording_id=1/waveform_")
            assert folder.endswith(".zarr")
        finally:
            schema.drop(prompt=False)
            conn.close()


def test_roundtrip_inputs_and_options(database: Database, store_dir: Path, make_schema: Any) -> None:
    inst = database.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    Recording = declare_recording(make_schema(inst))
    rng = np.random.default_rng(2)
    a = rng.standard_normal((300, 8)).astype("f4")
    source = zarr.create_array(zarr.storage.MemoryStore(), shape=(200, 5), chunks=(30, 5), dtype="i2")
    source[:] = np.arange(1000, dtype="i2").reshape(200, 5)
    lazy = da.arange(4000, chunks=700, dtype="u4").reshape(1000, 4)
    Recording.insert(
        [
            {"recording_id": 1, "waveform": a},
            {"recording_id": 2, "waveform": source},
            {"recording_id": 3, "waveform": lazy},
            {
                "recording_id": 4,
                "waveform": ZarrValue(a, chunks=(100, 4), compressors=numcodecs.Zstd(level=3)),
            },
            {"recording_id": 5, "waveform": np.array(True)},
        ]
    )
    got = {r["recording_id"]: r["waveform"] for r in Recording.to_dicts(order_by="recording_id")}
    np.testing.assert_array_equal(got[1][:], a)
    np.testing.assert_array_equal(got[2][:], source[:])
    np.testing.assert_array_equal(got[3][:], lazy.compute())
    assert got[4].chunks == (100, 4) and got[4].compressors[0].to_dict()["name"] == "zstd"
    np.testing.assert_array_equal(got[4][:], a)
    assert got[5].shape == () and bool(got[5][()]) is True
    assert all(v.read_only for v in got.values())


def test_fetched_array_is_read_only(postgres: Database, store_dir: Path, make_schema: Any) -> None:
    inst = postgres.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    Recording = declare_recording(make_schema(inst))
    Recording.insert1({"recording_id": 1, "waveform": np.zeros((10, 2))})
    z = Recording.fetch1("waveform")
    with pytest.raises(ReadOnlyError, match="insert a new row"):
        z[0, 0] = 1.0
    with pytest.raises(PermissionError):
        z.attrs["x"] = 1
    np.testing.assert_array_equal(z[:], 0)


def test_default_chunks_are_a_few_mb_and_compressed(
    postgres: Database, store_dir: Path, make_schema: Any
) -> None:
    inst = postgres.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    Recording = declare_recording(make_schema(inst))
    big = np.tile(np.arange(64, dtype="f4"), (40_000, 1))  # 10 MB, very compressible
    Recording.insert1({"recording_id": 1, "waveform": big})
    z = Recording.fetch1("waveform")
    chunk_bytes = np.prod(z.chunks) * 4
    assert 1 << 20 <= chunk_bytes <= 4 << 20
    assert (
        z.compressors[0].to_dict()["name"] == "blosc"
        and z.compressors[0].to_dict()["configuration"]["cname"] == "zstd"
    )
    stored = sum(p.stat().st_size for p in store_dir.rglob("*") if p.is_file())
    assert stored < big.nbytes / 20
    row = json.loads(json.dumps(Recording.proj("waveform").cursor(as_dict=True).fetchone()["waveform"]))
    assert {"path", "store", "codec", "format_version", "shape", "dtype", "chunks"} <= set(
        json.loads(row) if isinstance(row, str) else row
    )


def test_fetch_reads_one_metadata_document(
    postgres: Database, store_dir: Path, make_schema: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    inst = postgres.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    Recording = declare_recording(make_schema(inst))
    small = np.ones((1000, 32))  # one chunk, written in memory (key c.0.0)
    chunked = ZarrValue(np.ones((100_000, 8), dtype="f4"), chunks=(10_000, 8))  # written through zarr
    Recording.insert([{"recording_id": 1, "waveform": small}, {"recording_id": 2, "waveform": chunked}])
    reads: list[str] = []  # every object zarr asks the fetched array's store for, and our zarr.json read
    original, original_sync = FetchedStore.get, FetchedStore.get_sync

    async def counting_get(self: Any, key: str, *args: Any, **kwargs: Any) -> Any:
        reads.append(key)
        return await original(self, key, *args, **kwargs)

    def counting_get_sync(self: Any, key: str, **kwargs: Any) -> Any:
        reads.append(f"sync {key}")  # read in the calling thread, no event-loop round trip
        return original_sync(self, key, **kwargs)

    read_object = StoreTarget.read_object

    def counting_read_object(self: StoreTarget, path: str, key: str) -> bytes:
        reads.append(key)
        return read_object(self, path, key)

    listed: list[str] = []
    monkeypatch.setattr(FetchedStore, "get", counting_get)
    monkeypatch.setattr(FetchedStore, "get_sync", counting_get_sync)
    monkeypatch.setattr(StoreTarget, "read_object", counting_read_object)
    monkeypatch.setattr(zarr.storage.LocalStore, "list_dir", lambda *a, **k: listed.append("x") or iter(()))
    for key, start, chunk in ((1, 500, "sync c.0.0"), (2, 10_000, "c/1/0")):
        reads.clear()
        z = (Recording & {"recording_id": key}).fetch1("waveform")
        assert reads == ["zarr.json"] and not listed
        np.testing.assert_array_equal(z[start : start + 10], 1)
        assert reads[1:] == [chunk]  # a slice reads only the chunk it needs


def test_gc_removes_exactly_the_orphans(database: Database, store_dir: Path, make_schema: Any) -> None:
    inst = database.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    schema = make_schema(inst)
    Recording = declare_recording(schema)
    Recording.insert({"recording_id": i, "waveform": np.full((50, 3), float(i))} for i in range(4))
    before = array_dirs(store_dir)
    assert len(before) == 4
    (Recording & "recording_id in (1, 2)").delete(prompt=False)
    report = dj.gc.GarbageCollector(schema, store="main").collect(dry_run=False)
    assert report["errors"] == 0 and report["schema_paths_deleted"] > 0
    after = array_dirs(store_dir)
    assert after == [p for p in before if "recording_id=0" in p or "recording_id=3" in p]
    for row in Recording.to_dicts(order_by="recording_id"):
        np.testing.assert_array_equal(row["waveform"][:], float(row["recording_id"]))
    # a second collection finds nothing more to remove
    assert dj.gc.GarbageCollector(schema, store="main").collect(dry_run=True)["schema_paths_orphaned"] == 0


def test_rows_written_with_shared_metadata_still_read(
    postgres: Database, store_dir: Path, make_schema: Any
) -> None:
    """Earlier releases hard-linked one read-only zarr.json into the rows of a table; those rows still read,
    and every new row writes its own ordinary file."""
    import os
    import stat

    inst = postgres.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    schema = make_schema(inst)
    Recording = declare_recording(schema)
    Recording.insert({"recording_id": i, "waveform": np.full((20, 4), float(i))} for i in range(3))
    docs = [store_dir / d / "zarr.json" for d in array_dirs(store_dir)]
    assert len(docs) == 3 and all(os.stat(d).st_nlink == 1 for d in docs)
    assert all(stat.S_IMODE(os.stat(d).st_mode) & 0o200 for d in docs)  # ordinary, writable files
    os.chmod(docs[0], 0o444)  # what the earlier releases left: one read-only file, three names
    for d in docs[1:]:
        d.unlink()
        os.link(docs[0], d)
    got = {r["recording_id"]: r["waveform"] for r in Recording.to_dicts()}
    for i in range(3):
        np.testing.assert_array_equal(got[i][:], float(i))
    (Recording & {"recording_id": 1}).delete(prompt=False)  # the GC removes one name of the shared file
    assert dj.gc.GarbageCollector(schema, store="main").collect(dry_run=False)["errors"] == 0
    assert len(array_dirs(store_dir)) == 2 and os.stat(docs[0]).st_nlink == 2
    np.testing.assert_array_equal((Recording & {"recording_id": 2}).fetch1("waveform")[:], 2.0)


def test_failed_inserts_leave_no_array(database: Database, store_dir: Path, make_schema: Any) -> None:
    inst = database.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    schema = make_schema(inst)
    Recording = declare_recording(schema)

    @schema
    class Spikes(dj.Manual):
        definition = """
        -> Recording
        unit : int32
        ---
        times : <zarr@main>
        """

    Recording.insert1({"recording_id": 1, "waveform": np.ones(5)})
    live = stored_files(store_dir)
    with pytest.raises(dj.errors.DuplicateError):  # duplicate key
        Recording.insert1({"recording_id": 1, "waveform": np.ones(7)})
    with pytest.raises(dj.errors.IntegrityError):  # foreign-key constraint
        Spikes.insert1({"recording_id": 99, "unit": 1, "times": np.ones(3)})
    # second row of a batch fails: the first row's array goes too
    with pytest.raises(dj.errors.DuplicateError):
        Recording.insert(
            [{"recording_id": 2, "waveform": np.ones(4)}, {"recording_id": 1, "waveform": np.ones(4)}]
        )
    assert stored_files(store_dir) == live
    Recording.insert(
        [{"recording_id": 1, "waveform": np.ones(9)}, {"recording_id": 3, "waveform": np.ones(9)}],
        skip_duplicates=True,
    )
    assert len(array_dirs(store_dir)) == 2  # the skipped duplicate's array was removed, row 3's kept
    assert (Recording & {"recording_id": 1}).fetch1("waveform").shape == (5,)


def test_cancelled_transaction_removes_its_arrays(
    postgres: Database, store_dir: Path, make_schema: Any
) -> None:
    inst = postgres.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    Recording = declare_recording(make_schema(inst))
    with pytest.raises(RuntimeError, match="make failed"):
        with inst.connection.transaction:
            Recording.insert1({"recording_id": 1, "waveform": np.ones(5)})
            assert len(array_dirs(store_dir)) == 1
            raise RuntimeError("make failed")
    assert array_dirs(store_dir) == [] and len(Recording()) == 0
    with inst.connection.transaction:
        Recording.insert1({"recording_id": 2, "waveform": np.ones(5)})
    assert len(array_dirs(store_dir)) == 1 and len(Recording()) == 1


def test_database_down_leaves_no_array(database: Database, store_dir: Path, make_schema: Any) -> None:
    stores = {"main": {"protocol": "file", "location": str(store_dir)}}
    admin = database.instance(stores)
    schema = make_schema(admin)
    declare_recording(schema)
    worker = database.instance(stores, database__reconnect=False)
    Recording = declare_recording(worker.Schema(schema.database))
    if database.backend == "postgresql":
        pid = worker.connection.query("SELECT pg_backend_pid()").fetchone()[0]
        admin.connection.query(f"SELECT pg_terminate_backend({int(pid)})")  # the server drops the connection
    else:
        pid = worker.connection.query("SELECT CONNECTION_ID()").fetchone()[0]
        admin.connection.query(f"KILL {int(pid)}")
    # the drivers' own errors (psycopg2 / pymysql), as DataJoint passes them on
    with pytest.raises(Exception, match="(?i)closed the connection|lost connection|gone away"):
        Recording.insert1({"recording_id": 1, "waveform": np.ones(5)})
    assert array_dirs(store_dir) == []
    assert admin.connection.query(f"SELECT COUNT(*) FROM {Recording.full_table_name}").fetchone()[0] == 0


@pytest.mark.s3
def test_s3_store_as_documented(
    database: Database, s3_store: dict[str, Any], s3_storage_options: dict[str, Any], make_schema: Any
) -> None:
    import s3fs

    inst = database.instance({"main": s3_store})
    schema = make_schema(inst)
    Recording = declare_recording(schema)
    data = np.arange(12_000, dtype="f8").reshape(1000, 12)
    Recording.insert([{"recording_id": 1, "waveform": data}, {"recording_id": 2, "waveform": data * 2}])
    z = (Recording & {"recording_id": 1}).fetch1("waveform")
    np.testing.assert_array_equal(z[:], data)
    fs = s3fs.S3FileSystem(**s3_storage_options)
    prefix = f"{s3_store['bucket']}/dj/_schema/{schema.database}/recording"
    assert len([p for p in fs.find(prefix) if p.endswith("/zarr.json")]) == 2
    (Recording & {"recording_id": 2}).delete(prompt=False)
    dj.gc.GarbageCollector(schema, store="main").collect(dry_run=False)
    fs.invalidate_cache()
    remaining = [p for p in fs.find(prefix) if p.endswith("/zarr.json")]
    assert len(remaining) == 1 and "recording_id=1" in remaining[0]
    with pytest.raises(dj.errors.DuplicateError):
        Recording.insert1({"recording_id": 1, "waveform": data})
    fs.invalidate_cache()
    assert [p for p in fs.find(prefix) if p.endswith("/zarr.json")] == remaining
