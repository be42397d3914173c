"""Writing queued :class:`~hdmf.data_utils.AbstractDataChunkIterator` s into their zarr arrays.

The iterators are read round robin in the calling thread (an iterator is not thread-safe); with more than
one job, the writes of their chunks run on a thread pool. Two writes that touch the same stored object
(chunk, or shard for sharded arrays) of one array never run at the same time: a write waits for the
earlier ones it overlaps, so a partial update of a chunk is never lost to another partial update.
Arrays grow geometrically while their iterators run and are cut to the extent the data reached at the end.
"""

from __future__ import annotations

import math
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import zarr
from hdmf.data_utils import AbstractDataChunkIterator

from .values import STRING_DTYPE, text_array

__all__ = ["exhaust"]

Queue = deque[tuple[zarr.Array[Any], AbstractDataChunkIterator]]
_ALL = None  # a selection whose chunks are not worked out: overlaps everything


def exhaust(queue: Queue, *, jobs: int = 1) -> list[zarr.Array[Any]]:
    """Write every queued iterator to the end; return the arrays written (their metadata may have changed)."""
    grown: dict[int, tuple[zarr.Array[Any], list[int], tuple[Any, ...]]] = {}
    pool = ThreadPoolExecutor(max_workers=jobs) if jobs > 1 else None
    pending: list[tuple[int, frozenset[tuple[int, ...]] | None, Future[None]]] = []
    try:
        while queue:
            arr, dci = queue.popleft()
            try:
                chunk = next(dci)
            except StopIteration:
                continue
            bounds = list(chunk.get_min_bounds())
            _, extent, _ = grown.setdefault(id(arr), (arr, [0] * arr.ndim, tuple(dci.maxshape)))
            for i, b in enumerate(bounds):
                extent[i] = max(extent[i], int(b))
            if any(b > s for b, s in zip(bounds, arr.shape)):
                _wait(pending, None, None)  # no write may run while the array's shape changes
                arr.resize(tuple(max(s, 2 * s if b > s else s, b) for b, s in zip(bounds, arr.shape)))
            data = chunk.data
            if arr.dtype == STRING_DTYPE:
                data = text_array(data, "iterator chunk")
            if pool is None:
                arr[chunk.selection] = data
            else:
                touched = _touched(arr, chunk.selection)
                _wait(pending, id(arr), touched)
                pending.append((id(arr), touched, pool.submit(_write, arr, chunk.selection, data)))
                if len(pending) > 4 * jobs:  # bound the chunks held in memory
                    pending.pop(0)[2].result()
            queue.append((arr, dci))
        _wait(pending, None, None)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    for arr, extent, maxshape in grown.values():
        # unlimited axes end where the data ended; fixed axes keep their declared size
        final = tuple(e if m is None else max(e, int(m)) for e, m in zip(extent, maxshape))
        if final != tuple(arr.shape):
            arr.resize(final)
    return [arr for arr, _, _ in grown.values()]


def _write(arr: zarr.Array[Any], selection: Any, data: Any) -> None:
    arr[selection] = data


def _wait(
    pending: list[tuple[int, frozenset[tuple[int, ...]] | None, Future[None]]],
    array: int | None,
    touched: frozenset[tuple[int, ...]] | None,
) -> None:
    """Wait for (and drop) the pending writes that overlap ``touched`` of ``array``;
    all when ``array`` is None."""
    keep = []
    for entry in pending:
        other, chunks, future = entry
        if array is None or (
            other == array and (touched is _ALL or chunks is _ALL or bool(touched & chunks))
        ):
            future.result()  # a failed write is raised here
        else:
            keep.append(entry)
    pending[:] = keep


def _touched(arr: zarr.Array[Any], selection: Any) -> frozenset[tuple[int, ...]] | None:
    """The indices of the stored objects (shards, else chunks) a write of ``selection`` changes."""
    unit = tuple(arr.shards or arr.chunks)
    sel = selection if isinstance(selection, tuple) else (selection,)
    ranges = []
    for axis, size in enumerate(unit):
        s = sel[axis] if axis < len(sel) else slice(None)
        if isinstance(s, (int, np.integer)):
            ranges.append(range(int(s) // size, int(s) // size + 1))
        elif isinstance(s, slice) and s.step in (None, 1):
            start, stop, _ = s.indices(arr.shape[axis])
            ranges.append(range(start // size, max(start, stop - 1) // size + 1))
        else:
            return _ALL
    if math.prod(len(r) for r in ranges) > 100_000:
        return _ALL
    grid: list[tuple[int, ...]] = [()]
    for r in ranges:
        grid = [(*g, i) for g in grid for i in r]
    return frozenset(grid)
