"""Arrays whose every chunk is stored: a missing or garbled chunk is an error, never fill values.

zarr reads a chunk that is not in the store as the array's fill value, which the zarr specification allows:
a writer may leave chunks that hold only the fill value unwritten. zarrbridge writes every chunk
(``write_empty_chunks=True``) and says so with the array attribute :data:`COMPLETE_ATTRIBUTE`
(``"_zarrbridge_chunks": "complete"``). For such an array a chunk that is not in the store can only mean
damage (a half-synced folder, a deleted object), and reading it raises :class:`MissingChunkError`.

:func:`strict_array` gives an open ``zarr.Array`` a codec pipeline that

- raises :class:`~zarrbridge.errors.MissingChunkError` naming the array and the key when a chunk of a complete
  array is missing (arrays without the attribute keep zarr's rule: missing reads as the fill value);
- turns a chunk that cannot be decoded (garbled, truncated, wrong size) into
  :class:`~zarrbridge.errors.CorruptChunkError` naming the array and the key, for every array;
- compares, once, the metadata the array was opened with (e.g. from consolidated metadata) with the array's
  own document in the store (:class:`~zarrbridge.errors.CorruptMetadataError` if they disagree on shape, data
  type, chunking or codecs, or if the document is missing), for complete arrays;
- keeps writing every chunk on writes through it, so a complete array stays complete;
- bounds what zarr's decoders may allocate (:func:`~zarrbridge.core.bounds.array_chunk_bounds`): on the first
  read a chunk shape above :data:`~zarrbridge.core.bounds.MAX_CHUNK_BYTES` (or a shard above the machine's
  memory) is refused, and each stored chunk whose blosc, lz4 or zstd header declares more than its chunk
  holds is refused before it is decoded, both with :class:`~zarrbridge.errors.ResourceLimitError`.

zarr 3.1 has no configuration for refusing missing chunks (a later zarr adds one); this module works the same
on every zarr 3 release. The reading fast path of :mod:`zarrbridge.core.chunkio` applies the same rules.

Where the parts live: the marker and the metadata check in :mod:`zarrbridge.core.completeness`, the codec
pipeline in :mod:`zarrbridge.core.checkedpipeline`; this module re-exports them and holds the whole-array
scans (:func:`scan_array`, :func:`fill_missing_chunks`, :func:`chunk_keys`).
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import zarr
from zarr.abc.store import Store
from zarr.core.metadata.v2 import ArrayV2Metadata
from zarr.core.metadata.v3 import ArrayV3Metadata
from zarr.core.sync import sync

from ..errors import CorruptChunkError, MissingChunkError
from .checkedpipeline import (
    CheckedPipeline,
    blosc_frame_problem,
    blosc_outer,
    open_array_strict,
    pipeline_of,
    short_reason,
    strict_array,
)
from .completeness import (
    COMPLETE,
    COMPLETE_ATTRIBUTE,
    array_what,
    check_document,
    check_missing_chunks,
    is_complete,
    mark_complete,
    metadata_key,
)

__all__ = [
    "COMPLETE",
    "COMPLETE_ATTRIBUTE",
    "CheckedPipeline",
    "ChunkReport",
    "array_what",
    "blosc_frame_problem",
    "blosc_outer",
    "check_document",
    "check_missing_chunks",
    "chunk_keys",
    "fill_missing_chunks",
    "is_complete",
    "mark_complete",
    "metadata_key",
    "open_array_strict",
    "pipeline_of",
    "scan_array",
    "strict_array",
]


# ------------------------------------------------------------------------------------------ chunk grids
def _outer_chunks(metadata: Any) -> tuple[int, ...]:
    """The shape of the stored objects: chunks, or shards for a sharded array."""
    if isinstance(metadata, ArrayV3Metadata):
        return tuple(metadata.chunk_grid.chunk_shape)  # type: ignore[attr-defined]
    assert isinstance(metadata, ArrayV2Metadata)
    return tuple(metadata.chunks)


def chunk_keys(array: zarr.Array[Any]) -> Iterator[tuple[tuple[int, ...], str]]:
    """``(grid position, store key)`` of every stored object (chunk, or shard) the array's shape needs."""
    metadata = array.metadata
    shape = tuple(metadata.shape)
    if 0 in shape:
        return
    outer = _outer_chunks(metadata)
    prefix = array.store_path.path.strip("/")
    for coords in itertools.product(*(range(math.ceil(s / c)) for s, c in zip(shape, outer))):
        key = metadata.encode_chunk_key(tuple(coords))
        yield tuple(coords), f"{prefix}/{key}" if prefix else key


