"""``DaskArraySerializer``: one entry point that picks the format for the protocol the storage offers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import dask.array
import numpy as np

from ..errors import CorruptMetadataError, InvalidOptionError
from .base import PersistentId, PersistentSerializer
from .dask_format import DaskFormatSerializer
from .dask_hdf5 import DaskHDF5Serializer
from .dask_zarr import DaskZarrSerializer
from .protocols import FILE_PROTOCOL, S3_PROTOCOL, normalize_protocols

da: Any = dask.array  # dask's functions are untyped: call them through Any

__all__ = ["DaskArraySerializer"]


class DaskArraySerializer(PersistentSerializer):
    """Keeps dask arrays out of result pickles: HDF5 on local files, Zarr on S3 (by default).

    The format used for each protocol is the class attribute ``formats``; reading never depends on it (the
    persistent id names the format that wrote the array), so a storage can switch formats and still read its
    older results. When the storage offers several protocols, ``protocol_order`` says which one to write to.

    It follows Function Fuse's serializer contract (see :mod:`.base`): register it on a Function Fuse
    ``FileStorage`` or ``S3FileStorage`` as on zarrbridge's storages.

    Examples
    --------
    Zarr on local files too, compressed with Blosc:

    >>> import numcodecs
    >>> from zarrbridge.core import ArrayPolicy
    >>> class BloscZarr(DaskZarrSerializer):
    ...     policy = ArrayPolicy(compressors=(numcodecs.Blosc(cname="lz4", clevel=5),))
    >>> class ZarrEverywhere(DaskArraySerializer):
    ...     formats = {FILE_PROTOCOL: BloscZarr, S3_PROTOCOL: BloscZarr}

    Register it on a storage with ``storage.register_persistent_serializers(ZarrEverywhere)``.
    """

    serializer_class: ClassVar[type] = dask.array.Array
    name: ClassVar[str] = "dask-array"
    formats: ClassVar[Mapping[str, type[DaskFormatSerializer]]] = {
        FILE_PROTOCOL: DaskHDF5Serializer,
        S3_PROTOCOL: DaskZarrSerializer,
    }
    protocol_order: ClassVar[tuple[str, ...]] = (S3_PROTOCOL, FILE_PROTOCOL)
    readers: ClassVar[Mapping[str, type[DaskFormatSerializer]]] = {
        DaskHDF5Serializer.format_name: DaskHDF5Serializer,
        DaskZarrSerializer.format_name: DaskZarrSerializer,
    }

    @classmethod
    def writer_for(cls, protocols: Mapping[str, Any]) -> type[DaskFormatSerializer]:
        """The serializer class that writes through the first offered protocol of ``protocol_order``.

        Parameters
        ----------
        protocols : Mapping[str, Any]
            The storage's protocols (``{FILE_PROTOCOL: ...}`` or ``{S3_PROTOCOL: ...}``).
        """
        protocols = normalize_protocols(protocols)
        for protocol in cls.protocol_order:
            if protocol in protocols:
                if protocol not in cls.formats:
                    raise InvalidOptionError(
                        f"{cls.__name__}.formats has no format for the {protocol!r} protocol"
                    )
                return cls.formats[protocol]
        raise InvalidOptionError(
            f"{cls.__name__} needs one of the protocols {cls.protocol_order}, but the storage offers "
            f"{sorted(protocols)}"
        )

    @classmethod
    def pickle(cls, obj: Any, protocols: Mapping[str, Any]) -> PersistentId:
        """Write ``obj`` in the format chosen for the storage's protocol; return ``(name, inner id)``.

        Parameters
        ----------
        obj : dask.array.Array
            The array found in the result being pickled.
        protocols : Mapping[str, Any]
            The storage's protocols (``{FILE_PROTOCOL: ...}`` or ``{S3_PROTOCOL: ...}``).
        """
        if not isinstance(obj, dask.array.Array):
            raise InvalidOptionError(f"{cls.__name__} stores dask arrays, got {type(obj).__name__}")
        protocols = normalize_protocols(protocols)
        writer = cls.writer_for(protocols)
        protocol = next(p for p in cls.protocol_order if p in protocols)
        return (cls.name, writer.write(obj, {protocol: protocols[protocol]}))  # through that protocol only

    @classmethod
    def reader_for(cls, pid: Any) -> type[DaskFormatSerializer]:
        """The serializer class that reads the inner id ``pid`` (chosen by the format the id names).

        Parameters
        ----------
        pid : object
            The inner id found in a pickle.
        """
        pid = cls.inner_id(pid)
        fmt = pid[0] if isinstance(pid, (tuple, list)) and pid else None
        if not isinstance(fmt, str) or fmt not in cls.readers:
            raise CorruptMetadataError(
                "persistent id", f"{pid!r} names no array format this release reads ({sorted(cls.readers)})"
            )
        return cls.readers[fmt]

    @classmethod
    def check_id(cls, pid: Any) -> None:
        """Raise unless ``pid`` is an inner id of a readable format whose file stays in the array folder.

        Parameters
        ----------
        pid : object
            The inner id found in a pickle.
        """
        pid = cls.inner_id(pid)
        cls.reader_for(pid).check_id(pid)

    @classmethod
    def unpickle(cls, pid: Any, protocols: Mapping[str, Any]) -> dask.array.Array:
        """A lazy dask array over the stored array of the inner id ``pid``.

        Parameters
        ----------
        pid : object
            The inner id (or the whole ``(name, inner)`` id) that :meth:`pickle` returned.
        protocols : Mapping[str, Any]
            The storage's protocols (``{FILE_PROTOCOL: ...}`` or ``{S3_PROTOCOL: ...}``).
        """
        pid = cls.inner_id(pid)
        result: dask.array.Array = cls.reader_for(pid).unpickle(pid, normalize_protocols(protocols))
        return result

    @classmethod
    def load(cls, pid: Any, protocols: Mapping[str, Any]) -> np.ndarray[Any, Any]:
        """The stored array of ``pid`` read whole into memory, the fastest way its format allows.

        Parameters
        ----------
        pid : object
            The inner id (or the whole ``(name, inner)`` id) that :meth:`pickle` returned.
        protocols : Mapping[str, Any]
            The storage's protocols (``{FILE_PROTOCOL: ...}`` or ``{S3_PROTOCOL: ...}``).
        """
        pid = cls.inner_id(pid)
        return np.asarray(cls.reader_for(pid).load(pid, normalize_protocols(protocols)))

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
        pid = cls.inner_id(pid)
        cls.reader_for(pid).remove(pid, normalize_protocols(protocols))
