"""Benchmark :class:`zarrbridge.ZarrIO` against plain zarr-python (the floor) and ``pynwb.NWBHDF5IO``.

Two workloads, each written and read by all three in one process run:

(a) a tree of many small objects: an NWBFile with ``n`` TimeSeries (data + timestamps each);
(b) one big dataset: an NWBFile with one ``(samples, 64)`` int16 TimeSeries (~200 MB,
    ~20 MB with ``--quick``), once with zarr's default compressor (zstd) and once uncompressed on the zarr
    side.

The plain-zarr floor writes exactly the groups, attributes and arrays (same shapes, dtypes, chunks, codecs)
that zarrbridge wrote, with ``zarr.create_group``/``zarr.create_array`` + assignment (no consolidated
metadata), and reads the same arrays back. HDF5IO writes with the same chunk shape for (b) and hdf5's defaults
(no compression) otherwise. Reads load every
TimeSeries' data (and timestamps) into memory. Each timing is the best of ``--repeat`` runs.

For (a) it also counts the store writes zarrbridge makes (``set``/``set_if_not_exists`` on a counting
``WrapperStore`` around a ``LocalStore``) and how many times the most rewritten key was written.

Usage: ``python benchmarks/bench_zarrio.py [--quick] [--repeat N] [--dir DIR]``. Timings never fail anything.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pynwb
import zarr
from hdmf.backends.hdf5 import H5DataIO
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from zarr.abc.store import Store
from zarr.core.buffer import Buffer
from zarr.storage import LocalStore, WrapperStore

from benchresult import Panel, write_result  # benchmarks/benchresult.py, beside this script
from zarrbridge import ZarrDataIO, ZarrIO

N_CHANNELS = 64


@dataclass(frozen=True)
class Sizes:
    """Workload sizes."""

    n_series: int  # (a): number of small TimeSeries
    series_len: int  # (a): samples per small TimeSeries
    samples: int  # (b): rows of the big (samples, 64) int16 dataset
    chunk_rows: int  # (b): rows per chunk (same for all three)

    @property
    def big_mb(self) -> float:
        return self.samples * N_CHANNELS * 2 / 1e6


QUICK = Sizes(n_series=100, series_len=100, samples=163_840, chunk_rows=16_384)  # 21 MB, 10 chunks
FULL = Sizes(n_series=500, series_len=100, samples=1_638_400, chunk_rows=32_768)  # 210 MB, 50 chunks of 4 MiB


class CountingStore(WrapperStore[LocalStore]):
    """A store that counts ``set`` and ``set_if_not_exists`` calls per key, and which of the latter wrote."""

    def __init__(self, store: LocalStore) -> None:
        super().__init__(store)
        self.sets: Counter[str] = Counter()
        self.if_not_exists: Counter[str] = Counter()
        self.created: Counter[str] = Counter()  # set_if_not_exists calls that found no key, so wrote

    async def set(self, key: str, value: Buffer) -> None:
        self.sets[key] += 1
        await self._store.set(key, value)

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        self.if_not_exists[key] += 1
        if not await self._store.exists(key):
            self.created[key] += 1
        await self._store.set_if_not_exists(key, value)

    def summary(self) -> str:
        written = self.sets + self.created
        meta = {
            k: n for k, n in written.items() if k.endswith(("zarr.json", ".zattrs", ".zgroup", ".zarray"))
        }
        top_key, top_n = written.most_common(1)[0]
        return (
            f"{sum(self.sets.values())} set + {sum(self.if_not_exists.values())} set_if_not_exists calls "
            f"({sum(self.created.values())} of which wrote) = {sum(written.values())} writes to "
            f"{len(written)} keys, {sum(meta.values())} of them to {len(meta)} metadata documents; "
            f"most written key {top_key!r} x{top_n}"
        )


# --------------------------------------------------------------------------------------------- workloads
def _nwbfile(name: str) -> NWBFile:
    return NWBFile(
        session_description=f"zarrbridge benchmark: {name}",
        identifier=f"bench-{name}",
        session_start_time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    )


def tree_file(arrays: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]) -> NWBFile:
    nwbfile = _nwbfile("tree")
    for i, (data, stamps) in enumerate(arrays):
        nwbfile.add_acquisition(
            TimeSeries(
                name=f"series{i:04d}",
                data=data,
                timestamps=stamps,
                unit="a.u.",
                description=f"small series {i}",
            )
        )
    return nwbfile


def big_file(data: np.ndarray[Any, Any], wrap: Callable[[np.ndarray[Any, Any]], Any]) -> NWBFile:
    nwbfile = _nwbfile("big")
    nwbfile.add_acquisition(TimeSeries(name="big", data=wrap(data), rate=30_000.0, unit="V", conversion=1e-6))
    return nwbfile


def _read_series(nwbfile: NWBFile) -> int:
    """Load every TimeSeries' data and timestamps; return the number of bytes read."""
    total = 0
    for series in nwbfile.acquisition.values():
        total += np.asarray(series.data[:]).nbytes
        if series.timestamps is not None:
            total += np.asarray(series.timestamps[:]).nbytes
    return total