def _region(coords: tuple[int, ...], outer: tuple[int, ...], shape: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(coords, outer, shape))


async def _present(store: Store, keys: list[str]) -> list[bool]:
    gate = asyncio.Semaphore(32)

    async def one(key: str) -> bool:
        async with gate:
            return bool(await store.exists(key))

    return list(await asyncio.gather(*(one(k) for k in keys)))


def _missing(array: zarr.Array[Any]) -> list[tuple[tuple[int, ...], str]]:
    grid = list(chunk_keys(array))
    present = sync(_present(array.store_path.store, [key for _, key in grid]))
    return [item for item, here in zip(grid, present) if not here]


def fill_missing_chunks(array: zarr.Array[Any]) -> int:
    """Store the fill value in every chunk of ``array`` that has no stored object yet; return how many.

    Writers call it for arrays that were not written whole (an iterator that left regions out, a dataset
    declared with a shape but no data) before marking them complete.
    """
    missing = _missing(array)
    if not missing:
        return 0
    writer = array.with_config({"write_empty_chunks": True})
    shape, outer = tuple(array.metadata.shape), _outer_chunks(array.metadata)
    fill: Any = array.metadata.fill_value
    for coords, _key in missing:
        writer[_region(coords, outer, shape)] = fill
    return len(missing)


@dataclass(frozen=True)
class ChunkReport:
    """What :func:`scan_array` found in one array."""

    array: str
    chunks: int  # stored objects the shape needs
    missing: tuple[str, ...]  # keys of missing chunks of a complete array: damage
    filled: tuple[str, ...]  # keys missing from an array without the marker: they read as the fill value
    corrupt: tuple[tuple[str, str], ...]  # (key, reason) of chunks that cannot be decoded


def scan_array(
    array: zarr.Array[Any], *, location: object = None, progress: Callable[[int], Any] | None = None
) -> ChunkReport:
    """Read and decode every chunk of ``array``; report the missing and the corrupt ones by key.

    ``progress`` is called with the (uncompressed) bytes of each chunk checked, present or not; the calls
    add up to the array's ``nbytes``.
    """
    what = "/" + array.store_path.path.strip("/")
    grid = list(chunk_keys(array))
    present = sync(_present(array.store_path.store, [key for _, key in grid]))
    complete = is_complete(array)
    shape, outer = tuple(array.metadata.shape), _outer_chunks(array.metadata)
    fresh: zarr.AsyncArray[Any] = zarr.AsyncArray(
        metadata=array.metadata,
        store_path=array.store_path,
        config=array._async_array.config,
    )
    probe = zarr.Array(fresh)  # a fresh handle: strict whatever the caller's handle is
    strict_array(probe, location=location)
    missing: list[str] = []
    filled: list[str] = []
    corrupt: list[tuple[str, str]] = []
    itemsize = _itemsize(array)
    for (coords, key), here in zip(grid, present):
        region = _region(coords, outer, shape) if shape else ()
        if progress is not None:
            progress(math.prod(r.stop - r.start for r in region) * itemsize if shape else itemsize)
        if not here:
            (missing if complete else filled).append(key)
            continue
        try:
            probe[region]
        except CorruptChunkError as exc:
            corrupt.append((key, short_reason(exc.__cause__ or exc)))
        except MissingChunkError:  # removed between the listing and the read
            missing.append(key)
    return ChunkReport(what, len(grid), tuple(missing), tuple(filled), tuple(corrupt))


def _itemsize(array: zarr.Array[Any]) -> int:
    """Bytes of one element as numpy holds it (variable-length strings count as 0: no fixed size)."""
    try:
        dtype = np.dtype(array.dtype)
    except TypeError:
        return 0
    return 0 if dtype.kind in "OT" else int(dtype.itemsize)
