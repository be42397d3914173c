"""Mapping an HDF5 dataset's chunking and filter pipeline to zarr codecs.

Export keeps the source's compression instead of compressing twice. Where the stored chunk bytes of the
HDF5 file are already a valid encoding for the zarr codecs chosen (blosc, zstd, deflate for zarr format 2,
deflate for format 3 after re-wrapping the stream from a zlib to a gzip container) the chunks are copied
without being decompressed and compressed again (see :mod:`zarrbridge.zarrio.h5copy`).

h5py is not imported here: datasets are inspected through their property lists.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

import numcodecs
import numpy as np
import zarr.codecs

from ..h5chunks import (
    BLOSC,
    DEFLATE,
    FILTER_NAMES,
    FLETCHER32,
    SHUFFLE,
    ZSTD,
)

RawMode = Literal["copy", "zlib-to-gzip", "reference"]  # reference: a virtual view's chunks

_BLOSC_CNAMES = {0: "blosclz", 1: "lz4", 2: "lz4hc", 3: "snappy", 4: "zlib", 5: "zstd"}
_BLOSC_SHUFFLES: dict[int, Literal["noshuffle", "shuffle", "bitshuffle"]] = {
    0: "noshuffle",
    1: "shuffle",
    2: "bitshuffle",
}


@dataclass(frozen=True)
class SourceLayout:
    """How an HDF5 dataset maps to zarr.

    Attributes
    ----------
    chunks
        The source chunk shape, or ``None`` for a contiguous dataset.
    compressors
        Codecs for :func:`zarrbridge.core.arrays.create_array` (blosc-lz4 with shuffle for numbers when
        nothing maps or the source is uncompressed, ``"default"`` for other dtypes).
    filters
        Array-to-array or shuffle codecs to put in front of the compressors.
    raw
        How stored chunks can be copied without recompression, or ``None``.
    unmapped
        Names of source filters that have no zarr equivalent (their data is decoded and stored with the
        default compressor instead).
    """

    chunks: tuple[int, ...] | None
    compressors: Any
    filters: tuple[Any, ...]
    raw: RawMode | None
    unmapped: tuple[str, ...]


_H5D_CHUNKED = 2  # H5D_CHUNKED in H5Dpublic.h (h5py.h5d.CHUNKED)


def hdf5_filters(dataset: Any, *, plist: Any = None) -> list[tuple[int, tuple[int, ...]]]:
    """The (filter id, client values) pipeline of an h5py dataset, in the order HDF5 applies it."""
    plist = dataset.id.get_create_plist() if plist is None else plist
    return [
        (int(f[0]), tuple(int(v) for v in f[2]))
        for f in (plist.get_filter(i) for i in range(plist.get_nfilters()))
    ]


def is_hdf5_dataset(data: Any) -> bool:
    """Whether ``data`` looks like an ``h5py.Dataset`` (duck-typed, h5py is not imported).

    Only the low-level id is inspected: h5py's ``Dataset.file`` builds a new ``File`` object on every
    access, which costs more than copying a small dataset.
    """
    dsid = getattr(data, "id", None)
    return dsid is not None and hasattr(dsid, "get_create_plist") and hasattr(dsid, "read_direct_chunk")


def hdf5_layout(dataset: Any, *, zarr_format: int) -> SourceLayout:
    """Map an h5py dataset's chunking and filters to zarr codecs for ``zarr_format``."""
    plist = dataset.id.get_create_plist()  # one property list for the layout and the filters
    chunks = tuple(int(c) for c in plist.get_chunk()) if plist.get_layout() == _H5D_CHUNKED else None
    pipeline = hdf5_filters(dataset, plist=plist)
    ids = [fid for fid, _ in pipeline]
    dtype = np.dtype(dataset.dtype)
    plain = dtype.kind in "biuf" and dtype.byteorder in ("<", "=", "|") and dtype.names is None
    # uncompressed or unmappable numeric sources: blosc-lz4 with byte shuffle, fast to write and read
    fallback = (_fast_default(max(1, dtype.itemsize), zarr_format),) if dtype.kind in "biuf" else "default"
    if not pipeline:
        return SourceLayout(chunks, fallback, (), None, ())
    unmapped = tuple(
        FILTER_NAMES.get(fid, f"hdf5 filter {fid}")
        for fid in ids
        if fid not in (DEFLATE, SHUFFLE, FLETCHER32, BLOSC, ZSTD)
    )
    if unmapped:
        return SourceLayout(chunks, fallback, (), None, unmapped)
    checksum = FLETCHER32 in ids
    ids_wo_check = [fid for fid in ids if fid != FLETCHER32]
    values = dict(pipeline)
    itemsize = max(1, dtype.itemsize)
    compressors: tuple[Any, ...]
    filters: tuple[Any, ...] = ()
    raw: RawMode | None = None
    if ids_wo_check == [DEFLATE]:
        level = _first(values[DEFLATE], 4)
        if zarr_format == 2:
            compressors, raw = (numcodecs.Zlib(level=level),), "copy"
        else:
            compressors, raw = (zarr.codecs.GzipCodec(level=level),), "zlib-to-gzip"
    elif ids_wo_check == [SHUFFLE, DEFLATE]:
        level = _first(values[DEFLATE], 4)
        if zarr_format == 2:
            filters, compressors, raw = (
                (numcodecs.Shuffle(elementsize=itemsize),),
                (numcodecs.Zlib(level=level),),
                "copy",
            )
        else:  # byte shuffle + deflate, as a spec codec (recompressed: blosc frames differ from HDF5's)
            compressors = (
                zarr.codecs.BloscCodec(
                    cname="zlib", clevel=min(level, 9), shuffle="shuffle", typesize=itemsize
                ),
            )
    elif ids_wo_check == [BLOSC]:
        compressors, raw = (_blosc(values[BLOSC], itemsize, zarr_format),), "copy"
    elif ids_wo_check == [ZSTD]:
        level = _first(values[ZSTD], 3)
        compressors = (
            (numcodecs.Zstd(level=level),) if zarr_format == 2 else (zarr.codecs.ZstdCodec(level=level),)
        )
        raw = "copy"
    elif ids_wo_check == [SHUFFLE]:
        compressors = (_shuffled_zstd(itemsize, zarr_format),)
    elif not ids_wo_check:
        compressors = ()
    else:  # a known filter in an unusual order or combination: decode, keep the compressor family
        compressors = (_shuffled_zstd(itemsize, zarr_format),)
    if checksum:
        raw = None  # HDF5 appends its own checksum to each chunk
        if zarr_format == 3:
            compressors = (*compressors, zarr.codecs.Crc32cCodec())
    if raw is not None and not (plain and chunks is not None):
        raw = None
    return SourceLayout(chunks, compressors, filters, raw, ())