# --------------------------------------------------------------------------------------------- zarrbridge
def zb_write(path: Path | Store, nwbfile: NWBFile) -> None:
    with ZarrIO(path, mode="w", manager=pynwb.get_manager()) as io:
        io.write(nwbfile)


def zb_read(path: Path) -> int:
    with ZarrIO(path, mode="r", manager=pynwb.get_manager()) as io:
        return _read_series(io.read())


# --------------------------------------------------------------------------------------------- HDF5IO
def h5_write(path: Path, nwbfile: NWBFile) -> None:
    with NWBHDF5IO(str(path), mode="w") as io:
        io.write(nwbfile)


def h5_read(path: Path) -> int:
    with NWBHDF5IO(str(path), mode="r") as io:
        return _read_series(io.read())


# --------------------------------------------------------------------------------------------- plain zarr
@dataclass(frozen=True)
class Node:
    """One group or array of a zarr hierarchy, with everything needed to write it again."""

    path: str
    attributes: dict[str, Any]
    data: np.ndarray[Any, Any] | None = None  # None for groups
    array_kwargs: dict[str, Any] | None = None


def layout_of(path: Path) -> list[Node]:
    """Every node zarrbridge wrote at ``path``, parents first, with its data loaded."""
    root = zarr.open_group(path, mode="r")
    nodes = [Node("", dict(root.attrs))]
    for sub, node in sorted(root.members(max_depth=None), key=lambda item: item[0]):
        attrs = dict(node.attrs)
        if isinstance(node, zarr.Group):
            nodes.append(Node(sub, attrs))
        else:
            kwargs = {
                "shape": node.shape,
                "dtype": node.metadata.data_type,
                "chunks": node.chunks,
                "shards": node.shards,
                "compressors": node.compressors,
                "filters": node.filters,
                "fill_value": node.metadata.fill_value,
            }
            nodes.append(Node(sub, attrs, np.asarray(node[...]), kwargs))
    return nodes


def plain_write(path: Path | Store, layout: list[Node]) -> None:
    store = path if isinstance(path, Store) else LocalStore(path)
    for node in layout:
        if node.data is None:
            zarr.create_group(store, path=node.path or None, attributes=node.attributes)
        else:
            assert node.array_kwargs is not None
            arr = zarr.create_array(store, name=node.path, attributes=node.attributes, **node.array_kwargs)
            arr[...] = node.data


def plain_read_tree(path: Path) -> int:
    acquisition = zarr.open_group(path, mode="r")["acquisition"]
    assert isinstance(acquisition, zarr.Group)
    total = 0
    for _name, series in acquisition.groups():
        dict(series.attrs)
        for key in ("data", "timestamps"):
            total += np.asarray(series[key][...]).nbytes
    return total


