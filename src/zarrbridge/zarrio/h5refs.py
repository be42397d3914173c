"""HDF5 datasets as byte-range references: zarr arrays reading an HDF5 dataset's stored bytes as they are.

A virtual view (:mod:`zarrbridge.zarrio.virtual`) gives each large numeric dataset a zarr array whose chunks
are the HDF5 dataset's stored chunks, unchanged: the same chunk shape, and codecs that decode exactly what the
HDF5 filter pipeline wrote, in the same order (HDF5 applies its filters in pipeline order when writing and
undoes them in reverse when reading; zarr's bytes-to-bytes codecs do the same in list order):

| HDF5 filter | zarr v3 codec | byte compatibility |
| --- | --- | --- |
| deflate (1) | ``numcodecs.zlib`` | HDF5 writes a zlib (RFC 1950) stream, which ``zlib`` decodes |
| shuffle (2) | ``numcodecs.shuffle`` (element size: item size) | the same byte transposition |
| fletcher32 (3) | ``numcodecs.fletcher32`` | HDF5's checksum, 4 bytes appended (verified on read) |
| blosc (32001) | ``blosc`` | a blosc frame, self-describing |
| zstd (32015) | ``zstd`` | a zstd frame |

A contiguous dataset is cut into row blocks of about :data:`CONTIGUOUS_CHUNK_BYTES` (each block is one byte
range of the file; see :meth:`ReferenceRecorder._block_rows` for the last, partial block). Datasets that
cannot be referenced (compact, external storage, a filter without a zarr codec, compound or big-endian types,
variable-length strings) are copied by the normal export path; :class:`ReferenceRecorder` says which and why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zarr
import zarr.codecs
from zarr.codecs.numcodecs import Fletcher32, Shuffle, Zlib

from ..core.arrays import ArrayPolicy
from ..h5chunks import BLOSC, DEFLATE, FILTER_NAMES, FLETCHER32, SHUFFLE, ZSTD, stored_chunks
from .copying import CopyPlan
from .h5layout import hdf5_filters

__all__ = ["CONTIGUOUS_CHUNK_BYTES", "INLINE_BYTES", "ReferenceRecorder", "reference_codecs"]

INLINE_BYTES = 1 << 20  # datasets up to this size are stored inline (the export stages them whole anyway)
CONTIGUOUS_CHUNK_BYTES = 4 << 20
_CHUNKED, _CONTIGUOUS = 2, 1  # h5py.h5d layout constants
_BLOSC_CNAMES = {0: "blosclz", 1: "lz4", 2: "lz4hc", 3: "snappy", 4: "zlib", 5: "zstd"}


def reference_codecs(
    pipeline: list[tuple[int, tuple[int, ...]]], itemsize: int
) -> tuple[tuple[Any, ...] | None, tuple[str, ...]]:
    """zarr v3 codecs decoding what the HDF5 filter ``pipeline`` stored, or ``(None, unmapped names)``."""
    codecs: list[Any] = []
    unmapped: list[str] = []
    for fid, values in pipeline:
        if fid == DEFLATE:
            codecs.append(Zlib(level=int(values[0]) if values else 4))
        elif fid == SHUFFLE:
            codecs.append(Shuffle(elementsize=itemsize))
        elif fid == FLETCHER32:
            codecs.append(Fletcher32())
        elif fid == BLOSC:
            cname = _BLOSC_CNAMES.get(values[6] if len(values) > 6 else 0, "blosclz")
            blosc = zarr.codecs.BloscCodec(cname=cname, typesize=max(1, itemsize))  # type: ignore[arg-type]
            codecs.append(blosc)
        elif fid == ZSTD:
            codecs.append(zarr.codecs.ZstdCodec(level=int(values[0]) if values else 3))
        else:
            unmapped.append(FILTER_NAMES.get(fid, f"hdf5 filter {fid}"))
    if unmapped:
        return None, tuple(unmapped)
    return tuple(codecs), ()


@dataclass
class ReferenceRecorder:
    """Plans and records the references of one virtual view (a
    :class:`~zarrbridge.zarrio.copying.ChunkReferences`).

    Parameters
    ----------
    url
        How the view names the HDF5 file (absolute local path or URL).
    file_size
        Size of the HDF5 file (a contiguous dataset's partial last block is referenced only within it).
    inline_bytes
        Datasets up to this many bytes are stored inline instead of referenced.
    """

    url: str
    file_size: int
    inline_bytes: int = INLINE_BYTES
    refs: dict[str, tuple[int, int]] = field(default_factory=dict)  # zarr key -> (offset, size)
    referenced: list[str] = field(default_factory=list)  # HDF5 paths of the datasets referenced
    not_referenced: list[tuple[str, str]] = field(default_factory=list)  # (HDF5 path, why it was copied)
    referenced_bytes: int = 0

    def plan(self, data: Any, *, dtype: np.dtype[Any]) -> CopyPlan | None:
        """The layout that references ``data``'s stored bytes, or ``None`` (copy it as export does)."""
        stored = np.dtype(data.dtype)
        nbytes = math.prod(data.shape) * stored.itemsize
        if nbytes <= self.inline_bytes or data.ndim == 0:
            return None
        why = self._why_not(data, stored, np.dtype(dtype))
        if why is not None:
            self.not_referenced.append((str(data.name), why))
            return None
        plist = data.id.get_create_plist()
        if plist.get_layout() == _CHUNKED:
            codecs, unmapped = reference_codecs(hdf5_filters(data), stored.itemsize)
            if codecs is None:
                self.not_referenced.append(
                    (str(data.name), f"filter {', '.join(unmapped)} has no zarr codec")
                )
                return None
            chunks = tuple(int(c) for c in data.chunks)
        else:
            codecs = ()
            chunks = (self._block_rows(data, stored.itemsize), *(int(s) for s in data.shape[1:]))
        policy = ArrayPolicy(chunks=chunks, shards=None, compressors=codecs, filters=())
        return CopyPlan(policy, "reference", ())

    def _block_rows(self, data: Any, itemsize: int) -> int:
        """Rows per block of a contiguous dataset: about CONTIGUOUS_CHUNK_BYTES, and a partial last block
        only where it can be referenced (the file goes on for a whole block) -- else a divisor of the rows,
        so that no padded block has to be stored inline."""
        total = int(data.shape[0])
        row = max(1, math.prod(int(s) for s in data.shape[1:]) * itemsize)
        rows = max(1, min(total, CONTIGUOUS_CHUNK_BYTES // row))
        blocks = math.ceil(total / rows)
        if total % rows == 0 or int(data.id.get_offset()) + blocks * rows * row <= self.file_size:
            return rows
        for candidate in range(rows, max(0, rows // 4), -1):
            if total % candidate == 0:
                return candidate
        return rows

    @staticmethod
    def _why_not(data: Any, stored: np.dtype[Any], wanted: np.dtype[Any]) -> str | None:
        if stored.names is not None or stored.kind not in "biuf":
            return f"data type {stored} is stored differently in zarr"
        if stored.byteorder == ">":
            return "big-endian data"
        if stored != wanted:
            return f"stored as {stored}, the specification asks for {wanted}"
        plist = data.id.get_create_plist()
        layout = plist.get_layout()
        if layout not in (_CHUNKED, _CONTIGUOUS):
            return "compact or virtual HDF5 layout"
        if plist.get_external_count() > 0:
            return "external HDF5 storage"
        if layout == _CONTIGUOUS and data.id.get_offset() is None:
            return "never written (no storage allocated)"
        return None

    def record(self, data: Any, dest: zarr.Array[Any]) -> int:
        """Reference every stored chunk of ``data`` as ``dest``'s chunk at the same place; return bytes."""
        prefix = dest.path.strip("/")
        shape = tuple(int(s) for s in dest.shape)
        chunks = tuple(int(c) for c in dest.chunks)
        grid = tuple(math.ceil(s / c) for s, c in zip(shape, chunks))

        def key(coords: tuple[int, ...]) -> str:
            name = dest.metadata.encode_chunk_key(coords)
            return f"{prefix}/{name}" if prefix else name

        done: set[tuple[int, ...]] = set()
        chunk_bytes = math.prod(chunks) * dest.dtype.itemsize
        if data.id.get_create_plist().get_layout() == _CHUNKED:
            for info in stored_chunks(data):
                coords = tuple(o // c for o, c in zip(info.offset, chunks))
                if info.filter_mask == 0:  # a chunk with a filter skipped is decoded and stored below
                    self.refs[key(coords)] = (info.byte_offset, info.size)
                    done.add(coords)
        else:
            start = int(data.id.get_offset())
            for i in range(grid[0]):
                # a partial last block is referenced with the whole block's size when the file goes on that
                # far (zarr decodes whole chunks and keeps the rows inside the shape), else stored below
                if (i + 1) * chunks[0] <= shape[0] or start + (i + 1) * chunk_bytes <= self.file_size:
                    coords = (i,) + (0,) * (len(shape) - 1)
                    self.refs[key(coords)] = (start + i * chunk_bytes, chunk_bytes)
                    done.add(coords)
        writer = dest.with_config({"write_empty_chunks": True})
        for coords in np.ndindex(*grid):
            if coords not in done:  # never allocated (the fill value), filter skipped, partial block
                sel = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(coords, chunks, shape))
                writer[sel] = np.asarray(data[sel])
        self.referenced.append(str(data.name))
        self.referenced_bytes += len(done) * chunk_bytes
        return math.prod(shape) * dest.dtype.itemsize
