"""Chunks of unfiltered HDF5 datasets read straight from the file, in parallel and without h5py.

h5py runs every HDF5 call behind one process-wide lock, so the blocks of a loaded array were read one at a
time however many threads dask had, each through its own ``h5py.File`` open. A chunk of a dataset stored
without filters (no compression, shuffle or checksum) is simply its bytes, in C order of the chunk shape, at
a file offset HDF5 reports. :class:`ChunkIndex` records those offsets once, when a result is loaded; a block
that is (part of) one chunk is then read from the plain file: when the file is local, memory-mapped if it is
in the page cache (no copy: the only copy is dask's own, into the computed result), else read with
``O_DIRECT`` (:func:`.mapped.read_range`); through other file protocols, read with ``readinto``. No HDF5
handle or lock is involved, and the index pickles to ``distributed`` workers as plain data. Anything else
goes through h5py.

Saves use the same index the other way (:class:`ChunkWriter`): a dataset created with its chunks allocated
up front has every chunk's offset known before any data is written, and each block is then written as the
bytes of its chunk, by the thread that computed it, with no HDF5 call at all.

Array files are never modified after they are published (a new save writes a new file; removing one unlinks
it), so a mapping stays valid for as long as a block uses it.
"""

from __future__ import annotations

import errno
import math
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.arrays import chunk_containing
from ..core.localfiles import read_at, write_at
from ..daskwrite import default_workers
from ..errors import MissingChunkError
from ..h5chunks import stored_chunks
from .mapped import cut_short, read_range
from .protocols import DirectoryCapable

__all__ = ["MAX_INDEXED_CHUNKS", "RAW_KINDS", "ChunkIndex", "ChunkWriter", "read_chunk", "read_rows_into"]

MAX_INDEXED_CHUNKS = 200_000
"""Datasets with more chunks than this are read through h5py (the index would be a large graph object)."""

_CANNOT_RESERVE = {errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOSYS}
RAW_KINDS = "iuf"
"""Numeric types whose HDF5 file layout is numpy's; bool, complex and compound types go through h5py."""


