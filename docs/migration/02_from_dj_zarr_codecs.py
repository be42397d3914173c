"""
From dj-zarr-codecs and dj-photon-codecs
========================================

zarrbridge's ``<zarr@store>`` is a drop-in for DataJoint's ``dj-zarr-codecs``: the same codec name, the
same schema-addressed paths, and every row dj-zarr-codecs wrote fetches as the same read-only
:class:`zarr.Array`. Table definitions and store settings do not change:

.. code-block:: bash

   pip uninstall dj-zarr-codecs
   pip install "zarrbridge[datajoint]"

This guide puts rows that the real dj-zarr-codecs 0.1.0 wrote (kept in the repository under
``tests/djcodecs/fixtures/dj_zarr_codecs/``, with the script that made them) into a table on a real
PostgreSQL server, fetches them through zarrbridge, adds new rows, and collects garbage. What is read, what
differs, and what happens with both packages installed: :doc:`/migrating-from-dj-zarr-codecs`.

``dj-photon-codecs`` rows are not read by ``<photon@>``: that package needs a module its current release
cannot import and writes zarr v2 arrays of float64 transformed values. Fetch them with that package and
insert the movies again into a ``<photon@store>`` column.
"""

# %%
# A database, and the store the rows were written to
# --------------------------------------------------
# Store settings are DataJoint's, unchanged: dj-zarr-codecs and zarrbridge both read ``dj.config["stores"]``.
# The ``default`` entry matters for rows dj-zarr-codecs wrote with ``store: null`` (``<zarr@>`` columns).
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore", message="No datajoint.json found")  # configured in code below
import datajoint as dj  # noqa: E402

logging.getLogger("pgserver").setLevel(logging.WARNING)
workdir = Path(tempfile.mkdtemp(prefix="zarrbridge-djmigrate-"))
os.chmod(workdir, 0o755)  # pgserver runs postgres as an unprivileged user when started as root
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import pgserver

    server = pgserver.get_server(workdir / "pgdata", cleanup_mode="stop")
store_dir = workdir / "store"
db = dj.Instance(host=str(workdir / "pgdata"), user="postgres", password="", port=5432, backend="postgresql")
db.config.safemode = False
db.config.stores = {"mystore": {"protocol": "file", "location": str(store_dir)}, "default": "mystore"}

schema = db.Schema("lab")


@schema
class Recording(dj.Manual):
    definition = """
    recording_id : int32
    ---
    waveform : <zarr@mystore>
    """


# %%
# Rows dj-zarr-codecs wrote
# -------------------------
# The arrays go where dj-zarr-codecs put them, and the rows into the table exactly as DataJoint stored them
# (the JSON column), without zarrbridge.
# (the repository's folder: sphinx-gallery runs each script in its own folder, docs/migration/)
repo = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "tests" / "fixtures").is_dir())
fixture = repo / "tests/djcodecs/fixtures/dj_zarr_codecs/current"
shutil.copytree(fixture / "store", store_dir)
old_rows = json.loads((fixture / "rows.json").read_text())
for row in old_rows:
    Recording.connection.query(
        f"INSERT INTO {Recording.full_table_name} (recording_id, waveform) VALUES (%s, %s)",
        args=(row["recording_id"], json.dumps(row["waveform"])),
    )
print(json.dumps(old_rows[0]["waveform"], indent=1))

# %%
# They fetch through zarrbridge
# -----------------------------
# The same read-only zarr arrays as before, checked against the row's shape and dtype.
with np.load(fixture / "expected.npz") as npz:
    expected = {int(k): npz[k] for k in npz.files}
for rid, value in expected.items():
    z = (Recording & {"recording_id": rid}).fetch1("waveform")
    assert z.read_only and np.array_equal(z[:], value)
    print(rid, type(z).__name__, z.shape, z.dtype)

# %%
# New rows are zarrbridge's
# -------------------------
# Inserted rows carry the codec's name and a format version; the arrays are plain zarr v3, which
# dj-zarr-codecs could still open with ``zarr.open_array`` (the way back).
Recording.insert1({"recording_id": 10, "waveform": np.arange(12.0).reshape(3, 4)})
raw = Recording.connection.query(
    f"SELECT waveform FROM {Recording.full_table_name} WHERE recording_id = 10"
).fetchone()[0]
new_row = raw if isinstance(raw, dict) else json.loads(raw)
print({k: new_row[k] for k in ("codec", "format_version", "store", "shape", "dtype")})

# %%
# Garbage collection sees both kinds of rows
# ------------------------------------------
# dj-zarr-codecs recorded ``store: null`` for some rows (``<zarr@>`` columns use the default store), so
# collect the default store without naming it: a collection with ``store="mystore"`` would take those rows'
# arrays for orphans.
(Recording & "recording_id in (1, 10)").delete(prompt=False)
report = dj.gc.GarbageCollector(schema).collect(dry_run=False)
print(
    "errors:", report["errors"], "- rows left:", sorted(int(r) for r in Recording.to_arrays("recording_id"))
)
for rid in sorted(Recording.to_arrays("recording_id")):
    assert np.array_equal((Recording & {"recording_id": int(rid)}).fetch1("waveform")[:], expected[int(rid)])

# %%
# Clean up.
schema.drop(prompt=False)
server.cleanup()
shutil.rmtree(workdir, ignore_errors=True)
