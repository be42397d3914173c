"""Benchmark NWB HDF5 -> Zarr export and Zarr reads: zarrbridge vs hdmf-zarr 0.13.0 vs a plain HDF5IO copy.

Two NWB HDF5 source files are built first (outside every timing) with ``pynwb.NWBHDF5IO``:

(a) one big int16 ``ElectricalSeries`` (~250 MB, ~25 MB with ``--quick``), once chunked + gzip level 4
    (``H5DataIO(chunks=..., compression="gzip", compression_opts=4)``, like DANDI files) and once contiguous
    uncompressed;
(b) 500+ small objects (~100 with ``--quick``): TimeSeries in a processing module, electrodes, a units table
    with ragged spike times, trials with a few extra columns.

For each file, every tool runs in its own fresh subprocess, one operation per process,
so peak RSS is per tool:

* export: zarrbridge ``NWBZarrIO.export(src_io=NWBHDF5IO(src), write_args={"link_data": False})`` (also with
  ``number_of_jobs=2`` for (a)); hdmf-zarr 0.13.0 through ``benchmarks/hdmf_zarr_baseline.py --export`` in
  its own venv (zarr 2); ``NWBHDF5IO.export`` HDF5 -> HDF5;
* read: open + ``read()`` + visit every field of every object in ``nwbfile.objects``, reading array-like
  fields in full, on each tool's own output (zarrbridge reads its Zarr, hdmf-zarr its Zarr, HDF5IO the source
  file). The visit is the baseline's ``--touch data`` visit, repeated here byte for byte so both sides do the
  same work; the zarrbridge and HDF5IO read also call ``to_dataframe()`` on units and trials after the timed
  part, as a correctness check (the baseline script has no such step, so it is not timed on any side).

For zarrbridge's read, the part of it that is hdmf's ``construct`` of the containers (the same code for every
backend, since ``read()`` returns pynwb containers) is also timed, and the targets show how fast a backend
that did nothing but that construct would be against hdmf-zarr.

``seconds`` covers only the operation (interpreter start and imports are excluded, as in the baseline);
Runs of the three tools are interleaved, the order rotated from round to round (see ``measure``), and the
targets also show the speed-up of every round (paired runs). ``peak RSS`` is ``getrusage`` ``ru_maxrss`` of
the process (imports included, as in the baseline). Each measurement is repeated ``--repeat`` times and the
median is reported. The machine may run other work; medians damp that but do not remove it.

Usage::

    .venv/bin/python benchmarks/bench_nwb_export.py [--quick] [--repeat N] [--dir DIR] [--profile]
    .venv/bin/python benchmarks/bench_nwb_export.py --scaling [--max-mb MB] [--max-series N] [--also ...]

``--scaling`` runs the scaling mode instead (``benchmarks/nwb_export_scaling.py``): it makes files growing
4x per step (TimeSeries and megabytes) and prints wall time, CPU time, peak RSS and the cost per object and
per MB of the three tools side by side.

``--profile`` also runs the zarrbridge export of (b) under cProfile in a subprocess and prints the top 15
cumulative entries in zarrbridge/zarr/hdmf code. Timings never fail anything; a failing tool is reported and
the other numbers are kept.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "benchmarks" / "hdmf_zarr_baseline.py"
# hdmf-zarr's venv: .hdmf-zarr-venv has the same hdmf/pynwb/pandas/numpy/h5py as .venv, so only the storage
# layer differs (benchmarks/make_baseline_venv.sh); .legacy-venv (the fixtures venv,
# older hdmf/pynwb) otherwise
BASELINE_VENVS = (ROOT / ".hdmf-zarr-venv", ROOT / ".legacy-venv")
BASELINE_PYTHON = next(
    (v / "bin" / "python" for v in BASELINE_VENVS if (v / "bin" / "python").exists()),
    BASELINE_VENVS[0] / "bin" / "python",
)
_baseline_python = BASELINE_PYTHON  # --baseline-venv overrides it
HOST_PACKAGES = ("hdmf", "pynwb", "pandas", "numpy", "h5py", "zarr", "numcodecs")
N_CHANNELS = 64


@dataclass(frozen=True)
class Sizes:
    """Workload sizes."""

    samples: int  # (a): rows of the (samples, 64) int16 ElectricalSeries
    chunk_rows: int  # (a): rows per HDF5 chunk
    n_series: int  # (b): TimeSeries in the processing module
    n_units: int  # (b): units (ragged spike times)
    n_trials: int  # (b): trials

    @property
    def big_mb(self) -> float:
        return self.samples * N_CHANNELS * 2 / 1e6


QUICK = Sizes(samples=196_608, chunk_rows=16_384, n_series=80, n_units=20, n_trials=50)  # 25 MB
FULL = Sizes(samples=1_966_080, chunk_rows=32_768, n_series=500, n_units=100, n_trials=300)  # 252 MB


# --------------------------------------------------------------------------------------------- source files
def _nwbfile(name: str) -> Any:
    from pynwb import NWBFile

    return NWBFile(
        session_description=f"zarrbridge export benchmark: {name}",
        identifier=f"bench-{name}",
        session_start_time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    )


def _add_electrodes(nwbfile: Any) -> Any:
    device = nwbfile.create_device(name="probe")
    group = nwbfile.create_electrode_group(name="shank0", description="shank", location="CA1", device=device)
    for i in range(N_CHANNELS):
        nwbfile.add_electrode(group=group, location="CA1", x=float(i), y=0.0, z=0.0)
    return nwbfile.create_electrode_table_region(region=list(range(N_CHANNELS)), description="all")


def _write(path: Path, nwbfile: Any, *, expandable: bool) -> None:
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), mode="w") as io:
        if expandable:
            io.write(nwbfile)  # hdmf >= 4 default: table columns get maxshape (None,)
        else:
            io.write(nwbfile, expandable=())  # fixed-shape datasets, as older pynwb wrote them


def make_big(path: Path, sizes: Sizes, *, compressed: bool, expandable: bool) -> None:
    """(a): one (samples, 64) int16 ElectricalSeries, chunked + gzip 4 or contiguous uncompressed."""
    import numpy as np
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb.ecephys import ElectricalSeries

    rng = np.random.default_rng(1)
    # band-limited noise compresses like real ephys (gzip ~ 60-70%), unlike white noise
    data = np.cumsum(
        rng.integers(-8, 9, size=(sizes.samples, N_CHANNELS), dtype=np.int16), axis=0, dtype=np.int16
    )
    nwbfile = _nwbfile("big")
    region = _add_electrodes(nwbfile)
    wrapped = (
        H5DataIO(data, chunks=(sizes.chunk_rows, N_CHANNELS), compression="gzip", compression_opts=4)
        if compressed
        else H5DataIO(data)
    )
    nwbfile.add_acquisition(
        ElectricalSeries(
            name="ElectricalSeries", data=wrapped, electrodes=region, rate=30_000.0, conversion=1e-6
        )
    )
    _write(path, nwbfile, expandable=expandable)


def make_many(path: Path, sizes: Sizes, *, expandable: bool) -> None:
    """(b): many small objects: processing-module TimeSeries, electrodes, ragged units, trials."""
    import numpy as np
    from pynwb import TimeSeries

    rng = np.random.default_rng(2)
    nwbfile = _nwbfile("many")
    _add_electrodes(nwbfile)
    module = nwbfile.create_processing_module(name="behavior", description="many small series")
    for i in range(sizes.n_series):
        n = int(rng.integers(50, 200))
        module.add(
            TimeSeries(
                name=f"series{i:04d}",
                data=rng.standard_normal(n).astype(np.float32),
                timestamps=np.cumsum(rng.random(n)),
                unit="a.u.",
                description=f"series {i}",
            )
        )
    nwbfile.add_unit_column(name="quality", description="isolation quality")
    for u in range(sizes.n_units):
        spikes = np.sort(rng.random(int(rng.integers(10, 500))) * 1000.0)
        nwbfile.add_unit(spike_times=spikes, quality=float(rng.random()), electrodes=[u % N_CHANNELS])
    nwbfile.add_trial_column(name="correct", description="answer was correct")
    nwbfile.add_trial_column(name="stimulus", description="stimulus name")
    for t in range(sizes.n_trials):
        nwbfile.add_trial(
            start_time=2.0 * t, stop_time=2.0 * t + 1.5, correct=bool(t % 3), stimulus=f"stim{t % 7}"
        )
    _write(path, nwbfile, expandable=expandable)


def make_worker(argv: list[str]) -> int:
    """``--make-worker {gzip,contiguous,many} PATH {quick,full} {fixed,expandable}``: build one source file.

    A subprocess, so the parent stays small: Linux keeps ``ru_maxrss`` across ``fork``/``execve``, and a big
    parent would raise every measured child's peak RSS to its own.
    """
    warnings.simplefilter("ignore")
    kind, path, size, layout = argv
    sizes = QUICK if size == "quick" else FULL
    if kind == "many":
        make_many(Path(path), sizes, expandable=layout == "expandable")
    else:
        make_big(Path(path), sizes, compressed=kind == "gzip", expandable=layout == "expandable")
    return 0


# --------------------------------------------------------------------------------------------- worker side
def _rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def _touch(value: Any) -> int:
    """The baseline's ``_touch`` with ``data=True``: read an array-like field in full; elements read."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__getitem__"):
        return 0
    shape = getattr(value, "shape", None)
    if shape is None:
        return 0
    if hasattr(value, "__iter__") and type(value).__name__.endswith(("ReferenceDataset", "TableDataset")):
        return sum(1 for _ in value)
    loaded = value[()] if len(shape) == 0 else value[:]
    return int(getattr(loaded, "size", 1))


