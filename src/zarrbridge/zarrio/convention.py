"""The on-disk convention for HDMF on Zarr (hdmf-zarr 0.14 / LINDI, Zarr v3) and zarrbridge's extensions.

See ``docs/format.md``. Reserved attribute names are stripped before attributes reach HDMF builders.
"""

from __future__ import annotations

import datetime as _dt
import posixpath
from typing import Any

import numpy as np

from ..core.arrays import check_storable_dtype
from ..core.inline import INLINE_ATTRIBUTE
from ..core.integrity import COMPLETE_ATTRIBUTE
from ..core.jsonattrs import bytes_to_text
from ..errors import UnsupportedDtypeError

LINKS = "_LINKS"
DTYPE = "_DTYPE"
REFERENCE_FIELDS = "_REFERENCE_FIELDS"
REFERENCE = "_REFERENCE"
SPECLOC = ".specloc"
SPEC_GROUP = "specifications"
NAMESPACE_DOC = "namespace"
OBJECT_REFERENCE = "object_reference"
# zarrbridge extension: a root attribute naming the writer and the version of its extensions
MARKER = "_ZARRBRIDGE"
# 2: external link and reference sources are relative to the store itself ("../b.nwb.zarr"), as in the
# convention; version 1 files wrote them relative to the store's parent directory ("b.nwb.zarr")
MARKER_VERSION = 2
SUPPORTED_MARKER_VERSIONS = (1, 2)
PARENT_RELATIVE_SOURCES = (1,)  # marker versions whose external sources are relative to the parent
# legacy (hdmf-zarr <= 0.13, Zarr v2)
LEGACY_DTYPE = "zarr_dtype"
LEGACY_LINK = "zarr_link"

# dimension names for xarray (hdmf-zarr writes them as this attribute; zarr v3 also as ``dimension_names``)
ARRAY_DIMENSIONS = "_ARRAY_DIMENSIONS"
# zarrbridge extension: every chunk of the array is stored (see zarrbridge.core.integrity)
COMPLETE_CHUNKS = COMPLETE_ATTRIBUTE

# zarrbridge extension: small chunks carried in the root document too (see zarrbridge.core.inline)
INLINE_CHUNKS = INLINE_ATTRIBUTE

RESERVED = frozenset(
    {
        LINKS,
        DTYPE,
        REFERENCE_FIELDS,
        SPECLOC,
        MARKER,
        LEGACY_DTYPE,
        LEGACY_LINK,
        COMPLETE_CHUNKS,
        INLINE_CHUNKS,
    }
)
# the current convention's reader also strips the dimension names (legacy files keep them as hdmf-zarr 0.13
# read them: an ordinary attribute)
CURRENT_RESERVED = RESERVED | {ARRAY_DIMENSIONS}
MIN_COMPOUND_STR = 512

TEXT_KINDS = {
    "text": "str",
    "utf": "str",
    "utf8": "str",
    "utf-8": "str",
    "str": "str",
    "ascii": "ascii",
    "bytes": "ascii",
    "isodatetime": "isodatetime",
    "datetime": "isodatetime",
}
NUMERIC = {
    "float": np.float32,
    "float32": np.float32,
    "double": np.float64,
    "float64": np.float64,
    "long": np.int64,
    "int64": np.int64,
    "int": np.int32,
    "int32": np.int32,
    "short": np.int16,
    "int16": np.int16,
    "int8": np.int8,
    "uint64": np.uint64,
    "uint": np.uint32,
    "uint32": np.uint32,
    "uint16": np.uint16,
    "uint8": np.uint8,
    "bool": np.bool_,
}
REF_NAMES = frozenset({"object", "region", OBJECT_REFERENCE})


def is_relative_source(source: str) -> bool:
    """Whether an external ``source`` is a relative path (not a URL, not absolute)."""
    return not ("://" in source or source.startswith("/") or (len(source) > 1 and source[1] == ":"))


