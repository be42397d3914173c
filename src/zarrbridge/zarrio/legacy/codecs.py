"""Decoding the chunks of legacy (zarr v2) arrays without running pickle code.

A chunk is decompressed, then its filters are undone in reverse order. Object codecs are decoded here:
``vlen-utf8``/``vlen-bytes`` through numcodecs, ``json2``/``json`` as plain JSON, and ``pickle`` only through
:func:`zarrbridge.core.safe_pickle.restricted_loads` with the allow-list :data:`LEGACY_PICKLE_GLOBALS`
(numpy's array and record reconstruction) plus :class:`LegacyReference` standing in for
``hdmf_zarr.utils.ZarrReference``. Anything else a pickle asks for raises
:class:`~zarrbridge.errors.UnsafePickleError` before it is called.

Untrusted sizes are bounded (:mod:`zarrbridge.core.bounds`): a chunk shape whose decoded size exceeds
:data:`~zarrbridge.core.bounds.MAX_CHUNK_BYTES` is refused before anything is read, the compressor may produce
no more than the chunk holds (zlib/gzip/bz2/lzma stop inflating there; blosc, lz4 and zstd headers are checked
first), and a vlen chunk must declare exactly the chunk's element count. Too much is a
:class:`~zarrbridge.errors.ResourceLimitError`; damaged bytes are a
:class:`~zarrbridge.errors.CorruptChunkError` naming the array and the chunk key,
never a raw blosc/zlib error.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

import numcodecs
import numpy as np
from numcodecs.abc import Codec

from ...core.bounds import MAX_CHUNK_BYTES, check_chunk_nbytes, decompress_bounded
from ...core.safe_pickle import NUMPY_ARRAY_GLOBALS, restricted_loads
from ...errors import (
    CorruptChunkError,
    CorruptMetadataError,
    ResourceLimitError,
    UnknownCodecError,
    UnsafePickleError,
)
from .metadata import ArrayMeta

__all__ = ["LEGACY_PICKLE_GLOBALS", "ZARR_REFERENCE", "ChunkCodecs", "LegacyReference", "unpickle_legacy"]

ZARR_REFERENCE = ("hdmf_zarr.utils", "ZarrReference")
#: What a legacy Pickle payload may name: numpy's ndarray/dtype/scalar reconstruction (guarded by the
#: unpickler, see :mod:`zarrbridge.core.safe_numpy`) and the text-to-bytes call of protocols 2 and 3.
LEGACY_PICKLE_GLOBALS: frozenset[tuple[str, str]] = NUMPY_ARRAY_GLOBALS | {
    ("_codecs", "encode"),
    ("codecs", "encode"),
}
OBJECT_CODECS = frozenset({"vlen-utf8", "vlen-bytes", "json2", "json", "pickle"})
_REFUSED = {"pickle": "Pickle payloads are decoded only for object arrays, with the restricted unpickler."}
_VLEN = frozenset({"vlen-utf8", "vlen-bytes", "vlen-array"})
_FILTER_GROWTH = 8  # a filter (astype, packbits...) may undo at most this factor of the compressor's output


class LegacyReference(dict[str, Any]):
    """A decoded ``hdmf_zarr.utils.ZarrReference``: a dict with ``source``, ``path``, ``object_id``..."""


def unpickle_legacy(data: bytes, *, what: str) -> Any:
    """Unpickle a legacy object-array payload with the restricted allow-list.

    Parameters
    ----------
    data : bytes
        The Pickle codec's payload.
    what : str
        The array it belongs to, named in errors.

    Returns
    -------
    object
        The unpickled object array of reference records.

    Raises
    ------
    UnsafePickleError
        The payload names any other global (nothing of it ran). The message names ``what``.
    """
    try:
        return restricted_loads(
            data, allowed=LEGACY_PICKLE_GLOBALS, substitutes={ZARR_REFERENCE: LegacyReference}, what=what
        )
    except UnsafePickleError as exc:
        raise UnsafePickleError(
            f"{what} (a legacy hdmf-zarr Pickle chunk; zarrbridge decodes only numpy arrays of reference "
            "records and never runs other pickle code. If you trust the file, read it with hdmf-zarr and "
            "numcodecs' Pickle codec in an isolated environment and re-export it)",
            exc.global_name,
        ) from None


def _codec(config: dict[str, Any], what: str, where: str) -> Codec:
    codec_id = str(config["id"])
    if codec_id in _REFUSED:
        raise UnknownCodecError(codec_id, what, where, _REFUSED[codec_id])
    try:
        return numcodecs.get_codec(dict(config))
    except ValueError as exc:
        if "codec not available" in str(exc):
            raise UnknownCodecError(codec_id, what, where) from exc
        raise CorruptMetadataError(
            f"{what}/.zarray", f"bad configuration of codec {codec_id!r} ({exc})", where
        ) from exc
    except TypeError as exc:
        raise CorruptMetadataError(
            f"{what}/.zarray", f"bad configuration of codec {codec_id!r} ({exc})", where
        ) from exc


@dataclass(frozen=True)
class ChunkCodecs:
    """The codecs of one array, resolved once; :meth:`decode` turns chunk bytes into a chunk-shaped array."""

    meta: ArrayMeta
    compressor: Codec | None
    filters: tuple[Codec | None, ...]  # None: an object codec decoded here (pickle/json)
    what: str
    where: str
    limit: int  # the most bytes the compressor may produce for one chunk

    @classmethod
    def resolve(cls, meta: ArrayMeta, *, what: str, where: str) -> ChunkCodecs:
        """The codecs of ``meta``; :class:`ResourceLimitError` if one decoded chunk would be too large."""
        expected = check_chunk_nbytes(
            chunks=meta.chunks, itemsize=meta.dtype.itemsize, what=f"{what} in {where}"
        )
        if meta.dtype.hasobject:
            limit = MAX_CHUNK_BYTES
        else:
            limit = expected * _FILTER_GROWTH if meta.filters else expected
        compressor = _codec(meta.compressor, what, where) if meta.compressor is not None else None
        filters: list[Codec | None] = []
        for config in meta.filters:
            codec_id = str(config["id"])
            if codec_id in ("pickle", "json2", "json"):
                if not meta.dtype.hasobject:
                    raise CorruptMetadataError(
                        f"{what}/.zarray", f"object codec {codec_id!r} on a {meta.dtype} array", where
                    )
                filters.append(None)
            else:
                filters.append(_codec(config, what, where))
        if meta.dtype.hasobject and not any(f in OBJECT_CODECS for f in meta.filter_ids):
            raise CorruptMetadataError(
                f"{what}/.zarray",
                f"an object array without an object codec filter (filters: {list(meta.filter_ids)})",
                where,
            )
        return cls(meta, compressor, tuple(filters), what, where, limit)

    def decode(self, raw: bytes, key: str) -> np.ndarray[Any, Any]:
        """Decode the bytes of chunk ``key`` into an array of the chunk shape and the stored dtype.

        Raises
        ------
        CorruptChunkError
            The bytes are garbled, truncated, or decode to the wrong size.
        ResourceLimitError
            They decode (or say they decode) to more than the chunk holds.
        UnsafePickleError
            A Pickle chunk asks for anything but numpy arrays of reference records.
        """
        meta = self.meta
        label = f"{self.what} chunk {key}"
        data: Any = raw
        try:
            if self.compressor is not None:
                data = decompress_bounded(
                    self.compressor,
                    str(meta.compressor["id"]) if meta.compressor else "",
                    bytes(data),
                    limit=self.limit,
                    key=key,
                    what=self.what,
                    where=self.where,
                )
            for config, codec in zip(reversed(meta.filters), reversed(self.filters)):
                codec_id = str(config["id"])
                if codec is None:
                    data = self._object_codec(codec_id, bytes(data), label, key)
                else:
                    if codec_id in _VLEN:
                        self._check_vlen_count(codec_id, data, key)
                    data = codec.decode(data)
        except (UnsafePickleError, CorruptChunkError, ResourceLimitError, UnknownCodecError):
            raise
        except (RuntimeError, ValueError, TypeError, OverflowError, OSError, EOFError, struct.error) as exc:
            # what numcodecs' filters raise on damaged bytes
            raise self._corrupt(key, f"cannot be decoded ({type(exc).__name__}: {exc})") from exc
        return self._shaped(data, key)

    def _corrupt(self, key: str, reason: str) -> CorruptChunkError:
        return CorruptChunkError(key, self.what, self.where, reason)

    def _check_vlen_count(self, codec_id: str, data: Any, key: str) -> None:
        """A vlen chunk starts with its element count: it must be the chunk's
        (numcodecs allocates it first)."""
        raw = memoryview(data).cast("B")
        expected = int(np.prod(self.meta.chunks)) if self.meta.chunks else 1
        if len(raw) < 4:
            raise self._corrupt(key, f"{codec_id}: {len(raw)} bytes, shorter than the item count")
        (count,) = struct.unpack_from("<I", raw, 0)
        if count != expected:
            raise self._corrupt(key, f"{codec_id}: declares {count} items, the chunk holds {expected}")

    def _shaped(self, data: Any, key: str) -> np.ndarray[Any, Any]:
        meta = self.meta
        count = int(np.prod(meta.chunks)) if meta.chunks else 1
        if meta.dtype.hasobject:
            arr = np.asarray(data)
            if arr.dtype != meta.dtype and arr.dtype.kind == "O" and meta.dtype.names is not None:
                arr = _records(arr.reshape(-1), meta.dtype, key, self)
            elif arr.dtype.kind != "O" and meta.dtype.names is None:
                raise self._corrupt(key, f"decodes to {arr.dtype}, not objects")
        else:
            buffer = np.frombuffer(
                memoryview(data).cast("B") if not isinstance(data, np.ndarray) else data.view("B"), dtype="B"
            )
            if buffer.size != count * meta.dtype.itemsize:
                raise self._corrupt(key, f"holds {buffer.size} bytes, expected {count * meta.dtype.itemsize}")
            arr = buffer.view(meta.dtype)
        if arr.size != count:
            raise self._corrupt(key, f"decodes to {arr.size} items, expected {count}")
        return arr.reshape(meta.chunks, order=meta.order)  # type: ignore[call-overload,no-any-return]

    def _object_codec(self, codec_id: str, payload: bytes, label: str, key: str) -> np.ndarray[Any, Any]:
        if codec_id == "pickle":
            try:
                value = unpickle_legacy(payload, what=label)
            except CorruptMetadataError as exc:  # not a valid pickle
                cause = exc.__cause__
                reason = (
                    f"not a valid pickle ({type(cause).__name__}: {cause})" if cause else "not a valid pickle"
                )
                raise self._corrupt(key, reason) from exc
            if not isinstance(value, np.ndarray):
                raise self._corrupt(key, f"the pickle holds a {type(value).__name__}, not an array")
            return value
        try:
            items = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise self._corrupt(key, f"not valid JSON ({exc})") from exc
        if not isinstance(items, list) or len(items) < 2:
            raise self._corrupt(key, "expected the numcodecs JSON layout [*items, dtype, shape]")
        out = np.empty(len(items) - 2, dtype=object)
        for i, item in enumerate(items[:-2]):
            out[i] = item
        return out


def _records(
    values: np.ndarray[Any, Any], dtype: np.dtype[Any], key: str, codecs: ChunkCodecs
) -> np.ndarray[Any, Any]:
    """Object elements (JSON lists, tuples) as a structured array of ``dtype``."""
    out = np.empty(values.size, dtype=dtype)
    width = len(dtype.names or ())
    for i, row in enumerate(values):
        fields = row.tolist() if isinstance(row, np.void) else row
        if not isinstance(fields, (list, tuple)) or len(fields) != width:
            raise codecs._corrupt(key, f"row {i} is {row!r}, expected {width} fields")
        out[i] = tuple(fields)
    return out
