"""Lazy datasets that resolve stored reference paths to builders (on read) or containers (on construct)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np
import zarr
from hdmf.query import BuilderResolver, ContainerResolver, HDMFDataset

from ..core.chunkio import read_selection

Resolve = Callable[[str], Any]


def read(array: Any, key: Any) -> Any:
    """``array[key]``; one-chunk zarr arrays are decoded in the calling thread (:func:`read_selection`)."""
    if not isinstance(array, zarr.Array):  # (the legacy reader's zarr v2 arrays)
        return array[key]
    return read_selection(array, key)


def _blocks(array: Any) -> Iterator[slice]:
    """Slices along the first axis, one chunk row each."""
    step = max(1, int(array.chunks[0]))
    for start in range(0, int(array.shape[0]), step):
        yield slice(start, start + step)


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.astype(object) if value.dtype.kind in "UT" else value
    return value


class ZarrStrDataset(zarr.Array):  # type: ignore[type-arg]
    """A lazy string array whose slices are ``str`` object arrays (zarr itself returns numpy StringDType).

    It is a ``zarr.Array`` so that hdmf treats it as one (``ObjectMapper.convert_dtype`` accepts zarr arrays
    for text, and exports copy it chunk by chunk); only reads are changed.
    """

    def __init__(self, array: zarr.Array[Any], *, as_bytes: bool = False) -> None:
        super().__init__(array._async_array)
        object.__setattr__(self, "_as_bytes", as_bytes)  # ascii datasets read as bytes, as with HDF5IO

    @property
    def dataset(self) -> zarr.Array[Any]:
        """The plain zarr array."""
        return zarr.Array(self._async_array)

    @property
    def dtype(self) -> Any:
        return np.dtype(object)

    def __getitem__(self, key: Any) -> Any:
        value = read(self, key)
        if isinstance(value, np.ndarray) and value.ndim:
            out = value.astype(object)
            if getattr(self, "_as_bytes", False):
                out = np.array([str(v).encode("utf-8") for v in out.reshape(-1)], dtype=object).reshape(
                    out.shape
                )
            return out
        text = str(value[()] if isinstance(value, np.ndarray) else value)
        return text.encode("utf-8") if getattr(self, "_as_bytes", False) else text

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        return np.asarray(self[...], dtype=dtype)

    def __iter__(self) -> Iterator[Any]:
        if not self.shape:
            raise TypeError("iteration over a 0-d array")
        for block in _blocks(self):
            yield from self[block]

    def __len__(self) -> int:
        return int(self.shape[0]) if self.shape else 0


class ZarrNumericDataset(zarr.Array):  # type: ignore[type-arg]
    """A lazy numeric array whose single elements are numpy scalars, as with h5py and numpy.

    zarr 3 returns 0-d arrays for ``array[i]``; pandas and hdmf (``DynamicTable.to_dataframe``,
    ``DynamicTableRegion``) expect scalars there. Everything else is the plain ``zarr.Array``.
    """

    def __init__(self, array: zarr.Array[Any]) -> None:
        super().__init__(array._async_array)

    def __getitem__(self, key: Any) -> Any:
        value = read(self, key)
        if isinstance(value, np.ndarray) and value.ndim == 0:
            return value[()]
        return value

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d array")
        return int(self.shape[0])


class _ResolvingDataset(HDMFDataset):  # type: ignore[misc]
    """What reference-resolving datasets share; ``as_container`` says whether paths resolve to containers."""

    as_container: ClassVar[bool] = False
    _inverse: ClassVar[type[_ResolvingDataset]]  # set by pair_resolvers

    def __init__(self, array: Any, resolve_builder: Resolve, to_container: Callable[[Any], Any]) -> None:
        super().__init__(dataset=array)
        self._resolve_builder = resolve_builder
        self._to_container = to_container

    def _get_ref(self, path: str) -> Any:
        builder = self._resolve_builder(path)
        return self._to_container(builder) if self.as_container else builder

    def _init_args(self) -> tuple[Any, ...]:
        return (self.dataset, self._resolve_builder, self._to_container)

    @classmethod
    def get_inverse_class(cls) -> type[_ResolvingDataset]:
        """The class resolving the same paths to the other kind (containers for builders, and back)."""
        return cls._inverse

    def invert(self) -> _ResolvingDataset:
        cls: type[_ResolvingDataset] = self.get_inverse_class()
        return cls(*self._init_args())

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.dataset.shape)

    def __len__(self) -> int:
        return int(self.dataset.shape[0]) if self.dataset.shape else 0

    def resolve(self, manager: Any) -> Any:
        return self[0 : len(self)]


class _ReferenceDataset(_ResolvingDataset):
    """A dataset of reference paths."""

    @property
    def dtype(self) -> str:
        return "object"

    def __getitem__(self, key: Any) -> Any:
        value = read(self.dataset, key)
        if isinstance(value, np.ndarray):
            return (
                [self._get_ref(str(v)) for v in value.reshape(-1)]
                if value.ndim
                else self._get_ref(str(value))
            )
        return self._get_ref(str(value))

    def __iter__(self) -> Iterator[Any]:
        for value in read(self.dataset, ...):
            yield self._get_ref(str(value))


def pair_resolvers(builder_class: type[_ResolvingDataset], container_class: type[_ResolvingDataset]) -> None:
    """Make two resolving datasets each other's inverse (HDMF's ``get_inverse_class``); the second one
    resolves paths to containers."""
    builder_class._inverse, container_class._inverse = container_class, builder_class
    container_class.as_container = True


class BuilderZarrReferenceDataset(_ReferenceDataset, BuilderResolver):  # type: ignore[misc]
    """Resolves reference paths to builders."""


class ContainerZarrReferenceDataset(_ReferenceDataset, ContainerResolver):  # type: ignore[misc]
    """Resolves reference paths to containers."""


pair_resolvers(BuilderZarrReferenceDataset, ContainerZarrReferenceDataset)


class _TableDataset(_ResolvingDataset):
    """A compound dataset whose reference fields resolve lazily.

    Rows come back as HDF5IO's table datasets return them: one row is a ``np.void`` record, a slice a
    structured array, both indexed like tuples; reference and text fields are ``object`` fields holding the
    resolved builder (or container) and ``str``, numeric fields keep their stored type.
    """

    def __init__(
        self, array: Any, ref_fields: list[str], resolve_builder: Resolve, to_container: Callable[[Any], Any]
    ) -> None:
        super().__init__(array, resolve_builder, to_container)
        self._ref_fields = ref_fields
        fields = array.dtype.fields or {}
        names = list(array.dtype.names)
        self._ref_names = [f for f in ref_fields if f in names]
        self._str_names = [n for n in names if fields[n][0].kind in "UTO" and n not in self._ref_names]
        self._rows_dtype = np.dtype(
            [(n, object if n in self._ref_names or n in self._str_names else fields[n][0]) for n in names]
        )

    def _init_args(self) -> tuple[Any, ...]:
        return (self.dataset, self._ref_fields, self._resolve_builder, self._to_container)

    @property
    def dtype(self) -> list[str]:
        """Field types as HDF5IO's table datasets report them: ``'object'``, ``'utf'`` or a numpy type name.

        hdmf's validator compares this list with the spec's compound dtype.
        """
        fields = self.dataset.dtype.fields or {}
        out = []
        for name in self.dataset.dtype.names or ():
            sub = fields[name][0]
            out.append(
                "object" if name in self._ref_names else "utf" if sub.kind in "UTO" else sub.type.__name__
            )
        return out

    def builder_dtype(self) -> list[dict[str, str]]:
        """The compound dtype of the dataset's builder, as HDF5IO gives it: ``[{"name", "dtype"}, ...]`` with
        the field types of :attr:`dtype` (``'object'`` for references)."""
        return [{"name": str(n), "dtype": d} for n, d in zip(self.dataset.dtype.names or (), self.dtype)]

    def _records(self, rows: Any) -> np.ndarray[Any, Any]:
        """Stored rows (a structured array or record) with references resolved and text as ``str``."""
        out = np.asarray(rows).astype(self._rows_dtype)
        for name in self._str_names:  # (str fields read from fixed-width text are str already)
            column = out[name]
            column[...] = _object_array([str(v) for v in column.reshape(-1)], column.shape)
        for name in self._ref_names:
            column = out[name]
            column[...] = _object_array([self._get_ref(str(v)) for v in column.reshape(-1)], column.shape)
        return out

    def __getitem__(self, key: Any) -> Any:
        out = self._records(read(self.dataset, key))
        return out if out.ndim else out[()]

    def __iter__(self) -> Iterator[Any]:
        if not self.dataset.shape:
            raise TypeError("iteration over a 0-d dataset")
        for block in _blocks(self.dataset):
            yield from self[block]


def _object_array(values: list[Any], shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out.reshape(shape)


class BuilderZarrTableDataset(_TableDataset, BuilderResolver):  # type: ignore[misc]
    """Resolves the reference fields of a compound dataset to builders."""


class ContainerZarrTableDataset(_TableDataset, ContainerResolver):  # type: ignore[misc]
    """Resolves the reference fields of a compound dataset to containers."""


pair_resolvers(BuilderZarrTableDataset, ContainerZarrTableDataset)
