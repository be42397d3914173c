"""How export lays out and copies the on-disk arrays of its source (HDF5 datasets, zarr arrays).

:class:`CopySettings` carries the user's choices (keep or replace the compression, keep or redo the
chunking, sharding, parallelism); :func:`plan_copy` turns a source array into an
:class:`~zarrbridge.core.arrays.ArrayPolicy` plus the way its chunks can be copied; :func:`copy_source`
runs the copy.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import zarr
import zarr.codecs

from ..core.arrays import ArrayPolicy, auto_chunks, copy_array, to_zarr_codecs
from ..core.parallel import TaskClient, check_jobs
from ..errors import InvalidOptionError
from .h5copy import H5DatasetSource, copy_hdf5_dataset
from .h5layout import RawMode, hdf5_layout, is_hdf5_dataset
from .zarrcopy import copy_zarr_objects, same_encoding

_log = logging.getLogger(__name__)

CompressorChoice = Literal["keep", "zstd", "blosc", "gzip", "none"]
COMPRESSOR_CHOICES: tuple[str, ...] = ("keep", "zstd", "blosc", "gzip", "none")
_LEVELS = {"zstd": (1, 22), "blosc": (0, 9), "gzip": (0, 9)}


@dataclass(frozen=True)
class CopySettings:
    """Choices for copying a source's arrays during export.

    Parameters
    ----------
    compressor
        ``"keep"`` maps each source dataset's compression to zarr codecs (and copies stored chunks unchanged
        where the codecs allow); ``"zstd"``, ``"blosc"`` (zstd inside blosc with byte shuffle), ``"gzip"``
        or ``"none"`` recompress every copied array.
    level
        Compression level for ``compressor`` (zarr's default when ``None``).
    chunks
        ``"keep"`` the source's chunk shape (automatic chunking for contiguous sources), or ``"auto"``
        (about 4 MB chunks).
    shard_bytes
        With zarr format 3, group chunks into shards of about this many uncompressed bytes (fewer, larger
        objects in the store); ``None`` for no sharding.
    number_of_jobs
        Threads copying chunks in parallel.
    client
        A ``dask.distributed.Client``: chunk copies of HDF5 files on local disk and of zarr arrays run on
        its workers.
    progress
        Called with the uncompressed bytes of each block copied.
    references
        Instead of copying, record the stored chunks of HDF5 datasets as byte-range references where it can
        (a virtual view, :mod:`zarrbridge.zarrio.virtual`).
    """

    compressor: CompressorChoice = "keep"
    level: int | None = None
    chunks: Literal["keep", "auto"] = "keep"
    shard_bytes: int | None = None
    number_of_jobs: int = 1
    client: TaskClient | None = field(default=None, compare=False)
    progress: Callable[[int], None] | None = field(default=None, compare=False)
    references: ChunkReferences | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.compressor not in COMPRESSOR_CHOICES:
            raise InvalidOptionError(
                f"compressor must be one of {', '.join(COMPRESSOR_CHOICES)}; got {self.compressor!r}"
            )
        if self.level is not None:
            bounds = _LEVELS.get(self.compressor)
            if bounds is None:
                raise InvalidOptionError(
                    f"a compression level needs compressor zstd, blosc or gzip, not {self.compressor!r}"
                )
            if (
                isinstance(self.level, bool)
                or not isinstance(self.level, int)
                or not bounds[0] <= self.level <= bounds[1]
            ):
                raise InvalidOptionError(
                    f"level for {self.compressor} must be an integer in "
                    f"{bounds[0]}..{bounds[1]}, got {self.level!r}"
                )
        if self.chunks not in ("keep", "auto"):
            raise InvalidOptionError(f"chunks must be 'keep' or 'auto', got {self.chunks!r}")
        if self.shard_bytes is not None and (
            isinstance(self.shard_bytes, bool)
            or not isinstance(self.shard_bytes, int)
            or self.shard_bytes <= 0
        ):
            raise InvalidOptionError(
                f"shard_bytes must be a positive integer or None, got {self.shard_bytes!r}"
            )
        check_jobs(self.number_of_jobs)


@dataclass(frozen=True)
class CopyPlan:
    policy: ArrayPolicy
    raw: RawMode | None
    unmapped: tuple[str, ...]


class ChunkReferences(Protocol):
    """Records an HDF5 dataset's stored chunks as references instead of copying them (a virtual view)."""

    def plan(self, data: Any, *, dtype: np.dtype[Any]) -> CopyPlan | None:
        """A plan with ``raw == "reference"`` and codecs that decode the stored bytes, or ``None`` to copy."""

    def record(self, data: Any, dest: zarr.Array[Any]) -> int:
        """Reference (or store) every chunk of ``dest``; return the uncompressed bytes covered."""


def plan_copy(data: Any, *, dtype: np.dtype[Any], settings: CopySettings, zarr_format: int) -> CopyPlan:
    """The destination layout for the on-disk source array ``data``."""
    if settings.references is not None and is_hdf5_dataset(data):
        referenced = settings.references.plan(data, dtype=dtype)
        if referenced is not None:
            return referenced
    shape = tuple(int(s) for s in data.shape)
    itemsize = 16 if dtype.kind in "OTUS" else max(1, dtype.itemsize)
    raw: RawMode | None = None
    unmapped: tuple[str, ...] = ()
    filters: tuple[Any, ...] = ()
    source_chunks: tuple[int, ...] | None
    if is_hdf5_dataset(data):
        layout = hdf5_layout(data, zarr_format=zarr_format)
        source_chunks, compressors, filters, raw, unmapped = (
            layout.chunks,
            layout.compressors,
            layout.filters,
            layout.raw,
            layout.unmapped,
        )
    elif isinstance(data, zarr.Array):
        source_chunks = tuple(data.chunks)
        compressors, filters = _zarr_codecs(data, zarr_format)
    else:
        source_chunks = _regular_chunks(getattr(data, "chunks", None), shape)
        compressors = "default"
    if settings.compressor != "keep":
        compressors, filters, raw = _chosen(settings, itemsize, zarr_format), (), None
    chunks = source_chunks if settings.chunks == "keep" and source_chunks else None
    if chunks is None or len(chunks) != len(shape):
        chunks, raw = auto_chunks(shape, itemsize), None
    shards = None
    if settings.shard_bytes is not None and zarr_format == 3 and shape:
        shards = shard_shape(chunks, shape, itemsize, settings.shard_bytes)
        raw = None if shards is not None else raw
    return CopyPlan(
        ArrayPolicy(chunks=chunks, shards=shards, compressors=compressors, filters=filters), raw, unmapped
    )


def shard_shape(
    chunks: Sequence[int], shape: Sequence[int], itemsize: int, target: int
) -> tuple[int, ...] | None:
    """Shards of whole chunks, about ``target`` bytes, grown along leading axes;
    ``None`` if one chunk fits."""
    shard = list(chunks)
    for axis in range(len(shard)):
        span = math.ceil(shape[axis] / chunks[axis]) * chunks[axis]
        while shard[axis] < span and math.prod(shard) * itemsize * 2 <= target:
            shard[axis] = min(shard[axis] * 2, span)
        if shard[axis] < span:
            break
    return tuple(shard) if tuple(shard) != tuple(chunks) else None


def copy_source(data: Any, dest: zarr.Array[Any], *, raw: RawMode | None, settings: CopySettings) -> int:
    """Copy the on-disk array ``data`` into ``dest``; return the uncompressed bytes copied."""
    if raw == "reference" and settings.references is not None:
        return settings.references.record(data, dest)
    _log.info(
        "copying %s %s: chunks %s, shards %s, compressors %s, %s, %s",
        "/" + dest.path.strip("/"),
        tuple(dest.shape),
        dest.chunks,
        dest.shards,
        tuple(dest.compressors),
        f"raw chunk copy ({raw})" if raw is not None else "decode and recompress",
        "on a distributed client" if settings.client is not None else f"{settings.number_of_jobs} worker(s)",
    )
    if is_hdf5_dataset(data):
        return copy_hdf5_dataset(
            data,
            dest,
            raw=raw,
            workers=settings.number_of_jobs,
            client=settings.client,
            progress=settings.progress,
        )
    client = settings.client if isinstance(data, (zarr.Array, H5DatasetSource)) else None
    if isinstance(data, zarr.Array) and same_encoding(data, dest):
        return copy_zarr_objects(
            data, dest, workers=settings.number_of_jobs, client=client, progress=settings.progress
        )
    return copy_array(data, dest, workers=settings.number_of_jobs, client=client, progress=settings.progress)


def _regular_chunks(chunks: Any, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    if (
        isinstance(chunks, tuple)
        and len(chunks) == len(shape)
        and all(isinstance(c, (int, np.integer)) and c > 0 for c in chunks)
    ):
        return tuple(int(c) for c in chunks)
    return None


def _zarr_codecs(array: zarr.Array[Any], zarr_format: int) -> tuple[Any, tuple[Any, ...]]:
    """The compressors and filters of a zarr source array, for a destination of ``zarr_format``."""
    compressors = tuple(array.compressors)
    filters = tuple(array.filters)
    if array.metadata.zarr_format == zarr_format:
        return compressors, filters
    try:  # v2 numcodecs <-> v3 codecs: map what maps, otherwise use the default compressor
        return to_zarr_codecs(compressors, zarr_format=zarr_format), ()
    except InvalidOptionError:
        return "default", ()


def _chosen(settings: CopySettings, itemsize: int, zarr_format: int) -> Any:
    import numcodecs

    level = settings.level
    if settings.compressor == "none":
        return None
    if settings.compressor == "zstd":
        return (numcodecs.Zstd(level=level if level is not None else 3),)
    if settings.compressor == "gzip":
        return (numcodecs.GZip(level=level if level is not None else 5),)
    if zarr_format == 2:
        return (
            numcodecs.Blosc(
                cname="zstd", clevel=level if level is not None else 5, shuffle=numcodecs.Blosc.SHUFFLE
            ),
        )
    return (
        zarr.codecs.BloscCodec(
            cname="zstd", clevel=level if level is not None else 5, shuffle="shuffle", typesize=itemsize
        ),
    )