def store_relative(parent_relative: str, store_name: str) -> str:
    """The convention's form of a source written relative to the parent of the store ``store_name``.

    >>> store_relative("b.nwb.zarr", "a.nwb.zarr")
    '../b.nwb.zarr'
    """
    if not is_relative_source(parent_relative):
        return parent_relative
    return posixpath.relpath(posixpath.normpath(parent_relative), posixpath.normpath(store_name))


def parent_relative(source: str, store_name: str) -> str:
    """A store-relative ``source`` (the convention's form) relative to the store's parent instead.

    >>> parent_relative("../b.nwb.zarr", "a.nwb.zarr")
    'b.nwb.zarr'
    """
    if not is_relative_source(source):
        return source
    return posixpath.normpath(posixpath.join(store_name, source.replace("\\", "/")))


def spec_dtype_name(dtype: Any) -> Any:
    """Normalise a builder dtype: a spec name, ``'object'`` for references, a list for compounds,
    or np.dtype."""
    if dtype is None or isinstance(dtype, np.dtype):
        return dtype
    if isinstance(dtype, type) and issubclass(dtype, np.generic):
        return np.dtype(dtype)
    if isinstance(dtype, str):
        return dtype
    if isinstance(dtype, dict) or hasattr(dtype, "reftype"):
        reftype = dtype["reftype"] if isinstance(dtype, dict) else dtype.reftype
        if reftype == "region":
            raise UnsupportedDtypeError(
                "a region reference",
                "region",
                "Region references are not supported by the Zarr convention; "
                "store a DynamicTableRegion (indices) instead.",
            )
        return "object"
    if isinstance(dtype, (list, tuple)):
        return list(dtype)
    return dtype


def is_ref_dtype(dtype: Any) -> bool:
    d = spec_dtype_name(dtype)
    return isinstance(d, str) and d in REF_NAMES


def string_kind(dtype: Any) -> str | None:
    """``'str'``, ``'ascii'`` or ``'isodatetime'`` for string spec dtypes, else ``None``."""
    d = spec_dtype_name(dtype)
    if isinstance(d, str):
        return TEXT_KINDS.get(d)
    if isinstance(d, np.dtype) and d.kind in "USOT" and d.kind != "O":
        return "ascii" if d.kind == "S" else "str"
    vlen = dict(d.metadata or {}).get("vlen") if isinstance(d, np.dtype) and d.kind == "O" else None
    if vlen in (str, bytes):  # h5py's variable-length strings (HDF5IO's read builders carry them)
        return "ascii" if vlen is bytes else "str"
    return None


def to_text(value: Any, what: str) -> str:
    """One element of a string dataset as ``str``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return bytes_to_text(value, what)
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, np.str_):
        return str(value)
    if isinstance(value, np.datetime64):
        return str(np.datetime_as_string(value))
    raise UnsupportedDtypeError(what, type(value).__name__, "A text dataset holds str, bytes or datetimes.")


def numpy_dtype_for(spec: Any, data: Any, what: str) -> np.dtype[Any]:
    """The numpy dtype to store a non-string, non-reference dataset with."""
    d = spec_dtype_name(spec)
    if isinstance(d, np.dtype):
        out = d
    elif isinstance(d, str) and d in NUMERIC:
        out = np.dtype(NUMERIC[d])
        data_dtype = getattr(data, "dtype", None)
        if (
            isinstance(data_dtype, np.dtype)
            and data_dtype.kind in "biuf"
            and np.can_cast(out, data_dtype)
            and data_dtype.itemsize > out.itemsize
            and data_dtype.kind == out.kind
        ):
            out = data_dtype  # hdmf allows wider types than the spec minimum
    else:
        data_dtype = getattr(data, "dtype", None)
        if isinstance(data_dtype, np.dtype):
            out = data_dtype
        else:
            out = np.asarray(data).dtype
    check_storable_dtype(out, what, object_hint="give the data a numeric, bool or string dtype.")
    return out