def _export(tool: str, src: Path, dst: Path, jobs: int) -> dict[str, Any]:
    from pynwb import NWBHDF5IO

    if tool == "zarrbridge":
        from zarrbridge import NWBZarrIO
    before = _rss_bytes()
    start = time.perf_counter()
    with NWBHDF5IO(str(src), "r") as read_io:
        if tool == "zarrbridge":
            with NWBZarrIO(dst, mode="w") as zio:
                zio.export(src_io=read_io, write_args={"link_data": False}, number_of_jobs=jobs)
        else:
            with NWBHDF5IO(str(dst), mode="w") as hio:
                hio.export(src_io=read_io, write_args={"link_data": False})
    return {"seconds": time.perf_counter() - start, "rss_before_bytes": before}


def _read(tool: str, path: Path) -> dict[str, Any]:
    from pynwb import NWBHDF5IO

    if tool == "zarrbridge":
        from zarrbridge import NWBZarrIO
    before = _rss_bytes()
    start = time.perf_counter()
    elements = fields = 0
    io = NWBZarrIO(path, mode="r") if tool == "zarrbridge" else NWBHDF5IO(str(path), mode="r")
    with io:
        # read() would do this first; timed apart so that hdmf's construct can be shown alone
        io.read_builder()
        built = time.perf_counter()
        nwbfile = io.read()  # the builders are cached: this is hdmf's construct of the containers
        construct = time.perf_counter() - built
        objects = list(nwbfile.objects.values())
        for obj in objects:
            for value in obj.fields.values():
                fields += 1
                elements += _touch(value)
        seconds = time.perf_counter() - start
        # untimed check that the tables come back whole (the baseline has no such step)
        rows: dict[str, Any] = {}
        for name, table in (("units", nwbfile.units), ("trials", nwbfile.trials)):
            if table is None:
                continue
            try:
                rows[name] = len(table.to_dataframe())
            except (TypeError, ValueError, KeyError, IndexError) as exc:
                rows[name] = f"to_dataframe() failed: {type(exc).__name__}: {exc}"
    return {
        "seconds": seconds,
        "construct_seconds": construct,
        "rss_before_bytes": before,
        "objects": len(objects),
        "fields": fields,
        "elements_read": elements,
        "table_rows": rows,
    }


