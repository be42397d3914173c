"""Reading NWB files from S3: zarrbridge on Zarr vs HDF5 with ``remfile`` and h5py over fsspec (s3fs).

A moto S3 server runs in its own process on 127.0.0.1 (port 0); every read goes through a request-counting
proxy (``tests/remote/counting_proxy.py``) that adds ``--latency-ms`` to each request. Each measurement is
one tool in a fresh process (imports untimed), the tools interleaved run by run, and the table gives the
median seconds and requests of ``--repeat`` runs at each latency, with the ratios to HDF5 + remfile.

Two files are made once (cached in ``--dir``), as NWB HDF5 with pynwb and converted to Zarr by zarrbridge:

- ``es``: one ``ElectricalSeries`` of ``--channels`` x ``--es-seconds`` at 30 kHz, int16, gzip 4 in HDF5
  chunks of one second (``--es-seconds 100``: ~200 MB, the issue's size);
- ``objects``: ``--timeseries`` short TimeSeries, a units table and a trials table (400 TimeSeries: the
  issue's file of ~1,260 objects).

Operations (each includes the open): ``open`` = open + ``read()``; ``slice`` = one 1-second slice of the
ElectricalSeries; ``first`` = the first element of every array-like field of every object (the datasets a
reader of the file still has to fetch after ``read()``).

Tools: ``zarrbridge`` (``NWBZarrIO`` on ``s3://``), ``remfile`` (``NWBHDF5IO`` on
``h5py.File(remfile.File(presigned URL))``, remfile's defaults), ``h5py-fsspec`` (``NWBHDF5IO`` on
``h5py.File(s3fs.open(...))``, s3fs's default read-ahead cache), and with ``--legacy-python`` (an
interpreter with hdmf-zarr 0.13, e.g. ``.hdmf-zarr-venv/bin/python`` from
``benchmarks/make_baseline_venv.sh``, used when it exists) ``zarrbridge-legacy``: zarrbridge reading the
same files written in the legacy convention by hdmf-zarr 0.13 itself.

``--stores``: zarr's ``ObjectStore`` over obstore against zarrbridge's s3fs store, at the zarr level (open
the many-object file's root, then the first chunk of every array of at most one dimension, concurrently).

Usage::

    python benchmarks/bench_remote.py                       # small files, 0 and 20 ms
    python benchmarks/bench_remote.py --es-seconds 100 --timeseries 400 --latency-ms 0 20 --repeat 3
    python benchmarks/bench_remote.py --show-requests       # also the request breakdown of zarrbridge runs
    python benchmarks/bench_remote.py --stores --repeat 5   # also obstore vs s3fs

Timings never fail anything.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "remote"))

from counting_proxy import CountingProxy, MotoProcess  # noqa: E402

KEY, SECRET, REGION, BUCKET = "testing", "testing", "us-east-1", "bench"
RATE = 30_000.0
ENV = {**os.environ, "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": REGION}


# ----------------------------------------------------------------------------------------------- files
def _nwbfile(identifier: str) -> Any:
    import datetime as dt

    from pynwb import NWBFile

    return NWBFile(
        session_description="bench_remote",
        identifier=identifier,
        session_start_time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    )


def write_es(path: Path, *, channels: int, seconds: int) -> None:
    """An NWB HDF5 file with one int16 ElectricalSeries, gzip 4 in chunks of one second."""
    import numpy as np
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb import NWBHDF5IO
    from pynwb.ecephys import ElectricalSeries

    nwb = _nwbfile("es")
    device = nwb.create_device(name="probe")
    group = nwb.create_electrode_group(name="shank", description="d", location="CA1", device=device)
    for _ in range(channels):
        nwb.add_electrode(group=group, location="CA1")
    region = nwb.create_electrode_table_region(region=list(range(channels)), description="all")
    rng = np.random.default_rng(0)
    samples = int(seconds * RATE)
    data = (rng.normal(0, 60, size=(samples, channels))).astype(np.int16)  # compresses ~2x, like ephys
    wrapped = H5DataIO(data, chunks=(int(RATE), channels), compression="gzip", compression_opts=4)
    nwb.add_acquisition(
        ElectricalSeries(
            name="ElectricalSeries", data=wrapped, electrodes=region, rate=RATE, starting_time=0.0
        )
    )
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def write_objects(path: Path, *, timeseries: int) -> None:
    """An NWB HDF5 file of many small objects: TimeSeries, a units table and a trials table."""
    import numpy as np
    from pynwb import NWBHDF5IO, TimeSeries

    nwb = _nwbfile("objects")
    rng = np.random.default_rng(1)
    for i in range(timeseries):
        if i % 2:
            ts = TimeSeries(name=f"ts{i:04d}", data=rng.random(50), unit="V", rate=10.0, starting_time=0.0)
        else:
            ts = TimeSeries(name=f"ts{i:04d}", data=rng.random(50), unit="V", timestamps=np.arange(50) / 10.0)
        nwb.add_acquisition(ts)
    for _ in range(40):
        nwb.add_unit(spike_times=np.sort(rng.random(int(rng.integers(5, 50))) * 100))
    nwb.add_trial_column(name="correct", description="whether the trial was correct")
    for i in range(100):
        nwb.add_trial(start_time=float(i), stop_time=i + 0.5, correct=bool(i % 2))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def to_zarr(src: Path, dst: Path) -> None:
    from pynwb import NWBHDF5IO

    from zarrbridge import NWBZarrIO

    with NWBHDF5IO(str(src), "r") as read_io, NWBZarrIO(str(dst), mode="w") as export_io:
        export_io.export(src_io=read_io, write_args={"link_data": False})


def to_legacy(python: str, src: Path, dst: Path) -> None:
    script = HERE / "hdmf_zarr_baseline.py"
    subprocess.run(
        [python, str(script), "--export", str(src), str(dst)], check=True, stdout=subprocess.DEVNULL
    )


def make_files(directory: Path, args: argparse.Namespace) -> dict[str, Path]:
    """The benchmark's files (made once per size in ``directory``): name -> local path."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "es": directory / f"es-{args.channels}ch-{args.es_seconds}s.nwb",
        "objects": directory / f"objects-{args.timeseries}.nwb",
    }
    out: dict[str, Path] = {}
    for name, h5 in files.items():
        if not h5.exists():
            print(f"writing {h5.name}", file=sys.stderr)
            part = h5.with_name(h5.stem + ".part.nwb")
            if name == "es":
                write_es(part, channels=args.channels, seconds=args.es_seconds)
            else:
                write_objects(part, timeseries=args.timeseries)
            part.rename(h5)
        zarr_path = h5.with_suffix(".nwb.zarr")
        if not zarr_path.exists():
            print(f"converting {h5.name} to Zarr", file=sys.stderr)
            to_zarr(h5, zarr_path)
        out[name] = h5
        out[f"{name}.zarr"] = zarr_path
        if args.legacy_python:
            legacy = h5.with_suffix(".legacy.nwb.zarr")
            if not legacy.exists():
                print(f"exporting {h5.name} with hdmf-zarr 0.13", file=sys.stderr)
                to_legacy(args.legacy_python, h5, legacy)
            out[f"{name}.legacy"] = legacy
    return out