def _first(values: tuple[int, ...], default: int) -> int:
    return int(values[0]) if values else default


def _blosc(values: tuple[int, ...], itemsize: int, zarr_format: int) -> Any:
    # cd_values: filter revision, blosc format version, typesize, buffer size, clevel, shuffle, compressor
    clevel = values[4] if len(values) > 4 else 5
    shuffle = values[5] if len(values) > 5 else 1
    cname = _BLOSC_CNAMES.get(values[6] if len(values) > 6 else 0, "blosclz")
    typesize = values[2] if len(values) > 2 and values[2] > 0 else itemsize
    if zarr_format == 2:
        return numcodecs.Blosc(cname=cname, clevel=clevel, shuffle=shuffle)
    return zarr.codecs.BloscCodec(
        cname=cname,  # type: ignore[arg-type]
        clevel=clevel,
        shuffle=_BLOSC_SHUFFLES.get(shuffle, "shuffle"),
        typesize=typesize,
    )


@functools.lru_cache(maxsize=64)
def _fast_default(itemsize: int, zarr_format: int) -> Any:
    if zarr_format == 2:
        return numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)
    return zarr.codecs.BloscCodec(cname="lz4", clevel=5, shuffle="shuffle", typesize=itemsize)


def _shuffled_zstd(itemsize: int, zarr_format: int) -> Any:
    if zarr_format == 2:
        return numcodecs.Blosc(cname="zstd", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)
    return zarr.codecs.BloscCodec(cname="zstd", clevel=5, shuffle="shuffle", typesize=itemsize)
