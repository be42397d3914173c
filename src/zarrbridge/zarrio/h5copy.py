"""Copying an HDF5 dataset into a zarr array chunk by chunk, without recompressing where possible.

When the destination has the source's chunk shape and codecs that read the HDF5 chunk bytes as they are
(:class:`~zarrbridge.zarrio.h5layout.SourceLayout` ``raw``), each stored chunk is read as HDF5 stores it
(h5py's ``read_direct_chunk``, through :func:`zarrbridge.h5chunks.read_stored_chunk`) and written to the store
unchanged (deflate streams are re-wrapped from zlib to gzip framing
for zarr format 3, which costs a decompression for the checksum but no compression). Otherwise blocks are
decoded by h5py and encoded by zarr. Tasks are picklable so that a ``dask.distributed`` client can run them.
"""

from __future__ import annotations

import functools
import math
import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import zarr
from zarr.core.buffer import Buffer, default_buffer_prototype
from zarr.storage import LocalStore

from ..core.arrays import copy_array
from ..core.integrity import fill_missing_chunks
from ..core.parallel import TaskClient, map_bounded
from ..core.transfer import put_many
from ..h5chunks import StoredChunk, read_stored_chunk, stored_chunks
from .h5layout import RawMode

TASK_BYTES = 16 * 1024 * 1024  # uncompressed bytes handled by one copy task
# into an object store the chunks of one task are uploaded concurrently: larger tasks, more requests at once
REMOTE_TASK_BYTES = 64 * 1024 * 1024
_local = threading.local()


class H5DatasetSource:
    """A picklable handle on one HDF5 dataset, opened read-only on first use in each process/thread.

    Slicing it reads like the h5py dataset; pickling it carries only the file name and dataset path, so
    dask workers can read blocks themselves.
    """

    def __init__(
        self,
        filename: str,
        name: str,
        shape: tuple[int, ...],
        dtype: np.dtype[Any],
        chunks: tuple[int, ...] | None,
    ) -> None:
        self.filename, self.name, self.shape, self.dtype, self.chunks = filename, name, shape, dtype, chunks

    @classmethod
    def of(cls, dataset: Any) -> H5DatasetSource:
        return cls(
            str(dataset.file.filename),
            str(dataset.name),
            tuple(dataset.shape),
            np.dtype(dataset.dtype),
            tuple(dataset.chunks) if dataset.chunks else None,
        )

    def dataset(self) -> Any:
        """The h5py dataset, opened read-only once per thread."""
        files: dict[str, Any] = _local.__dict__.setdefault("h5files", {})
        handle = files.get(self.filename)
        if handle is None or not handle.id.valid:
            import h5py

            handle = files[self.filename] = h5py.File(self.filename, "r")
        return handle[self.name]

    def __getitem__(self, sel: Any) -> Any:
        return self.dataset()[sel]

    def __reduce__(self) -> tuple[Any, ...]:
        return (H5DatasetSource, (self.filename, self.name, self.shape, self.dtype, self.chunks))


def local_hdf5_file(dataset: Any) -> str | None:
    """The path of the dataset's file when it is a plain local file that other processes can open."""
    try:
        name = str(dataset.file.filename)
        driver = dataset.file.driver
    except (AttributeError, ValueError):
        return None
    return name if driver in ("sec2", "stdio") and os.path.isfile(name) else None


_INFLATE_STEP = 1 << 16  # compressed bytes inflated at a time while computing the gzip checksum


def zlib_to_gzip(stream: bytes) -> bytes | None:
    """Re-frame a zlib (RFC 1950) stream as gzip (RFC 1952) without recompressing; ``None`` if impossible.

    gzip's trailer holds the CRC-32 and length of the uncompressed data, which zlib's does not: the stream is
    inflated once for them, piece by piece, so that each piece is checksummed while it is still in the CPU
    cache and no chunk-sized buffer is allocated. Inflating also checks the stream (zlib's own Adler-32
    included): a damaged chunk raises ``zlib.error`` instead of being copied.
    """
    if len(stream) < 6 or stream[0] & 0x0F != 8 or stream[1] & 0x20 or (stream[0] << 8 | stream[1]) % 31:
        return None
    inflate, crc, size, view = zlib.decompressobj(), 0, 0, memoryview(stream)
    for start in range(0, len(view), _INFLATE_STEP):
        piece = inflate.decompress(view[start : start + _INFLATE_STEP])
        crc, size = zlib.crc32(piece, crc), size + len(piece)
    piece = inflate.flush()
    crc, size = zlib.crc32(piece, crc), size + len(piece)
    if not inflate.eof or inflate.unused_data:
        return None  # truncated, or bytes after the stream: let the decoding copy say what is wrong
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return header + stream[2:-4] + struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)


