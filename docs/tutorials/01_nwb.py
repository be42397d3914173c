"""
NWB: HDF5 to Zarr, lazy reads, and back
=======================================

This tutorial makes a small NWB recording in HDF5 with pynwb, exports it to Zarr with
:class:`zarrbridge.NWBZarrIO`, reads it back lazily, slices it, and writes it back to HDF5. It then does the
same on the two other kinds of location: a ``.zip`` file and a bucket on an S3 server (a local moto server
that the tutorial starts and stops itself).

Everything happens in a temporary folder; nothing is downloaded.
"""

# %%
# A small recording in HDF5
# -------------------------
# One second of 8-channel, 30 kHz voltage, chunked and gzip-compressed by HDF5 (``H5DataIO``), as recording
# systems write it.
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np
import pynwb
from hdmf.backends.hdf5 import H5DataIO

from zarrbridge import NWBZarrIO, read_nwb

workdir = Path(tempfile.mkdtemp(prefix="zarrbridge-nwb-"))
rng = np.random.default_rng(0)
voltage = rng.integers(-500, 500, size=(30_000, 8), dtype=np.int16)

nwbfile = pynwb.NWBFile(
    session_description="tutorial recording",
    identifier="tutorial-0001",
    session_start_time=datetime(2026, 1, 1, 9, 30, tzinfo=UTC),
)
nwbfile.add_acquisition(
    pynwb.TimeSeries(
        name="voltage",
        data=H5DataIO(voltage, chunks=(3000, 8), compression="gzip", compression_opts=4, shuffle=True),
        unit="uV",
        rate=30_000.0,
    )
)
hdf5_path = workdir / "session.nwb"
with pynwb.NWBHDF5IO(hdf5_path, mode="w") as io:
    io.write(nwbfile)
print(f"{hdf5_path.name}: {hdf5_path.stat().st_size:,} bytes")

# %%
# Export to a Zarr directory
# --------------------------
# ``export`` works as in hdmf-zarr. ``link_data=False`` copies the data instead of linking to the HDF5 file
# (links across backends are not possible). HDF5's gzip + shuffle filters map to zarr codecs; the chunks of
# datasets over 1 MiB are copied as stored, without being decompressed and compressed again, and smaller ones
# (like this recording) are read whole and encoded in memory, which is faster for them.
zarr_path = workdir / "session.nwb.zarr"
with pynwb.NWBHDF5IO(hdf5_path, mode="r") as read_io, NWBZarrIO(zarr_path, mode="w") as export_io:
    export_io.export(src_io=read_io, write_args=dict(link_data=False), number_of_jobs=2)

print(sorted(p.name for p in zarr_path.iterdir()))

# %%
# Read lazily and slice
# ---------------------
# :func:`zarrbridge.read_nwb` returns the :class:`pynwb.NWBFile`; its datasets are lazy, zarr-backed arrays
# that read only the chunks a slice touches.
nwb_back = read_nwb(zarr_path)
series = nwb_back.acquisition["voltage"]
print(type(series.data).__name__, series.data.shape, series.data.chunks)

first_ms = series.data[:30, :]  # reads one chunk, not the whole recording
assert np.array_equal(first_ms, voltage[:30])
print("channel 3, samples 0-4:", series.data[:5, 3])
nwb_back.read_io.close()

# %%
# Write it back to HDF5
# ---------------------
# pynwb's own ``NWBHDF5IO.export`` takes a :class:`~zarrbridge.NWBZarrIO` as its source.
hdf5_again = workdir / "session-again.nwb"
with NWBZarrIO(zarr_path, mode="r") as read_io, pynwb.NWBHDF5IO(hdf5_again, mode="w") as export_io:
    export_io.export(src_io=read_io, write_args=dict(link_data=False))

with h5py.File(hdf5_again, "r") as f:
    assert np.array_equal(f["acquisition/voltage/data"][:], voltage)
    print("HDF5 again:", f["acquisition/voltage/data"].shape, f["acquisition/voltage/data"].dtype)

