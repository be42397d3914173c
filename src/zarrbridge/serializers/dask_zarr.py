"""Dask arrays as Zarr arrays, on S3 (through s3fs) or in local folders (through the file protocol).

Every block is aligned to a zarr chunk (or shard), so workers of a ``distributed`` cluster write their blocks
directly and in parallel. A small ``zarrbridge.json`` document, written after the last chunk, marks the
array complete and carries the format version; an array without it is never read as complete. Loaded
arrays read their blocks through zarr (:class:`ZarrSource`, as ``da.from_zarr`` does), made strict by
:func:`zarrbridge.core.integrity.strict_array`: a chunk zarr cannot decode is a
:class:`~zarrbridge.errors.CorruptChunkError`, a missing chunk of a complete array a
:class:`~zarrbridge.errors.MissingChunkError`; in local folders, a folder removed or replaced after loading
is an error too, instead of fill values or another array's values.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

import dask.array
import numpy as np
import zarr
from zarr.abc.store import Store
from zarr.core.buffer import default_buffer_prototype
from zarr.core.common import ZarrFormat
from zarr.core.sync import sync

from .. import progress as _progress
from ..core.arrays import ArrayPolicy, chunk_containing, create_array
from ..core.integrity import strict_array
from ..daskwrite import write_dask_array
from ..errors import (
    BrokenLinkError,
    CorruptChunkError,
    CorruptMetadataError,
    InvalidOptionError,
    MissingChunkError,
    WriteInterruptedError,
)
from .base import parse_array_id, read_limits
from .dask_format import DaskFormatSerializer, FileIdentity, file_identity, stored_dtype
from .protocols import (
    FILE_PROTOCOL,
    S3_PROTOCOL,
    DirectoryCapable,
    normalize_protocols,
    remove_tree,
    zarr_store_for,
)

da: Any = dask.array  # dask's functions are untyped: call them through Any
_log = logging.getLogger(__name__)

__all__ = ["MARKER_KEY", "DaskZarrSerializer"]

MARKER_KEY = "zarrbridge.json"


def _write_marker(store: Store, document: dict[str, Any]) -> None:
    data = json.dumps(document, sort_keys=True).encode()
    sync(store.set(MARKER_KEY, default_buffer_prototype().buffer.from_bytes(data)))


def _exists(store: Store, key: str) -> bool:
    try:
        return bool(sync(store.exists(key)))
    except FileNotFoundError:
        return False


def _read_marker(store: Store, name: str) -> dict[str, Any]:
    try:
        buf = sync(store.get(MARKER_KEY, prototype=default_buffer_prototype()))
    except FileNotFoundError:  # a local store whose folder is gone
        buf = None
    if buf is None:
        if _exists(store, "zarr.json"):
            raise WriteInterruptedError(
                name, "the zarr array has no completion marker: its save was interrupted"
            )
        raise BrokenLinkError(
            "stored result", name, hint="The array files were removed; save the result again."
        )
    try:
        document = json.loads(buf.to_bytes())
    except ValueError as exc:
        raise CorruptMetadataError(f"{name}/{MARKER_KEY}", f"not JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise CorruptMetadataError(f"{name}/{MARKER_KEY}", "not a JSON object")
    return document


def _saved_dtype(marker: dict[str, Any], name: str) -> np.dtype[Any] | None:
    return stored_dtype(marker["dtype"], f"{name}/{MARKER_KEY}") if "dtype" in marker else None


@dataclass(frozen=True)
class ZarrSource:
    """A picklable, read-only zarr array, read block by block by ``da.from_array`` (as ``da.from_zarr`` does).

    ``array`` is strict (:func:`~zarrbridge.core.integrity.strict_array`). A block read after the array's
    folder was replaced by another saved array would be that array's values; so with ``folder`` (a local
    array), a block is returned only if the array's completion marker is still the one it had when the array
    was loaded (``marker``, its :data:`.dask_format.FileIdentity`) after the read. Holds no open file.
    """

    array: zarr.Array[Any] = field(compare=False)
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    folder: str | None = None
    marker: FileIdentity | None = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __getitem__(self, sel: Any) -> np.ndarray[Any, Any]:
        sel = sel if isinstance(sel, tuple) else (sel,)
        try:
            block = np.asarray(self.array[sel], dtype=self.dtype)  # (0-d: zarr returns a scalar)
        except MissingChunkError:
            self._check_folder(sel)  # a folder removed or replaced since the load says more
            raise
        self._check_folder(sel)
        return block

    def _check_folder(self, sel: tuple[Any, ...]) -> None:
        """Raise unless the array's folder still holds the completion marker it had when it was loaded."""
        if self.folder is None:
            return
        try:
            marker = file_identity(os.path.join(self.folder, MARKER_KEY))
        except FileNotFoundError as exc:
            raise BrokenLinkError(
                "loaded array", self.name, hint="The array files were removed; save the result again."
            ) from exc
        if marker != self.marker:
            found = chunk_containing(sel, self.shape, self.array.chunks) if self.shape else None
            raise CorruptChunkError(
                f"block {sel}" if found is None else str(self.array.metadata.encode_chunk_key(found[0])),
                f"zarr array {self.name!r}",
                reason="the array's folder was replaced after the array was loaded from it; saved arrays "
                "never change, so load the result again or restore the folder",
            )


