"""Decoding the chunks of legacy (zarr v2) arrays without running pickle code.

A chunk is decompressed, then its filters are undone in reverse order. Object codecs are decoded here:
``vlen-utf8``/``vlen-bytes`` through numcodecs, ``json2``/``json`` as plain JSON, and ``pickle`` only through
:func:`zarrbridge.core.safe_pickle.restricted_loads` with the allow-list :data:`LEGACY_PICKLE_GLOBALS`
(numpy's array and record reconstruction) plus :class:`LegacyReference` standing in for
``hdmf_zarr.utils.ZarrReference``. Anything else a pickle asks for raises
:class:`~zarrbridge.errors.UnsafePickleError` before it is called.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

import numcodecs
import numpy as np
from numcodecs.abc import Codec

from ...core.safe_pickle import NUMPY_ARRAY_GLOBALS, restricted_loads
from ...errors import CorruptMetadataError, UnknownCodecError, UnsafePickleError
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


class LegacyReference(dict[str, Any]):
    """A decoded ``hdmf_zarr.utils.ZarrReference``: a dict with ``source``, ``path``, ``object_id``..."""


def unpickle_legacy(data: bytes, *, what: str) -> Any:
    """Unpickle a legacy object-array payload with the restricted allow-list.

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

    @classmethod
    def resolve(cls, meta: ArrayMeta, *, what: str, where: str) -> ChunkCodecs:
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
        return cls(meta, compressor, tuple(filters), what, where)

    def decode(self, raw: bytes, key: str) -> np.ndarray[Any, Any]:
        """Decode the bytes of chunk ``key`` into an array of the chunk shape and the stored dtype."""
        meta = self.meta
        label = f"{self.what} chunk {key}"
        data: Any = raw
        try:
            if self.compressor is not None:
                data = self.compressor.decode(data)
            for config, codec in zip(reversed(meta.filters), reversed(self.filters)):
                if codec is None:
                    data = self._object_codec(str(config["id"]), bytes(data), label)
                else:
                    data = codec.decode(data)
        except (UnsafePickleError, CorruptMetadataError, UnknownCodecError):
            raise
        except (RuntimeError, ValueError, TypeError, OverflowError, OSError, EOFError, zlib.error) as exc:
            # what numcodecs' codecs raise on damaged bytes (gzip: OSError, zlib: zlib.error, blosc: RuntimeError)
            raise CorruptMetadataError(
                label, f"cannot be decoded ({type(exc).__name__}: {exc})", self.where
            ) from exc
        return self._shaped(data, label)

    def _shaped(self, data: Any, label: str) -> np.ndarray[Any, Any]:
        meta = self.meta
        count = int(np.prod(meta.chunks)) if meta.chunks else 1
        if meta.dtype.hasobject:
            arr = np.asarray(data)
            if arr.dtype != meta.dtype and arr.dtype.kind == "O" and meta.dtype.names is not None:
                arr = _records(arr.reshape(-1), meta.dtype, label, self.where)
            elif arr.dtype.kind != "O" and meta.dtype.names is None:
                raise CorruptMetadataError(label, f"decodes to {arr.dtype}, not objects", self.where)
        else:
            buffer = np.frombuffer(
                memoryview(data).cast("B") if not isinstance(data, np.ndarray) else data.view("B"), dtype="B"
            )
            if buffer.size != count * meta.dtype.itemsize:
                raise CorruptMetadataError(
                    label, f"holds {buffer.size} bytes, expected {count * meta.dtype.itemsize}", self.where
                )
            arr = buffer.view(meta.dtype)
        if arr.size != count:
            raise CorruptMetadataError(label, f"decodes to {arr.size} items, expected {count}", self.where)
        return arr.reshape(meta.chunks, order=meta.order)  # type: ignore[call-overload,no-any-return]

    def _object_codec(self, codec_id: str, payload: bytes, label: str) -> np.ndarray[Any, Any]:
        if codec_id == "pickle":
            value = unpickle_legacy(payload, what=label)
            if not isinstance(value, np.ndarray):
                raise CorruptMetadataError(
                    label, f"the pickle holds a {type(value).__name__}, not an array", self.where
                )
            return value
        try:
            items = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CorruptMetadataError(label, f"not valid JSON ({exc})", self.where) from exc
        if not isinstance(items, list) or len(items) < 2:
            raise CorruptMetadataError(
                label, "expected the numcodecs JSON layout [*items, dtype, shape]", self.where
            )
        out = np.empty(len(items) - 2, dtype=object)
        for i, item in enumerate(items[:-2]):
            out[i] = item
        return out


def _records(
    values: np.ndarray[Any, Any], dtype: np.dtype[Any], label: str, where: str
) -> np.ndarray[Any, Any]:
    """Object elements (JSON lists, tuples) as a structured array of ``dtype``."""
    out = np.empty(values.size, dtype=dtype)
    width = len(dtype.names or ())
    for i, row in enumerate(values):
        fields = row.tolist() if isinstance(row, np.void) else row
        if not isinstance(fields, (list, tuple)) or len(fields) != width:
            raise CorruptMetadataError(label, f"row {i} is {row!r}, expected {width} fields", where)
        out[i] = tuple(fields)
    return out
