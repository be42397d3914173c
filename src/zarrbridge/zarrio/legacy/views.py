"""Views of legacy reference and compound arrays in the shape the reference-resolving datasets expect.

The resolving datasets of :mod:`zarrbridge.zarrio.references` read target *paths* (current convention); a
legacy array holds ``ZarrReference`` records (``{"source", "path", "object_id", ...}``). These views turn
records into path strings lazily, slice by slice, so the same resolving datasets serve both conventions.
A target in another file is encoded as ``source + EXTERNAL + path`` for the legacy reader's resolver.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hdmf.query import HDMFDataset

from ...core.names import check_absolute_path, has_control_characters
from ...errors import CorruptMetadataError, UnsafeNameError
from ..references import (
    BuilderZarrReferenceDataset,
    BuilderZarrTableDataset,
    ContainerZarrReferenceDataset,
    ContainerZarrTableDataset,
    pair_resolvers,
)
from .chunks import V2Array

__all__ = [
    "EXTERNAL",
    "LegacyBuilderReferenceDataset",
    "LegacyBuilderTableDataset",
    "RecordView",
    "ReferencePathView",
    "reference_target",
]

EXTERNAL = "\x00"  # never part of a path: separates an external source from the target path


def reference_target(value: Any, what: str, where: str) -> str:
    """The encoded target of one legacy reference record or link (a dict with a string ``path``).

    Raises
    ------
    UnsafeNameError
        The ``path`` is not an absolute in-file path of safe names (``..``, NUL...), or the ``source`` holds a
        control character (NUL would also forge the :data:`EXTERNAL` separator).
    """
    if not isinstance(value, dict) or not isinstance(value.get("path"), str):
        raise CorruptMetadataError(what, f"expected a reference record with a 'path', got {value!r}", where)
    path = check_absolute_path(value["path"], what=f"target path of {what} in {where}")
    source = value.get("source")
    if source in (None, "", "."):
        return path
    if not isinstance(source, str) or has_control_characters(source):
        raise UnsafeNameError(source, f"source of {what} in {where}", "is not a file location")
    return f"{source}{EXTERNAL}{path}"


class _View(HDMFDataset):  # type: ignore[misc]
    """A read-only view over a :class:`V2Array` (shape, chunks, stored size pass through)."""

    def __init__(self, array: V2Array) -> None:
        # HDMFDataset.__init__ (docval) is not called: the view is its own dataset
        self.array = array

    @property
    def dataset(self) -> _View:
        return self

    @property
    def shape(self) -> tuple[int, ...]:
        return self.array.shape

    @property
    def chunks(self) -> tuple[int, ...]:
        return self.array.chunks

    @property
    def ndim(self) -> int:
        return self.array.ndim

    @property
    def size(self) -> int:
        return self.array.size

    @property
    def path(self) -> str:
        return self.array.path

    def nbytes_stored(self) -> int:
        return self.array.nbytes_stored()

    def __len__(self) -> int:
        return len(self.array)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray[Any, Any]:
        return np.asarray(self[...], dtype=dtype)


class ReferencePathView(_View):
    """A legacy dataset of references, seen as an object array of (encoded) target paths."""

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(object)

    def __getitem__(self, key: Any) -> Any:
        raw = self.array[key]
        where = self.array.codecs.where
        if not isinstance(raw, np.ndarray):
            return reference_target(raw, self.array.path, where)
        out = np.empty(raw.shape, dtype=object)
        flat = out.reshape(-1)
        for i, value in enumerate(raw.reshape(-1)):
            flat[i] = reference_target(value, f"{self.array.path} element {i}", where)
        return out


class RecordView(_View):
    """A legacy compound dataset as a structured array: reference fields hold (encoded) target paths.

    Parameters
    ----------
    array
        The stored array: structured with ``|O`` fields (compounds with references) or an object array of
        records (pickled numpy records, JSON lists).
    dtype
        The structured dtype to present (reference and text fields are ``object``).
    ref_fields
        Names of the reference fields.
    """

    def __init__(self, array: V2Array, dtype: np.dtype[Any], ref_fields: list[str]) -> None:
        super().__init__(array)
        self._dtype = dtype
        names = list(dtype.names or ())
        self._ref_idx = [names.index(f) for f in ref_fields]
        if array.dtype.names is not None and len(array.dtype.names) != len(names):
            raise CorruptMetadataError(
                f"{array.path}/.zattrs",
                f"zarr_dtype names {len(names)} fields, the array has {len(array.dtype.names)}",
                array.codecs.where,
            )

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._dtype

    def _record(self, row: Any, index: int) -> tuple[Any, ...]:
        what = f"{self.array.path} row {index}"
        fields = (
            list(row.tolist() if isinstance(row, np.void) else row)
            if isinstance(row, (np.void, list, tuple))
            else None
        )
        if fields is None or len(fields) != len(self._dtype.names or ()):
            raise CorruptMetadataError(
                what, f"expected {len(self._dtype.names or ())} fields, got {row!r}", self.array.codecs.where
            )
        for i in self._ref_idx:
            fields[i] = reference_target(fields[i], what, self.array.codecs.where)
        return tuple(v.decode("utf-8") if isinstance(v, bytes) else v for v in fields)

    def __getitem__(self, key: Any) -> Any:
        raw = self.array[key]
        if not isinstance(raw, np.ndarray):
            return np.array(self._record(raw, 0), dtype=self._dtype)[()]
        out = np.empty(raw.shape, dtype=self._dtype)
        flat = out.reshape(-1)
        for i, row in enumerate(raw.reshape(-1)):
            flat[i] = self._record(row, i)
        return out


class _AnyDataset(HDMFDataset):  # type: ignore[misc]
    """Takes any array-like as its dataset: HDMFDataset's own docval predates HDMFDataset in 'array_data'.

    Mixed in after a resolving dataset of :mod:`zarrbridge.zarrio.references`, it comes between that class and
    :class:`HDMFDataset` in the MRO, so the resolving dataset's ``super().__init__(dataset=...)`` lands here.
    """

    def __init__(self, dataset: Any) -> None:
        self._any_dataset = dataset

    @property
    def dataset(self) -> Any:
        return self._any_dataset


class LegacyBuilderReferenceDataset(BuilderZarrReferenceDataset, _AnyDataset):
    """:class:`BuilderZarrReferenceDataset` over a :class:`ReferencePathView`."""


class LegacyContainerReferenceDataset(ContainerZarrReferenceDataset, _AnyDataset):
    """:class:`ContainerZarrReferenceDataset` over a :class:`ReferencePathView`."""


class LegacyBuilderTableDataset(BuilderZarrTableDataset, _AnyDataset):
    """:class:`BuilderZarrTableDataset` over a :class:`RecordView`."""


class LegacyContainerTableDataset(ContainerZarrTableDataset, _AnyDataset):
    """:class:`ContainerZarrTableDataset` over a :class:`RecordView`."""


pair_resolvers(LegacyBuilderReferenceDataset, LegacyContainerReferenceDataset)
pair_resolvers(LegacyBuilderTableDataset, LegacyContainerTableDataset)
