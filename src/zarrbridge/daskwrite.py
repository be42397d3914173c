"""Write a Dask array into a zarr array, chunk by chunk, from whichever scheduler runs the graph.

Shared by the serializers and the DataJoint codec. Dask is imported inside the functions, so importing the
core never imports dask.

Each dask block is first aligned to the destination's write unit (its shards, or its chunks), so every stored
object is written by exactly one task: workers of a ``distributed`` cluster then write in parallel without a
lock and without read-modify-write races.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import zarr

from ._optional import import_optional
from .errors import ShapeMismatchError

__all__ = [
    "CountingTarget",
    "active_client",
    "align_chunks",
    "compute_side_effects",
    "default_workers",
    "is_aligned",
    "resolve_unknown_chunks",
    "write_dask_array",
]

Chunks = tuple[tuple[int, ...], ...]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CountingTarget:
    """A ``da.store`` target that writes each block into ``target`` and reports its bytes to ``progress``.

    Parameters
    ----------
    target : array-like
        What the blocks are written into (a numpy array, an h5py dataset...).
    progress : callable
        Called with the bytes of each block written.
    """

    target: Any
    progress: Callable[[int], Any]

    def __setitem__(self, sel: Any, block: Any) -> None:
        self.target[sel] = block
        self.progress(int(getattr(block, "nbytes", 0)))


def _dask_array_module() -> Any:
    return import_optional("dask.array", extra="dask", feature="writing dask arrays")


def active_client() -> Any:
    """The ``distributed.Client`` dask would run a graph on now (``scheduler=client`` or a default client).

    Returns
    -------
    distributed.Client or None
        The client, or ``None`` when dask would not use one.
    """
    from dask.base import get_scheduler

    scheduler = cast(Any, get_scheduler)()  # dask's functions are untyped
    owner = getattr(scheduler, "__self__", None)
    if owner is not None and type(owner).__name__ == "Client":
        return owner
    return None


def default_workers() -> int:
    """How many threads dask's threaded scheduler would use: ``dask.config`` ``num_workers``,
    else the CPU count.

    Returns
    -------
    int
        The number of threads.
    """
    import dask

    return int(dask.config.get("num_workers", None) or os.cpu_count() or 1)


def compute_side_effects(collection: Any, *, client: Any = None) -> None:
    """Compute a dask collection made of writes, so that a failure leaves no write running behind it.

    On a ``distributed`` cluster (``client``, or the active one) the remaining tasks are cancelled when one
    fails (a task already running on a worker cannot be stopped and finishes on its own). Otherwise the graph
    runs on a private thread pool (``dask.config`` ``num_workers`` threads), and when a task fails the pool is
    shut down, waiting for the tasks still running, before the error propagates: the caller can then remove
    what was written without racing with late writes.

    Parameters
    ----------
    collection : dask collection
        The writes to run (e.g. ``da.store(..., compute=False)``).
    client : distributed.Client, optional
        The cluster to run on; by default the active client, if any.
    """
    from dask.base import compute

    client = client if client is not None else active_client()
    if client is not None:
        future = client.compute(collection)
        try:
            future.result()
        except BaseException:
            future.cancel()
            raise
        return
    pool = ThreadPoolExecutor(max_workers=default_workers(), thread_name_prefix="zarrbridge-write")
    try:
        cast(Any, compute)(collection, scheduler=pool)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def resolve_unknown_chunks(darr: Any) -> Any:
    """Return ``darr`` with every chunk size known.

    Arrays made by boolean indexing or ``map_blocks`` with ``chunks=`` unknown carry NaN chunk sizes; their
    shape is unknown until the blocks are computed. This computes the chunk sizes once (which evaluates the
    blocks) and returns an array whose shape can be used to create a destination.

    Parameters
    ----------
    darr : dask.array.Array
        The array, possibly with unknown (NaN) chunk sizes.

    Returns
    -------
    dask.array.Array
        ``darr`` itself when its chunk sizes are known, else an array whose are.

    Examples
    --------
    >>> import dask.array as da, numpy as np
    >>> x = da.arange(10, chunks=4)
    >>> y = resolve_unknown_chunks(x[x > 4])
    >>> y.shape
    (5,)
    """
    if any(math.isnan(c) for dim in darr.chunks for c in dim):
        return darr.copy().compute_chunk_sizes()
    return darr


def is_aligned(chunks: Chunks, unit: tuple[int, ...]) -> bool:
    """Whether every block boundary in ``chunks`` falls on a multiple of ``unit`` (the end excepted).

    Parameters
    ----------
    chunks : tuple of tuple of int
        Dask's chunk sizes, per axis.
    unit : tuple of int
        The destination's chunk (or shard) shape.

    Returns
    -------
    bool
        Whether the blocks are aligned.
    """
    for dim, step in zip(chunks, unit):
        edge = 0
        for size in dim[:-1]:
            edge += size
            if edge % step:
                return False
    return True


def align_chunks(chunks: Chunks, unit: tuple[int, ...]) -> tuple[int, ...]:
    """A regular block shape close to ``chunks`` whose boundaries fall on multiples of ``unit``.

    Parameters
    ----------
    chunks : tuple of tuple of int
        Dask's chunk sizes, per axis.
    unit : tuple of int
        The destination's chunk (or shard) shape.

    Returns
    -------
    tuple of int
        The block shape.
    """
    out = []
    for dim, step in zip(chunks, unit):
        largest = max(dim) if dim else 0
        out.append(max(step, int(round(largest / step)) * step))
    return tuple(out)


def _write_block(dest: Any, sel: tuple[slice, ...], block: Any, lock: Any) -> int:
    """Write one computed block (on whichever worker computed it); return its bytes."""
    if lock is not None:
        with lock:
            dest[sel] = block
    else:
        dest[sel] = block
    return int(block.nbytes)


def _write_on_cluster(darr: Any, dest: Any, lock: Any, client: Any, progress: Callable[[int], Any]) -> None:
    """One write task per block on the cluster; each block's bytes are reported when the cluster is done."""
    from dask.array.core import slices_from_chunks
    from dask.delayed import delayed
    from distributed import as_completed

    write = cast(Any, delayed)(_write_block, pure=False)
    blocks = darr.to_delayed().ravel()
    tasks = [
        write(dest, sel, block, lock)
        for sel, block in zip(cast(Any, slices_from_chunks)(darr.chunks), blocks)
    ]
    futures = client.compute(tasks)
    try:
        for future in cast(Any, as_completed)(futures, loop=client.loop):
            progress(future.result())
    except BaseException:
        client.cancel(futures)
        raise