# %%
# Progress and what was chosen
# ----------------------------
# Long operations take ``progress=``: ``True`` draws a tqdm bar on stderr, a tqdm-compatible class draws that
# bar, and a callable is called with the bytes done since its previous call. What zarrbridge decided (codecs,
# chunk shapes, a raw chunk copy or a recompression, the number of workers) is logged at INFO under the
# ``zarrbridge`` logger; nothing is printed.
import logging

logging.basicConfig(format="%(name)s: %(message)s")
logging.getLogger("zarrbridge").setLevel(logging.INFO)

copied: list[int] = []
with (
    pynwb.NWBHDF5IO(hdf5_path, mode="r") as read_io,
    NWBZarrIO(workdir / "with-progress.nwb.zarr", mode="w") as export_io,
):
    export_io.export(src_io=read_io, write_args=dict(link_data=False), progress=copied.append)
logging.getLogger("zarrbridge").setLevel(logging.WARNING)
print(f"{len(copied)} progress calls, {sum(copied):,} bytes in all (the recording: {voltage.nbytes:,})")
assert sum(copied) >= voltage.nbytes

# %%
# A virtual view of the HDF5 file
# -------------------------------
# :func:`zarrbridge.zarrio.virtual.write_virtual` (``zarrbridge convert --virtual`` in the shell) writes
# a Zarr view of an HDF5 file without copying its array data: metadata and small datasets inline, and each
# larger dataset's chunks as byte ranges of the HDF5 file (fsspec reference JSON, see ``docs/format.md``).
# The view reads like any Zarr NWB file.
from zarrbridge.zarrio.virtual import write_virtual

view_path = workdir / "session-view.nwb.zarr.json"
report = write_virtual(hdf5_path, view_path, inline_bytes=0)  # (by default, datasets up to 1 MiB are inline)
print(f"{view_path.name}: {view_path.stat().st_size:,} bytes, {report.chunks} chunk references")

viewed = read_nwb(view_path)
assert report.chunks == 10  # one reference per HDF5 chunk of the recording
assert np.array_equal(viewed.acquisition["voltage"].data[1000:1100], voltage[1000:1100])
viewed.read_io.close()

# %%
# A ``.zip`` file
# ---------------
# A path ending in ``.zip`` is a zip archive holding the hierarchy: one file to copy or upload. Zip archives
# are written once (mode ``"w"``) and read many times.
zip_path = workdir / "session.nwb.zarr.zip"
with pynwb.NWBHDF5IO(hdf5_path, mode="r") as read_io, NWBZarrIO(zip_path, mode="w") as export_io:
    export_io.export(src_io=read_io, write_args=dict(link_data=False))

with NWBZarrIO(zip_path, mode="r") as io:
    from_zip = io.read()
    assert np.array_equal(from_zip.acquisition["voltage"].data[100:200], voltage[100:200])
print(f"{zip_path.name}: {zip_path.stat().st_size:,} bytes")

# %%
# A bucket on an S3 server
# ------------------------
# Any fsspec URL works, with its ``storage_options``. Here the server is moto's, started on 127.0.0.1 on a
# free port, so the tutorial runs offline; with a real bucket only the options change.
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

storage_options = {
    "endpoint_url": f"http://127.0.0.1:{port}",
    "key": "testing",
    "secret": "testing",
    "client_kwargs": {"region_name": "us-east-1"},
}
boto3.client(
    "s3",
    endpoint_url=storage_options["endpoint_url"],
    aws_access_key_id="testing",
    aws_secret_access_key="testing",
    region_name="us-east-1",
).create_bucket(Bucket="recordings")

url = "s3://recordings/session.nwb.zarr"
with (
    pynwb.NWBHDF5IO(hdf5_path, mode="r") as read_io,
    NWBZarrIO(url, mode="w", storage_options=storage_options) as export_io,
):
    export_io.export(src_io=read_io, write_args=dict(link_data=False))

remote = read_nwb(url, storage_options=storage_options)
remote_voltage = remote.acquisition["voltage"].data
assert np.array_equal(remote_voltage[-10:], voltage[-10:])  # reads the last chunk only
print(url, remote_voltage.shape)
remote.read_io.close()

# %%
# Clean up: stop the server and remove the temporary folder.
import shutil

server.terminate()
server.wait(timeout=10)
shutil.rmtree(workdir)