def worker(argv: list[str]) -> int:
    """``--worker {export,read} {zarrbridge,hdf5io} PATH... [JOBS]``: one operation, one JSON line."""
    warnings.simplefilter("ignore")
    op, tool, *rest = argv
    if op == "export":
        record = _export(tool, Path(rest[0]), Path(rest[1]), int(rest[2]) if len(rest) > 2 else 1)
    else:
        record = _read(tool, Path(rest[0]))
    record.update(tool=tool, op=op, peak_rss_bytes=_rss_bytes())
    print(json.dumps(record, sort_keys=True))
    return 0


def profile_worker(argv: list[str]) -> int:
    """``--profile-worker SRC DST``: the zarrbridge export under cProfile; top 15 in our/zarr/hdmf code."""
    import cProfile
    import pstats

    warnings.simplefilter("ignore")
    src, dst = Path(argv[0]), Path(argv[1])
    from pynwb import NWBHDF5IO

    from zarrbridge import NWBZarrIO

    profiler = cProfile.Profile()
    profiler.enable()
    with NWBHDF5IO(str(src), "r") as read_io, NWBZarrIO(dst, mode="w") as zio:
        zio.export(src_io=read_io, write_args={"link_data": False})
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(r"zarrbridge|/zarr/|/hdmf/", 15)
    stats.sort_stats("tottime").print_stats(r"zarrbridge|/zarr/|/hdmf/|numcodecs|json", 15)
    return 0