def plain_write_big(path: Path, data: np.ndarray[Any, Any], sizes: Sizes, *, compress: bool) -> None:
    arr = zarr.create_array(
        LocalStore(path),
        shape=data.shape,
        dtype=data.dtype,
        chunks=(sizes.chunk_rows, N_CHANNELS),
        compressors="auto" if compress else None,
    )
    arr[...] = data


def plain_read_big(path: Path) -> int:
    return np.asarray(zarr.open_array(path, mode="r")[...]).nbytes


# --------------------------------------------------------------------------------------------- timing
def best_of(repeat: int, target: Path, run: Callable[[], object], *, fresh: bool) -> float:
    """The fastest of ``repeat`` runs; with ``fresh`` the target is removed (untimed) before each run."""
    times = []
    for _ in range(repeat):
        if fresh:
            _remove(target)
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


Row = tuple[str, float, float, float]


def tree_rows(sizes: Sizes, repeat: int, workdir: Path) -> tuple[list[Row], list[str]]:
    """Workload (a): timings, and notes (sizes on disk, store-write counts)."""
    rng = np.random.default_rng(0)
    small = [
        (rng.standard_normal(sizes.series_len).astype(np.float32), np.cumsum(rng.random(sizes.series_len)))
        for _ in range(sizes.n_series)
    ]
    zb, pz, h5 = workdir / "tree.nwb.zarr", workdir / "tree.plain.zarr", workdir / "tree.nwb"
    label = f"(a) {sizes.n_series} TimeSeries"
    # files are built outside the timings; a container is written by one IO only, so build one per run
    t_zb = best_of(repeat, zb, lambda: zb_write(zb, tree_file(small)), fresh=True)
    layout = layout_of(zb)
    t_pz = best_of(repeat, pz, lambda: plain_write(pz, layout), fresh=True)
    t_h5 = best_of(repeat, h5, lambda: h5_write(h5, tree_file(small)), fresh=True)
    expected = sum(d.nbytes + s.nbytes for d, s in small)
    for reader, target in ((zb_read, zb), (plain_read_tree, pz), (h5_read, h5)):
        got = reader(target)
        assert got == expected, f"{reader.__name__} read {got} bytes, expected {expected}"
    rows = [
        (f"{label}: write", t_zb, t_pz, t_h5),
        (
            f"{label}: read",
            best_of(repeat, zb, lambda: zb_read(zb), fresh=False),
            best_of(repeat, pz, lambda: plain_read_tree(pz), fresh=False),
            best_of(repeat, h5, lambda: h5_read(h5), fresh=False),
        ),
    ]
    notes = [
        f"(a) {len(layout)} zarr nodes; on disk: zarrbridge {_size_mb(zb):.1f} MB, plain zarr "
        f"{_size_mb(pz):.1f} MB, HDF5 {_size_mb(h5):.1f} MB",
        "(a) store writes:",
    ]
    for name, write in (
        ("zarrbridge", lambda s: zb_write(s, tree_file(small))),
        ("plain zarr", lambda s: plain_write(s, layout)),
    ):
        target = workdir / f"count-{name.replace(' ', '-')}.zarr"
        _remove(target)
        target.mkdir()  # an existing empty directory, as a user would hand over a store
        store = CountingStore(LocalStore(target))
        write(store)
        notes.append(f"  {name}: {store.summary()}")
    return rows, notes


