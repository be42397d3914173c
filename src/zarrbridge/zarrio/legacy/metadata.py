"""Zarr v2 metadata of legacy hdmf-zarr files, parsed from the JSON documents themselves.

zarr-python 3 cannot open many legacy arrays (``pickle``/``json2`` object codecs, ``vlen-bytes`` arrays with
``fill_value: 0``, and therefore the consolidated ``.zmetadata`` that lists them), so the documents are read
and validated here, and every problem is reported with the key and the file it was found in.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import CorruptMetadataError, UnsupportedFormatVersionError

__all__ = ["ArrayMeta", "check_zarr_format", "join_key", "parse_document"]

ZARR_FORMAT = 2
CONSOLIDATED_FORMAT = 1
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def join_key(path: str, name: str) -> str:
    """The store key of ``name`` below the node at ``path`` (``""`` or ``"/"`` is the root)."""
    stripped = path.strip("/")
    return f"{stripped}/{name}" if stripped else name


def parse_document(raw: bytes, key: str, where: str) -> dict[str, Any]:
    """Parse one JSON metadata document; it must be a JSON object."""
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptMetadataError(key, f"not valid JSON ({exc})", where) from exc
    if not isinstance(doc, dict):
        raise CorruptMetadataError(key, f"expected a JSON object, got {type(doc).__name__}", where)
    return doc


def check_zarr_format(doc: dict[str, Any], key: str, where: str) -> None:
    """``.zgroup``/``.zarray`` must say ``zarr_format: 2``."""
    found = doc.get("zarr_format")
    if found is None:
        raise CorruptMetadataError(key, "it has no 'zarr_format'", where)
    if found != ZARR_FORMAT:
        raise UnsupportedFormatVersionError(f"{where} ({key})", found, (ZARR_FORMAT,))


def check_consolidated(doc: dict[str, Any], where: str) -> dict[str, Any]:
    """The ``metadata`` mapping of a ``.zmetadata`` document."""
    found = doc.get("zarr_consolidated_format")
    if found != CONSOLIDATED_FORMAT:
        raise UnsupportedFormatVersionError(f"{where} (.zmetadata)", found, (CONSOLIDATED_FORMAT,))
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict) or not all(isinstance(v, dict) for v in metadata.values()):
        raise CorruptMetadataError(".zmetadata", "'metadata' must map keys to JSON objects", where)
    return metadata


def _int_tuple(value: Any, name: str, key: str, where: str, *, positive: bool) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise CorruptMetadataError(key, f"{name!r} must be a list of integers, got {value!r}", where)
    if any(v < (1 if positive else 0) for v in value):
        raise CorruptMetadataError(
            key, f"{name!r} has a {'non-positive' if positive else 'negative'} entry: {value!r}", where
        )
    return tuple(value)


def _dtype(value: Any, key: str, where: str) -> np.dtype[Any]:
    spec: Any = value
    if isinstance(value, list):
        if not all(isinstance(f, list) and len(f) in (2, 3) and isinstance(f[0], str) for f in value):
            raise CorruptMetadataError(key, f"malformed structured dtype {value!r}", where)
        spec = [
            (f[0], _dtype(f[1], key, where), tuple(f[2])) if len(f) == 3 else (f[0], _dtype(f[1], key, where))
            for f in value
        ]
    elif not isinstance(value, str):
        raise CorruptMetadataError(key, f"'dtype' must be a string or a field list, got {value!r}", where)
    try:
        dtype: np.dtype[Any] = np.dtype(spec)
        return dtype
    except (TypeError, ValueError) as exc:
        raise CorruptMetadataError(key, f"unknown dtype {value!r} ({exc})", where) from exc


def _codec_config(value: Any, name: str, key: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("id"), str):
        raise CorruptMetadataError(key, f"{name} must be an object with a string 'id', got {value!r}", where)
    return value


@dataclass(frozen=True)
class ArrayMeta:
    """The validated content of one ``.zarray`` document.

    Parameters
    ----------
    shape, chunks
        Array and chunk shape (same length).
    dtype
        The stored numpy dtype (``object`` for vlen strings, references and pickled records).
    compressor
        numcodecs configuration of the compressor, or ``None``.
    filters
        numcodecs configurations of the filters, in encoding order.
    fill_value
        The decoded fill value, or ``None`` when the array has none (missing chunks are then an error).
    order
        ``"C"`` or ``"F"``.
    separator
        The chunk key separator, ``"."`` (default) or ``"/"``.
    """

    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: np.dtype[Any]
    compressor: dict[str, Any] | None
    filters: tuple[dict[str, Any], ...]
    fill_value: Any
    order: str
    separator: str

    @classmethod
    def from_document(cls, doc: dict[str, Any], key: str, where: str) -> ArrayMeta:
        """Validate a parsed ``.zarray`` document."""
        check_zarr_format(doc, key, where)
        for field in ("shape", "chunks", "dtype"):
            if field not in doc:
                raise CorruptMetadataError(key, f"it has no {field!r}", where)
        shape = _int_tuple(doc["shape"], "shape", key, where, positive=False)
        chunks = _int_tuple(doc["chunks"], "chunks", key, where, positive=True)
        if len(chunks) != len(shape):
            raise CorruptMetadataError(key, f"chunks {list(chunks)} do not match shape {list(shape)}", where)
        dtype = _dtype(doc["dtype"], key, where)
        compressor = doc.get("compressor")
        if compressor is not None:
            compressor = _codec_config(compressor, "'compressor'", key, where)
        filters = doc.get("filters") or []
        if not isinstance(filters, list):
            raise CorruptMetadataError(key, f"'filters' must be a list or null, got {filters!r}", where)
        order = doc.get("order", "C")
        if order not in ("C", "F"):
            raise CorruptMetadataError(key, f"'order' must be 'C' or 'F', got {order!r}", where)
        separator = doc.get("dimension_separator") or "."
        if separator not in (".", "/"):
            raise CorruptMetadataError(
                key, f"'dimension_separator' must be '.' or '/', got {separator!r}", where
            )
        return cls(
            shape=shape,
            chunks=chunks,
            dtype=dtype,
            compressor=compressor,
            filters=tuple(_codec_config(f, "each filter", key, where) for f in filters),
            fill_value=_fill_value(doc.get("fill_value"), dtype, key, where),
            order=order,
            separator=separator,
        )

    @property
    def filter_ids(self) -> tuple[str, ...]:
        return tuple(str(f["id"]) for f in self.filters)

    def chunk_key(self, index: tuple[int, ...]) -> str:
        """The key (relative to the array) of the chunk at grid position ``index``."""
        return self.separator.join(str(i) for i in index) if index else "0"


def _fill_value(value: Any, dtype: np.dtype[Any], key: str, where: str) -> Any:
    """The fill value as a numpy value; ``None`` when there is none or it cannot stand for data (object)."""
    if value is None or dtype.hasobject:
        return None  # object arrays: a missing chunk never holds only fill values (hdmf-zarr writes 0 there)
    try:
        if dtype.kind == "f" and isinstance(value, str):
            return dtype.type(_NON_FINITE[value])
        if dtype.kind in "SVU" or dtype.names is not None:
            if not isinstance(value, str):
                raise TypeError("expected a base64 string")
            raw = base64.standard_b64decode(value)
            if dtype.kind == "U":
                return np.frombuffer(raw, dtype=dtype)[0] if raw else dtype.type("")
            padded = raw.ljust(dtype.itemsize, b"\0")[: dtype.itemsize]
            return np.frombuffer(padded, dtype=dtype)[0]
        if dtype.kind == "c":
            real, imag = (_NON_FINITE.get(v, v) for v in value)
            return dtype.type(complex(real, imag))
        if dtype.kind in "mM":
            return np.array(int(value), dtype="i8").view(dtype)[()]
        return np.array(value, dtype=dtype)[()]
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise CorruptMetadataError(
            key, f"fill_value {value!r} does not fit dtype {dtype} ({exc})", where
        ) from exc
