"""HDF5 -> Zarr export to S3 (a local moto server) against s3fs uploading the same bytes with ``put``.

One NWB recording (``--mb`` MB of int16, ``contiguous`` or ``gzip`` chunked; made by
``nwb_export_scaling.py``) is exported with ``NWBZarrIO.export`` straight to ``s3://bucket/export.nwb.zarr``;
the same export to a local folder is then uploaded with ``s3fs.S3FileSystem.put(folder, recursive=True)``.
Both are timed (best of ``--repeat``, interleaved) and shown in MB/s of the stored bytes. A moto server runs
in memory on 127.0.0.1, so the numbers measure request handling and concurrency, not a network.

Usage::

    .venv/bin/python benchmarks/bench_export_s3.py [--mb 100] [--layout gzip] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
KEY, SECRET, REGION = "testing", "testing", "us-east-1"


def _moto() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto server did not start within 30 s")


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--layout", choices=("contiguous", "gzip"), default="gzip")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    os.environ.update(AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET, AWS_DEFAULT_REGION=REGION)
    import s3fs
    from pynwb import NWBHDF5IO

    from zarrbridge import NWBZarrIO

    proc, endpoint = _moto()
    options: dict[str, Any] = {
        "endpoint_url": endpoint,
        "key": KEY,
        "secret": SECRET,
        "client_kwargs": {"region_name": REGION},
    }
    fs = s3fs.S3FileSystem(**options)
    import boto3

    client = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name=REGION
    )
    try:
        with tempfile.TemporaryDirectory(prefix="bench_export_s3_") as tmp:
            src, local = Path(tmp) / "src.nwb", Path(tmp) / "local.nwb.zarr"
            make = [sys.executable, str(HERE / "nwb_export_scaling.py"), "--scaling-make", "recording"]
            subprocess.run([*make, str(src), str(args.mb), args.layout], check=True)
            with NWBHDF5IO(str(src), "r") as read_io, NWBZarrIO(local, mode="w") as zio:
                zio.export(src_io=read_io, write_args={"link_data": False})
            stored = _size(local) / 1e6
            times: dict[str, list[float]] = {"zarrbridge export to s3": [], "s3fs put of the folder": []}
            for _ in range(args.repeat):
                bucket = f"bench-{uuid.uuid4().hex[:10]}"
                client.create_bucket(Bucket=bucket)
                start = time.perf_counter()
                with (
                    NWBHDF5IO(str(src), "r") as read_io,
                    NWBZarrIO(f"s3://{bucket}/export.nwb.zarr", mode="w", storage_options=options) as zio,
                ):
                    zio.export(src_io=read_io, write_args={"link_data": False})
                times["zarrbridge export to s3"].append(time.perf_counter() - start)
                start = time.perf_counter()
                fs.put(str(local), f"{bucket}/put.nwb.zarr", recursive=True)
                times["s3fs put of the folder"].append(time.perf_counter() - start)
                fs.invalidate_cache()
                fs.rm(bucket, recursive=True)
            print(f"{args.mb} MB int16 recording ({args.layout}); {stored:.0f} MB stored, moto on {endpoint}")
            for name, runs in times.items():
                best = min(runs)
                print(f"  {name:<26} best {best:6.2f} s  {stored / best:7.1f} MB/s  (runs {runs})")
            ratio = min(times["s3fs put of the folder"]) / min(times["zarrbridge export to s3"])
            print(f"  export rate / put rate: {ratio:.2f}x (the export also reads and converts the source)")
            shutil.rmtree(local)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
