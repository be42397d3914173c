"""<zarr@> against DataJoint's built-in <npy@> and <blob@>, side by side on one store and one database.

Runs a real PostgreSQL (pgserver) and a ``file`` store in a temporary folder. For each codec: insert + fetch
(fetch includes reading the values into memory) of many small rows and of a few large compressible rows, the
bytes stored, and the bytes a slice of one large value reads. Prints ratios against <npy@>.

Usage::

    .venv/bin/python benchmarks/bench_djcodecs.py          # 1,000 x (1000, 32) f8 and 10 x (1e6, 64) f4
    .venv/bin/python benchmarks/bench_djcodecs.py --quick  # 100 x (1000, 32) and 3 x (1e5, 64)
    .venv/bin/python benchmarks/bench_djcodecs.py --repeat 5  # small rows timed 5 times (medians)
    .venv/bin/python benchmarks/bench_djcodecs.py --small-only --repeat 7  # the small-row ratio alone
    .venv/bin/python benchmarks/bench_djcodecs.py --dir /data/scratch  # store and database here

The store lives in a new temporary folder under ``--dir`` (default: the system's temporary folder). Creating a
file or folder is most of a small row's insert time, and its cost depends on the file system and on where in
it the folder lies (on the 2-core benchmark machine, 100-450 us per new inode under /tmp against 15-35 us
under /root), so say where a figure was measured.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from benchresult import Panel, write_result  # benchmarks/benchresult.py, beside this script

CODECS = ("zarr", "npy", "blob")


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def compressible(rows: int, seed: int) -> np.ndarray[Any, Any]:
    """A slow random walk on a coarse grid, as float32: typical of digitised continuous signals."""
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.integers(-2, 3, (rows, 64), dtype=np.int16), axis=0).astype(np.float32) * 0.25


def run(quick: bool, repeat: int, small_only: bool, where: str | None, json_path: Path | None = None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import datajoint as dj
        import pgserver

    small_n, small_shape = (100, (1000, 32)) if quick else (1000, (1000, 32))
    large_n, large_rows = (3, 100_000) if quick else (10, 1_000_000)
    root = Path(tempfile.mkdtemp(prefix="zb-bench-", dir=where))
    os.chmod(root, 0o755)
    server = pgserver.get_server(root / "pg", cleanup_mode="stop")
    store = root / "store"
    store.mkdir()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inst = dj.Instance(
                host=str(root / "pg"), user="postgres", password="", port=5432, backend="postgresql"
            )
        inst.config.safemode = False
        inst.config.stores = {"main": {"protocol": "file", "location": str(store)}}
        schema = inst.Schema(f"zb_bench_{uuid.uuid4().hex[:8]}")
        tables: dict[str, Any] = {}
        for codec in CODECS:
            tables[codec] = schema(
                type(
                    f"Small{codec.title()}",
                    (dj.Manual,),
                    {
                        "definition": f"""
                k : int32
                ---
                v : <{codec}@main>
                """
                    },
                )
            )
            tables["large_" + codec] = schema(
                type(
                    f"Large{codec.title()}",
                    (dj.Manual,),
                    {
                        "definition": f"""
                k : int32
                ---
                v : <{codec}@main>
                """
                    },
                )
            )
        rng = np.random.default_rng(0)
        small_value = rng.standard_normal(small_shape)

        def small_rows(rep: int) -> Iterator[dict[str, Any]]:
            for k in range(small_n):  # new values every run, so <blob@>'s deduplication never skips a write
                yield {"k": k, "v": small_value + (k + rep * small_n)}

        for codec in CODECS:  # warm-up: imports, thread pools, first queries; removed before timing
            tables[codec].insert({"k": -k - 1, "v": small_value} for k in range(3))
            tables[codec].to_dicts()
            (tables[codec] & "k < 0").delete(prompt=False)
        runs: dict[str, list[tuple[float, float]]] = {codec: [] for codec in CODECS}
        for rep in range(repeat):  # codec order rotates so a load change on a shared machine hits all alike
            for codec in CODECS[rep % 3 :] + CODECS[: rep % 3]:
                table = tables[codec]
                if rep:
                    table.delete_quick()  # untimed; the files stay (no GC), which only costs disk space
                t0 = time.perf_counter()
                table.insert(small_rows(rep))
                t1 = time.perf_counter()
                total = sum(float(np.asarray(r["v"])[0, 0]) for r in table.to_dicts())
                t2 = time.perf_counter()
                assert total > -1e300
                runs[codec].append((t1 - t0, t2 - t1))
        results: dict[str, dict[str, float]] = {
            codec: {
                "small_insert": statistics.median(r[0] for r in runs[codec]),
                "small_fetch": statistics.median(r[1] for r in runs[codec]),
            }
            for codec in CODECS
        }
        ratio_runs = [(z[0] + z[1]) / (n[0] + n[1]) for z, n in zip(runs["zarr"], runs["npy"])]
        print(f"small rows: {small_n} x {small_shape} float64, store under {root}")
        print(
            "per row, ms (median of runs): "
            + "; ".join(
                f"{codec} insert {results[codec]['small_insert'] / small_n * 1e3:.3f} fetch "
                f"{results[codec]['small_fetch'] / small_n * 1e3:.3f}"
                for codec in CODECS
            )
        )
        for what, i in (("insert", 0), ("fetch", 1)):
            per_run = [z[i] / n[i] for z, n in zip(runs["zarr"], runs["npy"])]
            print(
                f"zarr/npy small {what} time: {statistics.median(per_run):.2f}x (median; per run: "
                f"{', '.join(f'{r:.2f}x' for r in per_run)})"
            )
        small_ratio = sum(results["zarr"][k] for k in ("small_insert", "small_fetch")) / sum(
            results["npy"][k] for k in ("small_insert", "small_fetch")
        )
        print(
            f"zarr/npy small insert+fetch time: {small_ratio:.2f}x (target <= 1.5x; medians of {repeat} "
            f"runs; per run: {', '.join(f'{r:.2f}x' for r in ratio_runs)}; median of per-run ratios "
            f"{statistics.median(ratio_runs):.2f}x)"
        )
        if small_only:
            schema.drop(prompt=False)
            inst.connection.close()
            return

        large = [compressible(large_rows, seed) for seed in range(large_n)]
        for codec in CODECS:
            table = tables["large_" + codec]
            before = folder_bytes(store)
            t0 = time.perf_counter()
            for k, value in enumerate(large):
                table.insert1({"k": k, "v": value})
            t1 = time.perf_counter()
            for row in table.to_dicts():
                np.asarray(row["v"])
            t2 = time.perf_counter()
            results[codec].update(
                large_insert=t1 - t0, large_fetch=t2 - t1, large_bytes=folder_bytes(store) - before
            )
        # slice of one large value: the objects the fetched array's store is asked for, counted
        from zarrbridge.djcodecs.base import FetchedStore

        z = (tables["large_zarr"] & {"k": 0}).fetch1("v")
        chunk_bytes = int(np.prod(z.chunks)) * 4
        keys: list[str] = []
        get, get_sync = FetchedStore.get, FetchedStore.get_sync

        async def counting_get(self: Any, key: str, *args: Any, **kwargs: Any) -> Any:
            keys.append(key)
            return await get(self, key, *args, **kwargs)

        def counting_get_sync(self: Any, key: str, **kwargs: Any) -> Any:
            keys.append(key)
            return get_sync(self, key, **kwargs)

        FetchedStore.get = counting_get  # type: ignore[method-assign]
        FetchedStore.get_sync = counting_get_sync  # type: ignore[method-assign]
        try:
            part = z[1000:2000]
        finally:
            FetchedStore.get = get  # type: ignore[method-assign]
            FetchedStore.get_sync = get_sync  # type: ignore[method-assign]
        chunks_read = len(keys)
        assert part.shape == (1000, 64) and np.array_equal(part, large[0][1000:2000])
        raw = large[0].nbytes

        print(
            f"small rows: {small_n} x {small_shape} float64; large rows: {large_n} x ({large_rows}, 64) "
            "float32"
        )
        print(
            f"{'codec':6} {'small ins s':>11} {'small fetch s':>13} {'large ins s':>11} "
            f"{'large fetch s':>13} {'large MB':>9}"
        )
        for codec in CODECS:
            r = results[codec]
            print(
                f"{codec:6} {r['small_insert']:11.2f} {r['small_fetch']:13.2f} {r['large_insert']:11.2f} "
                f"{r['large_fetch']:13.2f} {r['large_bytes'] / 1e6:9.1f}"
            )
        npy, zr, blob = results["npy"], results["zarr"], results["blob"]
        small_ratio = (zr["small_insert"] + zr["small_fetch"]) / (npy["small_insert"] + npy["small_fetch"])
        print(
            f"\nzarr/npy small insert+fetch time: {small_ratio:.2f}x (target <= 1.5x; medians of {repeat} "
            f"runs; per run: {', '.join(f'{r:.2f}x' for r in ratio_runs)})"
        )
        print(
            f"zarr/blob small insert+fetch time: "
            f"{(zr['small_insert'] + zr['small_fetch']) / (blob['small_insert'] + blob['small_fetch']):.2f}x"
        )
        print(
            f"npy/zarr large bytes stored: {npy['large_bytes'] / zr['large_bytes']:.2f}x smaller "
            "(target >= 3x)"
        )
        print(f"blob/zarr large bytes stored: {blob['large_bytes'] / zr['large_bytes']:.2f}x smaller")
        print(
            f"zarr/npy large insert+fetch time: "
            f"{(zr['large_insert'] + zr['large_fetch']) / (npy['large_insert'] + npy['large_fetch']):.2f}x"
        )
        if json_path is not None:
            timing = Panel(
                f"small rows ({small_n} x {small_shape} float64) and large rows "
                f"({large_n} x ({large_rows}, 64) float32), all rows",
                "seconds",
                "lower",
                ["small insert", "small fetch", "large insert", "large fetch"],
            )
            stored = Panel("bytes stored for the large rows", "MB", "lower", ["large rows"])
            for codec in CODECS:
                r = results[codec]
                timing.add(
                    f"<{codec}@>",
                    **{
                        "small insert": r["small_insert"],
                        "small fetch": r["small_fetch"],
                        "large insert": r["large_insert"],
                        "large fetch": r["large_fetch"],
                    },
                )
                stored.add(f"<{codec}@>", **{"large rows": r["large_bytes"] / 1e6})
            write_result(
                json_path,
                benchmark="bench_djcodecs",
                title="DataJoint: <zarr@> against DataJoint's <npy@> and <blob@> (PostgreSQL, file store)",
                settings={"quick": quick, "repeat": repeat, "small_rows": small_n, "large_rows": large_n},
                panels=[timing, stored],
            )
        print(
            f"slice [1000:2000] of a large value: zarr reads {chunks_read} chunk(s) {keys} "
            f"(<= {chunks_read * chunk_bytes / 1e6:.1f} MB uncompressed) of {raw / 1e6:.0f} MB; "
            "npy reads the whole file"
        )
        schema.drop(prompt=False)
        inst.connection.close()
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds instead of minutes)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="small-row runs; medians are reported (default 3)"
    )
    parser.add_argument("--small-only", action="store_true", help="time the small rows only (no large rows)")
    parser.add_argument(
        "--dir", default=None, help="folder for the store and database (default: system temp)"
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the results here (benchmarks/plots.py)"
    )
    args = parser.parse_args()
    run(args.quick, max(1, args.repeat), args.small_only, args.dir, args.json)


if __name__ == "__main__":
    main()
