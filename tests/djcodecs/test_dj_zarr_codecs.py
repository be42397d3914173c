"""Tables written by dj-zarr-codecs fetch through zarrbridge's <zarr@>;
both packages installed is one outcome.

The fixtures under ``fixtures/dj_zarr_codecs/`` were written by the real dj-zarr-codecs (its current release
and the one before its "provenance column" change) and, for the zarr v2 layout of the seed's picture, by
zarr-python 2.18 (see the two ``make_*.py`` scripts beside them). The rows go into a real PostgreSQL table
exactly as DataJoint stored them (the JSON column), and are fetched through DataJoint.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from tests.djcodecs.conftest import Database, array_dirs

dj = pytest.importorskip("datajoint")

from zarrbridge.djcodecs import ZarrCodec  # noqa: E402
from zarrbridge.djcodecs.registration import register  # noqa: E402
from zarrbridge.errors import (  # noqa: E402
    CodecReplacedWarning,
    CorruptMetadataError,
    ForeignRowError,
    NodeNotFoundError,
    ReadOnlyError,
)

pytestmark = pytest.mark.db

FIXTURES = Path(__file__).parent / "fixtures" / "dj_zarr_codecs"
FLAVOURS = ["current", "early", "zarr_v2"]  # provenance rows (v3), rows without it (v3), the v2 layout


def declare(schema: Any) -> Any:
    class Recording(dj.Manual):
        definition = """
        recording_id : int32
        ---
        waveform : <zarr@mystore>
        """

    return schema(Recording)


def load_rows(flavour: str, store_dir: Path, schema_name: str) -> list[dict[str, Any]]:
    """Copy the fixture's store under ``store_dir`` as if written for ``schema_name``; return its rows."""
    source = FIXTURES / flavour / "store" / "_schema" / "lab"
    target = store_dir / "_schema" / schema_name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target, dirs_exist_ok=True)
    rows = json.loads((FIXTURES / flavour / "rows.json").read_text())
    for row in rows:
        row["waveform"]["path"] = row["waveform"]["path"].replace("_schema/lab/", f"_schema/{schema_name}/")
    return rows  # type: ignore[no-any-return]


def insert_as_stored(table: Any, rows: list[dict[str, Any]]) -> None:
    """Put rows into the table as the other codec left them: the JSON column, no zarrbridge involved."""
    for row in rows:
        table.connection.query(
            f"INSERT INTO {table.full_table_name} (recording_id, waveform) VALUES (%s, %s)",
            args=(row["recording_id"], json.dumps(row["waveform"])),
        )


def expected(flavour: str) -> dict[int, np.ndarray[Any, Any]]:
    with np.load(FIXTURES / flavour / "expected.npz") as npz:
        return {int(k): npz[k] for k in npz.files}


def stores(store_dir: Path) -> dict[str, Any]:
    return {"mystore": {"protocol": "file", "location": str(store_dir)}, "default": "mystore"}


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_rows_of_both_releases_and_both_layouts_fetch(
    database: Database, store_dir: Path, make_schema: Any, flavour: str
) -> None:
    inst = database.instance(stores(store_dir))
    schema = make_schema(inst)
    Recording = declare(schema)
    rows = load_rows(flavour, store_dir, schema.database)
    insert_as_stored(Recording, rows)
    layout = {"current": "zarr.json", "early": "zarr.json", "zarr_v2": ".zarray"}[flavour]
    assert all((store_dir / r["waveform"]["path"] / layout).is_file() for r in rows)
    want = expected(flavour)
    got = {r["recording_id"]: r["waveform"] for r in Recording.to_dicts(order_by="recording_id")}
    assert sorted(got) == sorted(want)
    for rid, value in want.items():
        z = got[rid]
        assert isinstance(z, zarr.Array) and z.read_only
        assert z.shape == value.shape and z.dtype == value.dtype  # (a big-endian v2 array stays so)
        np.testing.assert_array_equal(z[:], value)
        np.testing.assert_array_equal(np.mean(z, axis=0), value.mean(axis=0))
        with pytest.raises(ReadOnlyError, match="insert a new row"):
            z[(0,) * z.ndim] = 1
    if flavour == "zarr_v2":  # several chunks: a slice reads from the right ones
        np.testing.assert_array_equal(got[1][60:140, 5:12], want[1][60:140, 5:12])
        assert got[1].metadata.zarr_format == 2
    if 3 in want:  # dj-zarr-codecs wrote no chunk for an all-zero array (zarr's write_empty_chunks=False)
        assert not list((store_dir / rows[2]["waveform"]["path"]).glob("c/*"))
        np.testing.assert_array_equal(got[3][:], 0)


