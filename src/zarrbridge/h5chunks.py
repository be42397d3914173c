"""Where the chunks of a chunked HDF5 dataset lie in its file, from an h5py dataset (duck-typed: no h5py import).

Both the NWB export (which copies compressed chunks' bytes into zarr without recompressing them) and the
serializers (which read unfiltered chunks of saved results straight from the file) need the stored chunks'
positions, filter masks, file offsets and sizes. h5py reports them through the low-level dataset id: one
callback per chunk with ``chunk_iter`` (HDF5 >= 1.12.3), else one call per chunk index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["StoredChunk", "stored_chunks"]


@dataclass(frozen=True)
class StoredChunk:
    """One allocated chunk of an HDF5 dataset.

    Parameters
    ----------
    offset
        The chunk's first element, per axis (a multiple of the chunk shape).
    filter_mask
        Bit ``i`` set: filter ``i`` of the pipeline was skipped for this chunk.
    byte_offset
        Where the chunk's stored bytes start in the file.
    size
        How many bytes are stored.
    """

    offset: tuple[int, ...]
    filter_mask: int
    byte_offset: int
    size: int


def stored_chunks(dataset: Any) -> list[StoredChunk]:
    """The allocated chunks of the chunked h5py dataset ``dataset``, in HDF5's index order."""
    out: list[StoredChunk] = []

    def add(info: Any) -> None:
        out.append(
            StoredChunk(
                tuple(info.chunk_offset), int(info.filter_mask), int(info.byte_offset), int(info.size)
            )
        )

    dsid = dataset.id
    if hasattr(dsid, "chunk_iter"):
        dsid.chunk_iter(add)
    else:  # pragma: no cover - HDF5 < 1.12.3
        for index in range(dsid.get_num_chunks()):
            add(dsid.get_chunk_info(index))
    return out