# --------------------------------------------------------------------------------------------- parent side
def _versions(python: Path) -> str:
    """The host packages' versions in the venv of ``python``."""
    code = (
        "from importlib.metadata import version, PackageNotFoundError\n"
        f"for n in {HOST_PACKAGES!r}:\n"
        "    try: print(n, version(n))\n"
        "    except PackageNotFoundError: print(n, '-')"
    )
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return ", ".join(line.replace(" ", "==") for line in proc.stdout.splitlines()) or "unknown"


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def _run(cmd: list[str]) -> dict[str, Any]:
    """Run one measuring subprocess; its JSON record, or ``{"error": ...}``."""
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {proc.returncode}: {tail}"}
    record: dict[str, Any] = json.loads(lines[-1])
    return record


def _cmd(tool: str, op: str, paths: list[Path], jobs: int) -> list[str]:
    if tool == "hdmf-zarr":
        args = ["--export", *map(str, paths)] if op == "export" else ["--read", str(paths[0])]
        return [str(_baseline_python), str(BASELINE), *args]
    extra = [str(jobs)] if op == "export" else []
    return [sys.executable, str(Path(__file__).resolve()), "--worker", op, tool, *map(str, paths), *extra]


@dataclass(frozen=True)
class Result:
    """The median of repeated measurements of one tool on one case (or the error that stopped it)."""

    seconds: float | None
    peak_mb: float | None
    error: str | None = None
    out_mb: float | None = None
    info: str | None = None  # read: objects, fields, elements read, to_dataframe() check
    before_mb: float | None = None  # RSS after imports, before the operation (median)
    construct_s: float | None = (
        None  # read: the part of it that is hdmf's construct of the containers (median)
    )
    times: tuple[float, ...] = ()  # every run's seconds, in round order (paired with the other tools' runs)


Spec = tuple[str, str, Path, "Path | None", int]  # tool, op, source, destination (exports), jobs


def _summary(op: str, records: list[dict[str, Any]], dst: Path | None) -> Result:
    """The medians of one spec's runs."""
    record = records[-1]
    out = _size_mb(dst) if dst is not None and dst.exists() else None
    info = None
    if op == "read":
        info = (
            f"{record.get('objects')} objects, {record.get('fields')} fields, {record.get('elements_read')} "
            f"elements read"
            + (f"; to_dataframe rows {record['table_rows']}" if "table_rows" in record else "")
        )
    constructs = [r["construct_seconds"] for r in records if "construct_seconds" in r]
    times = tuple(r["seconds"] for r in records)
    return Result(
        statistics.median(times),
        statistics.median(r["peak_rss_bytes"] / 2**20 for r in records),
        out_mb=out,
        info=info,
        before_mb=statistics.median(r["rss_before_bytes"] / 2**20 for r in records),
        construct_s=statistics.median(constructs) if constructs else None,
        times=times,
    )


def measure(specs: list[Spec], repeat: int) -> list[Result]:
    """Every spec run ``repeat`` times in fresh processes, interleaved: one run of each per round, the order
    rotated from round to round, so that the state of a shared machine's disk and memory at any moment (file
    creation on this VM costs 0.05-0.9 ms, and more after large deletions) weighs on every tool alike.

    Exports remove their destination before each run and keep it after the last.
    """
    records: list[list[dict[str, Any]]] = [[] for _ in specs]
    errors: dict[int, str] = {}
    for round_ in range(repeat):
        shift = round_ % len(specs)
        for i in [*range(shift, len(specs)), *range(shift)]:
            if i in errors:
                continue
            tool, op, src, dst, jobs = specs[i]
            if dst is not None:
                _remove(dst)
            record = _run(_cmd(tool, op, [src] if dst is None else [src, dst], jobs))
            if "error" in record:
                errors[i] = record["error"]
            else:
                records[i].append(record)
    return [
        Result(None, None, error=errors[i]) if i in errors else _summary(spec[1], records[i], spec[3])
        for i, spec in enumerate(specs)
    ]