class DaskZarrSerializer(DaskFormatSerializer):
    """Dask arrays as Zarr arrays, on S3 or (with
    :class:`~zarrbridge.serializers.protocols.LocalFiles`) on files.

    Configure by subclassing: ``policy`` (an :class:`~zarrbridge.core.ArrayPolicy`: compressors, filters,
    chunks; ``chunks=None`` keeps the dask chunk shape), ``zarr_format`` (2 or 3) and ``protocol_order``
    (which protocol to write through when the storage offers several).

    Examples
    --------
    >>> import tempfile, dask.array as da
    >>> from zarrbridge.serializers import FILE_PROTOCOL, LocalFiles
    >>> protocols = {FILE_PROTOCOL: LocalFiles(tempfile.mkdtemp())}
    >>> tag, inner = DaskZarrSerializer.pickle(da.ones(10, chunks=5), protocols)
    >>> float(DaskZarrSerializer.unpickle(inner, protocols).sum())
    10.0
    """

    name: ClassVar[str] = "dask-zarr"
    format_name: ClassVar[str] = "zarrbridge.dask-zarr"
    suffix: ClassVar[str] = ".zarr"
    policy: ClassVar[ArrayPolicy] = ArrayPolicy()
    zarr_format: ClassVar[ZarrFormat] = 3
    protocol_order: ClassVar[tuple[str, ...]] = (S3_PROTOCOL, FILE_PROTOCOL)

    @classmethod
    def _protocol(cls, protocols: Mapping[str, Any]) -> str:
        if not isinstance(protocols, Mapping):
            raise InvalidOptionError(
                f"protocols must be a dict such as {{S3_PROTOCOL: ...}}, got {protocols!r}"
            )
        for name in cls.protocol_order:
            if name in protocols:
                return name
        raise InvalidOptionError(
            f"{cls.__name__} writes through one of the protocols {cls.protocol_order}, but the storage "
            f"offers {sorted(protocols)}; use a storage that provides one of them"
        )

    @classmethod
    def _write(
        cls, darr: Any, dtype: np.dtype[Any], protocol: str, protocols: Mapping[str, Any], name: str
    ) -> None:
        chunks = cls.policy.chunks or tuple(
            max(1, min(int(c), int(s)) if s else 1) for c, s in zip(darr.chunksize, darr.shape)
        )
        policy = ArrayPolicy(
            chunks=chunks or None,
            shards=cls.policy.shards,
            compressors=cls.policy.compressors,
            filters=cls.policy.filters,
            fill_value=cls.policy.fill_value,
        )
        store = zarr_store_for(protocol, protocols, name, read_only=False)
        dest = create_array(
            store, "", shape=darr.shape, dtype=dtype, policy=policy, zarr_format=cls.zarr_format
        )
        _log.info(
            "saving a dask array %s %s as zarr %s: chunks %s, shards %s, compressors %s",
            darr.shape,
            dtype,
            name,
            dest.chunks,
            dest.shards,
            dest.compressors,
        )
        write_dask_array(darr, dest, progress=_progress.current())
        _write_marker(
            store,
            {
                "format": cls.format_name,
                "format_version": cls.format_version,
                "shape": list(darr.shape),
                "dtype": np.lib.format.dtype_to_descr(dtype),
                "zarr_format": dest.metadata.zarr_format,  # (optional: earlier saves have none)
                "complete": True,
            },
        )

    @classmethod
    def _discard(cls, protocol: str, protocols: Mapping[str, Any], name: str) -> None:
        remove_tree(protocol, protocols, name)

    @classmethod
    def open_marker(cls, pid: Any, protocols: Mapping[str, Any]) -> dict[str, Any]:
        """The completion marker of ``pid``'s array, its format and version checked.

        Parameters
        ----------
        pid : object
            The inner id (or the whole ``(name, inner)`` id) that :meth:`pickle` returned.
        protocols : Mapping[str, Any]
            The storage's protocols (``{FILE_PROTOCOL: ...}`` or ``{S3_PROTOCOL: ...}``).
        """
        protocols = normalize_protocols(protocols)
        protocol, name = parse_array_id(
            cls.inner_id(pid), format_name=cls.format_name, supported=cls.supported_versions
        )
        if protocol not in protocols:
            raise InvalidOptionError(
                f"{name!r} was written through the {protocol!r} protocol, which the "
                f"storage does not offer (it has {sorted(protocols)})"
            )
        store = zarr_store_for(protocol, protocols, name, read_only=True)
        marker = _read_marker(store, name)
        cls.check_stored_format(f"{name}/{MARKER_KEY}", marker.get("format"), marker.get("format_version"))
        return marker

    @classmethod
    def open_array(cls, pid: Any, protocols: Mapping[str, Any]) -> zarr.Array[Any]:
        """The stored zarr array of ``pid``, opened read-only, after checking its completion marker.

        Parameters
        ----------
        pid : object
            The inner id (or the whole ``(name, inner)`` id) that :meth:`pickle` returned.
        protocols : Mapping[str, Any]
            The storage's protocols (``{FILE_PROTOCOL: ...}`` or ``{S3_PROTOCOL: ...}``).
        """
        return cls._open(pid, protocols)[1]

    @classmethod
    def _open(cls, pid: Any, protocols: Mapping[str, Any]) -> tuple[dict[str, Any], zarr.Array[Any]]:
        """``(completion marker, read-only zarr array)`` of ``pid``.

        The marker names the zarr format (markers written before it did are read as before), so that zarr
        reads one metadata document instead of trying all three (``zarr.json``, ``.zarray``, ``.zattrs``):
        on S3, one request instead of three.
        """
        protocols = normalize_protocols(protocols)
        marker = cls.open_marker(pid, protocols)
        protocol, name = parse_array_id(
            cls.inner_id(pid), format_name=cls.format_name, supported=cls.supported_versions
        )
        zarr_format = marker.get("zarr_format")
        if zarr_format not in (None, 2, 3):
            raise CorruptMetadataError(
                f"{name}/{MARKER_KEY}", f"unknown zarr format {zarr_format!r} (2 or 3)"
            )
        store = zarr_store_for(protocol, protocols, name, read_only=True)
        try:
            limits = read_limits()
            arr = strict_array(
                zarr.open_array(store, mode="r", zarr_format=zarr_format),
                location=name,
                missing_chunks=limits.missing_chunks,
                max_bytes=limits.max_bytes,
            )
        except (ValueError, KeyError, TypeError, FileNotFoundError) as exc:
            raise CorruptMetadataError(f"{name}/zarr.json", f"cannot open the array ({exc})") from exc
        if list(arr.shape) != marker.get("shape"):
            raise CorruptMetadataError(
                f"{name}/zarr.json", f"shape {arr.shape} differs from the marker's {marker.get('shape')}"
            )
        return marker, arr

    @classmethod
    def unpickle(cls, pid: Any, protocols: Mapping[str, Any]) -> dask.array.Array:
        """A lazy dask array over the zarr array of ``pid``, chunked like the array.

        Parameters
        ----------
        pid : object
            The inner id (or the whole ``(name, inner)`` id) that :meth:`pickle` returned.
        protocols : Mapping[str, Any]
            The storage's protocols (``{FILE_PROTOCOL: ...}`` or ``{S3_PROTOCOL: ...}``).
        """
        protocols = normalize_protocols(protocols)
        marker, arr = cls._open(pid, protocols)
        protocol, name = parse_array_id(
            cls.inner_id(pid), format_name=cls.format_name, supported=cls.supported_versions
        )
        files = protocols[FILE_PROTOCOL] if protocol == FILE_PROTOCOL else None
        folder = files.local_path(name) if isinstance(files, DirectoryCapable) else None
        try:
            marker_id = file_identity(os.path.join(folder, MARKER_KEY)) if folder is not None else None
        except FileNotFoundError as exc:  # removed since it was read just now
            raise BrokenLinkError(
                "stored result", name, hint="The array files were removed; save the result again."
            ) from exc
        dtype = np.dtype(arr.dtype)
        source = ZarrSource(arr, name, tuple(arr.shape), dtype, folder, marker_id)
        result: dask.array.Array = da.from_array(
            source,
            chunks=arr.chunks,
            name=f"zarrbridge-zarr-{name}",
            lock=False,
            fancy=False,
            asarray=False,
            meta=np.empty((0,) * arr.ndim, dtype=dtype),
        )
        saved = _saved_dtype(marker, name)
        if saved is not None and saved != result.dtype:
            result = cast(Any, result).astype(saved)  # zarr reads e.g. big-endian data in native order
        return result

    @classmethod
    def remove(cls, pid: Any, protocols: Mapping[str, Any]) -> None:
        """Remove the zarr array of ``pid``.

        Parameters
        ----------
        pid : object
            The inner id (or the whole ``(name, inner)`` id) that :meth:`pickle` returned.
        protocols : Mapping[str, Any]
            The storage's protocols (``{FILE_PROTOCOL: ...}`` or ``{S3_PROTOCOL: ...}``).
        """
        protocol, name = parse_array_id(
            cls.inner_id(pid), format_name=cls.format_name, supported=cls.supported_versions
        )
        remove_tree(protocol, normalize_protocols(protocols), name)
