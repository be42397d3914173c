"""The completeness marker: every chunk of the array is stored, so a missing one is damage.

zarrbridge writes every chunk of an array (``write_empty_chunks=True``) and says so with the array attribute
:data:`COMPLETE_ATTRIBUTE` (``"_zarrbridge_chunks": "complete"``). This module holds the marker, how errors
name an array, the check of an array's own metadata document against the metadata it was opened with, and
the missing-chunk option. The readers that apply them are in :mod:`zarrbridge.core.checkedpipeline`
(zarr's decode path) and :mod:`zarrbridge.core.chunkio` (the fast path); :mod:`zarrbridge.core.integrity`
gives the overview.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import zarr

from ..errors import CorruptMetadataError, InvalidOptionError
from .structdtype import reread_compound_document

__all__ = [
    "COMPLETE",
    "COMPLETE_ATTRIBUTE",
    "array_what",
    "check_document",
    "check_missing_chunks",
    "is_complete",
    "mark_complete",
    "metadata_key",
]

COMPLETE_ATTRIBUTE = "_zarrbridge_chunks"
COMPLETE = "complete"
# the parts of an array document that decide what its chunks decode to
_COMPARED_V3 = ("shape", "data_type", "chunk_grid", "chunk_key_encoding", "codecs", "fill_value")
_COMPARED_V2 = ("shape", "dtype", "chunks", "compressor", "filters", "order", "dimension_separator")


def mark_complete(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """``attributes`` plus the marker that says every chunk of the array is stored."""
    return {**(attributes or {}), COMPLETE_ATTRIBUTE: COMPLETE}


def is_complete(array: zarr.Array[Any] | zarr.AsyncArray[Any]) -> bool:
    """Whether ``array`` carries the marker: every chunk of its shape is stored, none may be missing."""
    attributes = array.metadata.attributes
    return isinstance(attributes, Mapping) and attributes.get(COMPLETE_ATTRIBUTE) == COMPLETE


def array_what(array: zarr.Array[Any] | zarr.AsyncArray[Any]) -> str:
    """How errors name an array: ``array '/acquisition/ts/data'``."""
    return f"array {'/' + array.store_path.path.strip('/')!r}"


def metadata_key(array: zarr.Array[Any] | zarr.AsyncArray[Any]) -> str:
    """The store key of the array's own metadata document (``zarr.json`` or ``.zarray``)."""
    name = "zarr.json" if array.metadata.zarr_format == 3 else ".zarray"
    prefix = array.store_path.path.strip("/")
    return f"{prefix}/{name}" if prefix else name


def check_document(
    array: zarr.Array[Any] | zarr.AsyncArray[Any], raw: bytes | None, *, location: object
) -> None:
    """Raise :class:`CorruptMetadataError` unless the stored document ``raw`` agrees with ``array.metadata``.

    ``raw`` is the content of :func:`metadata_key` (``None`` when it is missing). Attributes may differ (an
    append updates them); shape, data type, chunking and codecs may not.
    """
    key = metadata_key(array)
    if raw is None:
        raise CorruptMetadataError(
            key, "the array is listed in the consolidated metadata but its own document is missing", location
        )
    try:
        own = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptMetadataError(key, f"not valid JSON ({exc})", location) from exc
    if not isinstance(own, dict):
        raise CorruptMetadataError(key, "not a JSON object", location)
    opened = json.loads(json.dumps(array.metadata.to_dict(), allow_nan=True, default=str))
    own = reread_compound_document(
        own
    )  # compounds: "structured" as written, "struct" as zarr >= 3.2 reads it
    fields = _COMPARED_V3 if array.metadata.zarr_format == 3 else _COMPARED_V2
    for name in fields:
        if name not in own and name not in opened:
            continue
        mine, theirs = _normal(opened.get(name)), _normal(own.get(name))
        if mine != theirs:
            raise CorruptMetadataError(
                key,
                f"its {name!r} is {own.get(name)!r} but the consolidated metadata says {opened.get(name)!r}; "
                "the two disagree, so neither can be trusted",
                location,
            )


def _normal(value: Any) -> Any:
    """JSON values compared structurally (tuples and lists alike; codecs with default fields dropped)."""
    if isinstance(value, (list, tuple)):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in sorted(value.items()) if v is not None}
    return value


def check_missing_chunks(value: object, *, owner: str) -> Literal["error", "fill"]:
    """``value`` as a missing-chunk policy (``"error"`` or ``"fill"``), else :class:`InvalidOptionError`."""
    if value == "error" or value == "fill":
        return "error" if value == "error" else "fill"
    raise InvalidOptionError(
        f"{owner}: missing_chunks must be 'error' (a missing chunk is an error) or 'fill' (it reads as the "
        f"fill value, for files other tools wrote with unwritten regions), not {value!r}"
    )
