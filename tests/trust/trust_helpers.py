"""Helpers of the adversarial suite: one destination per store kind (directory, zip, moto S3) that tests can
damage (remove or garble a key) the way a half-synced folder, a bad disk or a careless user would."""

from __future__ import annotations

import datetime as dt
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest

START = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
KINDS = ("dir", "zip", "s3")


class Result(NamedTuple):
    code: int
    out: str
    err: str


@dataclass
class Dest:
    """A place to write a file, and the means to damage what was written there."""

    kind: str
    url: str
    storage_options: dict[str, Any] | None = None
    client: Any = None  # boto3 client for s3
    bucket: str = ""
    prefix: str = ""
    _zip_edits: dict[str, bytes | None] = field(default_factory=dict)

    # ----------------------------------------------------------------------------- key access
    def keys(self) -> list[str]:
        if self.kind == "dir":
            root = Path(self.url)
            return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        if self.kind == "zip":
            with zipfile.ZipFile(self.url) as zf:
                return sorted(zf.namelist())
        out = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        ):
            out += [o["Key"][len(self.prefix) + 1 :] for o in page.get("Contents", [])]
        return sorted(out)

    def read(self, key: str) -> bytes:
        if self.kind == "dir":
            return (Path(self.url) / key).read_bytes()
        if self.kind == "zip":
            with zipfile.ZipFile(self.url) as zf:
                return zf.read(key)
        return bytes(self.client.get_object(Bucket=self.bucket, Key=f"{self.prefix}/{key}")["Body"].read())

    def _rewrite_zip(self, key: str, value: bytes | None) -> None:
        tmp = self.url + ".tmp"
        with zipfile.ZipFile(self.url) as src, zipfile.ZipFile(tmp, "w") as dst:
            for info in src.infolist():
                if info.filename == key:
                    if value is not None:
                        dst.writestr(info.filename, value)
                else:
                    dst.writestr(info, src.read(info.filename))
        os.replace(tmp, self.url)

    def remove(self, key: str) -> None:
        if self.kind == "dir":
            os.remove(Path(self.url) / key)
        elif self.kind == "zip":
            self._rewrite_zip(key, None)
        else:
            self.client.delete_object(Bucket=self.bucket, Key=f"{self.prefix}/{key}")

    def write(self, key: str, value: bytes) -> None:
        if self.kind == "dir":
            (Path(self.url) / key).write_bytes(value)
        elif self.kind == "zip":
            self._rewrite_zip(key, value)
        else:
            self.client.put_object(Bucket=self.bucket, Key=f"{self.prefix}/{key}", Body=value)


def make_dest(kind: str, tmp_path: Path, request: pytest.FixtureRequest, name: str = "f.nwb.zarr") -> Dest:
    if kind == "dir":
        return Dest(kind, str(tmp_path / name))
    if kind == "zip":
        return Dest(kind, str(tmp_path / (name + ".zip")))
    import boto3

    options = request.getfixturevalue("s3_storage_options")
    bucket = request.getfixturevalue("s3_bucket")
    client = boto3.client(
        "s3",
        endpoint_url=options["endpoint_url"],
        aws_access_key_id=options["key"],
        aws_secret_access_key=options["secret"],
        region_name="us-east-1",
    )
    return Dest(kind, f"s3://{bucket}/{name}", options, client, bucket, name)


def nwbfile_with_data(n: int = 2000) -> Any:
    """An NWBFile with a multi-chunk TimeSeries (``acquisition/ts/data``,
    chunks of 500 rows) and a small one."""
    from pynwb import NWBFile, TimeSeries

    from zarrbridge import ZarrDataIO

    f = NWBFile(
        session_description="trust", identifier="trust-1", session_start_time=START, file_create_date=[START]
    )
    data = np.arange(n * 4, dtype="f8").reshape(n, 4)
    f.add_acquisition(TimeSeries(name="ts", data=ZarrDataIO(data, chunks=(500, 4)), unit="V", rate=10.0))
    f.add_acquisition(TimeSeries(name="small", data=np.arange(10.0), unit="V", rate=1.0))
    return f


def write_nwb(d: Dest, nwbfile: Any = None, **kw: Any) -> None:
    from zarrbridge import NWBZarrIO

    with NWBZarrIO(d.url, mode="w", storage_options=d.storage_options, **kw) as io:
        io.write(nwbfile if nwbfile is not None else nwbfile_with_data())


def noisy_nwbfile(identifier: str, rows: int) -> Any:
    """:func:`nwbfile_with_data` (100 rows) plus ``acquisition/noise``: ``rows`` x 4 incompressible floats."""
    from pynwb import TimeSeries

    from zarrbridge import ZarrDataIO

    f = nwbfile_with_data(100)
    f.fields["identifier"] = identifier
    noise = np.random.default_rng(0).normal(size=(rows, 4))
    f.add_acquisition(
        TimeSeries(name="noise", data=ZarrDataIO(noise, chunks=(10_000, 4)), unit="V", rate=1.0)
    )
    return f