def write_dask_array(
    darr: Any,
    dest: zarr.Array[Any],
    *,
    lock: Any = None,
    client: Any = None,
    progress: Callable[[int], Any] | None = None,
) -> None:
    """Compute ``darr`` block by block and write each block into ``dest``.

    Parameters
    ----------
    darr
        A :class:`dask.array.Array` of the same shape as ``dest``. NaN chunk sizes are computed first.
    dest
        The destination zarr array, already created with its final shape, chunks and codecs.
    lock
        A lock held around each block write (``threading.Lock``, ``distributed.Lock``...). ``None`` writes
        without a lock, which is safe because blocks are aligned to the destination's shards or chunks.
    client
        A ``distributed.Client`` to run the graph on: its workers write their blocks directly into ``dest``,
        in parallel, so ``dest``'s store must be reachable and picklable (local directory, S3...). ``None``
        uses the active client if dask has one, else a private thread pool (see
        :func:`compute_side_effects`: a failed block leaves no write running behind it).
    progress
        Called with the bytes of each block written (from the threads that write them: it must be
        thread-safe, as :class:`zarrbridge.progress.ByteProgress` is). On a cluster, each block is reported
        here when the cluster has completed its write.

    Raises
    ------
    ShapeMismatchError
        ``darr`` and ``dest`` do not have the same shape.

    Examples
    --------
    >>> import dask.array as da, zarr
    >>> dest = zarr.create_array(zarr.storage.MemoryStore(), shape=(100,), chunks=(10,), dtype="f4")
    >>> write_dask_array(da.ones(100, chunks=25, dtype="f4"), dest)
    >>> float(dest[:].sum())
    100.0
    """
    da = _dask_array_module()
    darr = resolve_unknown_chunks(darr)
    if tuple(darr.shape) != tuple(dest.shape):
        raise ShapeMismatchError("write_dask_array: dask array vs destination", tuple(dest.shape), darr.shape)
    if darr.size == 0:
        return  # nothing to write; the destination already reads back as an empty array
    if darr.ndim == 0:
        dest[()] = darr.compute(scheduler=client) if client is not None else darr.compute()
        if progress is not None:
            progress(int(darr.nbytes))
        return
    unit = tuple(dest.shards or dest.chunks)
    if not is_aligned(darr.chunks, unit):
        _log.info("rechunking dask blocks %s to %s to align them with the zarr chunks", darr.chunksize, unit)
        darr = darr.rechunk(align_chunks(darr.chunks, unit))
    cluster = client if client is not None else active_client()
    _log.info(
        "writing %d dask blocks into %s (chunks %s, shards %s) on %s",
        darr.npartitions,
        dest.path or "/",
        dest.chunks,
        dest.shards,
        "a distributed cluster" if cluster is not None else f"{default_workers()} threads",
    )
    if progress is not None and cluster is not None:
        _write_on_cluster(darr, dest, lock, cluster, progress)
        return
    target: Any = dest if progress is None else CountingTarget(dest, progress)
    stored = da.store(darr, target, lock=lock if lock is not None else False, compute=False)
    compute_side_effects(stored, client=client)
