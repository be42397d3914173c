"""Copying a zarr array into another one encoded the same way: stored objects moved, not re-encoded.

When export keeps a zarr source's layout (same zarr format, shape, data type, chunk or shard grid, codecs and
fill value), the destination's stored objects are byte for byte the source's, so they are copied as stored
(one ``get`` and one ``set`` per object, keys re-encoded for the destination's chunk key encoding) instead of
being decoded and encoded again. Each object is still decoded once, through the source array's own (strict)
read of its region, so that a garbled chunk is a :class:`~zarrbridge.errors.CorruptChunkError` and a missing
chunk of a complete array a :class:`~zarrbridge.errors.MissingChunkError`, as with a decoding copy; only the
encoding, the expensive half for zstd and gzip, is saved.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Iterator
from typing import Any

import zarr
from zarr.core.buffer import Buffer, default_buffer_prototype
from zarr.core.sync import sync

from ..core.integrity import fill_missing_chunks
from ..core.parallel import TaskClient, map_bounded
from ..core.transfer import put_many

__all__ = ["copy_zarr_objects", "same_encoding"]

TASK_BYTES = 16 * 1024 * 1024  # uncompressed bytes of the objects one copy task handles
_IGNORED = {
    3: ("attributes", "dimension_names", "chunk_key_encoding", "storage_transformers"),
    2: ("attributes", "dimension_separator"),
}


def _encoding(array: zarr.Array[Any]) -> dict[str, Any]:
    document = dict(array.metadata.to_dict())
    for key in _IGNORED[array.metadata.zarr_format]:
        document.pop(key, None)
    return document


def same_encoding(source: zarr.Array[Any], dest: zarr.Array[Any]) -> bool:
    """Whether ``dest`` stores each object of ``source`` with the same bytes (all but names, attributes)."""
    if source.metadata.zarr_format != dest.metadata.zarr_format:
        return False
    try:
        return _encoding(source) == _encoding(dest)
    except (TypeError, ValueError):  # metadata zarr cannot serialise: no shortcut
        return False


def _outer(array: zarr.Array[Any]) -> tuple[int, ...]:
    return tuple(array.shards or array.chunks)


def _copy_batch(source: zarr.Array[Any], dest: zarr.Array[Any], batch: list[tuple[int, ...]]) -> int:
    """Copy the stored objects at grid positions ``batch``; return their uncompressed bytes."""
    outer, shape = _outer(source), tuple(source.shape)
    src_store, dst_store = source.store_path.store, dest.store_path.store
    src_prefix, dst_prefix = source.path.strip("/"), dest.path.strip("/")
    prototype = default_buffer_prototype()
    copied = 0
    stored: dict[str, Buffer] = {}  # written together: concurrent requests on an object store
    for coords in batch:
        key = source.metadata.encode_chunk_key(coords)
        raw = sync(src_store.get(f"{src_prefix}/{key}" if src_prefix else key, prototype))
        region = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(coords, outer, shape))
        values = source[region]  # the strict read: a garbled or (complete array) missing object raises here
        copied += int(getattr(values, "nbytes", 0))
        if raw is None:  # no object and no error: the fill value, stored by fill_missing_chunks at the end
            continue
        dkey = dest.metadata.encode_chunk_key(coords)
        stored[f"{dst_prefix}/{dkey}" if dst_prefix else dkey] = raw
    put_many(dst_store, stored)
    return copied


def _batches(array: zarr.Array[Any]) -> Iterator[list[tuple[int, ...]]]:
    outer = _outer(array)
    if 0 in tuple(array.shape):
        return
    itemsize = max(1, getattr(array.dtype, "itemsize", 16))
    per_task = max(1, TASK_BYTES // max(1, math.prod(outer) * itemsize))
    grid = itertools.product(*(range(math.ceil(s / c)) for s, c in zip(array.shape, outer)))
    while batch := list(itertools.islice(grid, per_task)):
        yield [tuple(int(i) for i in coords) for coords in batch]


def copy_zarr_objects(
    source: zarr.Array[Any],
    dest: zarr.Array[Any],
    *,
    workers: int = 1,
    client: TaskClient | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Copy the stored objects of ``source`` into ``dest`` (see :func:`same_encoding`); the bytes copied.

    At most ``2 x workers`` tasks of about 16 MB are in flight; with a ``dask.distributed`` ``client`` the
    tasks run on its workers (both arrays must then pickle, e.g. on local or object stores).
    """
    if source.ndim == 0:
        dest[()] = source[()]
        return int(source.dtype.itemsize) if hasattr(source.dtype, "itemsize") else 1
    task = functools.partial(_copy_batch, source, dest)
    total = 0
    for nbytes in map_bounded(task, _batches(source), workers=workers, client=client):
        total += nbytes
        if progress is not None:
            progress(nbytes)
    fill_missing_chunks(dest)  # objects the source never stored hold the fill value: store them too
    return total
