"""Preparing containers read from Zarr for an export to HDF5: chunk-wise copies, compression kept.

``HDF5IO`` would read a zarr array whole before writing it. :func:`prepare_for_hdf5` wraps every zarr array
field of the containers in an ``H5DataIO`` around a :class:`ZarrBlockIterator`, so the copy goes block by
block (memory bounded by one buffer) and keeps the source's chunk shape; gzip maps to HDF5's deflate filter,
other codecs (zstd, blosc) have no portable HDF5 filter and are reported, their data stored with gzip.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import zarr
import zarr.codecs
from hdmf.backends.hdf5 import H5DataIO
from hdmf.container import AbstractContainer, Container, Data
from hdmf.data_utils import GenericDataChunkIterator

_log = logging.getLogger(__name__)

DEFAULT_GZIP_LEVEL = 4
BUFFER_BYTES = 64 * 1024 * 1024


class ZarrBlockIterator(GenericDataChunkIterator):  # type: ignore[misc]
    """Iterates a chunked array (zarr, legacy zarr v2) in buffers aligned to its chunks, for chunked writes.

    ``stop``, called before each buffer is read, raises to end the write early (a destination whose disk
    filled up: :meth:`zarrbridge.hdf5files.GuardedFile.raise_failure`); ``progress`` is called with the bytes
    of each block read.
    """

    def __init__(
        self,
        data: Any,
        buffer_bytes: int = BUFFER_BYTES,
        progress: Callable[[int], None] | None = None,
        stop: Callable[[], None] | None = None,
    ) -> None:
        self._array = data
        self._progress = progress
        self._stop = stop
        chunks = tuple(int(c) for c in data.chunks)
        itemsize = max(1, data.dtype.itemsize)
        buffer = list(chunks)
        for axis in range(data.ndim):  # grow whole chunks along leading axes up to the byte budget
            while buffer[axis] < data.shape[axis] and math.prod(buffer) * itemsize * 2 <= buffer_bytes:
                buffer[axis] = min(buffer[axis] * 2, data.shape[axis])
            if buffer[axis] < data.shape[axis]:
                break
        chunk_shape = tuple(min(c, max(1, s)) for c, s in zip(chunks, data.shape))
        buffer_shape = tuple(min(b, max(1, s)) for b, s in zip(buffer, data.shape))
        super().__init__(chunk_shape=chunk_shape, buffer_shape=buffer_shape, display_progress=False)

    def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray[Any, Any]:
        if self._stop is not None:
            self._stop()
        block = np.asarray(self._array[selection])
        if self._progress is not None:
            self._progress(int(block.nbytes))
        return block

    def _get_maxshape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self._array.shape)

    def _get_dtype(self) -> np.dtype[Any]:
        dtype: np.dtype[Any] = np.dtype(self._array.dtype)
        return dtype


def hdf5_options(array: zarr.Array[Any]) -> tuple[dict[str, Any], str | None]:
    """``H5DataIO`` options for a zarr array, and the name of a codec that had no HDF5 counterpart."""
    options: dict[str, Any] = {}
    unmapped: str | None = None
    if _own_default(tuple(array.compressors)):
        return options, None  # written uncompressed, as the source was (or as NWBHDF5IO writes by default)
    for codec in array.compressors:
        if isinstance(codec, zarr.codecs.GzipCodec):
            options.update(compression="gzip", compression_opts=int(codec.level))
        elif isinstance(codec, zarr.codecs.BloscCodec):
            shuffle = codec.shuffle is not None and _setting(codec.shuffle) != "noshuffle"
            # byte shuffle + deflate: exactly HDF5's shuffle + gzip filters
            if _setting(codec.cname) == "zlib":
                options.update(compression="gzip", compression_opts=int(codec.clevel), shuffle=shuffle)
            else:
                options.update(compression="gzip", compression_opts=DEFAULT_GZIP_LEVEL, shuffle=shuffle)
                unmapped = "blosc"
        elif isinstance(codec, zarr.codecs.Crc32cCodec):
            options.update(fletcher32=True)  # HDF5's own per-chunk checksum
        elif getattr(codec, "codec_id", None) in ("zlib", "gzip"):
            options.update(
                compression="gzip", compression_opts=int(getattr(codec, "level", DEFAULT_GZIP_LEVEL))
            )
        else:
            options.update(compression="gzip", compression_opts=DEFAULT_GZIP_LEVEL)
            unmapped = _codec_name(codec)
    return options, unmapped


def _own_default(compressors: tuple[Any, ...]) -> bool:
    """Whether ``compressors`` are what zarrbridge chose itself, not something a user asked for.

    blosc-lz4 (level 5, byte shuffle) is what export picks for an uncompressed HDF5 source; zstd level 0 is
    zarr's default for a plain write. Neither has an HDF5 counterpart, and neither says the data should be
    compressed in HDF5: such arrays go back uncompressed, without a warning, so that HDF5 -> Zarr -> HDF5
    keeps uncompressed datasets uncompressed.
    """
    if len(compressors) != 1:
        return False
    codec = compressors[0]
    if isinstance(codec, zarr.codecs.BloscCodec):
        return (_setting(codec.cname), int(codec.clevel), _setting(codec.shuffle)) == ("lz4", 5, "shuffle")
    if isinstance(codec, zarr.codecs.ZstdCodec):
        return int(codec.level) == 0 and not codec.checksum
    return False


def _setting(value: Any) -> str:
    """A blosc setting as text: zarr 3.1 holds enums, zarr >= 3.2 plain strings."""
    return str(getattr(value, "value", value))


def _codec_name(codec: Any) -> str:
    to_dict = getattr(codec, "to_dict", None)
    if to_dict is not None:
        return str(to_dict().get("name", type(codec).__name__))
    return str(getattr(codec, "codec_id", type(codec).__name__))


def _numeric_zarr(value: Any) -> bool:
    return isinstance(value, zarr.Array) and value.ndim > 0 and value.dtype.kind in "biuf" and value.size > 0


def prepare_for_hdf5(
    root: AbstractContainer,
    *,
    progress: Callable[[int], None] | None = None,
    stop: Callable[[], None] | None = None,
) -> list[tuple[str, str]]:
    """Wrap the numeric zarr arrays held by ``root`` and its descendants for a chunk-wise HDF5 export.

    ``progress`` is called with the bytes of each block read for the export. Returns ``(object path, codec
    name)`` for codecs stored differently (as gzip) in HDF5. ``stop`` is given to every
    :class:`ZarrBlockIterator`.
    """
    unmapped: list[tuple[str, str]] = []
    objects = [root, *root.all_children()] if hasattr(root, "all_children") else [root]
    for obj in objects:
        if isinstance(obj, Data):
            if _numeric_zarr(obj.data):
                unmapped.extend(_wrap(obj, None, progress, stop))
        elif isinstance(obj, Container):
            for name, value in list(obj.fields.items()):
                if _numeric_zarr(value):
                    unmapped.extend(_wrap(obj, name, progress, stop))
    return unmapped


def _wrap(
    obj: Container | Data,
    field_name: str | None,
    progress: Callable[[int], None] | None,
    stop: Callable[[], None] | None,
) -> list[tuple[str, str]]:
    array = obj.data if field_name is None else obj.fields[field_name]
    options, codec = hdf5_options(array)
    options["chunks"] = tuple(min(int(c), int(s)) for c, s in zip(array.chunks, array.shape))
    iterator: dict[str, Any] = {"progress": progress, "stop": stop}
    if field_name is None:
        assert isinstance(obj, Data)
        obj.set_data_io(
            H5DataIO,
            options,
            data_chunk_iterator_class=ZarrBlockIterator,
            data_chunk_iterator_kwargs=iterator,
        )
    else:
        assert isinstance(obj, Container)
        obj.set_data_io(
            field_name,
            H5DataIO,
            options,
            data_chunk_iterator_class=ZarrBlockIterator,
            data_chunk_iterator_kwargs=iterator,
        )
    where = "/" + array.path.strip("/")
    _log.info(
        "HDF5 export of %s: chunks %s, %s",
        where,
        options["chunks"],
        f"compression {options['compression']} level {options.get('compression_opts')}"
        if "compression" in options
        else "uncompressed",
    )
    return [(where, codec)] if codec else []
