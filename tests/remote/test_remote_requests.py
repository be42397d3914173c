"""Reading NWB files from S3: which requests a read makes and which go together (a proxy on moto counts)."""

from __future__ import annotations

import datetime as dt
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from counting_proxy import CountingProxy, Request

from zarrbridge import NWBZarrIO, ZarrIO
from zarrbridge.core.location import (
    CONNECT_TIMEOUT_S,
    MAX_ATTEMPTS,
    MAX_POOL_CONNECTIONS,
    Location,
    filesystem_options,
)
from zarrbridge.errors import StoreUnreachableError

pytestmark = pytest.mark.s3

N_SERIES = 24  # more scalars than botocore's default pool of 10 connections
LEGACY_FIXTURE = Path(__file__).parents[1] / "fixtures" / "legacy" / "ecephys.nwb.zarr"
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
LATENCY_S = 0.25  # per request: requests sent together overlap although the client prepares them in turn


def _nwbfile() -> Any:
    from pynwb import NWBFile, TimeSeries
    from pynwb.ecephys import ElectricalSeries

    nwb = NWBFile(session_description="remote", identifier="remote-1", session_start_time=START)
    device = nwb.create_device(name="probe")
    group = nwb.create_electrode_group(name="shank", description="d", location="CA1", device=device)
    for _ in range(4):
        nwb.add_electrode(group=group, location="CA1")
    region = nwb.create_electrode_table_region(region=[0, 1, 2, 3], description="all")
    data = np.arange(400, dtype=np.int16).reshape(100, 4)
    nwb.add_acquisition(ElectricalSeries(name="es", data=data, electrodes=region, rate=1000.0))
    for i in range(N_SERIES):
        nwb.add_acquisition(TimeSeries(name=f"ts{i:02d}", data=np.arange(5.0) + i, unit="V", rate=10.0))
    for i in range(3):
        nwb.add_unit(spike_times=np.arange(i + 1) / 10.0)
    for i in range(3):
        nwb.add_trial(start_time=float(i), stop_time=i + 0.5)
    return nwb