def big_rows(sizes: Sizes, repeat: int, workdir: Path, *, compress: bool) -> tuple[list[Row], list[str]]:
    """Workload (b), with zarr's default compressor (zstd) or without compression; HDF5 is uncompressed."""
    rng = np.random.default_rng(1)
    big = (rng.standard_normal((sizes.samples, N_CHANNELS), dtype=np.float32) * 40).astype(np.int16)
    chunks = (sizes.chunk_rows, N_CHANNELS)
    zb, pz, h5 = workdir / "big.nwb.zarr", workdir / "big.plain.zarr", workdir / "big.nwb"
    label = f"(b) {sizes.big_mb:.0f} MB int16, zarr {'zstd' if compress else 'uncompressed'}"

    def zb_wrap(data: np.ndarray[Any, Any]) -> ZarrDataIO:
        return (
            ZarrDataIO(data, chunks=chunks) if compress else ZarrDataIO(data, chunks=chunks, compressors=())
        )

    t_zb = best_of(repeat, zb, lambda: zb_write(zb, big_file(big, zb_wrap)), fresh=True)
    t_pz = best_of(repeat, pz, lambda: plain_write_big(pz, big, sizes, compress=compress), fresh=True)
    t_h5 = best_of(
        repeat, h5, lambda: h5_write(h5, big_file(big, lambda d: H5DataIO(d, chunks=chunks))), fresh=True
    )
    for reader, target in ((zb_read, zb), (plain_read_big, pz), (h5_read, h5)):
        got = reader(target)
        assert got == big.nbytes, f"{reader.__name__} read {got} bytes, expected {big.nbytes}"
    rows = [
        (f"{label}: write", t_zb, t_pz, t_h5),
        (
            f"{label}: read",
            best_of(repeat, zb, lambda: zb_read(zb), fresh=False),
            best_of(repeat, pz, lambda: plain_read_big(pz), fresh=False),
            best_of(repeat, h5, lambda: h5_read(h5), fresh=False),
        ),
    ]
    zb_codecs = zarr.open_group(zb, mode="r")["acquisition/big/data"].compressors  # type: ignore[union-attr]
    pz_codecs = zarr.open_array(pz, mode="r").compressors
    notes = [
        f"{label}: {sizes.samples}x{N_CHANNELS}, chunks {chunks}; on disk: zarrbridge {_size_mb(zb):.1f} MB "
        f"{zb_codecs}, plain zarr {_size_mb(pz):.1f} MB {pz_codecs}, HDF5 {_size_mb(h5):.1f} MB (no filter)"
    ]
    return rows, notes


def run(sizes: Sizes, repeat: int, workdir: Path, json_path: Path | None = None) -> None:
    rows, notes = tree_rows(sizes, repeat, workdir)
    for compress in (True, False):
        more_rows, more_notes = big_rows(sizes, repeat, workdir, compress=compress)
        rows += more_rows
        notes += more_notes
    print(f"best of {repeat} runs each, seconds; ratio = zarrbridge time / baseline time (lower is better)")
    width = max(len(r[0]) for r in rows)
    print(
        f"{'case':<{width}}  {'zarrbridge':>10}  {'plain zarr':>10}  {'HDF5IO':>10}  {'zb/zarr':>8}  "
        f"{'zb/HDF5IO':>9}"
    )
    for name, zb, pz, h5 in rows:
        print(f"{name:<{width}}  {zb:>10.3f}  {pz:>10.3f}  {h5:>10.3f}  {zb / pz:>7.2f}x  {zb / h5:>8.2f}x")
    print("\n".join(notes))
    if json_path is not None:
        panel = Panel(f"best of {repeat} runs", "seconds", "lower", ["zarrbridge", "plain zarr", "HDF5IO"])
        for name, zb, pz, h5 in rows:
            panel.add(name, **{"zarrbridge": zb, "plain zarr": pz, "HDF5IO": h5})
        write_result(
            json_path,
            benchmark="bench_zarrio",
            title="ZarrIO writes and reads against plain zarr and pynwb's NWBHDF5IO",
            settings={"sizes": str(sizes), "repeat": repeat},
            panels=[panel],
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (~20 MB, 100 objects)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing; the best is reported")
    parser.add_argument("--dir", type=Path, default=None, help="working directory (default: a temporary one)")
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the results here (benchmarks/plots.py)"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    print(
        f"zarrbridge ZarrIO vs plain zarr {zarr.__version__} vs pynwb {pynwb.__version__} NWBHDF5IO; "
        f"{'quick' if args.quick else 'full'} sizes: {sizes}"
    )
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
        run(sizes, args.repeat, args.dir, args.json)
    else:
        with tempfile.TemporaryDirectory(prefix="bench_zarrio_") as tmp:
            run(sizes, args.repeat, Path(tmp), args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
