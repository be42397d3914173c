"""
DataJoint: ``<zarr@store>`` and ``<photon@store>`` columns
==========================================================

This tutorial declares a DataJoint 2.x schema whose rows keep their arrays in a store as Zarr: a
``<zarr@store>`` column for a waveform and a ``<photon@store>`` column for a photon-limited movie. It inserts
rows, fetches them (lazily), deletes some, and lets DataJoint's garbage collector remove the arrays no row
references any more.

The database is a real PostgreSQL server from the ``pgserver`` package, started by the tutorial in a
temporary folder (as zarrbridge's tests do); the store is a local folder. Nothing is downloaded.
"""

# %%
# A PostgreSQL server and a store
# -------------------------------
# ``pgserver`` runs PostgreSQL from pip's wheel. With a server of your own, only the ``dj.Instance``
# arguments change. The ``file`` store could equally be an ``s3`` one (``endpoint``, ``bucket``,
# ``access_key``...; see :doc:`/djcodecs`).
import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore", message="No datajoint.json found")  # configured in code below
import datajoint as dj  # noqa: E402

logging.getLogger("pgserver").setLevel(logging.WARNING)  # its start-up log is long
workdir = Path(tempfile.mkdtemp(prefix="zarrbridge-dj-"))
os.chmod(workdir, 0o755)  # pgserver runs postgres as an unprivileged user when started as root
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import pgserver

    server = pgserver.get_server(workdir / "pgdata", cleanup_mode="stop")

store_dir = workdir / "store"
store_dir.mkdir()
db = dj.Instance(host=str(workdir / "pgdata"), user="postgres", password="", port=5432, backend="postgresql")
db.config.safemode = False  # no confirmation prompts in a script
db.config.stores = {"lab": {"protocol": "file", "location": str(store_dir)}}

# %%
# The codecs are found through the ``datajoint.codecs`` entry point: no ``import zarrbridge`` is needed.
print("zarr" in dj.list_codecs(), "photon" in dj.list_codecs())

# %%
# A schema with both columns
# --------------------------
schema = db.Schema("tutorial")


@schema
class Session(dj.Manual):
    definition = """
    session_id : int32
    ---
    waveform : <zarr@lab>     # any numeric array; a read-only zarr.Array on fetch
    movie : <photon@lab>      # frames x height x width of detector readings
    """


# %%
# Insert rows
# -----------
# The movie is simulated: ``30`` units per photon above a dark level of ``500``, Poisson photon noise, stored
# as ``uint16`` readings as a camera would write them.
rng = np.random.default_rng(0)


def simulated_movie(frames: int = 60, size: int = 32) -> np.ndarray:
    rate = rng.uniform(0.5, 20, (size, size)) * (1 + 0.5 * np.sin(np.arange(frames) / 10))[:, None, None]
    readings = 30.0 * rng.poisson(rate) + 500 + rng.normal(0, 3, rate.shape)
    return np.clip(np.rint(readings), 0, 32767).astype("u2")


movies = {i: simulated_movie() for i in range(3)}
Session.insert(
    {"session_id": i, "waveform": rng.standard_normal((5000, 16)).astype("f4"), "movie": movies[i]}
    for i in range(3)
)
print(Session())

# %%
# Fetch
# -----
# ``<zarr@>`` returns a read-only :class:`zarr.Array`: a slice reads only the chunks it needs.
waveform = (Session & {"session_id": 1}).fetch1("waveform")
print(type(waveform).__name__, waveform.shape, waveform.dtype, waveform.chunks)
print("channel means:", np.round(waveform[:1000].mean(axis=0)[:4], 3))

# %%
# ``<photon@>`` returns a :class:`~zarrbridge.djcodecs.PhotonMovie`: lazy, decoded to float32 readings when
# sliced. The error it adds is a fraction of the photon noise (see :doc:`/djcodecs`).
movie = (Session & {"session_id": 1}).fetch1("movie")
frames = movie[:10]
print(type(movie).__name__, movie.shape, movie.dtype, movie.params)
print("mean absolute error, in readings:", float(np.abs(frames - movies[1][:10]).mean()))


# %%
# Delete rows, then collect the garbage
# -------------------------------------
# Deleting a row leaves its arrays in the store (DataJoint deletes rows, not files); its garbage collector
# removes the arrays no row references.
def array_folders() -> list[str]:
    return sorted(p.relative_to(store_dir).as_posix() for p in store_dir.rglob("*.zarr") if p.is_dir())


print(len(array_folders()), "arrays before")
(Session & {"session_id": 0}).delete(prompt=False)
print(len(array_folders()), "arrays after the delete")
report = dj.gc.GarbageCollector(schema, store="lab").collect(dry_run=False)
print(len(array_folders()), "arrays after garbage collection; errors:", report["errors"])
assert len(array_folders()) == 4 and report["errors"] == 0

# %%
# The remaining rows read as before.
left = {row["session_id"]: row for row in Session.to_dicts()}
assert sorted(left) == [1, 2]
assert left[2]["waveform"].shape == (5000, 16)

# %%
# Clean up: drop the schema, stop the server, remove the folder.
import shutil  # noqa: E402

schema.drop(prompt=False)
server.cleanup()
shutil.rmtree(workdir, ignore_errors=True)