Row = tuple[str, str, Result, Result, Result]  # case, op, zarrbridge, hdmf-zarr, HDF5IO


def run_case(label: str, src: Path, workdir: Path, repeat: int, *, jobs2: bool) -> list[Row]:
    stem = src.stem
    zb, hz, h5 = (
        workdir / f"{stem}.zb.nwb.zarr",
        workdir / f"{stem}.hz.nwb.zarr",
        workdir / f"{stem}.copy.nwb",
    )
    zb2 = workdir / f"{stem}.zb2.nwb.zarr"
    rows: list[Row] = []
    print(f"  {label}: exporting ...", flush=True)
    specs: list[Spec] = [
        ("zarrbridge", "export", src, zb, 1),
        ("hdmf-zarr", "export", src, hz, 1),
        ("hdf5io", "export", src, h5, 1),
    ]
    if jobs2:
        specs.append(("zarrbridge", "export", src, zb2, 2))
    exports = measure(specs, repeat)
    rows.append((label, "export", *exports[:3]))
    if jobs2:
        rows.append((label, "export jobs=2", exports[3], exports[1], exports[2]))
        _remove(zb2)
    print(f"  {label}: reading ...", flush=True)
    readable = [(tool, path) for tool, path in (("zarrbridge", zb), ("hdmf-zarr", hz), ("hdf5io", src))]
    found = measure([(tool, "read", path, None, 1) for tool, path in readable if path.exists()], repeat)
    by_tool = dict(zip([tool for tool, path in readable if path.exists()], found, strict=True))
    rows.append(
        (
            label,
            "open+read+touch",
            *(by_tool.get(tool, Result(None, None, "no export")) for tool, _ in readable),
        )
    )
    for path in (zb, hz, h5):
        _remove(path)
    return rows


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _ratio(num: float | None, den: float | None) -> str:
    return "-" if num is None or den is None or den == 0 else f"{num / den:.2f}x"


def print_table(rows: list[Row], repeat: int) -> None:
    print(
        f"\nmedian of {repeat} fresh-process runs; s = seconds, MB = peak RSS (ru_maxrss, imports included)"
    )
    print(
        "speedup = hdmf-zarr s / zarrbridge s (higher is better); zb/HDF5IO = zarrbridge s / HDF5IO s; "
        "RSS ratio = zarrbridge MB / hdmf-zarr MB"
    )
    head = (
        f"{'case':<34} {'op':<16} {'zb s':>8} {'zb MB':>7} {'hz s':>8} {'hz MB':>7} {'h5 s':>7} "
        f"{'h5 MB':>7} {'speedup':>8} {'zb/HDF5IO':>9} {'RSS zb/hz':>9}"
    )
    print(head)
    print("-" * len(head))
    for label, op, zb, hz, h5 in rows:
        print(
            f"{label:<34} {op:<16} {_fmt(zb.seconds, '8.2f')} {_fmt(zb.peak_mb, '7.0f')} "
            f"{_fmt(hz.seconds, '8.2f')} {_fmt(hz.peak_mb, '7.0f')} {_fmt(h5.seconds, '7.2f')} "
            f"{_fmt(h5.peak_mb, '7.0f')} {_ratio(hz.seconds, zb.seconds):>8} "
            f"{_ratio(zb.seconds, h5.seconds):>9} {_ratio(zb.peak_mb, hz.peak_mb):>9}"
        )
    for label, op, *results in rows:
        for tool, result in zip(("zarrbridge", "hdmf-zarr", "HDF5IO"), results, strict=True):
            if result.error:
                print(f"! {label} {op} {tool}: {result.error}")
            elif result.out_mb is not None and "jobs" not in op:
                print(f"  {label} {op} {tool}: output {result.out_mb:.1f} MB on disk")
            elif result.info is not None:
                print(f"  {label} {op} {tool}: {result.info}")