@pytest.fixture()
def remote_file(s3_bucket: str, s3_storage_options: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> str:
    """An NWB file written by zarrbridge straight to the moto server (not through the proxy).

    Without small chunks in the root document (core/inline.py; counted in
    tests/zarrio/test_inline_chunks_s3.py):
    these cases count the read-ahead of the chunk files themselves."""
    from zarrbridge.core import inline

    monkeypatch.setattr(inline, "INLINE_CHUNK_BYTES", 0)
    url = f"s3://{s3_bucket}/rec.nwb.zarr"
    with NWBZarrIO(url, mode="w", storage_options=s3_storage_options) as io:
        io.write(_nwbfile())
    return url


def _summary(nwb: Any) -> dict[str, Any]:
    return {
        "identifier": nwb.identifier,
        "acquisition": sorted(nwb.acquisition),
        "created": [d.isoformat() for d in nwb.file_create_date],
        "electrodes": list(nwb.electrodes.id[:]),
        "region": list(nwb.acquisition["es"].electrodes.data[:]),
        "starting_times": [nwb.acquisition[f"ts{i:02d}"].starting_time for i in range(N_SERIES)],
        "units": len(nwb.units),
        "trials": len(nwb.trials),
    }


def _together(requests: list[Request]) -> bool:
    """Whether all ``requests`` were in flight at one moment (sent in one round)."""
    return bool(requests) and max(r.start for r in requests) < min(r.end for r in requests)


def _read_ahead_arrays(url: str, options: dict[str, Any]) -> set[str]:
    """Paths of the arrays a read needs (scalars, table ids, regions, file_create_date), found with zarr."""
    import s3fs

    fs = s3fs.S3FileSystem(**options, asynchronous=True)
    root = zarr.open_group(zarr.storage.FsspecStore(fs, path=url.removeprefix("s3://")), mode="r")
    found = set()
    for path, node in root.members(max_depth=None):
        if not isinstance(node, zarr.Array) or path.startswith("specifications"):
            continue
        kind = node.attrs.get("neurodata_type")
        if (
            node.ndim == 0
            or kind in ("ElementIdentifiers", "DynamicTableRegion")
            or path == "file_create_date"
        ):
            found.add(path)
    return found


def test_open_and_read_get_each_object_once_and_together(
    remote_file: str, proxy: CountingProxy, via_proxy: dict[str, Any], s3_storage_options: dict[str, Any]
) -> None:
    with NWBZarrIO(remote_file, mode="r", storage_options=s3_storage_options) as io:
        expected = _summary(io.read())
    needed = _read_ahead_arrays(remote_file, s3_storage_options)
    assert len(needed) > N_SERIES  # (the scalars, ids, the region and file_create_date)

    proxy.latency_s = LATENCY_S
    proxy.reset()
    with NWBZarrIO(remote_file, mode="r", storage_options=via_proxy) as io:
        nwb = io.read()
        opened = proxy.requests
        assert _summary(nwb) == expected  # answered from what was read ahead: no further request
        assert proxy.requests == opened

    # only whole-object GETs: no HEAD before each GET (s3fs max_concurrency), no LIST of empty groups
    assert {r.method for r in opened} == {"GET"} and proxy.lists() == []
    counts = proxy.key_counts()
    assert max(counts.values()) == 1, counts.most_common(3)  # root probed once, file_create_date read once
    keys = set(counts)
    prefix = "rec.nwb.zarr/"
    namespaces = {k for k in keys if k.startswith(prefix + "specifications/") and "/namespace/" in k}
    assert len(namespaces) == 3  # core, hdmf-common, hdmf-experimental: namespace documents only
    metadata = {f"{prefix}{path}/zarr.json" for path in needed}
    chunks = keys - namespaces - metadata - {prefix + "zarr.json"}
    assert metadata <= keys  # (each compared with the consolidated metadata, as the strict reader does)
    assert {k.rsplit("/", 1)[0] for k in chunks} <= {prefix + p for p in needed} | {
        prefix + p + "/c" for p in needed
    }
    assert len(opened) == 1 + 3 + 2 * len(needed)

    # three rounds: the root document; the namespace documents together; everything the read needs together
    by_key = {r.key: r for r in opened}
    assert _together([by_key[k] for k in namespaces])
    rest = [r for r in opened if r.key not in namespaces and r.key != prefix + "zarr.json"]
    # (the client signs its requests one after another, so they do not all start at once)
    assert proxy.mean_concurrency(rest) > 8
    assert proxy.peak > 10  # more connections than botocore's default pool
    assert proxy.peak <= MAX_POOL_CONNECTIONS


# (the legacy fixture's Device was written with pynwb's since-deprecated 'manufacturer' field)
@pytest.mark.filterwarnings("ignore:The 'manufacturer' field is deprecated:DeprecationWarning")
def test_legacy_file_reads_each_document_once_and_together(
    s3_bucket: str, s3_storage_options: dict[str, Any], proxy: CountingProxy, via_proxy: dict[str, Any]
) -> None:
    import s3fs

    fs = s3fs.S3FileSystem(**s3_storage_options)
    fs.put(str(LEGACY_FIXTURE), f"{s3_bucket}/legacy.nwb.zarr", recursive=True)
    url = f"s3://{s3_bucket}/legacy.nwb.zarr"
    with NWBZarrIO(str(LEGACY_FIXTURE), mode="r") as io:
        local = io.read()
        expected = (local.identifier, sorted(local.acquisition), list(local.electrodes.id[:]))

    proxy.latency_s = LATENCY_S
    proxy.reset()
    with NWBZarrIO(url, mode="r", storage_options=via_proxy) as io:
        nwb = io.read()
        assert io.convention.legacy
        assert (nwb.identifier, sorted(nwb.acquisition), list(nwb.electrodes.id[:])) == expected
    requests = proxy.requests

    assert {r.method for r in requests} == {"GET"} and proxy.lists() == []
    counts = proxy.key_counts()
    assert max(counts.values()) == 1, counts.most_common(3)
    root = {f"legacy.nwb.zarr/{k}" for k in (".zgroup", ".zattrs", ".zmetadata", ".zarray")}
    assert root | {"legacy.nwb.zarr/zarr.json"} <= set(counts)  # zarr.json probed once, .zmetadata read once
    by_key = {r.key: r for r in requests}
    assert _together([by_key[k] for k in root])
    rest = [r for r in requests if r.key not in root and not r.key.endswith("/zarr.json")]
    namespaces = [r for r in rest if "/specifications/" in r.key]
    assert len(namespaces) >= 3 and _together(namespaces)
    values = [r for r in rest if r not in namespaces]
    assert len(values) > 20 and proxy.mean_concurrency(values) > 8  # one round, not one by one


def test_endpoint_down_is_a_clear_error_quickly() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    started = time.monotonic()
    with pytest.raises(StoreUnreachableError, match=rf"at '{dead}' cannot be reached"):
        ZarrIO(
            "s3://bucket/f.zarr", mode="r", storage_options={"endpoint_url": dead, "key": "k", "secret": "s"}
        )
    assert time.monotonic() - started < MAX_ATTEMPTS * CONNECT_TIMEOUT_S


def test_a_store_reachable_only_through_an_http_proxy_opens(
    remote_file: str,
    proxy: CountingProxy,
    s3_storage_options: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The endpoint's name resolves nowhere; botocore reaches it through HTTP_PROXY (a TCP probe cannot)."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("http_proxy", proxy.url)
    options = {**s3_storage_options, "endpoint_url": "http://zbproxied.invalid:9000"}
    with NWBZarrIO(remote_file, mode="r", storage_options=options) as io:
        assert io.read().identifier == "remote-1"
    assert proxy.counts()["GET"] > 3


def test_s3_defaults_and_user_options() -> None:
    options = filesystem_options(Location.parse("s3://b/k", storage_options={"anon": True}))
    assert options["anon"] is True and options["max_concurrency"] == 1
    assert options["config_kwargs"] == {
        "connect_timeout": CONNECT_TIMEOUT_S,
        "retries": {"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        "max_pool_connections": MAX_POOL_CONNECTIONS,
    }
    given = {"max_concurrency": 4, "config_kwargs": {"max_pool_connections": 5, "read_timeout": 9}}
    options = filesystem_options(Location.parse("s3://b/k", storage_options=given))
    assert options["max_concurrency"] == 4
    assert options["config_kwargs"]["max_pool_connections"] == 5
    assert options["config_kwargs"]["read_timeout"] == 9
    assert given == {"max_concurrency": 4, "config_kwargs": {"max_pool_connections": 5, "read_timeout": 9}}
    assert filesystem_options(Location.parse("memory://x", storage_options={"a": 1})) == {"a": 1}