def test_one_table_with_both_codecs_rows_and_gc(
    postgres: Database, store_dir: Path, make_schema: Any
) -> None:
    """A table dj-zarr-codecs filled keeps working: new rows are zarrbridge's, the GC keeps what is live."""
    inst = postgres.instance(stores(store_dir))
    schema = make_schema(inst)
    Recording = declare(schema)
    insert_as_stored(Recording, load_rows("current", store_dir, schema.database))
    Recording.insert1({"recording_id": 10, "waveform": np.arange(12.0).reshape(3, 4)})
    new = Recording.proj("waveform").cursor(as_dict=True).fetchall()
    metas = {
        r["recording_id"]: r["waveform"] if isinstance(r["waveform"], dict) else json.loads(r["waveform"])
        for r in new
    }
    assert metas[10]["codec"] == "zarr" and "codec" not in metas[1]
    (Recording & "recording_id in (1, 10)").delete(prompt=False)
    before = array_dirs(store_dir)
    # (the default store: dj-zarr-codecs, like DataJoint's <npy@>, records store null for <zarr@> rows)
    report = dj.gc.GarbageCollector(schema).collect(dry_run=False)
    assert report["errors"] == 0
    after = array_dirs(store_dir)
    assert len(before) == 4 and len(after) == 2  # the two deleted rows' arrays: one of each codec
    assert all("recording_id=2" in p or "recording_id=3" in p for p in after)
    want = expected("current")
    np.testing.assert_array_equal((Recording & {"recording_id": 2}).fetch1("waveform")[:], want[2])


def test_rows_no_reader_understands(postgres: Database, store_dir: Path, make_schema: Any) -> None:
    inst = postgres.instance(stores(store_dir))
    schema = make_schema(inst)
    declare(schema)
    [row, *_] = load_rows("current", store_dir, schema.database)
    meta = row["waveform"]
    config = {"config": inst.connection._config}
    codec = ZarrCodec()
    for bad, reason in [
        ({**meta, "codec": "npy"}, "names codec 'npy', not 'zarr'"),
        ({**meta, "hash": "abc"}, r"keys \['dtype', 'hash', 'path', 'provenance', 'shape', 'store'\]"),
        ({**meta, "provenance": {"other-package": "1.0"}}, "no 'codec' and 'format_version'"),
        ({"path": meta["path"], "codec_version": "1.0", "transform": "anscombe"}, "no 'codec'"),
    ]:
        with pytest.raises(ForeignRowError, match=reason) as info:
            codec.decode(bad, context=config)
        message = str(info.value)
        assert "did not write and cannot read" in message and "damaged" not in message
        assert "another package registered under the same codec name" in message
    with pytest.raises(CorruptMetadataError, match=r"shape \[100, 8\], but the row recorded \[100, 9\]"):
        codec.decode({**meta, "shape": [100, 9]}, context=config)
    shutil.rmtree(store_dir / meta["path"])
    with pytest.raises(NodeNotFoundError, match=r"no zarr\.json or \.zarray"):
        codec.decode(meta, context=config)


