"""Benchmark: save and load a float32 dask array with the persistent serializers vs the direct calls.

Side by side in one run, locally and (unless ``--no-s3``) on a moto S3 server started here (as
``tests/conftest.py`` does). It prints these throughput ratios (serializer / baseline; the target is >= 0.9):

- HDF5 save: ``DaskArraySerializer.pickle`` vs ``da.to_hdf5``
- HDF5 load: ``DaskArraySerializer.unpickle(...).compute()`` vs ``da.from_array(h5py dataset).compute()``
- Zarr save and load: the Zarr serializer vs ``da.to_zarr`` / ``da.from_zarr(...).compute()``
  (on files and S3)
- ``NumpyArraySerializer`` load (an ndarray) vs h5py ``dset[:]``

Throughput is array bytes / wall time; a load reads the whole array into memory. The source array is
persisted in memory first, so the timings are of storage, not of generating data. Every method is warmed up
on a small array, and each is run ``--repeat`` times, alternate runs in the opposite order; a ratio is the
median over runs of the ratio within each run (two methods measured seconds apart: steadier on a shared
machine than a ratio of medians). Before each timed step earlier writes are flushed to disk (``os.sync``, not
timed) and memory is pretouched (``_pretouch``); local loads are timed with the loaded files all in the page
cache (``hot``: read once just before) or all dropped from it (``cold``), see ``_timed_load``.

Like with like: each serializer and its baseline write the same layout (HDF5: the dask chunks as HDF5
chunks, no filters; Zarr: the dask chunks as zarr chunks, zarr's default codecs); the script checks that and
prints it.

Usage::

    python benchmarks/bench_serializers.py            # 1 GiB
    python benchmarks/bench_serializers.py --quick    # 64 MiB
    python benchmarks/bench_serializers.py --no-s3 --size-mb 256 --repeat 3
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import h5py
import numpy as np

from benchresult import Panel, write_result  # benchmarks/benchresult.py, beside this script
from zarrbridge.serializers import (
    FILE_PROTOCOL,
    S3_PROTOCOL,
    DaskArraySerializer,
    DaskZarrSerializer,
    LocalFiles,
    NumpyArraySerializer,
)


class ZarrOnFiles(DaskArraySerializer):
    formats = {FILE_PROTOCOL: DaskZarrSerializer, S3_PROTOCOL: DaskZarrSerializer}


class WholeArrays(NumpyArraySerializer):
    chunk_bytes = 32 << 20  # the dask arrays' chunk size, for a like-for-like file
    min_bytes = 0  # the warm-up array is small and must be taken too


@dataclass(frozen=True)
class Timing:
    name: str
    save_s: float
    load_s: float


PRETOUCH_BYTES = 0  # set by main(): anonymous memory touched and freed before every timed step


def _pretouch() -> None:
    """Touch and free ``PRETOUCH_BYTES`` of anonymous memory (not timed).

    On virtual machines whose memory balloon hands freed guest memory back to the host a few seconds after it
    is freed, the next step to allocate it pays a host page fault per page, so whichever method allocates
    first after a pause would be slower for reasons of its own. Touching as much memory as a load allocates,
    just before every timed step, gives each method memory in the same state (``--no-pretouch`` skips it).
    """
    if PRETOUCH_BYTES:
        np.ones(PRETOUCH_BYTES, dtype=np.uint8)


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time of ``fn()``; earlier writes are flushed to disk first (not timed), so that no step shares the
    cores with the kernel's writeback of the step before it, and memory is pretouched (:func:`_pretouch`)."""
    os.sync()
    gc.collect()
    _pretouch()
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _files_under(path: str) -> list[str]:
    if os.path.isfile(path):
        return [path]
    return [os.path.join(d, f) for d, _, names in os.walk(path) for f in names]