def upload(endpoint: str, files: dict[str, Path]) -> dict[str, str]:
    """Put the files into the bucket (directly, not through the proxy): name -> object key."""
    import boto3
    import s3fs

    boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name=REGION
    ).create_bucket(Bucket=BUCKET)
    fs = s3fs.S3FileSystem(
        endpoint_url=endpoint, key=KEY, secret=SECRET, client_kwargs={"region_name": REGION}
    )
    keys = {}
    for name, path in files.items():
        key = f"{BUCKET}/{path.name}"
        fs.put(str(path), key, recursive=path.is_dir())
        keys[name] = key
    return keys


# ----------------------------------------------------------------------------------------------- children
def _first_elements(nwbfile: Any) -> int:
    """Read the first element of every array-like field that is still on the store; returns their number."""
    import numpy as np

    seen: set[int] = set()
    touched = 0
    for obj in list(nwbfile.objects.values()):
        for value in obj.fields.values():
            shape = getattr(value, "shape", None)
            if shape is None or isinstance(value, (np.ndarray, str, bytes)) or id(value) in seen:
                continue
            if not hasattr(value, "__getitem__"):
                continue
            seen.add(id(value))
            if len(shape) == 0:
                value[()]
            elif shape[0] > 0:
                value[0]
            touched += 1
    return touched