def test_a_zarrbridge_row_without_its_codec_is_not_taken_for_foreign(
    postgres: Database, store_dir: Path, make_schema: Any
) -> None:
    """Stripping 'codec' from a zarrbridge row leaves 'format_version': it is refused, not guessed."""
    inst = postgres.instance(stores(store_dir))
    Recording = declare(make_schema(inst))
    Recording.insert1({"recording_id": 1, "waveform": np.ones(3)})
    row = Recording.proj("waveform").cursor(as_dict=True).fetchone()["waveform"]
    meta = row if isinstance(row, dict) else json.loads(row)
    meta.pop("codec")
    with pytest.raises(ForeignRowError, match="no 'codec'"):
        ZarrCodec().decode(meta, context={"config": inst.connection._config})


STAND_IN = '''
"""A stand-in for dj-zarr-codecs: a SchemaCodec named "zarr", registered when its class is defined."""
from datajoint.builtin_codecs.schema import SchemaCodec


class ZarrArrayCodec(SchemaCodec):
    name = "zarr"

    def validate(self, value):
        pass
'''


def _install_stand_in(root: Path) -> None:
    (root / "dj_zarr_codecs").mkdir()
    (root / "dj_zarr_codecs" / "__init__.py").write_text(STAND_IN)
    dist = root / "dj_zarr_codecs-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: dj-zarr-codecs\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[datajoint.codecs]\nzarr = dj_zarr_codecs:ZarrArrayCodec\n")


@pytest.mark.parametrize(
    "first",
    [
        "import dj_zarr_codecs",  # theirs registered first, ours imported by DataJoint's entry points
        "import zarrbridge.djcodecs",  # ours first, theirs then skipped by DataJoint
        "",  # DataJoint alone loads both, in whatever order the file system lists them
    ],
)
def test_both_installed_gives_zarrbridge_and_one_warning(tmp_path: Path, first: str) -> None:
    _install_stand_in(tmp_path)
    code = textwrap.dedent(f"""
        import json, sys, warnings
        sys.path.insert(0, {str(tmp_path)!r})
        warnings.simplefilter("ignore")
        import datajoint as dj
        from zarrbridge.errors import CodecReplacedWarning
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            {first or "pass"}
            codecs = dj.list_codecs()
            for _ in range(3):
                dj.codecs.get_codec("zarr")
                import zarrbridge.djcodecs.zarr_codec
        replaced = [str(w.message) for w in caught if issubclass(w.category, CodecReplacedWarning)]
        print(json.dumps({{
            "owner": type(dj.codecs.get_codec("zarr")).__module__,
            "photon": type(dj.codecs.get_codec("photon")).__module__,
            "replaced": replaced,
        }}))
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["owner"] == "zarrbridge.djcodecs.zarr_codec"
    assert out["photon"] == "zarrbridge.djcodecs.photon_codec"
    [message] = out["replaced"]
    assert "both zarrbridge and dj-zarr-codecs provide the DataJoint codec <zarr>" in message
    assert (
        "dj_zarr_codecs:ZarrArrayCodec" in message and "zarrbridge.djcodecs.zarr_codec:ZarrCodec" in message
    )
    assert "pip uninstall dj-zarr-codecs" in message and "whichever DataJoint loads first" in message


def test_replacing_in_a_registry_warns_once() -> None:
    class ZarrArrayCodec:
        name = "zarr"

    ZarrArrayCodec.__module__ = "dj_zarr_codecs"
    registry: dict[str, Any] = {"zarr": ZarrArrayCodec()}
    import zarrbridge.djcodecs.registration as registration

    registration._warned.discard("zarr")
    with pytest.warns(CodecReplacedWarning, match="dj_zarr_codecs:.*ZarrArrayCodec"):
        register(ZarrCodec, registry=registry)
    assert isinstance(registry["zarr"], ZarrCodec)
    registry["zarr"] = ZarrArrayCodec()
    register(ZarrCodec, registry=registry)  # taken again, silently: the user was told once
    assert isinstance(registry["zarr"], ZarrCodec)
