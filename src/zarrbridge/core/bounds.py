"""Size bounds for decoding untrusted chunks: nothing is allocated beyond what the array's metadata allows.

A few hundred stored bytes can claim gigabytes: a zlib stream of zeros, a blosc or lz4 header, a zstd frame
header, or a chunk shape of ``2**28`` elements in the metadata itself. The readers call these helpers before
they decode or allocate:

- :func:`check_chunk_nbytes` refuses chunk shapes whose decoded size exceeds :data:`MAX_CHUNK_BYTES`;
- :func:`check_allocation` refuses a selection larger than the machine's memory before ``np.empty``;
- :func:`declared_size` reads the size a blosc, lz4 or zstd payload declares (without decoding it);
- :func:`decompress_bounded` decodes with a compressor, stopping at ``limit`` bytes: zlib, gzip, bz2 and lzma
  are inflated incrementally with a maximum output length; blosc, lz4 and zstd have their declared size
  checked first; other compressors (plug-ins) are decoded and their output checked afterwards.

A payload that would produce more than allowed raises :class:`~zarrbridge.errors.ResourceLimitError`; one
that is garbled or truncated raises :class:`~zarrbridge.errors.CorruptChunkError`; both name the chunk key and
the array.
"""

from __future__ import annotations

import bz2
import lzma
import math
import os
import struct
import zlib
from typing import Any

from ..errors import CorruptChunkError, InvalidOptionError, ResourceLimitError

__all__ = [
    "MAX_CHUNK_BYTES",
    "array_chunk_bounds",
    "check_allocation",
    "check_chunk_nbytes",
    "check_encoded_chunk",
    "check_max_bytes",
    "declared_size",
    "decompress_bounded",
    "memory_bytes",
]

MAX_CHUNK_BYTES = 512 * 2**20
"""The largest decoded chunk a reader accepts (zarr's own chunk guesses stay far below it)."""

_ZSTD_MAGIC = 0xFD2FB528
_STEP = 16 * 2**20  # incremental inflation: output produced per call