def targets(rows: list[Row]) -> None:
    """Print each issue target with the measured value and met / MISSED."""

    def find(label_start: str, op: str) -> Row | None:
        return next((r for r in rows if r[0].startswith(label_start) and r[1] == op), None)

    checks = [
        ("(a) gzip", "export", 3.0),
        ("(a) contiguous", "export", 3.0),
        ("(b)", "export", 5.0),
        ("(b)", "open+read+touch", 5.0),
    ]
    print("\ntargets (issue #3):")
    for start, op, want in checks:
        row = find(start, op)
        if row is None or row[2].seconds is None or row[3].seconds is None:
            print(f"  {start} {op}: >= {want:.0f}x faster than hdmf-zarr: not measured")
            continue
        got = row[3].seconds / row[2].seconds
        pairs = [h / z for z, h in zip(row[2].times, row[3].times)]
        per_run = (
            f" (per round: {', '.join(f'{r:.2f}x' for r in pairs)}; median {statistics.median(pairs):.2f}x)"
            if len(pairs) > 1
            else ""
        )
        print(
            f"  {start} {op}: >= {want:.0f}x faster than hdmf-zarr: {got:.2f}x "
            f"{'met' if got >= want else 'MISSED'}{per_run}"
        )
        construct = row[2].construct_s
        if construct:  # read() returns containers: hdmf's construct of them is common to every backend
            print(
                f"    of zarrbridge's {row[2].seconds:.2f} s, hdmf's construct of the containers took "
                f"{construct:.2f} s; a backend doing nothing else would be {row[3].seconds / construct:.2f}x "
                "faster than hdmf-zarr"
            )
    for label, op, zb, hz, _h5 in rows:
        if zb.peak_mb is not None and hz.peak_mb is not None and "jobs" not in op:
            growth = ""
            if zb.before_mb is not None and hz.before_mb is not None:
                # the two tools run in different environments (zarr 3 vs zarr 2; with .legacy-venv also older
                # hdmf/pynwb): show what the imports weigh and what the operation itself adds
                growth = (
                    f" (after imports {zb.before_mb:.0f} vs {hz.before_mb:.0f} MB; added by the operation "
                    f"{zb.peak_mb - zb.before_mb:.0f} vs {hz.peak_mb - hz.before_mb:.0f} MB)"
                )
            print(
                f"  {label} {op}: peak RSS <= hdmf-zarr's: {zb.peak_mb:.0f} vs {hz.peak_mb:.0f} MB "
                f"{'met' if zb.peak_mb <= hz.peak_mb else 'MISSED'}{growth}"
            )


def write_json(path: Path, rows: list[Row], sizes: Sizes, repeat: int, cases: str) -> None:
    """The rows as a result for benchmarks/plots.py: seconds and peak RSS of each tool, per case."""
    from benchresult import Panel, write_result  # benchmarks/benchresult.py, beside this script

    tools = ["zarrbridge", "hdmf-zarr 0.13", "HDF5IO"]
    seconds = Panel(f"median of {repeat} fresh-process runs", "seconds", "lower", tools)
    memory = Panel("peak RSS of the process (imports included)", "MB", "lower", tools)
    for label, op, *results in rows:
        seconds.add(f"{label}: {op}", **dict(zip(tools, (r.seconds for r in results), strict=True)))
        memory.add(f"{label}: {op}", **dict(zip(tools, (r.peak_mb for r in results), strict=True)))
    write_result(
        path,
        benchmark="bench_nwb_export",
        title="NWB HDF5 -> Zarr export and reads: zarrbridge, hdmf-zarr 0.13 and HDF5IO's own export",
        settings={
            "sizes": str(sizes),
            "repeat": repeat,
            "cases": cases,
            "hdmf-zarr environment": _versions(_baseline_python),
        },
        panels=[seconds, memory],
    )