def _storage_options(endpoint: str) -> dict[str, Any]:
    return {"endpoint_url": endpoint, "key": KEY, "secret": SECRET, "client_kwargs": {"region_name": REGION}}


def _open_zarrbridge(spec: dict[str, Any]) -> Callable[[], tuple[Any, Any]]:
    from zarrbridge import NWBZarrIO

    options = _storage_options(spec["endpoint"])

    def opener() -> tuple[Any, Any]:
        io = NWBZarrIO(f"s3://{spec['key']}", mode="r", storage_options=options)
        return io, io.read()

    return opener


def _open_remfile(spec: dict[str, Any]) -> Callable[[], tuple[Any, Any]]:
    import boto3
    import h5py
    import remfile
    from pynwb import NWBHDF5IO

    client = boto3.client(
        "s3",
        endpoint_url=spec["endpoint"],
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        region_name=REGION,
    )
    bucket, key = spec["key"].split("/", 1)
    url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600)

    def opener() -> tuple[Any, Any]:
        io = NWBHDF5IO(file=h5py.File(remfile.File(url), "r"), mode="r", load_namespaces=True)
        return io, io.read()

    return opener


def _open_h5py_fsspec(spec: dict[str, Any]) -> Callable[[], tuple[Any, Any]]:
    import h5py
    import s3fs
    from pynwb import NWBHDF5IO

    def opener() -> tuple[Any, Any]:
        fs = s3fs.S3FileSystem(**_storage_options(spec["endpoint"]))
        io = NWBHDF5IO(file=h5py.File(fs.open(spec["key"], "rb"), "r"), mode="r", load_namespaces=True)
        return io, io.read()

    return opener


