"""Turning builder data and attributes into what zarr stores: paths for references, str for text, rows."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from hdmf.build import Builder, ReferenceBuilder
from hdmf.container import Container

from ..core.jsonattrs import to_json_value
from ..errors import UnsupportedDtypeError
from .convention import (
    MIN_COMPOUND_STR,
    REFERENCE,
    is_ref_dtype,
    numpy_dtype_for,
    spec_dtype_name,
    string_kind,
    to_text,
)

PathOf = Callable[[Any], str]
STRING_DTYPE = np.dtypes.StringDType()


def is_reference(value: Any) -> bool:
    return isinstance(value, (ReferenceBuilder, Builder, Container))


def reference_json(value: Any, path_of: PathOf) -> dict[str, Any]:
    return {REFERENCE: {"source": ".", "path": path_of(value)}}


def attribute_json(value: Any, path_of: PathOf, what: str) -> Any:
    """An attribute value as JSON; references become ``{"_REFERENCE": {...}}`` (lists of them too)."""
    if is_reference(value):
        return reference_json(value, path_of)
    if isinstance(value, (list, tuple)) and value and all(is_reference(v) for v in value):
        return [reference_json(v, path_of) for v in value]  # extension: lists of references
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, np.ndarray) and value.dtype.kind == "O":
        return [attribute_json(v, path_of, what) for v in value.tolist()]
    if isinstance(value, (list, tuple)) and any(
        isinstance(v, (_dt.datetime, _dt.date, bytes)) for v in value
    ):
        return [attribute_json(v, path_of, what) for v in value]
    return to_json_value(value, what=what)


def _rows(data: Any) -> list[Any]:
    if hasattr(data, "resolve") and hasattr(data, "__len__") and not isinstance(data, np.ndarray):
        return list(data[0 : len(data)]) if len(data) else []
    if isinstance(data, np.ndarray):
        return [tuple(r) for r in data.tolist()] if data.ndim else [tuple(data.tolist())]
    return list(data)


def compound_array(
    spec: list[Any], data: Any, path_of: PathOf, what: str
) -> tuple[np.ndarray[Any, Any], list[str]]:
    """Build a structured array from compound rows; reference fields become target paths."""
    fields = [(f["name"], spec_dtype_name(f["dtype"])) for f in spec]
    scalar = isinstance(data, (tuple, np.void)) or (isinstance(data, np.ndarray) and data.ndim == 0)
    rows = [tuple(data)] if scalar and not isinstance(data, np.ndarray) else _rows(data)
    ref_fields = [name for name, d in fields if is_ref_dtype(d)]
    converted: list[tuple[Any, ...]] = []
    widths = {name: MIN_COMPOUND_STR for name, d in fields if is_ref_dtype(d) or string_kind(d)}
    for row in rows:
        if len(row) != len(fields):
            raise UnsupportedDtypeError(
                what, f"row with {len(row)} fields", f"Rows need {len(fields)} fields."
            )
        out = []
        for (name, d), v in zip(fields, row):
            if is_ref_dtype(d):
                v = path_of(v)
            elif string_kind(d):
                v = to_text(v, f"{what} field {name!r}")
            if name in widths:
                widths[name] = max(widths[name], len(v))
            out.append(v)
        converted.append(tuple(out))
    np_fields: list[tuple[str, Any]] = []
    for i, (name, d) in enumerate(fields):
        if name in widths:
            np_fields.append((name, f"<U{widths[name]}"))
            continue
        col = np.asarray([r[i] for r in converted])
        # a declared field dtype is taken as it is (as HDF5IO does): neither Python ints (int64 to numpy),
        # float64 rows nor an empty column widen it; the data decides only where the spec does not
        sample = col if d in (None, "numeric") or not isinstance(d, str) else None
        np_fields.append((name, numpy_dtype_for(d, sample, f"{what} field {name!r}")))
    arr = np.array(converted, dtype=np.dtype(np_fields))
    if scalar:
        arr = arr.reshape(())
    return arr, ref_fields


def text_array(data: Any, what: str) -> np.ndarray[Any, Any]:
    """A (possibly nested) sequence of str/bytes/datetimes as a StringDType array."""
    if isinstance(data, np.ndarray) and data.dtype.kind in "UT":
        return data.astype(STRING_DTYPE)
    arr = np.asarray(_nested_list(data), dtype=object)
    flat = [to_text(v, what) for v in arr.reshape(-1)]
    return np.array(flat, dtype=STRING_DTYPE).reshape(arr.shape)


def _nested_list(data: Any) -> Any:
    if isinstance(data, np.ndarray):
        return data.tolist() if data.dtype.kind not in "SU" else data.astype(object).tolist()
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, Iterable):
        return [_nested_list(v) for v in data]
    return data


def reference_paths(data: Any, path_of: PathOf) -> np.ndarray[Any, Any]:
    """Paths of a (nested) sequence of references as a StringDType array."""
    if isinstance(data, (ReferenceBuilder, Builder, Container)):
        return np.array(path_of(data), dtype=STRING_DTYPE)
    items = _rows(data) if hasattr(data, "resolve") else list(data)
    return np.array(
        [
            path_of(v) if not isinstance(v, (list, tuple)) else list(reference_paths(v, path_of))
            for v in items
        ],
        dtype=STRING_DTYPE,
    )