def run(
    sizes: Sizes,
    repeat: int,
    workdir: Path,
    *,
    profile: bool,
    expandable: bool,
    cases: str = "ab",
    json_path: Path | None = None,
) -> None:
    sources = (
        [
            ("(a) gzip4 chunked", workdir / "big_gzip.nwb", "gzip"),
            ("(a) contiguous", workdir / "big_contig.nwb", "contiguous"),
        ]
        if "a" in cases
        else []
    )
    many = workdir / "many.nwb"
    print("building source files (untimed, in subprocesses) ...", flush=True)
    for _label, path, kind in [*sources, ("", many, "many")]:
        subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--make-worker",
                kind,
                str(path),
                "quick" if sizes == QUICK else "full",
                "expandable" if expandable else "fixed",
            ],
            check=True,
            cwd=ROOT,
        )
    n_objects = _run(_cmd("hdf5io", "read", [many], 1)).get("objects")
    label_b = f"(b) {n_objects} objects"
    for label, path, _ in sources:
        print(
            f"  {label}: {sizes.big_mb:.0f} MB int16 (samples {sizes.samples} x {N_CHANNELS}), "
            f"file {_size_mb(path):.1f} MB"
        )
    print(f"  {label_b}: file {_size_mb(many):.1f} MB")
    rows: list[Row] = []
    for label, path, _ in sources:
        rows += run_case(f"{label} {sizes.big_mb:.0f}MB", path, workdir, repeat, jobs2=True)
    if "b" in cases:
        rows += run_case(label_b, many, workdir, repeat, jobs2=False)
    print_table(rows, repeat)
    targets(rows)
    if json_path is not None:
        write_json(json_path, rows, sizes, repeat, cases)
    if profile:
        dst = workdir / "profile.nwb.zarr"
        print("\ncProfile of the zarrbridge export of (b) (one run, in a subprocess):", flush=True)
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--profile-worker", str(many), str(dst)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        print(proc.stdout if proc.returncode == 0 else proc.stderr)
        _remove(dst)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return worker(argv[1:])
    if argv[:1] == ["--make-worker"]:
        return make_worker(argv[1:])
    if argv[:1] == ["--profile-worker"]:
        return profile_worker(argv[1:])
    if "--scaling" in argv[:1]:  # files growing 4x per step: benchmarks/nwb_export_scaling.py
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import nwb_export_scaling

        return nwb_export_scaling.main(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (~25 MB, ~100 objects)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="fresh-process runs per measurement; median shown"
    )
    parser.add_argument("--dir", type=Path, default=None, help="working directory (default: a temporary one)")
    parser.add_argument("--profile", action="store_true", help="also cProfile the zarrbridge export of (b)")
    parser.add_argument(
        "--baseline-venv",
        type=Path,
        default=None,
        help="the venv hdmf-zarr 0.13.0 runs in (default: .hdmf-zarr-venv, same hdmf/pynwb as .venv; "
        "else .legacy-venv, the fixtures venv with the older hdmf 4.3.1 / pynwb 3.1.3)",
    )
    parser.add_argument(
        "--cases",
        choices=("a", "b", "ab"),
        default="ab",
        help="(a) the ~250 MB ElectricalSeries files, (b) the file of 500+ small objects, or both",
    )
    parser.add_argument(
        "--expandable",
        action="store_true",
        help="write the sources with hdmf's default expandable table columns (maxshape None); "
        "hdmf-zarr 0.13.0 cannot export those",
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the results here (benchmarks/plots.py)"
    )
    args = parser.parse_args(argv)
    global _baseline_python
    if args.baseline_venv is not None:
        _baseline_python = args.baseline_venv / "bin" / "python"
    if not _baseline_python.exists():
        print(
            f"note: {_baseline_python} missing (benchmarks/make_baseline_venv.sh builds it); hdmf-zarr is "
            "skipped"
        )
    sizes = QUICK if args.quick else FULL
    for name, python in (("zarrbridge", Path(sys.executable)), ("hdmf-zarr", _baseline_python)):
        print(f"{name} environment: {_versions(python)}")
    print(
        f"zarrbridge NWBZarrIO vs hdmf-zarr 0.13.0 ({_baseline_python.parent.parent.name}) vs NWBHDF5IO; "
        f"{'quick' if args.quick else 'full'} sizes: {sizes}; {os.cpu_count()} CPUs; sources written "
        f"{'with expandable table columns' if args.expandable else 'with expandable=() (fixed shapes)'}"
    )
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
        run(
            sizes,
            args.repeat,
            args.dir,
            profile=args.profile,
            expandable=args.expandable,
            cases=args.cases,
            json_path=args.json,
        )
    else:
        with tempfile.TemporaryDirectory(prefix="bench_nwb_export_", dir="/tmp") as tmp:
            run(
                sizes,
                args.repeat,
                Path(tmp),
                profile=args.profile,
                expandable=args.expandable,
                cases=args.cases,
                json_path=args.json,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
