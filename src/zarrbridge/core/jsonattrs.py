"""Encoding of attribute values as JSON, the way zarr stores them.

NaN and +/-Inf stay floats (zarr-python writes them as bare ``NaN``/``Infinity``); numpy scalars and arrays
become Python numbers and nested lists; bytes become UTF-8 text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import UnsupportedDtypeError

__all__ = ["from_json_value", "to_json_value"]

JSON = Any


def to_json_value(value: Any, *, what: str = "attribute") -> JSON:
    """Convert ``value`` to a JSON-compatible value, or raise :class:`UnsupportedDtypeError`.

    Parameters
    ----------
    value : object
        A scalar, string, bytes, list, dict or numpy array.
    what : str
        What the value is, named in the error message.

    Returns
    -------
    JSON value
        A value ``json.dumps`` accepts.

    Examples
    --------
    >>> to_json_value(np.arange(3, dtype="int16"))
    [0, 1, 2]
    >>> to_json_value(b"abc")
    'abc'
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, bytes):
        return bytes_to_text(value, what)
    if isinstance(value, np.generic):
        return to_json_value(value.item(), what=what)
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biufSUT" or (value.dtype.kind == "O" and value.size == 0):
            return to_json_value(value.tolist(), what=what)
        if value.dtype.kind == "O":
            return (
                [to_json_value(v, what=what) for v in value.tolist()]
                if value.ndim
                else to_json_value(value.item(), what=what)
            )
        raise UnsupportedDtypeError(what, value.dtype)
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v, what=what) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json_value(v, what=what) for v in value]
    if isinstance(value, complex):
        raise UnsupportedDtypeError(what, "complex", "Store real and imaginary parts separately.")
    raise UnsupportedDtypeError(
        what, type(value).__name__, "Attributes hold numbers, bools, text and lists of them."
    )


def bytes_to_text(value: bytes, what: str) -> str:
    """``value`` decoded as UTF-8; :class:`UnsupportedDtypeError` naming ``what`` if it is not UTF-8."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsupportedDtypeError(
            what, "bytes", "The bytes are not valid UTF-8 text; store them as uint8."
        ) from exc


def from_json_value(value: JSON) -> Any:
    """Turn a JSON attribute value into what a reader expects: homogeneous lists become numpy arrays.

    Lists of numbers become numeric arrays, lists of strings become ``str`` object arrays, nested lists of
    equal length become multi-dimensional arrays; mixed lists and dicts are returned as they are.

    Parameters
    ----------
    value : JSON
        A value read from a zarr attribute document.

    Returns
    -------
    object
        A numpy array for homogeneous lists, else the value as it is.
    """
    if not isinstance(value, list):
        return value
    if not value:
        return np.array([], dtype=float)
    flat = _flatten(value)
    if flat is None:
        return value
    if all(isinstance(v, str) for v in flat):
        return np.array(value, dtype=object)
    if all(isinstance(v, bool) for v in flat):
        return np.array(value, dtype=bool)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
        if all(isinstance(v, int) for v in flat):
            return np.array(value, dtype=np.int64 if all(-(2**63) <= v < 2**63 for v in flat) else np.uint64)
        return np.array(value, dtype=np.float64)
    return value


def _flatten(value: list[Any]) -> list[Any] | None:
    """Flatten a rectangular nested list; ``None`` if ragged or holding dicts/None."""
    if all(isinstance(v, list) for v in value):
        lengths = {len(v) for v in value}
        if len(lengths) != 1:
            return None
        out: list[Any] = []
        for v in value:
            sub = _flatten(v) if v else []
            if sub is None:
                return None
            out.extend(sub)
        return out
    if any(isinstance(v, (list, dict)) or v is None for v in value):
        return None
    return value


def is_finite_number(value: Any) -> bool:
    """True for an int or a finite float."""
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
