"""
From Function Fuse's serializers
================================

zarrbridge follows the serializer contract of Function Fuse (its ``FileStorage`` and ``S3FileStorage``), so
each side's serializers and storages work with the other's, without an adapter. This guide runs the three
things a Function Fuse user changes or keeps: the registration of serializers, the protocol keys, and the
results saved before. The contract, side by side, and the retention rules: :doc:`/serializers`.

Function Fuse is not on PyPI; the code below calls zarrbridge's serializers exactly as Function Fuse's
storages do (``tests/serializers/functionfuse_contract.py`` is a storage written from that contract, and
``tests/serializers/test_ser_functionfuse.py`` runs workflows through it).
"""

# %%
# Protocol keys
# -------------
# The keys of the ``protocols`` dict a storage hands to serializers are Function Fuse's strings.
import tempfile
import uuid
from pathlib import Path

import dask.array as da
import h5py
import numpy as np

from zarrbridge import FILE_PROTOCOL, S3_PROTOCOL, DaskArraySerializer, NumpyArraySerializer, storage_factory

print(repr(FILE_PROTOCOL), repr(S3_PROTOCOL))
assert (FILE_PROTOCOL, S3_PROTOCOL) == ("file_protocol", "s3 protocol")

# %%
# zarrbridge's serializers, called as a Function Fuse storage calls them
# ------------------------------------------------------------------------
# A Function Fuse file protocol is an object with ``open(name, mode)`` (as Python's ``open``) and
# ``remove(name)``, rooted at the workflow's ``bigdata`` folder. ``pickle`` returns the persistent id
# ``(name, inner)``; the storage keeps it in its pickle and later calls ``unpickle(inner, protocols)``.
workdir = Path(tempfile.mkdtemp(prefix="zarrbridge-ff-"))


class BigDataFolder:
    """What Function Fuse's file protocol offers: ``open`` and ``remove`` under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def open(self, name: str, mode: str):
        return open(self.root / name, mode)

    def remove(self, name: str) -> None:
        (self.root / name).unlink()


protocols = {"file_protocol": BigDataFolder(workdir / "wf" / "bigdata")}
x = da.arange(1_000_000, chunks=250_000).reshape(1000, 1000)
tag, inner = DaskArraySerializer.pickle(x, protocols)
print(tag, inner)
lazy = DaskArraySerializer.unpickle(inner, protocols)  # a lazy dask array over the HDF5 file
assert np.array_equal(lazy[:2, :3].compute(), x[:2, :3].compute())
DaskArraySerializer.remove(inner, protocols)

# %%
# Registration on zarrbridge's storages
# -------------------------------------
# ``register_persistent_serializers`` takes zarrbridge's classes and any class with Function Fuse's
# interface (``serializer_class``, ``name``, ``pickle``, ``unpickle``, ``remove``), such as a serializer
# written for Function Fuse, like this one after its documentation's ``DaskArraySerializer``.


class FunctionFuseStyleSerializer:
    serializer_class = np.ndarray
    name = "HDFArray"
    datapath = "arrays"

    @classmethod
    def pickle(cls, obj, protocols):
        filename = f"{uuid.uuid4()}.h5"
        with protocols[FILE_PROTOCOL].open(filename, "w+b") as f, h5py.File(f, mode="w") as hdf:
            hdf.create_dataset(cls.datapath, data=obj)
        return cls.name, filename

    @classmethod
    def unpickle(cls, filename, protocols):
        with protocols[FILE_PROTOCOL].open(filename, "rb") as f, h5py.File(f, mode="r") as hdf:
            return hdf[cls.datapath][()]

    @classmethod
    def remove(cls, filename, protocols):
        protocols[FILE_PROTOCOL].remove(filename)


storage = storage_factory({"kind": "file", "options": {"path": str(workdir / "results")}})
storage.register_persistent_serializers(DaskArraySerializer, FunctionFuseStyleSerializer)

# %%
# Differences: the first registered serializer whose ``accepts(obj)`` is true takes an object (Function Fuse:
# the one registered for ``type(obj)`` exactly), and two classes with one ``name`` are an error naming both
# (Function Fuse: the last one wins).
storage.save(
    "wf", "step_0001", {"lazy": x, "eager": np.eye(3)}
)  # save(workflow, task, obj), as Function Fuse
back = storage.read_task("wf", "step_0001")
print(type(back["lazy"]).__name__, back["eager"].diagonal())
print(storage.list_tasks("wf", "step_*"), storage.file_exists("wf", "step_0001"))

# %%
# A missing task is a :class:`~zarrbridge.errors.ResultNotFoundError`, which is a ``FileNotFoundError``: how
# a Function Fuse workflow learns that a step must be computed.
try:
    storage.read_task("wf", "step_0002")
except FileNotFoundError as error:
    print(type(error).__name__, "-", error)

# %%
# Removing a task calls each serializer's own ``remove`` for its files, at garbage collection.
storage.remove_task("wf", "step_0001")
print(storage.collect_garbage(older_than=0)[:2], "...")

# %%
# Results saved before
# --------------------
# Results saved by an earlier zarrbridge release, before its ids followed Function Fuse's ``(name, inner)``
# shape and its protocol keys became Function Fuse's, still load; the repository keeps one such storage
# (``tests/fixtures/serializers/file_storage_v1``, read by every test run).
import shutil  # noqa: E402

old = workdir / "old-results"
# (the repository's folder: sphinx-gallery runs each script in its own folder, docs/migration/)
repo = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "tests" / "fixtures").is_dir())
shutil.copytree(repo / "tests/fixtures/serializers/file_storage_v1", old)
old_storage = storage_factory({"kind": "file", "options": {"path": str(old)}})
old_storage.register_persistent_serializers(DaskArraySerializer, NumpyArraySerializer)
print(old_storage.names())
print(old_storage.load("hdf5/step")["lazy"].compute())

# %%
# Results that Function Fuse's own storages hold stay readable there: keep reading them with Function Fuse
# (with its serializers registered), or move them once, task by task, into a zarrbridge storage::
#
#     for task in ff_storage.list_tasks("wf", "*"):
#         storage.save("wf", task, ff_storage.read_task("wf", task))
#
# Function Fuse's storages also take zarrbridge's serializers (``ff_storage.register_persistent_serializers(
# DaskArraySerializer)``), so new results there get zarrbridge's array files without moving anything.

# %%
# Clean up.
shutil.rmtree(workdir)
