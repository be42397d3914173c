"""Whole chunks of unfiltered HDF5 datasets, read and written through h5py's direct chunk API.

A chunk of a dataset stored without filters (no compression, shuffle or checksum) is its values' bytes in C
order of the chunk shape. When a dask block is exactly one such chunk, HDF5 need not run its general
selection machinery (hyperslabs, the chunk cache, type conversion) at all:

- saves write the block with ``write_direct_chunk`` (:class:`ChunkWriter`), which hands HDF5 the finished
  chunk. Compared with ``dset[sel] = block`` it skips HDF5's copy of the block into a chunk buffer and the
  selection bookkeeping around it (``benchmarks/bench_serializers.py`` compares the saves with
  ``da.to_hdf5``); blocks that are not one whole chunk (edge chunks) are written with ``dset[sel] = block``.
- loads read the chunk with ``read_direct_chunk`` into the block's own buffer
  (:func:`read_chunk_block`, through :func:`zarrbridge.h5chunks.read_stored_chunk`, which the NWB export's
  raw chunk copy uses too); anything else, and chunks never written (their values are the fill value), is
  read with ``dset[sel]``.

Every call goes through h5py, so HDF5 locates the chunk, checks the file, and serialises access.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.arrays import chunk_containing
from ..h5chunks import read_stored_chunk

__all__ = ["RAW_KINDS", "ChunkWriter", "has_plain_chunks", "read_chunk_block"]

RAW_KINDS = "iuf"
"""Numeric types whose HDF5 file layout is numpy's; bool, complex and compound types go through h5py."""


def has_plain_chunks(dset: Any) -> bool:
    """Whether the chunks of the h5py dataset ``dset`` are stored as their values' bytes (chunked, numeric,
    no filters), so that whole chunks can be read and written with the direct chunk API."""
    return (
        dset.chunks is not None
        and np.dtype(dset.dtype).kind in RAW_KINDS
        and not dset.id.get_create_plist().get_nfilters()
    )


def read_chunk_block(dset: Any, sel: tuple[Any, ...]) -> np.ndarray[Any, Any] | None:
    """The selection ``sel`` of the plain-chunked dataset ``dset`` (:func:`has_plain_chunks`), read as the
    stored bytes of the one chunk holding it; ``None`` when ``sel`` is not inside one chunk, or that chunk was
    never written (read those with ``dset[sel]``).

    The result is a writable view of a new buffer of one chunk.
    """
    shape, chunks = tuple(dset.shape), tuple(dset.chunks)
    found = chunk_containing(sel, shape, chunks)
    if found is None:
        return None
    position, inner = found
    block = np.empty(chunks, dtype=dset.dtype)
    read = read_stored_chunk(
        dset, tuple(p * c for p, c in zip(position, chunks)), out=block.reshape(-1).view(np.uint8)
    )
    if read is None:
        return None
    if len(read[1]) != block.nbytes:  # (not expected: an unfiltered chunk is stored whole)
        return None
    return block[inner]


@dataclass(frozen=True)
class ChunkWriter:
    """A ``da.store`` target that writes each block of a plain-chunked dataset (:func:`has_plain_chunks`) as
    its chunk with ``write_direct_chunk``, or with ``dset[sel] = block`` when it is not one whole chunk.

    Parameters
    ----------
    dset
        The open h5py dataset; the blocks must be of its stored dtype.
    """

    dset: Any

    def __setitem__(self, sel: tuple[slice, ...], block: np.ndarray[Any, Any]) -> None:
        chunks = tuple(self.dset.chunks)
        whole = len(sel) == len(chunks) and all(
            s.start % c == 0 and s.stop - s.start == c for s, c in zip(sel, chunks)
        )
        if not whole:
            self.dset[sel] = block
            return
        data = np.ascontiguousarray(block, dtype=self.dset.dtype)
        if data.nbytes != math.prod(chunks) * data.itemsize:  # (a block of the wrong shape: h5py checks)
            self.dset[sel] = block
            return
        self.dset.id.write_direct_chunk(tuple(s.start for s in sel), data)
