"""Scaling mode of ``bench_nwb_export.py``: export cost as files grow 4x per step, three tools side by side.

The source files are generated here (untimed, each in a subprocess): NWB HDF5 files written by pynwb with

* ``series``: N small ``TimeSeries`` in a processing module (N = 300, 1,200, 4,800, ... up to
  ``--max-series``),
* ``recording``: one ``(samples, 64)`` int16 ``ElectricalSeries`` of 100 MB, 400 MB, 1.6 GB, ... up to
  ``--max-mb``, either ``contiguous`` (uncompressed) or ``gzip`` (chunked, gzip level 4, as DANDI files are).
  The dataset is allocated by pynwb and filled with band-limited noise through h5py in 64 MB blocks, so
  making a 16 GB file needs no 16 GB of memory.

Each export runs in a fresh process and is timed from opening the source to closing the destination:
zarrbridge ``NWBZarrIO.export`` (default settings: the source's compression kept or, for uncompressed data,
zarrbridge's default compressor), hdmf-zarr 0.13 (``hdmf_zarr_baseline.py``, in its own venv; the column is
skipped when the venv is missing) and ``NWBHDF5IO.export`` (HDF5 -> HDF5). Runs are interleaved (one run of
each tool per round, the order rotated) and the best of ``--repeat`` is shown: the machine may be shared,
and the minimum is the run least disturbed by others. Each record has the wall time, the user and system
CPU time of the operation (``getrusage`` of the process, all threads) and the peak RSS (``ru_maxrss``,
imports included). The table shows the ratios zarrbridge / HDF5IO and hdmf-zarr / zarrbridge and the cost
per object and per MB (the slope between the smallest and largest step, so fixed costs drop out).

``--also`` adds zarrbridge's other export directions on the recordings: ``zarr2h5`` (its Zarr -> HDF5),
``zarr2zarr`` (Zarr -> Zarr) and ``client`` (HDF5 -> Zarr with a ``distributed.LocalCluster`` client of two
single-threaded worker processes; their CPU is not in the process's ``getrusage``), and ``floor``: visiting
every HDF5 object (attributes read) and writing one Zarr metadata document per object, the least any
export of the series files can cost.

Usage::

    .venv/bin/python benchmarks/bench_nwb_export.py --scaling [--max-mb 400] [--max-series 1200]
        [--layouts contiguous,gzip] [--also zarr2h5,zarr2zarr,client,floor] [--repeat 2] [--dir DIR]

Check ``df`` before asking for 16 GB: a step needs its source, the HDF5 copy and the Zarr output at once.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve()
BASELINE = ROOT / "benchmarks" / "hdmf_zarr_baseline.py"
BASELINE_PYTHON = ROOT / ".hdmf-zarr-venv" / "bin" / "python"
N_CHANNELS = 64
FILL_BLOCK_ROWS = 1 << 19  # 64 MB of int16 x 64 channels per h5py write while filling a recording
GZIP_CHUNK_ROWS = 32_768  # 4 MB chunks for the gzip layout
TOOLS = ("zarrbridge", "hdmf-zarr", "hdf5io")


# --------------------------------------------------------------------------------------------- source files
def _nwbfile(name: str) -> Any:
    from pynwb import NWBFile

    return NWBFile(
        session_description=f"zarrbridge export scaling benchmark: {name}",
        identifier=f"scaling-{name}",
        session_start_time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    )


def make_series(path: Path, n_series: int) -> None:
    """``n_series`` small TimeSeries (50-200 float32 samples, float64 timestamps) in a processing module."""
    import numpy as np
    from pynwb import NWBHDF5IO, TimeSeries

    rng = np.random.default_rng(2)
    nwbfile = _nwbfile(f"series{n_series}")
    module = nwbfile.create_processing_module(name="behavior", description="many small series")
    for i in range(n_series):
        n = int(rng.integers(50, 200))
        module.add(
            TimeSeries(
                name=f"series{i:05d}",
                data=rng.standard_normal(n).astype(np.float32),
                timestamps=np.cumsum(rng.random(n)),
                unit="a.u.",
                description=f"series {i}",
            )
        )
    with NWBHDF5IO(str(path), mode="w") as io:
        io.write(nwbfile)


def make_recording(path: Path, megabytes: int, layout: str) -> None:
    """One ``(samples, 64)`` int16 ElectricalSeries of ``megabytes`` MB: ``contiguous`` or ``gzip`` chunks."""
    import h5py
    import numpy as np
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb import NWBHDF5IO
    from pynwb.ecephys import ElectricalSeries

    samples = megabytes * 1_000_000 // (N_CHANNELS * 2)
    nwbfile = _nwbfile(f"recording{megabytes}")
    device = nwbfile.create_device(name="probe")
    group = nwbfile.create_electrode_group(name="shank0", description="shank", location="CA1", device=device)
    for i in range(N_CHANNELS):
        nwbfile.add_electrode(group=group, location="CA1", x=float(i), y=0.0, z=0.0)
    region = nwbfile.create_electrode_table_region(region=list(range(N_CHANNELS)), description="all")
    options: dict[str, Any] = {"shape": (samples, N_CHANNELS), "dtype": np.int16}
    if layout == "gzip":
        options.update(chunks=(GZIP_CHUNK_ROWS, N_CHANNELS), compression="gzip", compression_opts=4)
    data = H5DataIO(**options)
    nwbfile.add_acquisition(
        ElectricalSeries(
            name="ElectricalSeries", data=data, electrodes=region, rate=30_000.0, conversion=1e-6
        )
    )
    with NWBHDF5IO(str(path), mode="w") as io:
        io.write(nwbfile)
    rng = np.random.default_rng(1)
    carry = np.zeros(N_CHANNELS, dtype=np.int16)
    with h5py.File(path, "r+") as f:
        dset = f["acquisition/ElectricalSeries/data"]
        for start in range(0, samples, FILL_BLOCK_ROWS):
            stop = min(samples, start + FILL_BLOCK_ROWS)
            # band-limited noise compresses like real ephys (gzip ~ 60-70%), unlike white noise
            steps = rng.integers(-8, 9, size=(stop - start, N_CHANNELS), dtype=np.int16)
            block = np.cumsum(steps, axis=0, dtype=np.int16) + carry
            carry = block[-1].copy()
            dset[start:stop] = block


# --------------------------------------------------------------------------------------------- worker side
def _usage() -> tuple[float, float, int]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime, ru.ru_stime, ru.ru_maxrss * 1024  # Linux: KiB


def _prepare(tool: str) -> None:
    """Import what the tool needs before the timing starts (imports are not the export's cost)."""
    import pynwb  # noqa: F401

    if tool == "hdmf-zarr":
        sys.path.insert(0, str(BASELINE.parent))
        import hdmf_zarr.nwb  # noqa: F401

        import hdmf_zarr_baseline  # noqa: F401
    elif tool != "hdf5io":
        import zarrbridge  # noqa: F401
    if tool == "client":
        import distributed  # noqa: F401


def _export(tool: str, src: Path, dst: Path) -> None:
    if tool == "hdmf-zarr":
        import hdmf_zarr_baseline

        _SECONDS.append(hdmf_zarr_baseline.export(src, dst)["seconds"])
        return
    from pynwb import NWBHDF5IO

    from zarrbridge import NWBZarrIO

    if tool == "hdf5io":
        with NWBHDF5IO(str(src), "r") as read_io, NWBHDF5IO(str(dst), mode="w") as hio:
            hio.export(src_io=read_io, write_args={"link_data": False})
    elif tool in ("zarrbridge", "zarr2zarr"):  # HDF5 -> Zarr, or (a Zarr source) Zarr -> Zarr
        reader: Any = NWBZarrIO(src, mode="r") if tool == "zarr2zarr" else NWBHDF5IO(str(src), "r")
        with reader as read_io, NWBZarrIO(dst, mode="w") as zio:
            zio.export(src_io=read_io, write_args={"link_data": False})
    elif tool == "zarr2h5":
        with NWBZarrIO(src, mode="r") as read_io, NWBHDF5IO(str(dst), mode="w") as hio:
            hio.export(src_io=read_io, write_args={"link_data": False})
    elif tool == "client":
        from distributed import Client, LocalCluster

        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            started = time.perf_counter()
            with NWBHDF5IO(str(src), "r") as read_io, NWBZarrIO(dst, mode="w") as zio:
                zio.export(src_io=read_io, write_args={"link_data": False}, client=client)
            _SECONDS.append(time.perf_counter() - started)
    elif tool == "floor":
        floor(src, dst)
    else:
        raise ValueError(f"unknown tool {tool!r}")


# the wall time of the export alone where the run does more (hdmf-zarr's record; the client's cluster start)
_SECONDS: list[float] = []


def floor(src: Path, dst: Path) -> None:
    """Visit every HDF5 object, read its attributes, write one zarr metadata document per object (no data)."""
    import h5py
    import numpy as np

    os.makedirs(dst)
    count = [0]

    def visit(name: str, obj: Any) -> None:
        attrs = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in obj.attrs.items()}
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
        document: dict[str, Any] = {"zarr_format": 3, "node_type": "group", "attributes": attrs}
        if isinstance(obj, h5py.Dataset):
            document.update(node_type="array", shape=list(obj.shape), data_type=str(obj.dtype))
        folder = dst / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "zarr.json").write_text(json.dumps(document, default=str))
        count[0] += 1

    with h5py.File(src, "r") as f:
        f.visititems(visit)