def _timed_load(fn: Callable[[], Any], paths: list[str], cache: str) -> tuple[float, Any]:
    """Wall time of a load of the files ``paths``, with them all in the page cache or none of them.

    "Whatever is cached now" would favour whichever method loads soonest after its save (a machine under
    memory pressure drops clean page cache within seconds). ``hot`` reads the files once (not timed) right
    before; ``cold`` flushes them and drops them from the cache (``posix_fadvise(DONTNEED)``, for these files
    only).
    """
    os.sync()
    for name in (f for p in paths for f in _files_under(p)):
        fd = os.open(name, os.O_RDONLY)
        try:
            if cache == "cold":
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            else:
                while os.read(fd, 1 << 24):
                    pass
        finally:
            os.close(fd)
    return _timed(fn)


def _check(loaded: np.ndarray[Any, Any], expected: np.ndarray[Any, Any], name: str) -> None:
    if loaded.shape != expected.shape or not np.array_equal(
        loaded[:: max(1, len(loaded) // 7)], expected[:: max(1, len(expected) // 7)]
    ):
        raise SystemExit(f"{name}: the loaded array differs from the saved one")


@contextmanager
def moto_server() -> Iterator[dict[str, Any]]:
    """A moto S3 server on 127.0.0.1 in a subprocess; yields s3fs storage options."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    # moto spools every object over 5 MiB to a temporary file on this machine's disk, whose writeback swings
    # 2-3x from minute to minute here; a real S3 endpoint does not share our disk. Objects stay in memory.
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(4 << 30),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield {
            "endpoint_url": f"http://127.0.0.1:{port}",
            "key": "testing",
            "secret": "testing",
            "client_kwargs": {"region_name": "us-east-1"},
        }
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _hdf5_layout(path: str) -> tuple[Any, ...]:
    with h5py.File(path, "r") as f:
        d = f["data"]
        return (
            d.shape,
            d.dtype.str,
            d.chunks,
            d.compression,
            d.shuffle,
            d.id.get_create_plist().get_nfilters(),
        )


def _zarr_layout(document: bytes) -> tuple[Any, ...]:
    meta = json.loads(document)
    return tuple(json.dumps(meta[k], sort_keys=True) for k in ("shape", "data_type", "chunk_grid", "codecs"))


def same_layout(what: str, ours: tuple[Any, ...], theirs: tuple[Any, ...]) -> None:
    """Stop unless the serializer and its baseline wrote the same layout (chunks, dtype, filters/codecs)."""
    if ours != theirs:
        raise SystemExit(
            f"{what}: the serializer and the baseline write different layouts: {ours} vs {theirs}"
        )
    LAYOUTS[what] = ours


LAYOUTS: dict[str, tuple[Any, ...]] = {}


def bench_local(
    x: da.Array, expected: np.ndarray[Any, Any], root: str, cache: str, reverse: bool
) -> list[Timing]:
    """Save and load with every local method; ``reverse`` runs them in the opposite order (alternate runs do,
    so no method is always the first after the previous run's files were deleted)."""
    files = {FILE_PROTOCOL: LocalFiles(os.path.join(root, "serializer"))}
    h5path, zpath = (os.path.join(root, n) for n in ("direct.h5", "direct.zarr"))
    written: dict[str, str] = {}

    def serializer_step(name: str, serializer: type[DaskArraySerializer]) -> Callable[[], list[Timing]]:
        def run() -> list[Timing]:
            save_s, pid = _timed(lambda: serializer.pickle(x, files))
            written[name] = files[FILE_PROTOCOL].local_path(pid[1][3])
            load_s, loaded = _timed_load(
                lambda: serializer.unpickle(pid, files).compute(), [written[name]], cache
            )
            _check(loaded, expected, name)
            return [Timing(name, save_s, load_s)]

        return run

    def hdf5_step() -> list[Timing]:
        save_s, _ = _timed(lambda: da.to_hdf5(h5path, "/data", x, chunks=x.chunksize))

        def read_h5_dask() -> np.ndarray[Any, Any]:
            with h5py.File(h5path, "r") as f:
                return np.asarray(da.from_array(f["data"], chunks=x.chunksize).compute())

        def read_h5() -> np.ndarray[Any, Any]:
            with h5py.File(h5path, "r") as f:
                return np.asarray(f["data"][:])

        dask_load_s, loaded = _timed_load(read_h5_dask, [h5path], cache)
        _check(loaded, expected, "da.from_array(h5py)")
        del loaded
        load_s, loaded = _timed_load(read_h5, [h5path], cache)
        _check(loaded, expected, "dset[:]")
        return [Timing(H5_DASK, save_s, dask_load_s), Timing(H5_WHOLE, math.nan, load_s)]

    def zarr_step() -> list[Timing]:
        save_s, _ = _timed(lambda: da.to_zarr(x, zpath))
        load_s, loaded = _timed_load(lambda: da.from_zarr(zpath).compute(), [zpath], cache)
        _check(loaded, expected, "da.to_zarr")
        return [Timing(ZARR, save_s, load_s)]

    def numpy_step() -> list[Timing]:
        save_s, pid = _timed(lambda: WholeArrays.pickle(expected, files))
        load_s, loaded = _timed_load(
            lambda: WholeArrays.unpickle(pid, files), [files[FILE_PROTOCOL].local_path(pid[1][3])], cache
        )
        _check(loaded, expected, "NumpyArraySerializer")
        return [Timing(NUMPY, save_s, load_s)]

    steps = [  # side by side, seconds apart
        serializer_step(OURS_H5, DaskArraySerializer),
        hdf5_step,
        numpy_step,
        serializer_step(OURS_ZARR, ZarrOnFiles),
        zarr_step,
    ]
    results = {t.name: t for step in (steps[::-1] if reverse else steps) for t in step()}
    same_layout("HDF5 on files", _hdf5_layout(written[OURS_H5]), _hdf5_layout(h5path))
    with (
        open(os.path.join(written[OURS_ZARR], "zarr.json"), "rb") as f1,
        open(os.path.join(zpath, "zarr.json"), "rb") as f2,
    ):
        same_layout("Zarr on files", _zarr_layout(f1.read()), _zarr_layout(f2.read()))
    return [results[name] for name in LOCAL_METHODS]


OURS_H5 = "serializer HDF5 (files)"
OURS_ZARR = "serializer Zarr (files)"
NUMPY = "NumpyArraySerializer (HDF5)"
H5_DASK = "da.to_hdf5 / da.from_array(h5py)"
H5_WHOLE = "h5py dset[:]"
ZARR = "da.to_zarr / da.from_zarr"
LOCAL_METHODS = (OURS_H5, OURS_ZARR, NUMPY, H5_DASK, H5_WHOLE, ZARR)
LOCAL_RATIOS = (  # (what, ours, baseline, "save" or "load")
    ("HDF5 save", OURS_H5, H5_DASK, "save"),
    ("HDF5 load", OURS_H5, H5_DASK, "load"),
    ("Zarr save", OURS_ZARR, ZARR, "save"),
    ("Zarr load", OURS_ZARR, ZARR, "load"),
    ("NumpyArraySerializer load vs dset[:]", NUMPY, H5_WHOLE, "load"),
)


def bench_s3(x: da.Array, expected: np.ndarray[Any, Any], reverse: bool) -> list[Timing]:
    """Save and load on a fresh moto server, after one untimed save and load by both Zarr methods (then
    removed). ``reverse`` swaps which of the two goes first (alternate runs do).

    Why: the first method to write into a fresh server pays its first allocations (measured: the serializer,
    always first, at 0.46-0.65x; second, at 0.91-1.11x).
    """
    import s3fs

    with moto_server() as options:
        fs = s3fs.S3FileSystem(**options)
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        import boto3

        boto3.client(
            "s3",
            endpoint_url=options["endpoint_url"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        ).create_bucket(Bucket=bucket)
        written: dict[str, str] = {}

        def serializer_step(folder: str) -> Timing:
            protocols = {S3_PROTOCOL: {"client": fs, "folder": f"{bucket}/{folder}"}}
            save_s, pid = _timed(lambda: DaskArraySerializer.pickle(x, protocols))
            written["serializer"] = f"{bucket}/{folder}/{pid[1][3]}"
            load_s, loaded = _timed(lambda: DaskArraySerializer.unpickle(pid, protocols).compute())
            _check(loaded, expected, "serializer S3")
            return Timing("serializer Zarr (S3)", save_s, load_s)

        def zarr_step(folder: str) -> Timing:
            url = f"s3://{bucket}/{folder}/direct.zarr"
            save_s, _ = _timed(lambda: da.to_zarr(x, url, storage_options=options))
            load_s, loaded = _timed(lambda: da.from_zarr(url, storage_options=options).compute())
            _check(loaded, expected, "da.to_zarr S3")
            return Timing("da.to_zarr / from_zarr (S3)", save_s, load_s)

        serializer_step("warm-up")
        zarr_step("warm-up")
        fs.rm(f"{bucket}/warm-up", recursive=True)
        pair = [zarr_step, serializer_step] if reverse else [serializer_step, zarr_step]
        results = {t.name: t for t in (step("timed") for step in pair)}
        fs.invalidate_cache()
        same_layout(
            "Zarr on S3",
            _zarr_layout(fs.cat_file(f"{written['serializer']}/zarr.json")),
            _zarr_layout(fs.cat_file(f"{bucket}/timed/direct.zarr/zarr.json")),
        )
    return [results[name] for name in S3_METHODS]


S3_METHODS = ("serializer Zarr (S3)", "da.to_zarr / from_zarr (S3)")
S3_RATIOS = (
    ("Zarr save (S3)", S3_METHODS[0], S3_METHODS[1], "save"),
    ("Zarr load (S3)", S3_METHODS[0], S3_METHODS[1], "load"),
)


def median_of(runs: list[list[Timing]]) -> list[Timing]:
    """Per method, the median save and the median load over several runs."""
    return [
        Timing(
            group[0].name,
            statistics.median(t.save_s for t in group),
            statistics.median(t.load_s for t in group),
        )
        for group in zip(*runs)
    ]


PANELS: list[Panel] = []  # what --json writes: one panel per report() table


def report(title: str, runs: list[list[Timing]], nbytes: int) -> None:
    """Median throughput of every method."""
    mb = nbytes / 2**20
    panel = Panel(f"{title} ({mb:.0f} MiB float32)", "MiB/s", "higher", ["save", "load"])
    for t in median_of(runs):
        panel.add(t.name, save=mb / t.save_s, load=mb / t.load_s)
    PANELS.append(panel)
    print(f"\n{title}  ({mb:.0f} MiB float32, {len(runs)} runs, medians)")
    print(f"{'method':36s} {'save MiB/s':>11s} {'load MiB/s':>11s}")
    for t in median_of(runs):
        save = "-" if math.isnan(t.save_s) else f"{mb / t.save_s:.1f}"
        print(f"{t.name:36s} {save:>11s} {mb / t.load_s:11.1f}")


def ratio(runs: list[list[Timing]], ours: str, base: str, step: str) -> tuple[float, list[float]]:
    """Throughput of ``ours`` over ``base`` for ``step`` ("save" or "load"): the median over runs of the ratio
    within each run, and the per-run ratios."""
    by_run = [{t.name: t for t in run} for run in runs]
    attr = f"{step}_s"
    per_run = [getattr(r[base], attr) / getattr(r[ours], attr) for r in by_run]
    return statistics.median(per_run), per_run


def report_ratios(
    columns: dict[str, list[list[Timing]]], rows: tuple[tuple[str, str, str, str], ...]
) -> None:
    """The ratio table: one row per comparison, one column per condition (page cache hot / cold, S3)."""
    print(f"\n{'throughput ratio (serializer / baseline; target >= 0.9)':56s}", end="")
    print("".join(f"{name:>22s}" for name in columns))
    for what, ours, base, step in rows:
        cells = []
        for runs in columns.values():
            value, per_run = ratio(runs, ours, base, step)
            cells.append(f"{value:.2f}x ({' '.join(f'{v:.2f}' for v in per_run)})")
        print(f"{what:56s}" + "".join(f"{c:>22s}" for c in cells))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="64 MiB instead of 1 GiB")
    parser.add_argument("--size-mb", type=int, default=None, help="array size in MiB (overrides --quick)")
    parser.add_argument("--chunk-mb", type=int, default=32, help="dask chunk size in MiB")
    parser.add_argument("--repeat", type=int, default=5, help="runs per method; the median is reported")
    parser.add_argument(
        "--cache",
        choices=("hot", "cold", "both"),
        default="both",
        help="local loads with the files in the page cache, dropped from it, or both",
    )
    parser.add_argument("--no-s3", action="store_true", help="skip the moto S3 comparisons")
    parser.add_argument("--no-local", action="store_true", help="skip the local file comparisons")
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the results here (benchmarks/plots.py)"
    )
    parser.add_argument(
        "--no-pretouch",
        action="store_true",
        help="do not touch 3x the array's size of memory before each timed step (see _pretouch)",
    )
    args = parser.parse_args(argv)
    size_mb = args.size_mb or (64 if args.quick else 1024)
    global PRETOUCH_BYTES
    PRETOUCH_BYTES = 0 if args.no_pretouch else 3 * size_mb * 2**20
    cols = 1024
    rows = size_mb * 2**20 // (4 * cols)
    chunk_rows = max(1, min(rows, args.chunk_mb * 2**20 // (4 * cols)))
    with dask.config.set(scheduler="threads"):
        x = da.random.default_rng(0).random((rows, cols), chunks=(chunk_rows, cols), dtype="f4").persist()
        expected = x.compute()
        small = da.ones((64, cols), chunks=(16, cols), dtype="f4")
        warm = tempfile.mkdtemp(prefix="zb-bench-warmup-")
        try:  # imports, thread pools and file system caches warmed up for every method alike
            bench_local(small, small.compute(), warm, "hot", False)
        finally:
            shutil.rmtree(warm, ignore_errors=True)
        local: dict[str, list[list[Timing]]] = {}
        for cache in () if args.no_local else ("hot", "cold") if args.cache == "both" else (args.cache,):
            runs: list[list[Timing]] = []
            for run in range(args.repeat):
                root = tempfile.mkdtemp(prefix="zb-bench-")
                try:
                    runs.append(bench_local(x, expected, root, cache, reverse=bool(run % 2)))
                finally:
                    shutil.rmtree(root, ignore_errors=True)
            report(f"local files, loads with the files' page cache {cache}", runs, expected.nbytes)
            local[f"page cache {cache}"] = runs
        if local:
            report_ratios(local, LOCAL_RATIOS)
        if not args.no_s3:
            remote = [bench_s3(x, expected, reverse=bool(run % 2)) for run in range(args.repeat)]
            report("moto S3 on 127.0.0.1", remote, expected.nbytes)
            report_ratios({"moto S3": remote}, S3_RATIOS)
    print()
    for what, layout in LAYOUTS.items():
        print(f"same layout written by the serializer and its baseline, {what}: {layout}")
    if args.json is not None:
        settings = {
            "size_mib": size_mb,
            "chunk_mib": args.chunk_mb,
            "repeat": args.repeat,
            "cache": args.cache,
        }
        write_result(
            args.json,
            benchmark="bench_serializers",
            title="Serializers: saves and loads of a dask array against the direct dask calls (medians)",
            settings=settings,
            panels=PANELS,
        )


if __name__ == "__main__":
    main()