OPENERS: dict[str, Callable[[dict[str, Any]], Callable[[], tuple[Any, Any]]]] = {
    "zarrbridge": _open_zarrbridge,
    "zarrbridge-legacy": _open_zarrbridge,
    "remfile": _open_remfile,
    "h5py-fsspec": _open_h5py_fsspec,
}


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One measurement in this (fresh) process: open + read() and the operation."""
    import warnings

    warnings.simplefilter("ignore")
    opener = OPENERS[spec["tool"]](spec)
    start = time.perf_counter()
    io, nwbfile = opener()
    opened = time.perf_counter() - start
    result: dict[str, Any] = {"open_seconds": opened}
    if spec["op"] == "slice":
        series = nwbfile.acquisition["ElectricalSeries"]
        first = series.data.shape[0] // 2
        block = series.data[first : first + int(series.rate)]
        result["slice_shape"] = list(block.shape)
    elif spec["op"] == "first":
        result["datasets"] = _first_elements(nwbfile)
    result["seconds"] = time.perf_counter() - start
    result["objects"] = len(nwbfile.objects)
    io.close()
    return result


# ----------------------------------------------------------------------------------------------- parent
def run_child(proxy: CountingProxy, spec: dict[str, Any]) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", json.dumps(spec)]
    proxy.reset()
    done = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    requests = proxy.requests
    if done.returncode != 0:
        raise RuntimeError(f"{spec['tool']} {spec['op']} failed:\n{done.stderr[-3000:]}")
    record: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    record["requests"] = len(requests)
    record["methods"] = dict(Counter(r.method for r in requests))
    record["peak"] = proxy.peak
    record["mean_concurrency"] = proxy.mean_concurrency()
    record["keys"] = Counter(f"{r.method} {r.key or r.path}" for r in requests).most_common(8)
    return record


SCENARIOS = [("es", "open"), ("es", "slice"), ("objects", "open"), ("objects", "first")]


def _targets(tool: str, name: str, keys: dict[str, str]) -> str | None:
    if tool == "zarrbridge":
        return keys.get(f"{name}.zarr")
    if tool == "zarrbridge-legacy":
        return keys.get(f"{name}.legacy")
    return keys.get(name)


def measure(
    args: argparse.Namespace, keys: dict[str, str], proxy: CountingProxy
) -> dict[tuple[Any, ...], Any]:
    results: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for latency in args.latency_ms:
        proxy.latency_s = latency / 1000
        for rep in range(args.repeat):
            for name, op in SCENARIOS:
                tools = [t for t in args.tools if _targets(t, name, keys)]
                shift = rep % len(tools)  # interleaved: who goes first rotates run by run
                for tool in tools[shift:] + tools[:shift]:
                    spec = {"tool": tool, "op": op, "endpoint": proxy.url, "key": _targets(tool, name, keys)}
                    record = run_child(proxy, spec)
                    results.setdefault((latency, name, op, tool), []).append(record)
                    if args.show_requests and rep == 0 and tool.startswith("zarrbridge"):
                        print(
                            f"  [{latency} ms {name} {op} {tool}] {record['requests']} requests "
                            f"{record['methods']} peak {record['peak']} mean concurrency "
                            f"{record['mean_concurrency']:.1f}; most requested: {record['keys'][:5]}",
                            file=sys.stderr,
                        )
    return results


def report(args: argparse.Namespace, results: dict[tuple[Any, ...], list[dict[str, Any]]]) -> None:
    tools = list(args.tools)
    labels = {("es", "open"): "ES file: open + read()", ("es", "slice"): "ES file: one 1-second slice"}
    labels[("objects", "open")] = "many objects: open + read()"
    labels[("objects", "first")] = "many objects: first element of every dataset"
    for latency in args.latency_ms:
        print(f"\n## {latency} ms per request (median of {args.repeat}; seconds, requests)\n")
        present = [t for t in tools if any(k[0] == latency and k[3] == t for k in results)]
        head = " | ".join(present)
        ratio_cols = [t for t in present if t != "remfile"] if "remfile" in present else []
        ratios = " | ".join(f"{t} / remfile" for t in ratio_cols)
        print(f"| operation | {head} |" + (f" {ratios} |" if ratios else ""))
        print("| --- " * (1 + len(present) + len(ratio_cols)) + "|")
        for name, op in SCENARIOS:
            cells, medians = [], {}
            for tool in present:
                runs = results.get((latency, name, op, tool))
                if not runs:
                    cells.append("-")
                    continue
                seconds = statistics.median(r["seconds"] for r in runs)
                requests = int(statistics.median(r["requests"] for r in runs))
                medians[tool] = seconds
                extra = f", {runs[0]['datasets']} datasets" if "datasets" in runs[0] else ""
                cells.append(f"{seconds:.2f} s, {requests} req{extra}")
            ratio_cells = [
                f"{medians[t] / medians['remfile']:.2f}x" if t in medians and "remfile" in medians else "-"
                for t in ratio_cols
            ]
            print(f"| {labels[(name, op)]} | " + " | ".join(cells + ratio_cells) + " |")
        if "zarrbridge-legacy" in present and "zarrbridge" in present:
            print("\nlegacy (hdmf-zarr 0.13 files) / current convention, both read by zarrbridge:")
            for name, op in SCENARIOS:
                a = results.get((latency, name, op, "zarrbridge-legacy"))
                b = results.get((latency, name, op, "zarrbridge"))
                if a and b:
                    sa = statistics.median(r["seconds"] for r in a)
                    sb = statistics.median(r["seconds"] for r in b)
                    print(
                        f"  {labels[(name, op)]}: {sa:.2f} s / {sb:.2f} s = {sa / sb:.2f}x "
                        f"({int(statistics.median(r['requests'] for r in a))} vs "
                        f"{int(statistics.median(r['requests'] for r in b))} requests)"
                    )


# ----------------------------------------------------------------------------------------------- stores
def _store_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Open the Zarr file's root and fetch the first chunk of every array of <= 1 dimension, all at once."""
    import asyncio

    import zarr
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    start = time.perf_counter()
    if spec["tool"] == "obstore":
        from obstore.store import S3Store
        from zarr.storage import ObjectStore

        bucket, prefix = spec["key"].split("/", 1)
        s3 = S3Store(
            bucket,
            prefix=prefix,
            endpoint=spec["endpoint"],
            access_key_id=KEY,
            secret_access_key=SECRET,
            region=REGION,
            virtual_hosted_style_request=False,
            client_options={"allow_http": True},
        )
        store: Any = ObjectStore(s3, read_only=True)
    else:
        from zarrbridge.core.location import open_store

        store = open_store(
            f"s3://{spec['key']}", mode="r", storage_options=_storage_options(spec["endpoint"])
        )
    root = zarr.open_group(store, mode="r", zarr_format=3)
    keys = [
        f"{path}/{meta.encode_chunk_key((0,) * len(meta.shape))}"
        for path, meta in root.metadata.consolidated_metadata.flattened_metadata.items()  # type: ignore[union-attr]
        if len(getattr(meta, "shape", (0, 0))) <= 1 and not path.startswith("specifications")
    ]

    async def fetch() -> list[Any]:
        return list(await asyncio.gather(*(store.get(k, default_buffer_prototype()) for k in keys)))

    found = sum(value is not None for value in sync(fetch()))
    return {"seconds": time.perf_counter() - start, "keys": len(keys), "found": found}


