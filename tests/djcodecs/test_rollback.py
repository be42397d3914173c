"""The insert guard wraps DataJoint's private methods only where it was tested; otherwise one warning and
DataJoint's own cleanup (its garbage collector) takes over."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from tests.djcodecs.conftest import Database, array_dirs, declare_recording

dj = pytest.importorskip("datajoint")

from zarrbridge.djcodecs.rollback import TESTED_VERSIONS, guard_problem  # noqa: E402

pytestmark = pytest.mark.db


def test_guard_problem_names_what_is_wrong() -> None:
    from datajoint.connection import Connection
    from datajoint.table import Table

    assert guard_problem(dj, Table, Connection) == ""  # the DataJoint the tests run with

    class Old:
        __version__ = "2.9.1"

    assert "DataJoint 2.9.1 is not a release it was tested with" in guard_problem(Old, Table, Connection)

    class Same:
        __version__ = f"{TESTED_VERSIONS[0][0]}.{TESTED_VERSIONS[0][1]}.0"

    class NoInsert:
        pass

    assert "has no NoInsert._insert_rows" in guard_problem(Same, NoInsert, Connection)

    class Renamed:
        def _insert_rows(self, rows: Any, *, mode: Any) -> None:
            pass

    assert "takes ('self', 'rows', 'mode')" in guard_problem(Same, Renamed, Connection)


@pytest.mark.parametrize("change", ["dj.__version__ = '2.9.0'", "del dj.table.Table._insert_rows"])
def test_fallback_warns_once_and_leaves_cleanup_to_the_gc(
    postgres: Database, store_dir: Path, make_schema: Any, change: str
) -> None:
    stores = {"mystore": {"protocol": "file", "location": str(store_dir)}}
    schema = make_schema(postgres.instance(stores))
    Recording = declare_recording(schema, store="mystore")
    code = textwrap.dedent(f"""
        import json, warnings
        import numpy as np
        warnings.simplefilter("ignore")
        import datajoint as dj
        import datajoint.table
        {change}
        inserted_rows = getattr(dj.table.Table, "_insert_rows", None)  # None: inserts cannot run at all
        warnings.simplefilter("always")
        with warnings.catch_warnings(record=True) as caught:
            import zarrbridge.djcodecs
            from zarrbridge.djcodecs.rollback import install_insert_guard
            active = install_insert_guard()
        inst = dj.Instance(host={postgres.host!r}, user={postgres.user!r}, password={postgres.password!r},
                           port={postgres.port}, backend={postgres.backend!r})
        inst.config.safemode = False
        inst.config.stores = {stores!r}
        schema = inst.Schema({schema.database!r})

        @schema
        class Recording(dj.Manual):
            definition = '''
            recording_id : int32
            ---
            waveform : <zarr@mystore>
            '''

        ok = True
        if inserted_rows is not None:
            Recording.insert1({{"recording_id": 1, "waveform": np.ones(3)}})
            try:
                Recording.insert1({{"recording_id": 1, "waveform": np.ones(4)}})
                ok = False
            except dj.errors.DuplicateError:
                pass
        from zarrbridge.djcodecs.rollback import InsertGuardWarning
        guard_warnings = [str(w.message) for w in caught if w.category is InsertGuardWarning]
        print(json.dumps({{"active": active, "ok": ok, "guarded": inserted_rows is not None,
                           "warnings": guard_warnings}}))
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["active"] is False and out["ok"] is True
    [message] = out["warnings"]  # once, though the guard was asked twice
    assert "insert guard is off" in message and "dj.gc.GarbageCollector" in message
    if out["guarded"]:  # the failed insert's array stayed: DataJoint's GC removes exactly it
        assert len(array_dirs(store_dir)) == 2 and len(Recording()) == 1
        report = dj.gc.GarbageCollector(schema, store="mystore").collect(dry_run=False)
        assert report["errors"] == 0 and len(array_dirs(store_dir)) == 1
        assert Recording.fetch1("waveform").shape == (3,)
