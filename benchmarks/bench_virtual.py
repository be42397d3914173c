"""Benchmark virtual Zarr views of HDF5 NWB files: how long making a view of a ~1 GB file takes.

The source (built first, outside every timing, with ``pynwb.NWBHDF5IO``) is an NWB file with one int16
``ElectricalSeries`` of about ``--gb`` GB (64 channels), chunked (~1 MiB chunks, gzip level 1 with
``--gzip``, else uncompressed), one contiguous float64 series of ~1/8 of that, and a units table.

Measured, each in a fresh subprocess (the median of ``--repeat`` runs):

* ``write_virtual(src, view)`` alone (imports excluded), and ``zarrbridge convert --virtual`` as a command
  (interpreter start and imports included);
* for comparison, the full export ``zarrbridge convert src dst.nwb.zarr`` (chunks copied) with ``--full``;
* opening the view and ``read()``, then reading one second (30,000 samples) of the ElectricalSeries.

Usage::

    .venv/bin/python benchmarks/bench_virtual.py [--gb 1.0] [--gzip] [--repeat 3] [--dir DIR] [--full]

Timings never fail anything.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
CLI = str(Path(PY).with_name("zarrbridge"))


def build_source(path: Path, gb: float, gzip: bool) -> None:
    import numpy as np
    from hdmf.backends.hdf5 import H5DataIO
    from hdmf.data_utils import GenericDataChunkIterator
    from pynwb import NWBHDF5IO, TimeSeries
    from pynwb.ecephys import ElectricalSeries
    from pynwb.testing.mock.ecephys import mock_ElectrodeTable
    from pynwb.testing.mock.file import mock_NWBFile

    channels = 64
    rows = int(gb * 1e9 / (2 * channels))

    class Noise(GenericDataChunkIterator):  # type: ignore[misc]
        def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
            n = selection[0].stop - selection[0].start
            return np.random.default_rng(selection[0].start).integers(
                -500, 500, (n, channels), dtype=np.int16
            )

        def _get_maxshape(self) -> tuple[int, int]:
            return (rows, channels)

        def _get_dtype(self) -> np.dtype:
            return np.dtype(np.int16)

    nwbfile = mock_NWBFile()
    mock_ElectrodeTable(n_rows=channels, nwbfile=nwbfile)
    region = nwbfile.create_electrode_table_region(list(range(channels)), "all")
    options = dict(chunks=(8192, channels))
    if gzip:
        options.update(compression="gzip", compression_opts=1)
    data = H5DataIO(Noise(chunk_shape=(8192, channels), buffer_shape=(262144, channels)), **options)
    nwbfile.add_acquisition(ElectricalSeries(name="es", data=data, electrodes=region, rate=30000.0))
    contiguous = np.random.default_rng(1).standard_normal((int(gb * 1e9 / 8 / 8 / 4), 4))
    nwbfile.add_acquisition(TimeSeries(name="contiguous", data=contiguous, unit="m", rate=10.0))
    for i in range(20):
        nwbfile.add_unit(spike_times=np.sort(np.random.default_rng(i).uniform(0, 100, 200)))
    with NWBHDF5IO(path, "w") as io:
        io.write(nwbfile)


WRITE = """
import sys, time, json
import hdmf.common, pynwb  # imports excluded from the timing, as in the other benchmarks
from zarrbridge.zarrio.virtual import write_virtual
t = time.perf_counter()
r = write_virtual(sys.argv[1], sys.argv[2], overwrite=True)
print(json.dumps({"seconds": time.perf_counter() - t, "chunks": r.chunks, "view_bytes": r.view_bytes,
                  "referenced_bytes": r.referenced_bytes}))
"""

READ = """
import sys, time, json
from zarrbridge import NWBZarrIO
t = time.perf_counter()
io = NWBZarrIO(sys.argv[1], "r")
nwb = io.read()
opened = time.perf_counter() - t
t = time.perf_counter()
nwb.acquisition["es"].data[300000:330000]
print(json.dumps({"open_read": opened, "one_second": time.perf_counter() - t}))
io.close()
"""


def run_json(args: list[str]) -> dict[str, float]:
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    result: dict[str, float] = json.loads(out)
    return result


def timed(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gb", type=float, default=1.0)
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--full", action="store_true", help="also time the full export (copies the chunks)")
    args = parser.parse_args()
    base = args.dir or Path(tempfile.mkdtemp(prefix="bench-virtual-"))
    source = base / f"source-{args.gb}gb{'-gzip' if args.gzip else ''}.nwb"
    if not source.exists():
        print(f"building {source} ...", flush=True)
        build_source(source, args.gb, args.gzip)
    print(f"source: {source} ({os.path.getsize(source) / 1e9:.2f} GB)")
    view = base / "view.nwb.zarr"
    writes, commands, reads = [], [], []
    for _ in range(args.repeat):
        writes.append(run_json([PY, "-c", WRITE, str(source), str(view)]))
        commands.append(timed([CLI, "convert", "--virtual", "--overwrite", "-q", str(source), str(view)]))
        reads.append(run_json([PY, "-c", READ, str(view)]))
    first = writes[0]
    print(
        f"view: {first['chunks']} chunk references, {first['referenced_bytes'] / 1e9:.2f} GB referenced, "
        f"reference file {first['view_bytes'] / 1e6:.2f} MB"
    )
    write_s = statistics.median(w["seconds"] for w in writes)
    verdict = "met" if write_s < 2 else "MISSED"
    print(f"write_virtual (in process)           {write_s:8.3f} s   target < 2 s: {verdict}")
    print(
        f"zarrbridge convert --virtual (CLI)   {statistics.median(commands):8.3f} s   (interpreter + imports)"
    )
    print(f"open + read() of the view            {statistics.median(r['open_read'] for r in reads):8.3f} s")
    print(f"one second of the ElectricalSeries   {statistics.median(r['one_second'] for r in reads):8.3f} s")
    if args.full:
        dest = base / "full.nwb.zarr"
        full = timed([CLI, "convert", "--overwrite", "-q", str(source), str(dest)])
        ratio = full / statistics.median(commands)
        print(f"full export (chunks copied, CLI)     {full:8.3f} s   ratio {ratio:.1f}x")


if __name__ == "__main__":
    main()
