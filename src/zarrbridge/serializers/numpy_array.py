"""``NumpyArraySerializer``: large ndarrays out of the pickle, in the same formats as dask arrays."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import dask.array
import numpy as np

from ..errors import InvalidOptionError
from .base import PersistentId, PersistentSerializer
from .dask_array import DaskArraySerializer

da: Any = dask.array  # dask's functions are untyped: call them through Any

__all__ = ["NumpyArraySerializer"]


class NumpyArraySerializer(PersistentSerializer):
    """Writes numpy arrays of at least ``min_bytes`` to array files; loads them back as ndarrays.

    Smaller arrays stay inside the pickle, as do arrays this serializer would not keep faithfully: object
    arrays and ndarray subclasses with state of their own (``np.ma.MaskedArray``, ``np.matrix``...).
    ``np.memmap`` is accepted and read back as a plain ndarray. The format per protocol is that of
    ``dask_serializer`` (HDF5 on files and Zarr on S3 by default).

    A Function Fuse storage calls :meth:`pickle` for every plain ndarray (it matches by type alone): arrays
    this serializer does not take come back ``None``, which keeps them in the pickle.

    Examples
    --------
    >>> class EveryArray(NumpyArraySerializer):
    ...     min_bytes = 0
    """

    serializer_class: ClassVar[type] = np.ndarray
    name: ClassVar[str] = "numpy-array"
    min_bytes: ClassVar[int] = 1 << 20
    chunk_bytes: ClassVar[int] = 64 << 20
    dask_serializer: ClassVar[type[DaskArraySerializer]] = DaskArraySerializer

    @classmethod
    def accepts(cls, obj: object) -> bool:
        """Plain ndarrays (and memmaps) of at least ``min_bytes`` that hold no Python objects.

        Parameters
        ----------
        obj : object
            The object found in the result being pickled.
        """
        if not isinstance(obj, np.ndarray) or (
            type(obj) is not np.ndarray and not isinstance(obj, np.memmap)
        ):
            return False
        return not obj.dtype.hasobject and obj.nbytes >= cls.min_bytes

    @classmethod
    def pickle(cls, obj: Any, protocols: Mapping[str, Any]) -> PersistentId | None:
        """Write ``obj`` to array files and return ``(name, inner id)``;
        ``None`` for arrays it does not take.

        Parameters
        ----------
        obj : numpy.ndarray
            The array found in the result being pickled.
        protocols : Mapping[str, Any]
            The storage's protocols (``{FILE_PROTOCOL: ...}`` or ``{S3_PROTOCOL: ...}``).
        """
        if not isinstance(obj, np.ndarray):
            raise InvalidOptionError(f"{cls.__name__} stores numpy arrays, got {type(obj).__name__}")
        if not cls.accepts(obj):
            return None
        arr = np.asarray(obj)
        chunks = _chunks_for(arr, cls.chunk_bytes)
        _, inner = cls.dask_serializer.pickle(da.from_array(arr, chunks=chunks), protocols)
        return (cls.name, inner)

    @classmethod
    def check_id(cls, pid: Any) -> None:
        """Raise unless ``pid`` is an inner id the ``dask_serializer`` reads, inside the array folder.

        Parameters
        ----------
        pid : object
            The inner id found in a pickle.
        """
        cls.dask_serializer.check_id(cls.inner_id(pid))

    @classmethod
    def unpickle(cls, pid: Any, protocols: Mapping[str, Any]) -> np.ndarray[Any, Any]:
        """The stored array of the inner id ``pid``, read into memory.

        Parameters
        ----------
        pid : object
            The inner id (or the whole ``(name, inner)`` id) that :meth:`pickle` returned.
        protocols : Mapping[str, Any]
            The storage's protocols (``{FILE_PROTOCOL: ...}`` or ``{S3_PROTOCOL: ...}``).
        """
        return cls.dask_serializer.load(cls.inner_id(pid), protocols)

    @classmethod
    def remove(cls, pid: Any, protocols: Mapping[str, Any]) -> None:
        """Remove the stored array of the inner id ``pid``.

        Parameters
        ----------
        pid : object
            The inner id (or the whole ``(name, inner)`` id) that :meth:`pickle` returned.
        protocols : Mapping[str, Any]
            The storage's protocols (``{FILE_PROTOCOL: ...}`` or ``{S3_PROTOCOL: ...}``).
        """
        cls.dask_serializer.remove(cls.inner_id(pid), protocols)


def _chunks_for(arr: np.ndarray[Any, Any], chunk_bytes: int) -> tuple[int, ...]:
    """Split along the first axis into blocks of about ``chunk_bytes`` (rows stay whole)."""
    if arr.ndim == 0:
        return ()
    row = max(1, arr[:1].nbytes if arr.shape[0] else arr.dtype.itemsize)
    first = max(1, min(arr.shape[0], chunk_bytes // row)) if arr.shape[0] else 1
    return (first, *(max(1, s) for s in arr.shape[1:]))
