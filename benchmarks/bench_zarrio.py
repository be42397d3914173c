"""Benchmark :class:`zarrbridge.ZarrIO` against plain zarr-python (the floor) and ``pynwb.NWBHDF5IO``.

Two workloads, each written and read by all three in one process run:

(a) a tree of many small objects: an NWBFile with ``n`` TimeSeries (data + timestamps each);
(b) one big dataset: an NWBFile with one ``(samples, 64)`` int16 TimeSeries (~200 MB, ~20 MB with ``--quick``).

The plain-zarr floor writes exactly the groups, attributes and arrays (same shapes, dtypes, chunks, codecs) that
zarrbridge wrote, with ``zarr.create_group``/``zarr.create_array`` + assignment, and reads the same arrays back.
HDF5IO writes with the same chunk shape for (b) and hdf5's defaults (no compression) otherwise. Reads load every
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
        meta = {k: n for k, n in written.items() if k.endswith(("zarr.json", ".zattrs", ".zgroup", ".zarray"))}
        top_key, top_n = written.most_common(1)[0]
        return (f"{sum(self.sets.values())} set + {sum(self.if_not_exists.values())} set_if_not_exists calls "
                f"({sum(self.created.values())} of which wrote) = {sum(written.values())} writes to "
                f"{len(written)} keys, {sum(meta.values())} of them to {len(meta)} metadata documents; "
                f"most written key {top_key!r} x{top_n}")


# --------------------------------------------------------------------------------------------- workloads
def _nwbfile(name: str) -> NWBFile:
    return NWBFile(session_description=f"zarrbridge benchmark: {name}", identifier=f"bench-{name}",
                   session_start_time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))


def tree_file(sizes: Sizes, arrays: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]) -> NWBFile:
    nwbfile = _nwbfile("tree")
    for i, (data, stamps) in enumerate(arrays):
        nwbfile.add_acquisition(TimeSeries(name=f"series{i:04d}", data=data, timestamps=stamps, unit="a.u.",
                                           description=f"small series {i}"))
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
            kwargs = {"shape": node.shape, "dtype": node.metadata.data_type, "chunks": node.chunks,
                      "shards": node.shards, "compressors": node.compressors, "filters": node.filters,
                      "fill_value": node.metadata.fill_value}
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


def plain_write_big(path: Path, data: np.ndarray[Any, Any], sizes: Sizes) -> None:
    arr = zarr.create_array(LocalStore(path), shape=data.shape, dtype=data.dtype,
                            chunks=(sizes.chunk_rows, N_CHANNELS))
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


def run(sizes: Sizes, repeat: int, workdir: Path) -> None:
    rng = np.random.default_rng(0)
    small = [(rng.standard_normal(sizes.series_len).astype(np.float32),
              np.cumsum(rng.random(sizes.series_len))) for _ in range(sizes.n_series)]
    big = (rng.standard_normal((sizes.samples, N_CHANNELS), dtype=np.float32) * 40).astype(np.int16)
    chunks = (sizes.chunk_rows, N_CHANNELS)
    zb_tree, pz_tree, h5_tree = workdir / "tree.nwb.zarr", workdir / "tree.plain.zarr", workdir / "tree.nwb"
    zb_big, pz_big, h5_big = workdir / "big.nwb.zarr", workdir / "big.plain.zarr", workdir / "big.nwb"

    rows: list[tuple[str, float, float, float]] = []
    label = f"(a) {sizes.n_series} TimeSeries"
    # files are built outside the timings; a container is written by one IO only, so build one per run
    t_zb = best_of(repeat, zb_tree, lambda: zb_write(zb_tree, tree_file(sizes, small)), fresh=True)
    layout = layout_of(zb_tree)
    t_pz = best_of(repeat, pz_tree, lambda: plain_write(pz_tree, layout), fresh=True)
    t_h5 = best_of(repeat, h5_tree, lambda: h5_write(h5_tree, tree_file(sizes, small)), fresh=True)
    rows.append((f"{label}: write", t_zb, t_pz, t_h5))
    expected = sum(d.nbytes + s.nbytes for d, s in small)
    for reader, target in ((zb_read, zb_tree), (plain_read_tree, pz_tree), (h5_read, h5_tree)):
        got = reader(target)
        assert got == expected, f"{reader.__name__} read {got} bytes, expected {expected}"
    rows.append((f"{label}: read", best_of(repeat, zb_tree, lambda: zb_read(zb_tree), fresh=False),
                 best_of(repeat, pz_tree, lambda: plain_read_tree(pz_tree), fresh=False),
                 best_of(repeat, h5_tree, lambda: h5_read(h5_tree), fresh=False)))
    tree_sizes = (_size_mb(zb_tree), _size_mb(pz_tree), _size_mb(h5_tree))

    label = f"(b) {sizes.big_mb:.0f} MB int16 {sizes.samples}x{N_CHANNELS}"
    t_zb = best_of(repeat, zb_big, lambda: zb_write(zb_big, big_file(big, lambda d: ZarrDataIO(d, chunks=chunks))),
                   fresh=True)
    t_pz = best_of(repeat, pz_big, lambda: plain_write_big(pz_big, big, sizes), fresh=True)
    t_h5 = best_of(repeat, h5_big, lambda: h5_write(h5_big, big_file(big, lambda d: H5DataIO(d, chunks=chunks))),
                   fresh=True)
    rows.append((f"{label}: write", t_zb, t_pz, t_h5))
    for reader, target in ((zb_read, zb_big), (plain_read_big, pz_big), (h5_read, h5_big)):
        got = reader(target)
        assert got == big.nbytes, f"{reader.__name__} read {got} bytes, expected {big.nbytes}"
    rows.append((f"{label}: read", best_of(repeat, zb_big, lambda: zb_read(zb_big), fresh=False),
                 best_of(repeat, pz_big, lambda: plain_read_big(pz_big), fresh=False),
                 best_of(repeat, h5_big, lambda: h5_read(h5_big), fresh=False)))
    zb_codecs = zarr.open_group(zb_big, mode="r")["acquisition/big/data"].compressors  # type: ignore[union-attr]
    pz_codecs = zarr.open_array(pz_big, mode="r").compressors

    print(f"best of {repeat} runs each, seconds; ratio = zarrbridge time / baseline time (lower is better)")
    header = ("case", "zarrbridge", "plain zarr", "HDF5IO", "zb/zarr", "zb/HDF5IO")
    width = max(len(r[0]) for r in rows)
    print(f"{header[0]:<{width}}  {header[1]:>10}  {header[2]:>10}  {header[3]:>10}  {header[4]:>8}  {header[5]:>9}")
    for name, zb, pz, h5 in rows:
        print(f"{name:<{width}}  {zb:>10.3f}  {pz:>10.3f}  {h5:>10.3f}  {zb / pz:>7.2f}x  {zb / h5:>8.2f}x")
    print(f"(a) on disk: zarrbridge {tree_sizes[0]:.1f} MB, plain zarr {tree_sizes[1]:.1f} MB, "
          f"HDF5 {tree_sizes[2]:.1f} MB; {len(layout)} zarr nodes")
    print(f"(b) on disk: zarrbridge {_size_mb(zb_big):.1f} MB, plain zarr {_size_mb(pz_big):.1f} MB, "
          f"HDF5 {_size_mb(h5_big):.1f} MB (uncompressed); zarr codecs: zarrbridge {zb_codecs}, plain {pz_codecs}")

    counts = []
    for name, write in (("zarrbridge", lambda s: zb_write(s, tree_file(sizes, small))),
                        ("plain zarr", lambda s: plain_write(s, layout))):
        target = workdir / f"count-{name.replace(' ', '-')}.zarr"
        _remove(target)
        target.mkdir()  # LocalStore.clear() (called by mode "w") fails on a missing directory
        store = CountingStore(LocalStore(target))
        write(store)
        counts.append(f"  {name}: {store.summary()}")
    print("(a) store writes:\n" + "\n".join(counts))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (~20 MB, 100 objects)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing; the best is reported")
    parser.add_argument("--dir", type=Path, default=None, help="working directory (default: a temporary one)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    print(f"zarrbridge ZarrIO vs plain zarr {zarr.__version__} vs pynwb {pynwb.__version__} NWBHDF5IO; "
          f"{'quick' if args.quick else 'full'} sizes: {sizes}")
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
        run(sizes, args.repeat, args.dir)
    else:
        with tempfile.TemporaryDirectory(prefix="bench_zarrio_") as tmp:
            run(sizes, args.repeat, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
