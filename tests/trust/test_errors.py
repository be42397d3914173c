"""Errors say what and where: bad arguments, an unreachable endpoint, a missing bucket, an HDF5 file."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest
from trust_helpers import START, Dest, nwbfile_with_data, write_nwb

from zarrbridge import NWBZarrIO, ZarrIO, read_nwb
from zarrbridge.core.location import CONNECT_TIMEOUT_S, MAX_ATTEMPTS
from zarrbridge.errors import (
    InvalidOptionError,
    LocationError,
    StoreUnreachableError,
    UnsupportedValueTypeError,
)


def test_write_none(tmp_path: Path) -> None:
    with NWBZarrIO(str(tmp_path / "f.nwb.zarr"), mode="w") as io:
        with pytest.raises(
            UnsupportedValueTypeError, match=r"write\(.*f\.nwb\.zarr\) cannot store a value of type NoneType"
        ):
            io.write(None)


@pytest.mark.parametrize("cls", [ZarrIO, NWBZarrIO])
def test_zarr_format_5(tmp_path: Path, cls: Any) -> None:
    with pytest.raises(InvalidOptionError, match="zarr_format must be 2 or 3"):
        cls(str(tmp_path / "f.zarr"), mode="w", zarr_format=5)
    assert not (tmp_path / "f.zarr").exists()


def _dead_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more


@pytest.mark.parametrize("mode", ["r", "w"])
def test_endpoint_down_fails_fast(mode: str) -> None:
    endpoint = _dead_endpoint()
    options = {"endpoint_url": endpoint, "key": "k", "secret": "s"}
    started = time.monotonic()
    with pytest.raises(StoreUnreachableError, match=rf"at '{endpoint}' cannot be reached"):
        if mode == "r":
            read_nwb("s3://bucket/f.nwb.zarr", storage_options=options)
        else:
            write_nwb(Dest("s3", "s3://bucket/f.nwb.zarr", options), nwbfile_with_data(10))
    # the S3 client's own connect timeout and retries (core.location), not a TCP probe: about 2 s here
    assert time.monotonic() - started < MAX_ATTEMPTS * CONNECT_TIMEOUT_S


@pytest.mark.parametrize("mode", ["r", "w"])
def test_missing_bucket(s3_storage_options: dict[str, Any], mode: str) -> None:
    url = "s3://no-such-bucket-zb/f.nwb.zarr"
    with pytest.raises(LocationError, match="the bucket 'no-such-bucket-zb' does not exist"):
        if mode == "r":
            read_nwb(url, storage_options=s3_storage_options)
        else:
            write_nwb(Dest("s3", url, s3_storage_options), nwbfile_with_data(10))


def test_read_nwb_on_hdf5(tmp_path: Path) -> None:
    from pynwb import NWBHDF5IO, NWBFile

    path = tmp_path / "f.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(NWBFile(session_description="h", identifier="h", session_start_time=START))
    with pytest.raises(LocationError) as info:
        read_nwb(str(path))
    text = str(info.value)
    assert "is an HDF5 file" in text and "pynwb.NWBHDF5IO" in text and "zarrbridge convert" in text
    assert "mode='w'" not in text and path.stat().st_size > 0