def memory_bytes() -> int:
    """The machine's physical memory (a selection larger than this can never be read into memory)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - platforms without sysconf
        return 2**40


def check_chunk_nbytes(
    *, chunks: tuple[int, ...], itemsize: int, what: str, limit: int = MAX_CHUNK_BYTES
) -> int:
    """The decoded size of one chunk of ``what``; :class:`ResourceLimitError` when it is above ``limit``."""
    nbytes = math.prod(chunks) * max(int(itemsize), 1)
    if nbytes > limit:
        raise ResourceLimitError(
            f"one chunk of {what} (chunk shape {list(chunks)})",
            nbytes,
            limit,
            "The metadata is damaged or hostile; if the file is genuine, rechunk it with the tool that wrote "
            "it.",
        )
    return nbytes


def check_allocation(
    *, shape: tuple[int, ...], itemsize: int, what: str, max_bytes: int | None = None
) -> None:
    """Refuse reading a selection of ``shape`` that could not fit in this machine's memory, or is larger
    than ``max_bytes`` (a reader's allocation budget, see :func:`check_max_bytes`)."""
    nbytes = math.prod(shape) * max(int(itemsize), 1)
    limit = memory_bytes() if max_bytes is None else min(memory_bytes(), max_bytes)
    if nbytes > limit:
        raise ResourceLimitError(
            f"reading {what} (shape {list(shape)})",
            nbytes,
            limit,
            "Read it in smaller selections (slices along its first axis)"
            + (", or give a larger max_bytes." if max_bytes is not None else "."),
        )


def check_max_bytes(value: object, *, owner: str) -> int | None:
    """``value`` as an allocation budget: ``None`` (the machine's memory) or a positive ``int`` of bytes.

    Raises
    ------
    InvalidOptionError
        Anything else (a bool, a float, a string, zero or less).
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidOptionError(
            f"{owner}: max_bytes must be a positive int (bytes one read may allocate) or None, not {value!r}"
        )
    return value


def declared_size(codec_id: str, data: bytes, *, key: str, what: str, where: object = None) -> int | None:
    """The decoded size ``data`` declares for ``codec_id`` (blosc, lz4, zstd), or ``None`` if it cannot say.

    Raises
    ------
    CorruptChunkError
        The header is truncated or not a header of that codec.
    """

    def corrupt(reason: str) -> CorruptChunkError:
        return CorruptChunkError(key, what, where, f"{codec_id}: {reason}")

    if codec_id == "blosc":
        if len(data) < 16:
            raise corrupt(f"{len(data)} bytes, shorter than a blosc header")
        nbytes, _, cbytes = struct.unpack_from("<III", data, 4)
        if cbytes != len(data):
            raise corrupt(f"the header says {cbytes} compressed bytes, the chunk holds {len(data)}")
        return int(nbytes)
    if codec_id == "lz4":
        if len(data) < 4:
            raise corrupt("shorter than its size header")
        (size,) = struct.unpack_from("<i", data, 0)
        if size < 0:
            raise corrupt(f"negative declared size {size}")
        return int(size)
    if codec_id == "zstd":
        return _zstd_content_size(data, corrupt)
    return None


def _zstd_content_size(data: bytes, corrupt: Any) -> int | None:
    """The frame content size of the first zstd frame (RFC 8878, section 3.1.1.1), ``None`` if absent."""
    if len(data) < 5 or struct.unpack_from("<I", data, 0)[0] != _ZSTD_MAGIC:
        raise corrupt("not a zstd frame")
    descriptor = data[4]
    fcs_flag, single_segment, dict_flag = descriptor >> 6, (descriptor >> 5) & 1, descriptor & 3
    offset = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[dict_flag]
    size = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    if size == 0:
        return None
    if len(data) < offset + size:
        raise corrupt("truncated frame header")
    value = int.from_bytes(data[offset : offset + size], "little")
    return value + 256 if size == 2 else value


def decompress_bounded(
    codec: Any, codec_id: str, data: bytes, *, limit: int, key: str, what: str, where: object = None
) -> Any:
    """``codec.decode(data)``, refusing to produce more than ``limit`` bytes (see the module docstring).

    Raises
    ------
    ResourceLimitError
        The payload decodes (or declares it decodes) to more than ``limit`` bytes.
    CorruptChunkError
        The payload is truncated or garbled.
    """

    def too_big(found: int | str) -> ResourceLimitError:
        return ResourceLimitError(
            f"chunk {key!r} of {what}" + (f" in {where}" if where is not None else ""),
            found if isinstance(found, int) else limit + 1,
            limit,
            f"Its {codec_id} data decompresses to more than its array's chunk holds ({found} bytes); the "
            "file is damaged or hostile.",
        )

    try:
        if codec_id in ("zlib", "gzip"):
            wbits = 31 if codec_id == "gzip" else 15
            return _inflate(
                lambda: zlib.decompressobj(wbits), data, limit, too_big, members=codec_id == "gzip"
            )
        if codec_id == "bz2":
            return _inflate(bz2.BZ2Decompressor, data, limit, too_big, members=True)
        if codec_id == "lzma":
            config: dict[str, Any] = {"format": getattr(codec, "format", lzma.FORMAT_AUTO)}
            if config["format"] == lzma.FORMAT_RAW:
                config["filters"] = getattr(codec, "filters", None)
            return _inflate(lambda: lzma.LZMADecompressor(**config), data, limit, too_big, members=True)
        declared = declared_size(codec_id, data, key=key, what=what, where=where)
        if declared is not None and declared > limit:
            raise too_big(declared)
        if declared is None and codec_id == "zstd":
            raise CorruptChunkError(
                key,
                what,
                where,
                "its zstd frame does not declare its size, so it cannot be decoded within bounds",
            )
        out = codec.decode(data)
    except (ResourceLimitError, CorruptChunkError):
        raise
    except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError, RuntimeError, TypeError) as exc:
        # what the decompressors raise on damaged bytes (blosc: RuntimeError, gzip: OSError)
        raise CorruptChunkError(key, what, where, f"{codec_id}: {type(exc).__name__}: {exc}") from exc
    if memoryview(out).nbytes > limit:
        raise too_big(memoryview(out).nbytes)
    return out


def _inflate(make: Any, data: bytes, limit: int, too_big: Any, *, members: bool) -> bytes:
    """Inflate ``data`` with decompressors from ``make()``, at most ``limit`` bytes in all.

    ``members``: go on after the end of a stream (gzip, bz2 and xz files may hold several).
    """
    parts: list[bytes] = []
    produced = 0
    pending = data
    while pending:
        decompressor = make()
        incremental_input = hasattr(decompressor, "unconsumed_tail")  # zlib; bz2/lzma keep their input
        feed = pending
        while True:
            chunk = decompressor.decompress(feed, min(_STEP, limit - produced + 1))
            produced += len(chunk)
            if produced > limit:
                raise too_big(f"more than {limit}")
            parts.append(chunk)
            if decompressor.eof:
                break
            if incremental_input:
                feed = decompressor.unconsumed_tail
                if not feed and not chunk:
                    raise EOFError("the compressed stream is truncated")
            else:
                if decompressor.needs_input:
                    raise EOFError("the compressed stream is truncated")
                feed = b""
        pending = decompressor.unused_data if members else b""
    return b"".join(parts)


_CODEC_IDS = {"BloscCodec": "blosc", "ZstdCodec": "zstd", "Zstd": "zstd", "Blosc": "blosc", "LZ4": "lz4"}


def check_encoded_chunk(
    codec: Any, data: Any, *, limit: int, key: str, what: str, where: object = None
) -> None:
    """Refuse ``data`` when ``codec`` (the outermost compressor,
    a zarr or numcodecs object) declares too much.

    For zarr's own decode paths, which cannot stop midway: blosc, lz4 and zstd payloads say how much they
    decode to; anything else passes unchecked.
    """
    codec_id = _CODEC_IDS.get(type(codec).__name__)
    if codec_id is None:
        return
    declared = declared_size(codec_id, data, key=key, what=what, where=where)
    if declared is not None and declared > limit:
        raise ResourceLimitError(
            f"chunk {key!r} of {what}" + (f" in {where}" if where is not None else ""),
            declared,
            limit,
            f"Its {codec_id} header declares more than the array's chunk holds; the file is damaged or "
            "hostile.",
        )


def array_chunk_bounds(metadata: Any, *, what: str, limit: int = MAX_CHUNK_BYTES) -> tuple[int, Any]:
    """Check the chunk (and shard) shape an array's metadata declares; the bound for its stored chunks.

    For zarr's own decode path (:func:`zarrbridge.core.integrity.strict_array`), before anything is decoded:
    a chunk, or an inner chunk of a sharded array, above ``limit`` (:data:`MAX_CHUNK_BYTES`), or a shard
    larger than this machine's memory, raises :class:`~zarrbridge.errors.ResourceLimitError`.

    Returns ``(limit, compressor)``: the outermost compressor of a stored (unsharded) chunk, ``None`` when
    there is none to check (sharded arrays: their chunks are read by byte range), and the most its payload may
    declare (the chunk's decoded size; :data:`MAX_CHUNK_BYTES` for variable-size items or size-changing
    filters), for :func:`check_encoded_chunk`.
    """
    from zarr.codecs import Crc32cCodec, ShardingCodec, TransposeCodec
    from zarr.core.metadata.v3 import ArrayV3Metadata

    native = _native_dtype(metadata)
    itemsize = native.itemsize if native is not None else 1
    variable = native is None or native.kind in "OT" or native.hasobject
    if isinstance(metadata, ArrayV3Metadata):
        outer = getattr(metadata.chunk_grid, "chunk_shape", None)  # zarr >= 3.2 also has rectilinear grids
        if outer is None:
            return MAX_CHUNK_BYTES, None
        outer = tuple(int(c) for c in outer)
        codecs = tuple(metadata.codecs)
        sharding = next((c for c in codecs if isinstance(c, ShardingCodec)), None)
        if sharding is not None:
            check_chunk_nbytes(chunks=tuple(sharding.chunk_shape), itemsize=itemsize, what=what, limit=limit)
            check_chunk_nbytes(chunks=outer, itemsize=itemsize, what=f"{what} (shard)", limit=memory_bytes())
            return MAX_CHUNK_BYTES, None
        nbytes = check_chunk_nbytes(chunks=outer, itemsize=itemsize, what=what, limit=limit)
        resizing = any(not isinstance(c, TransposeCodec) for c in metadata.codecs[: _array_bytes(codecs)])
        tail = [c for c in codecs[_array_bytes(codecs) + 1 :] if not isinstance(c, Crc32cCodec)]  # (a suffix)
        compressor = tail[-1] if tail else None
    else:
        nbytes = check_chunk_nbytes(
            chunks=tuple(int(c) for c in metadata.chunks), itemsize=itemsize, what=what
        )
        resizing = bool(metadata.filters)
        compressor = metadata.compressor
    return (limit if variable or resizing else max(nbytes, 1)), compressor


def _array_bytes(codecs: tuple[Any, ...]) -> int:
    """The index of the array -> bytes codec in a v3 codec list."""
    from zarr.abc.codec import ArrayBytesCodec

    return next((i for i, c in enumerate(codecs) if isinstance(c, ArrayBytesCodec)), 0)


def _native_dtype(metadata: Any) -> Any:
    """The array's numpy data type (zarr's data type objects, or a numpy dtype on older zarr 3)."""
    import numpy as np

    dtype = metadata.dtype
    try:
        return dtype.to_native_dtype() if hasattr(dtype, "to_native_dtype") else np.dtype(dtype)
    except (TypeError, ValueError):
        return None
