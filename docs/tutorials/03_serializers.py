"""
Workflow results with large Dask arrays
=======================================

A workflow step returns a result that holds a large :class:`dask.array.Array` next to small things. Pickling
it would compute the array and copy all of it into the pickle; a result storage with
:class:`zarrbridge.DaskArraySerializer` registered writes the array to its own array file instead, block by
block on the cluster, and leaves a small id in the pickle. Loading gives back a lazy dask array over that
file.

This tutorial saves such a result to a local folder (HDF5 array files) and to an S3 bucket (Zarr arrays), on
a :class:`distributed.LocalCluster`, and loads it back lazily. The S3 server is a local moto server that the
tutorial starts itself. Nothing is downloaded.
"""

# %%
# A cluster and a result
# ----------------------
# The cluster runs its workers as threads of this process here (``processes=False``), which keeps the
# tutorial quick; with worker processes, or a remote cluster, nothing else changes.
import logging
import tempfile
from pathlib import Path

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster

from zarrbridge import DaskArraySerializer, storage_factory

logging.getLogger("distributed").setLevel(logging.WARNING)  # no INFO lines from the cluster
cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
client = Client(cluster)

x = da.random.default_rng(0).standard_normal((4000, 2000), chunks=(1000, 1000))  # 64 MB, computed lazily
result = {"filtered": x - x.mean(axis=0), "n_samples": 4000, "note": "small values stay in the pickle"}
print(result["filtered"])

# %%
# Save to a local folder
# ----------------------
# ``storage_factory`` makes a storage from plain options (what a workflow configuration holds). The ``file``
# kind writes each array as an HDF5 file in its ``arrays/`` folder; the blocks are computed on the cluster.
workdir = Path(tempfile.mkdtemp(prefix="zarrbridge-results-"))
storage = storage_factory({"kind": "file", "options": {"path": str(workdir / "results")}})
storage.register_persistent_serializers(DaskArraySerializer)

# ``progress=`` reports the bytes written as the cluster completes the blocks: ``True`` for a tqdm bar, or a
# callable taking the bytes done since its previous call (here: a list that collects them).
written: list[int] = []
storage.save("preprocess", result, progress=written.append)  # or save(workflow, task, result)
print(f"{sum(written):,} bytes reported in {len(written)} calls")
print(storage.names())
print(sorted(p.name for p in (workdir / "results").iterdir()))

# %%
# Load lazily
# -----------
# The loaded array reads its file when computed, on the cluster's workers as well.
loaded = storage.load("preprocess")
filtered = loaded["filtered"]
print(type(filtered).__name__, filtered.shape, filtered.chunks[0][:2], loaded["note"])

column_means = filtered.mean(axis=0).compute()  # runs on the cluster, reads the HDF5 file
assert np.allclose(column_means, 0.0)
np.testing.assert_allclose(filtered[:5, :5].compute(), result["filtered"][:5, :5].compute())

# %%
# ``restricted=True`` refuses to run code from the pickle: use it for results that someone else wrote.
print(storage.load("preprocess", restricted=True)["n_samples"])

# %%
# Save to an S3 bucket
# --------------------
# A moto server on 127.0.0.1 stands in for S3; with a real bucket only ``storage_options`` change (they are
# those of :class:`s3fs.S3FileSystem`). On S3 the arrays are written as Zarr arrays, chunk by chunk.
import os
import socket
import subprocess
import sys
import time

import boto3

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
server = subprocess.Popen(
    [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
    env=env,
)
for _ in range(300):  # wait (at most 30 s) until the server accepts connections
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        break
    except OSError:
        time.sleep(0.1)
endpoint = f"http://127.0.0.1:{port}"
boto3.client(
    "s3",
    endpoint_url=endpoint,
    aws_access_key_id="testing",
    aws_secret_access_key="testing",
    region_name="us-east-1",
).create_bucket(Bucket="results")

s3_options = {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}
s3_storage = storage_factory(
    {"kind": "s3", "options": {"bucket": "results", "prefix": "runs/1", "storage_options": s3_options}}
)
s3_storage.register_persistent_serializers(DaskArraySerializer)
s3_storage.save("preprocess", result)

remote = s3_storage.load("preprocess")["filtered"]
print(type(remote).__name__, remote.shape, remote.chunks[0][:2])
np.testing.assert_allclose(remote[-3:, -3:].compute(), result["filtered"][-3:, -3:].compute())

# %%
# Overwrite, remove, collect garbage
# ----------------------------------
# Overwriting or removing a result does not delete its array files at once: arrays loaded before keep
# reading them. ``collect_garbage`` deletes what has been unreachable for ``older_than`` seconds.
storage.save("preprocess", {"filtered": da.zeros((10, 10), chunks=5)})
assert np.allclose(filtered[:2, :2].compute(), result["filtered"][:2, :2].compute())  # still the old values
removed = storage.collect_garbage(older_than=0)
print(len(removed), "files and documents removed")

# %%
# Clean up.
import shutil  # noqa: E402

client.close()
cluster.close()
server.terminate()
server.wait(timeout=10)
shutil.rmtree(workdir)