def compare_stores(args: argparse.Namespace, keys: dict[str, str], proxy: CountingProxy) -> list[str]:
    """zarr's ObjectStore (obstore) against zarrbridge's s3fs store: the same reads, fresh processes."""
    try:
        import obstore  # noqa: F401
    except ImportError:
        return ["\nobstore is not installed: no store comparison (pip install obstore)"]
    results: dict[tuple[float, str], list[dict[str, Any]]] = {}
    for latency in args.latency_ms:
        proxy.latency_s = latency / 1000
        for rep in range(args.repeat):
            tools = ["s3fs", "obstore"] if rep % 2 == 0 else ["obstore", "s3fs"]
            for tool in tools:
                spec = {"tool": tool, "op": "stores", "endpoint": proxy.url, "key": keys["objects.zarr"]}
                results.setdefault((latency, tool), []).append(run_child(proxy, spec))
    lines = [
        "\n## zarr stores: open the many-object file's root + first chunk of every array, concurrently\n"
    ]
    lines.append("| latency | s3fs (zarrbridge's store) | obstore (zarr ObjectStore) | obstore / s3fs |")
    lines.append("| --- | --- | --- | --- |")
    for latency in args.latency_ms:
        cells = []
        medians = []
        for tool in ("s3fs", "obstore"):
            runs = results[(latency, tool)]
            seconds = statistics.median(r["seconds"] for r in runs)
            medians.append(seconds)
            cells.append(f"{seconds:.2f} s, {int(statistics.median(r['requests'] for r in runs))} req")
        lines.append(f"| {latency:g} ms | {cells[0]} | {cells[1]} | {medians[1] / medians[0]:.2f}x |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, default=Path(".bench-remote"), help="where the files are cached")
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--es-seconds", type=int, default=10, help="ElectricalSeries length (100: ~200 MB)")
    parser.add_argument("--timeseries", type=int, default=100, help="TimeSeries in the many-object file")
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 20.0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tools", nargs="+", default=None, choices=sorted(OPENERS))
    parser.add_argument("--legacy-python", help="a Python with hdmf-zarr 0.13 to write the legacy files")
    parser.add_argument("--show-requests", action="store_true")
    parser.add_argument("--stores", action="store_true", help="also compare obstore with s3fs (zarr level)")
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps(_store_child(spec) if spec["op"] == "stores" else child(spec)))
        return 0
    if args.legacy_python is None and Path(".hdmf-zarr-venv/.zarrbridge-pins").exists():
        args.legacy_python = ".hdmf-zarr-venv/bin/python"
    if args.tools is None:
        args.tools = ["zarrbridge", "remfile", "h5py-fsspec"]
        if args.legacy_python:
            args.tools.append("zarrbridge-legacy")
    files = make_files(args.dir, args)
    with MotoProcess(env=ENV) as moto:
        keys = upload(moto.url, files)
        with CountingProxy.running(moto.url) as proxy:
            results = measure(args, keys, proxy)
            stores = compare_stores(args, keys, proxy) if args.stores else []
    print(
        f"\nfiles: ElectricalSeries {args.channels} ch x {args.es_seconds} s "
        f"({files['es'].stat().st_size / 1e6:.0f} MB HDF5); {args.timeseries} TimeSeries + units + trials"
    )
    report(args, results)
    print("\n".join(stores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
