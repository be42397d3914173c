"""The stored chunks of a chunked HDF5 dataset, from an h5py dataset (duck-typed: no h5py import).

Both the NWB export (which copies compressed chunks' bytes into zarr without recompressing them) and the
serializers (which read unfiltered chunks of saved results into their blocks) read chunks as HDF5 stores
them, with no filter applied: :func:`read_stored_chunk` is that one reader, through h5py's direct chunk API
(``read_direct_chunk``), so HDF5 itself resolves the chunk's place in the file (user blocks, chunk indexes,
file drivers). :func:`stored_chunks` lists the allocated chunks: one callback per chunk with ``chunk_iter``
(HDF5 >= 1.12.3), else one call per chunk index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["FILTER_NAMES", "StoredChunk", "read_stored_chunk", "stored_chunks"]

# HDF5 filter ids (H5Zpublic.h and the registered third-party filters),
# and the names zarrbridge reports them by
DEFLATE, SHUFFLE, FLETCHER32, SZIP, NBIT, SCALEOFFSET = 1, 2, 3, 4, 5, 6
LZF, BLOSC, LZ4, BITSHUFFLE, ZSTD, BLOSC2 = 32000, 32001, 32004, 32008, 32015, 32026
FILTER_NAMES = {
    DEFLATE: "gzip",
    SHUFFLE: "shuffle",
    FLETCHER32: "fletcher32",
    SZIP: "szip",
    NBIT: "nbit",
    SCALEOFFSET: "scaleoffset",
    LZF: "lzf",
    BLOSC: "blosc",
    LZ4: "lz4",
    BITSHUFFLE: "bitshuffle",
    ZSTD: "zstd",
    BLOSC2: "blosc2",
}


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
    """The allocated chunks of the chunked h5py dataset ``dataset``, in HDF5's index order.

    Parameters
    ----------
    dataset : h5py.Dataset
        A chunked dataset.

    Returns
    -------
    list of StoredChunk
        One entry per allocated chunk.
    """
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


def read_stored_chunk(dataset: Any, offset: tuple[int, ...], *, out: Any = None) -> tuple[int, Any] | None:
    """The stored bytes of the chunk of the h5py dataset ``dataset`` whose first element is ``offset``.

    Parameters
    ----------
    dataset
        A chunked h5py dataset.
    offset
        The chunk's first element, per axis (a multiple of the chunk shape).
    out
        A writable, C-contiguous buffer at least as large as the stored chunk: the bytes are read into it
        (no new buffer) and a memoryview of the part read is returned. ``None``: a new ``bytes``.

    Returns
    -------
    tuple or None
        ``(filter mask, stored bytes)``, or ``None`` when the chunk was never written (its values are the
        dataset's fill value, which only a regular h5py read supplies).

    Raises
    ------
    ValueError
        ``out`` is smaller than the stored chunk.
    """
    dsid = dataset.id
    if dsid.get_chunk_info_by_coord(tuple(offset)).byte_offset is None:
        return None
    mask, data = dsid.read_direct_chunk(tuple(offset), out=out)
    return int(mask), data