def worker(argv: list[str]) -> int:
    """``--scaling-worker TOOL SRC DST``: one export, one JSON line."""
    warnings.simplefilter("ignore")
    tool, src, dst = argv
    _prepare(tool)
    user0, sys0, before = _usage()
    start = time.perf_counter()
    _export(tool, Path(src), Path(dst))
    seconds = time.perf_counter() - start
    user1, sys1, peak = _usage()
    record = {
        "tool": tool,
        "seconds": _SECONDS[0] if _SECONDS else seconds,
        "user": user1 - user0,
        "system": sys1 - sys0,
        "rss_before_bytes": before,
        "peak_rss_bytes": peak,
    }
    print(json.dumps(record, sort_keys=True))
    return 0


# --------------------------------------------------------------------------------------------- parent side
@dataclass(frozen=True)
class Best:
    """The best (fastest) of the repeated runs of one tool on one file, or why there is none."""

    seconds: float | None = None
    user: float | None = None
    system: float | None = None
    peak_mb: float | None = None
    error: str | None = None


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _run(python: Path, tool: str, src: Path, dst: Path) -> dict[str, Any]:
    script = [str(python), str(HERE), "--scaling-worker", tool, str(src), str(dst)]
    proc = subprocess.run(script, capture_output=True, text=True, cwd=ROOT, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {proc.returncode}: {tail}"}
    record: dict[str, Any] = json.loads(lines[-1])
    return record


def measure(jobs: list[tuple[str, Path, Path]], repeat: int) -> list[Best]:
    """Each ``(tool, source, destination)`` ``repeat`` times, interleaved and rotated; the fastest run kept.

    Destinations are removed before each run and after the last.
    """
    runs: list[list[dict[str, Any]]] = [[] for _ in jobs]
    errors: dict[int, str] = {}
    for round_ in range(repeat):
        shift = round_ % len(jobs)
        for i in [*range(shift, len(jobs)), *range(shift)]:
            tool, src, dst = jobs[i]
            if i in errors:
                continue
            _remove(dst)
            python = BASELINE_PYTHON if tool == "hdmf-zarr" else Path(sys.executable)
            record = _run(python, tool, src, dst)
            if "error" in record:
                errors[i] = record["error"]
            else:
                runs[i].append(record)
    out = []
    for i, records in enumerate(runs):
        if i in errors:
            out.append(Best(error=errors[i]))
            continue
        best = min(records, key=lambda r: r["seconds"])
        out.append(Best(best["seconds"], best["user"], best["system"], best["peak_rss_bytes"] / 2**20))
    return out


def _size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def _make(kind: str, path: Path, size: int, layout: str) -> None:
    if not path.exists():
        cmd = [sys.executable, str(HERE), "--scaling-make", kind, str(path), str(size), layout]
        subprocess.run(cmd, check=True, cwd=ROOT)


def _steps(first: int, last: int) -> list[int]:
    steps = [first]
    while steps[-1] * 4 <= last:
        steps.append(steps[-1] * 4)
    return steps


Row = tuple[str, int, dict[str, Best]]  # case, size (objects or MB), tool -> best run


def _fmt(value: float | None, spec: str) -> str:
    """``value`` formatted with ``spec`` (which starts with ``>`` and a width), or ``-`` as wide."""
    return format(value, spec) if value is not None else format("-", spec.split(".")[0])


def _cpu(best: Best | None) -> float | None:
    return None if best is None or best.user is None or best.system is None else best.user + best.system


def _ratio(num: Best | None, den: Best | None, *, cpu: bool = False) -> str:
    a, b = (_cpu(num), _cpu(den)) if cpu else (num and num.seconds, den and den.seconds)
    return "-" if a is None or not b else f"{a / b:.2f}x"


def print_table(rows: list[Row], tools: list[str], repeat: int) -> None:
    print(f"\nbest of {repeat} fresh-process runs, interleaved; s = wall seconds, cpu = user+system seconds")
    print("(u/s split below), MB = peak RSS; zb/h5 = zarrbridge s / HDF5IO s (then the same for cpu),")
    print("hz/zb = hdmf-zarr s / zarrbridge s; on a shared machine cpu is the steadier measure")
    head = f"{'case':<22} " + " ".join(f"{t + ' s':>13} {'cpu':>6} {'MB':>5}" for t in tools)
    head += f" {'zb/h5':>7} {'cpu':>6} {'hz/zb':>7}"
    print(head)
    print("-" * len(head))
    for case, _size, best in rows:
        cells = []
        for tool in tools:
            b = best.get(tool, Best(error="not run"))
            cpu = _cpu(b)
            cells.append(f"{_fmt(b.seconds, '>13.2f')} {_fmt(cpu, '>6.1f')} {_fmt(b.peak_mb, '>5.0f')}")
        ratio_h5 = _ratio(best.get("zarrbridge"), best.get("hdf5io"))
        cpu_h5 = _ratio(best.get("zarrbridge"), best.get("hdf5io"), cpu=True)
        ratio_hz = _ratio(best.get("hdmf-zarr"), best.get("zarrbridge"))
        print(f"{case:<22} " + " ".join(cells) + f" {ratio_h5:>7} {cpu_h5:>6} {ratio_hz:>7}")
    print()
    for case, _size, best in rows:
        for tool, b in best.items():
            if b.error:
                print(f"! {case} {tool}: {b.error}")
            elif b.user is not None:
                print(f"  {case} {tool}: {b.seconds:.2f} s, user {b.user:.2f} s + system {b.system:.2f} s")


def print_slopes(rows: list[Row], tools: list[str]) -> None:
    """Cost per object / per MB: the slope from the smallest to the largest step of each case."""
    cases: dict[str, list[tuple[int, dict[str, Best]]]] = {}
    for case, size, best in rows:
        cases.setdefault(case.split(" ")[0], []).append((size, best))
    print("\nmarginal cost (slope from the smallest to the largest step):")
    for kind, steps in cases.items():
        if len(steps) < 2:
            continue
        (n0, b0), (n1, b1) = steps[0], steps[-1]
        unit = "object" if kind == "series" else "MB"
        parts = []
        for tool in tools:
            t0, t1 = b0.get(tool), b1.get(tool)
            if t0 is None or t1 is None or t0.seconds is None or t1.seconds is None:
                continue
            parts.append(f"{tool} {1000 * (t1.seconds - t0.seconds) / (n1 - n0):.3f} ms")
        print(f"  {kind}: per {unit}: " + ", ".join(parts))


def run(args: argparse.Namespace, workdir: Path) -> None:
    tools = [t for t in TOOLS if t != "hdmf-zarr" or BASELINE_PYTHON.exists()]
    if "hdmf-zarr" not in tools:
        print(f"note: {BASELINE_PYTHON} missing (benchmarks/make_baseline_venv.sh); hdmf-zarr skipped")
    also = [a for a in args.also.split(",") if a]
    rows: list[Row] = []
    cases: list[tuple[str, str, int, str]] = []
    cases += [("series", f"series {n}", n, "-") for n in _steps(300, args.max_series)]
    for layout in [x for x in args.layouts.split(",") if x]:
        cases += [("recording", f"{layout} {mb} MB", mb, layout) for mb in _steps(100, args.max_mb)]
    columns = [*tools, *also]
    for kind, case, size, layout in cases:
        src = workdir / f"{kind}-{layout}-{size}.nwb"
        print(f"{case}: making the source ...", flush=True)
        _make(kind, src, size, layout)
        jobs = [(tool, src, workdir / f"out-{tool}") for tool in tools]
        extra = [a for a in also if (a == "floor") == (kind == "series")]
        zarr_src = workdir / "out-zarrbridge"
        for name in extra:
            source = zarr_src if name in ("zarr2h5", "zarr2zarr") else src
            jobs.append((name, source, workdir / f"out-{name}"))
        if any(name in ("zarr2h5", "zarr2zarr") for name in extra):  # their source: zarrbridge's output
            _run(Path(sys.executable), "zarrbridge", src, zarr_src)
        print(f"{case}: source {_size_mb(src):.0f} MB on disk; exporting ...", flush=True)
        found = measure(jobs, args.repeat)
        rows.append((case, size, {job[0]: b for job, b in zip(jobs, found, strict=True)}))
        for _tool, _, dst in jobs:
            _remove(dst)
        _remove(zarr_src)
        if not args.keep:
            _remove(src)
    print_table(rows, columns, args.repeat)
    print_slopes(rows, columns)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--scaling-worker"]:
        return worker(argv[1:])
    if argv[:1] == ["--scaling-make"]:
        warnings.simplefilter("ignore")
        kind, path, size, layout = argv[1:]
        if kind == "series":
            make_series(Path(path), int(size))
        else:
            make_recording(Path(path), int(size), layout)
        return 0
    parser = argparse.ArgumentParser(description="export cost as files grow 4x per step")
    parser.add_argument("--scaling", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--max-mb", type=int, default=400, help="largest recording, MB (100, 400, 1600, ...)")
    parser.add_argument("--max-series", type=int, default=1200, help="most TimeSeries (300, 1200, 4800, ...)")
    parser.add_argument("--layouts", default="contiguous,gzip", help="recording layouts: contiguous,gzip")
    parser.add_argument("--also", default="", help="extra columns: zarr2h5,zarr2zarr,client,floor")
    parser.add_argument("--repeat", type=int, default=2, help="runs per tool and file; the best is shown")
    parser.add_argument("--dir", type=Path, default=None, help="working directory (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the generated sources in --dir")
    args = parser.parse_args(argv)
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
    print(f"{os.cpu_count()} CPUs; free disk {shutil.disk_usage(args.dir or '/tmp').free / 1e9:.0f} GB")
    if args.dir is not None:
        run(args, args.dir)
    else:
        with tempfile.TemporaryDirectory(prefix="bench_export_scaling_", dir="/tmp") as tmp:
            run(args, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
