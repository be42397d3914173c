"""Rows of a ``<zarr@>`` column written by dj-zarr-codecs, DataJoint's own ``zarr`` codec package.

dj-zarr-codecs keeps in the row ``{path, store, shape, dtype}`` (releases before its "provenance column"
change) or ``{path, store, shape, dtype, provenance: {"datajoint-python": ..., "dj-zarr-codecs": ...}}``, and
under ``path`` a plain zarr array with zarr-python's defaults: zarr v3 (``zarr.json``, ``c/0/0``) when written
with zarr-python 3, zarr v2 (``.zarray``, ``0.0``) with zarr-python 2 (the layout DataJoint's documentation
shows). Such an array carries no zarrbridge attribute and no format version; its chunks were written with
zarr's default ``write_empty_chunks=False``, so a chunk that is not stored legitimately means "all fill
value" there (unlike arrays zarrbridge writes, which store every chunk).

The paths are DataJoint's schema-addressed paths (``SchemaCodec._build_path``), the same as zarrbridge's, so
DataJoint's garbage collector keeps these arrays while rows reference them whichever package is installed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import zarr
from zarr.abc.store import Store
from zarr.storage import StorePath

from ..errors import CorruptMetadataError, ForeignRowError, NodeNotFoundError
from .stores import StoreTarget

__all__ = ["DJ_ZARR_CODECS", "foreign_row_reason", "is_dj_zarr_codecs_row", "open_plain_array", "refuse_row"]

#: The distribution whose rows ``<zarr@>`` reads.
DJ_ZARR_CODECS = "dj-zarr-codecs"
_ROW_KEYS = frozenset({"path", "store", "shape", "dtype", "provenance"})


def is_dj_zarr_codecs_row(row: Mapping[str, Any]) -> bool:
    """Whether ``row`` has exactly the shape of a row dj-zarr-codecs writes (either of its releases)."""
    if "codec" in row or "format_version" in row or not set(row) <= _ROW_KEYS:
        return False
    if not {"path", "shape", "dtype"} <= set(row):
        return False
    shape, dtype, provenance = row.get("shape"), row.get("dtype"), row.get("provenance")
    if not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
        return False
    if not isinstance(dtype, str):
        return False
    return provenance is None or (isinstance(provenance, dict) and DJ_ZARR_CODECS in provenance)


def foreign_row_reason(row: Mapping[str, Any], *, codec: str) -> str:
    """Why ``row`` is neither a zarrbridge ``<codec>`` row nor a dj-zarr-codecs one, for the error message."""
    if "codec" in row:
        return f"its JSON names codec {row.get('codec')!r}, not {codec!r}"
    known = (
        "; dj-zarr-codecs rows have path, store, shape, dtype and optionally provenance"
        if codec == "zarr"
        else ""
    )
    return (
        f"its JSON has keys {sorted(str(k) for k in row)} but no 'codec' and 'format_version', which every "
        f"zarrbridge <{codec}> row has{known}"
    )


def open_plain_array(
    target: StoreTarget, path: str, *, make_store: Callable[[], Store], column: str
) -> zarr.Array[Any]:
    """Open the zarr v3 or v2 array at ``path`` of ``target`` read-only (no zarrbridge checks).

    ``make_store`` gives the read-only store the array reads its chunks from (called once the metadata was
    found).

    Raises
    ------
    NodeNotFoundError
        Neither ``zarr.json`` nor ``.zarray`` is there.
    CorruptMetadataError
        The metadata document is not a zarr array's.
    """
    from .base import parse_metadata

    try:
        raw = target.read_object(path, "zarr.json")
    except FileNotFoundError:
        raw = None
    if raw is not None:
        metadata = parse_metadata(raw, where=f"{path}/zarr.json", store_label=target.label)
        return zarr.Array(zarr.AsyncArray(metadata=metadata, store_path=StorePath(make_store())))
    try:
        target.read_object(path, ".zarray")
    except FileNotFoundError as exc:
        raise NodeNotFoundError(
            path,
            target.label,
            f"The {column} row references an array that is not in the store (no zarr.json or .zarray); "
            "restore it from a backup or delete the row.",
        ) from exc
    try:
        return zarr.open_array(store=make_store(), mode="r", zarr_format=2)
    except (ValueError, TypeError, KeyError, json.JSONDecodeError) as exc:
        raise CorruptMetadataError(f"{path}/.zarray", f"{type(exc).__name__}: {exc}", target.label) from exc


def refuse_row(row: Any, *, codec: str) -> ForeignRowError:
    """The error for a row of the ``<codec>`` column that no reader here understands."""
    reason = (
        foreign_row_reason(row, codec=codec) if isinstance(row, Mapping) else f"it is a {type(row).__name__}"
    )
    return ForeignRowError(f"the <{codec}> column", reason, row)