def _copy_raw_batch(source: Any, dest: zarr.Array[Any], mode: RawMode, batch: list[StoredChunk]) -> int:
    """Copy the chunks ``batch`` of ``source`` (the h5py dataset, or in dask workers its
    :class:`H5DatasetSource`) into ``dest``; return the uncompressed bytes copied."""
    chunks = dest.chunks
    store = dest.store_path.store
    prefix = dest.path.strip("/")
    prototype = default_buffer_prototype()
    dataset = source.dataset() if isinstance(source, H5DatasetSource) else source
    copied = 0
    out: dict[str, Buffer] = {}  # written together: concurrent requests on an object store
    for info in batch:
        sel = tuple(slice(o, min(o + c, s)) for o, c, s in zip(info.offset, chunks, dest.shape))
        nbytes = math.prod(s.stop - s.start for s in sel) * dest.dtype.itemsize
        data: bytes | None = None
        if info.filter_mask == 0:
            stored = read_stored_chunk(dataset, info.offset)
            if stored is not None and stored[0] == 0:  # (the mask as HDF5 reports it when reading)
                data = bytes(stored[1])
                if mode == "zlib-to-gzip":
                    data = zlib_to_gzip(data)
        if data is None:  # a chunk stored with a filter skipped, or an unusual stream: decode it
            dest[sel] = np.asarray(dataset[sel])
        else:
            coords = tuple(o // c for o, c in zip(info.offset, chunks))
            key = dest.metadata.encode_chunk_key(coords)
            out[f"{prefix}/{key}" if prefix else key] = prototype.buffer.from_bytes(data)
        copied += nbytes
    put_many(store, out)
    return copied


def _batches(infos: list[StoredChunk], chunk_bytes: int, task_bytes: int) -> Iterator[list[StoredChunk]]:
    per_task = max(1, task_bytes // max(1, chunk_bytes))
    for start in range(0, len(infos), per_task):
        yield infos[start : start + per_task]


def copy_hdf5_dataset(
    dataset: Any,
    dest: zarr.Array[Any],
    *,
    raw: RawMode | None,
    workers: int = 1,
    client: TaskClient | None = None,
    progress: Callable[[int], None] | None = None,
    max_block_bytes: int = 64 * 1024 * 1024,
) -> int:
    """Copy an h5py dataset into ``dest`` (same shape); return the uncompressed bytes copied."""
    filename = local_hdf5_file(dataset)
    if filename is None:
        client = None  # only a file other processes can open is shipped to dask workers
        return copy_array(dataset, dest, max_block_bytes=max_block_bytes, workers=workers, progress=progress)
    source = H5DatasetSource.of(dataset)
    if raw is None or dest.shards is not None or dest.chunks != source.chunks:
        readable: Any = source if (client is not None or workers > 1) else dataset
        return copy_array(
            readable, dest, max_block_bytes=max_block_bytes, workers=workers, client=client, progress=progress
        )
    infos = stored_chunks(dataset)
    chunk_bytes = math.prod(dest.chunks) * dest.dtype.itemsize
    task = functools.partial(_copy_raw_batch, source if client is not None else dataset, dest, raw)
    total = 0
    local = isinstance(dest.store_path.store, LocalStore)
    batches = _batches(infos, chunk_bytes, TASK_BYTES if local else REMOTE_TASK_BYTES)
    for nbytes in map_bounded(task, batches, workers=workers, client=client):
        total += nbytes
        if progress is not None:
            progress(nbytes)
    if len(infos) < math.prod(math.ceil(s / c) for s, c in zip(dest.shape, dest.chunks)):
        fill_missing_chunks(dest)  # chunks HDF5 never allocated hold the fill value: store them too
    return total