@dataclass(frozen=True)
class ChunkIndex:
    """Where each chunk of an unfiltered, chunked HDF5 dataset lies in its file.

    Parameters
    ----------
    shape
        The dataset's shape.
    chunk_shape
        Its HDF5 chunk shape.
    dtype
        The stored (file) dtype, byte order included.
    offsets
        Byte offset in the file of each allocated chunk, by chunk grid position.
    """

    shape: tuple[int, ...]
    chunk_shape: tuple[int, ...]
    dtype: np.dtype[Any]
    offsets: Mapping[tuple[int, ...], int]

    @classmethod
    def of(cls, dset: Any) -> ChunkIndex | None:
        """The index of the h5py dataset ``dset``, or ``None`` when its chunks cannot be read as raw bytes."""
        chunks = dset.chunks
        dtype = np.dtype(dset.dtype)
        if (
            chunks is None
            or dtype.kind not in RAW_KINDS
            or dset.file.userblock_size  # offsets would be relative to the end of the user block
            or dset.id.get_create_plist().get_nfilters()
            or dset.id.get_num_chunks() > MAX_INDEXED_CHUNKS
        ):
            return None
        offsets = {
            tuple(o // c for o, c in zip(chunk.offset, chunks)): chunk.byte_offset
            for chunk in stored_chunks(dset)
        }
        return cls(tuple(dset.shape), tuple(chunks), dtype, offsets)

    @property
    def chunk_bytes(self) -> int:
        """The stored size of one chunk."""
        return math.prod(self.chunk_shape) * self.dtype.itemsize

    def locate(self, sel: tuple[Any, ...]) -> tuple[int, tuple[slice, ...]] | None:
        """``(file offset of the chunk, selection inside it)`` when ``sel`` lies inside one stored chunk."""
        found = chunk_containing(sel, self.shape, self.chunk_shape)
        if found is None:
            return None
        offset = self.offsets.get(found[0])
        return None if offset is None else (offset, found[1])


@dataclass(frozen=True)
class ChunkWriter:
    """A ``da.store`` target that writes each block as the stored bytes of its HDF5 chunk.

    Every block must start on a chunk boundary and lie inside that chunk (dask chunks equal to the HDF5
    chunks), and every chunk must be allocated (early allocation). Threads write different chunks at once.

    Parameters
    ----------
    fd
        The HDF5 file, open for writing, after h5py closed it.
    index
        The dataset's chunk index.
    """

    fd: int
    index: ChunkIndex

    def __setitem__(self, sel: tuple[slice, ...], block: np.ndarray[Any, Any]) -> None:
        found = self.index.locate(sel)
        if found is None or any(s.start for s in found[1]):
            raise ValueError(
                f"block {sel} is not the start of one allocated chunk of {self.index.chunk_shape}"
            )
        offset, inner = found
        data = np.ascontiguousarray(block, dtype=self.index.dtype)
        if any(s.stop != c for s, c in zip(inner[1:], self.index.chunk_shape[1:])):  # an edge chunk, padded
            padded = np.zeros(self.index.chunk_shape, dtype=self.index.dtype)
            padded[inner] = data
            data = padded
        write_at(self.fd, data, offset)

    def reserve(self) -> None:
        """Give the chunks' file range its disk blocks before the writes (measured on 1 GiB: 0.18 s of writes
        against 0.24 s into the sparse range HDF5 leaves); file systems that cannot are left as they are.

        Raises
        ------
        OSError
            The disk has no room for the array (``ENOSPC``): raised before any block is computed.
        """
        if not hasattr(os, "posix_fallocate") or not self.index.offsets:
            return
        start = min(self.index.offsets.values())
        end = max(self.index.offsets.values()) + self.index.chunk_bytes
        try:
            os.posix_fallocate(self.fd, start, end - start)
        except OSError as exc:
            if exc.errno not in _CANNOT_RESERVE:
                raise
            # some network and FUSE file systems: the writes allocate instead


def read_rows_into(
    path: str, index: ChunkIndex, out: np.ndarray[Any, Any], *, what: str, workers: int | None = None
) -> bool:
    """Read every chunk of the dataset of ``index`` in the local file ``path`` straight into ``out``.

    Possible when each chunk spans every axis after the first (its rows are then one contiguous range of a
    C-ordered ``out``) and every chunk is allocated; returns ``False``, having read nothing, otherwise.
    Chunks are read with ``preadv`` by ``workers`` threads at once (``None``: dask's ``num_workers``, else the
    CPU count).

    Raises
    ------
    MissingChunkError
        The file ends before a chunk does.
    """
    rows = index.chunk_shape[0] if index.chunk_shape else 1
    if (
        out.shape != index.shape
        or out.dtype != index.dtype
        or not out.flags.c_contiguous
        or not out.ndim
        or index.chunk_shape[1:] != index.shape[1:]
        or len(index.offsets) != -(-index.shape[0] // rows)
    ):
        return False
    row_bytes = math.prod(index.shape[1:]) * index.dtype.itemsize
    flat = out.reshape(-1).view(np.uint8)

    def read(item: tuple[tuple[int, ...], int]) -> None:
        first = item[0][0] * rows
        view = memoryview(flat[first * row_bytes : min(first + rows, index.shape[0]) * row_bytes])  # type: ignore[arg-type]
        got = read_at(fd, view, item[1])
        if got < len(view):
            raise cut_short(f"at byte {item[1]}", what, len(view) - got)

    workers = default_workers() if workers is None else workers
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        with ThreadPoolExecutor(max(1, min(workers, len(index.offsets)))) as pool:
            list(pool.map(read, index.offsets.items()))
    finally:
        os.close(fd)
    return True


def read_chunk(
    files: Any, name: str, index: ChunkIndex, offset: int, inner: tuple[slice, ...]
) -> np.ndarray[Any, Any]:
    """The part ``inner`` of the chunk at ``offset`` of the file ``name`` (reached through ``files``).

    Local files are memory-mapped (copy-on-write: the block is writable, the file never changes), so the
    block costs no copy until it is used; other file protocols are read with ``readinto``. When ``inner``
    keeps every axis after the first whole, only its rows are mapped or read.

    Raises
    ------
    MissingChunkError
        The file ends before the chunk does (it was cut short after it was written).
    """
    itemsize = index.dtype.itemsize
    row_items = math.prod(index.chunk_shape[1:])
    whole_rows = all(s.start == 0 and s.stop == c for s, c in zip(inner[1:], index.chunk_shape[1:]))
    if whole_rows:
        start = offset + inner[0].start * row_items * itemsize
        shape: tuple[int, ...] = (inner[0].stop - inner[0].start, *index.chunk_shape[1:])
    else:
        start, shape = offset, index.chunk_shape
    nbytes = math.prod(shape) * itemsize
    if isinstance(files, DirectoryCapable):
        out = read_range(
            files.local_path(name),
            start,
            nbytes,
            index.dtype,
            key=f"at byte {start}",
            what=f"HDF5 array file {name!r}",
        ).reshape(shape)
    else:
        out = np.empty(shape, dtype=index.dtype)
        with files.open(name, "rb") as handle:
            handle.seek(start)
            view, done = out.reshape(-1).view(np.uint8).data, 0
            while done < nbytes:
                got = handle.readinto(view[done:])
                if not got:
                    raise _cut_short(name, start, nbytes - done)
                done += got
    return out if whole_rows else out[inner]


def _cut_short(name: str, start: int, missing: int) -> MissingChunkError:
    return cut_short(f"at byte {start}", f"HDF5 array file {name!r}", missing)
