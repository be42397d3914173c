"""Compound (struct) data types on every zarr release zarrbridge supports.

zarr v3 has two spellings of a compound data type:

- ``"structured"``: fields as ``[name, data_type]`` pairs, the fill value as base64 bytes (zarr 3.0/3.1);
- ``"struct"``: fields as ``{"name", "data_type"}`` objects, the fill value as an object of field values
  (the zarr-extensions specification; written by zarr >= 3.2 and therefore by hdmf-zarr 0.14).

zarr >= 3.2 reads both. zarr 3.1 reads only ``"structured"`` and fails to open an array in the other form,
and with consolidated metadata the whole hierarchy that lists one. This module closes both gaps in one place:

- reading: :func:`register_struct_reader` (run when ``zarrbridge.core`` is imported) registers
  :class:`StructReader` for the name ``"struct"`` in zarr's data type registry **only when zarr has no data
  type of that name**; it never replaces one of zarr's own;
- zarr >= 3.2 warns on opening a ``"structured"`` array that zarr 3.1 wrote (no ``endian``); zarrbridge
  opens files inside :func:`quiet_struct_endian`;
- writing: :func:`portable_dtype` gives :func:`~zarrbridge.core.arrays.create_array` the ``"structured"``
  form for compound dtypes, the one that zarr 3.1 and zarr >= 3.2 (and so hdmf-zarr 0.14) all read.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
from zarr.core.common import ZarrFormat
from zarr.core.dtype import get_data_type_from_json
from zarr.core.dtype.npy.common import bytes_from_json, check_json_str
from zarr.dtype import Structured, data_type_registry

try:  # zarr >= 3.2 (the older location warns there)
    from zarr.errors import DataTypeValidationError  # type: ignore[attr-defined,unused-ignore]
except ImportError:  # pragma: no cover - depends on the installed zarr
    from zarr.core.dtype.common import DataTypeValidationError  # type: ignore[no-redef,unused-ignore]
try:  # zarr >= 3.2: the "struct" data type, which also reads "structured"
    from zarr.dtype import Struct as ZarrStruct  # type: ignore[attr-defined,unused-ignore]
except ImportError:  # pragma: no cover - depends on the installed zarr
    ZarrStruct = None  # type: ignore[misc,assignment,unused-ignore]

__all__ = [
    "STRUCT",
    "STRUCTURED",
    "StructReader",
    "portable_dtype",
    "quiet_struct_endian",
    "reread_compound_document",
    "register_struct_reader",
]

STRUCT = "struct"
STRUCTURED = "structured"


def _fields(data: Any) -> list[tuple[str, Any]] | None:
    """The ``(name, data_type JSON)`` fields of a ``"struct"`` data type document, or ``None``."""
    if not (isinstance(data, dict) and set(data) == {"name", "configuration"} and data["name"] == STRUCT):
        return None
    config = data["configuration"]
    if not isinstance(config, dict) or set(config) != {"fields"} or not isinstance(config["fields"], list):
        return None
    out = []
    for field in config["fields"]:
        if not (isinstance(field, dict) and isinstance(field.get("name"), str) and "data_type" in field):
            return None
        out.append((field["name"], field["data_type"]))
    return out or None


class StructReader(Structured):
    """The zarr-extensions ``"struct"`` data type for zarr releases that lack it (zarr 3.1).

    Reads the ``"struct"`` document and its per-field fill value (base64 bytes are accepted too), and writes
    them back unchanged, so that a file read and rewritten keeps its form. It never matches a numpy dtype:
    compound arrays created by zarr itself keep zarr's own ``"structured"`` type.
    """

    _zarr_v3_name: ClassVar[str] = STRUCT  # type: ignore[assignment,misc,unused-ignore]

    @classmethod
    def _check_native_dtype(cls, dtype: Any) -> bool:  # type: ignore[override,unused-ignore]
        return False

    @classmethod
    def _check_json_v2(cls, data: Any) -> bool:  # type: ignore[override,unused-ignore]
        return False

    @classmethod
    def _check_json_v3(cls, data: Any) -> bool:  # type: ignore[override,unused-ignore]
        return _fields(data) is not None

    @classmethod
    def _from_json_v3(cls, data: Any) -> StructReader:  # type: ignore[override,unused-ignore]
        fields = _fields(data)
        if fields is None:
            raise DataTypeValidationError(f"Invalid JSON representation of {cls.__name__}: {data!r}")
        return cls(
            fields=tuple((name, get_data_type_from_json(spec, zarr_format=3)) for name, spec in fields)
        )

    def to_json(self, zarr_format: ZarrFormat) -> Any:
        if zarr_format != 3:
            return super().to_json(zarr_format)
        fields = [{"name": name, "data_type": dtype.to_json(zarr_format=3)} for name, dtype in self.fields]
        return {"name": STRUCT, "configuration": {"fields": fields}}

    def from_json_scalar(self, data: Any, *, zarr_format: ZarrFormat) -> np.void:
        if isinstance(data, dict):
            values = [
                dtype.from_json_scalar(data[name], zarr_format=zarr_format)
                if name in data
                else dtype.default_scalar()
                for name, dtype in self.fields
            ]
            return self._cast_scalar_unchecked(tuple(values))
        if check_json_str(data):  # base64 bytes, little-endian as the bytes codec stores them
            raw = bytes_from_json(data, zarr_format=zarr_format)
            native = self.to_native_dtype()
            value = np.frombuffer(raw, dtype=native.newbyteorder("<")).astype(native)[0]
            return value  # type: ignore[no-any-return,unused-ignore]
        raise TypeError(f"Invalid fill value {data!r} for a struct data type: expected an object")

    def to_json_scalar(self, data: object, *, zarr_format: ZarrFormat) -> Any:
        if zarr_format != 3:
            return super().to_json_scalar(data, zarr_format=zarr_format)
        scalar = self.cast_scalar(data)
        return {
            name: dtype.to_json_scalar(scalar[name], zarr_format=zarr_format) for name, dtype in self.fields
        }


def register_struct_reader() -> bool:
    """Register :class:`StructReader` as ``"struct"`` unless zarr has a data type of that name.

    Returns whether it was registered (``False`` on zarr >= 3.2, which reads ``"struct"`` itself).
    Idempotent.
    """
    data_type_registry._lazy_load()  # entry-point data types first: one of them may be zarr's own "struct"
    current = data_type_registry.contents.get(STRUCT)
    if current is not None:
        return current is StructReader
    data_type_registry.register(STRUCT, StructReader)  # type: ignore[arg-type,unused-ignore]
    return True


if ZarrStruct is not None:

    class StructuredForm(ZarrStruct):  # type: ignore[misc,valid-type,unused-ignore]
        """zarr's ``"struct"`` data type, written in the ``"structured"`` form (zarr >= 3.2 only).

        A subclass of zarr's own, so that zarr treats it as a struct everywhere (its ``bytes`` codec keeps
        ``"endian": "little"``, which zarr >= 3.2 wants for multi-byte fields and zarr 3.1 ignores); only the
        data type document and the fill value are spelled as zarr 3.1 reads them: fields as pairs, the fill
        value as base64 little-endian bytes.
        """

        def to_json(self, zarr_format: ZarrFormat) -> Any:
            if zarr_format != 3:
                return super().to_json(zarr_format)
            fields = [[name, dtype.to_json(zarr_format=3)] for name, dtype in self.fields]
            return {"name": STRUCTURED, "configuration": {"fields": fields}}

        def to_json_scalar(self, data: object, *, zarr_format: ZarrFormat) -> Any:
            return Structured.to_json_scalar(self, data, zarr_format=zarr_format)


def portable_dtype(dtype: Any, *, zarr_format: int) -> Any:
    """``dtype`` as :func:`zarr.create_array` should get it: compound dtypes in the ``"structured"`` form.

    zarr >= 3.2 would write ``"struct"``, which zarr 3.1 cannot read; there compound dtypes become
    :class:`StructuredForm`. zarr 3.1 writes ``"structured"`` itself. Other dtypes, other releases and zarr
    format 2 pass through.
    """
    if (
        ZarrStruct is not None
        and zarr_format == 3
        and isinstance(dtype, np.dtype)
        and dtype.names is not None
    ):
        return StructuredForm.from_native_dtype(dtype)
    return dtype


@contextlib.contextmanager
def quiet_struct_endian() -> Iterator[None]:
    """Silence zarr >= 3.2's warning about the ``"structured"`` arrays zarr 3.1 wrote (no ``endian``).

    zarr 3.1 writes compound chunks in native (on every platform it runs on, little-endian) byte order and
    no ``endian`` in their ``bytes`` codec; zarr >= 3.2 reads them as little-endian, as written, and warns
    on every open. The files are valid: zarrbridge opens them without the warning.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Missing 'endian' for structured dtype", category=UserWarning
        )
        yield


def reread_compound_document(doc: dict[str, Any]) -> dict[str, Any]:
    """A zarr v3 compound array document as this zarr reads it and would write it back.

    The two spellings of one compound (``"struct"``/``"structured"``, an object or base64 fill value, a
    ``bytes`` codec with or without ``endian``) come out alike, so that two documents of the same array can
    be compared whichever zarr wrote each. Other documents, and documents zarr cannot parse, are returned
    unchanged.
    """
    data_type = doc.get("data_type")
    if doc.get("zarr_format") != 3 or not (
        isinstance(data_type, dict) and data_type.get("name") in (STRUCT, STRUCTURED)
    ):
        return doc
    from zarr.core.metadata.v3 import ArrayV3Metadata

    try:
        with quiet_struct_endian():
            meta = ArrayV3Metadata.from_dict(dict(doc))
    except (ValueError, TypeError, KeyError):
        return doc
    reread: dict[str, Any] = json.loads(json.dumps(meta.to_dict(), allow_nan=True, default=str))
    return reread
