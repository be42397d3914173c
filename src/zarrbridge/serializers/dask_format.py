"""What the dask-array formats (HDF5, Zarr) share: the save sequence,
and the checks of what they read back."""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, cast

import dask.array
import numpy as np

from .. import progress as _progress
from ..core.bounds import check_allocation
from ..daskwrite import CountingTarget, resolve_unknown_chunks
from ..errors import CorruptMetadataError, StorageFullError, UnsupportedFormatVersionError
from .base import (
    ArrayId,
    PersistentId,
    PersistentSerializer,
    check_array_dtype,
    check_dask_array,
    discard_after_failure,
    is_disk_full,
    new_name,
    parse_array_id,
    read_limits,
)
from .protocols import FILE_PROTOCOL, normalize_protocols, s3_folder

__all__ = ["DaskFormatSerializer", "FileIdentity", "file_identity", "json_descr", "stored_dtype"]

FileIdentity = tuple[int, int, int]
"""What tells a local file from its replacement or a rewrite: ``(inode, size, modification time in ns)``.

Loaded arrays record it for the files they read later: saved array files never change, so a file without
its recorded identity was replaced, cut short or rewritten since, and a read from it is an error instead of
other values (or, past a truncation, the fill values HDF5 reads there)."""


def file_identity(fd_or_path: int | str) -> FileIdentity:
    """The :data:`FileIdentity` of an open file descriptor or a path."""
    st = os.fstat(fd_or_path) if isinstance(fd_or_path, int) else os.stat(fd_or_path)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def json_descr(value: Any) -> Any:
    """JSON turns the tuples of a structured dtype description into lists; numpy wants tuples back."""
    if isinstance(value, list):
        return [tuple(json_descr(v) for v in item) if isinstance(item, list) else item for item in value]
    return value


def stored_dtype(descr: Any, where: str) -> np.dtype[Any]:
    """The dtype saved as ``np.lib.format.dtype_to_descr`` output (possibly through JSON)."""
    try:
        return np.lib.format.descr_to_dtype(json_descr(descr))
    except (ValueError, TypeError, KeyError) as exc:
        raise CorruptMetadataError(where, f"bad dtype {descr!r} ({exc})") from exc


class DaskFormatSerializer(PersistentSerializer):
    """A dask array in one array format: subclasses write (``_write``) and discard (``_discard``) the files.

    :meth:`write` checks the protocol and the array, computes unknown chunk sizes, refuses object dtypes,
    picks a fresh name, and removes what a failed write left behind before re-raising its error (a full
    disk as :class:`~zarrbridge.errors.StorageFullError`). :meth:`pickle` returns ``(name, write(...))``.
    """

    serializer_class: ClassVar[type] = dask.array.Array
    format_name: ClassVar[str]
    format_version: ClassVar[int] = 1
    supported_versions: ClassVar[tuple[int, ...]] = (1,)
    suffix: ClassVar[str]

    @classmethod
    @abstractmethod
    def _protocol(cls, protocols: Mapping[str, Any]) -> str:
        """The protocol to write through, or :class:`InvalidOptionError` when ``protocols`` has none fit."""

    @classmethod
    @abstractmethod
    def _write(
        cls, darr: Any, dtype: np.dtype[Any], protocol: str, protocols: Mapping[str, Any], name: str
    ) -> None:
        """Write ``darr`` (known chunk sizes, storable ``dtype``) as ``name``,
        published only when complete."""

    @classmethod
    @abstractmethod
    def _discard(cls, protocol: str, protocols: Mapping[str, Any], name: str) -> None:
        """Remove whatever an unfinished write of ``name`` left."""

    @classmethod
    def write(cls, obj: Any, protocols: Mapping[str, Any]) -> ArrayId:
        """Write ``obj`` to new array files and return its inner persistent id."""
        check_dask_array(obj, cls.__name__)
        protocols = normalize_protocols(protocols)
        protocol = cls._protocol(protocols)  # (checks what the protocol offers before any work starts)
        darr = resolve_unknown_chunks(obj)
        dtype = check_array_dtype(darr.dtype, "dask array")
        name = new_name(cls.suffix)
        reporter = _progress.current()
        if reporter is not None:
            reporter.add_total(int(darr.nbytes))  # (the blocks' bytes are reported by the writers)
        try:
            cls._write(darr, dtype, protocol, protocols, name)
        except BaseException as exc:
            discard_after_failure(lambda: cls._discard(protocol, protocols, name), name, exc)
            if isinstance(exc, OSError) and is_disk_full(exc):
                raise StorageFullError(f"array {name!r}", _where(protocol, protocols), str(exc)) from exc
            raise
        return (cls.format_name, cls.format_version, protocol, name)

    @classmethod
    def check_id(cls, pid: Any) -> None:
        """Raise unless ``pid`` is an inner id of this format whose file name stays in the array folder."""
        parse_array_id(cls.inner_id(pid), format_name=cls.format_name, supported=cls.supported_versions)

    @classmethod
    def pickle(cls, obj: Any, protocols: Mapping[str, Any]) -> PersistentId:
        """Write ``obj`` to new array files and return its persistent id ``(name, inner id)``."""
        return (cls.name, cls.write(obj, protocols))

    @classmethod
    def load(cls, pid: Any, protocols: Mapping[str, Any]) -> np.ndarray[Any, Any]:
        """The stored array of ``pid`` read whole into memory (what ``unpickle(...).compute()`` gives)."""
        lazy: Any = cls.unpickle(cls.inner_id(pid), protocols)
        check_allocation(
            shape=tuple(lazy.shape),
            itemsize=lazy.dtype.itemsize,
            what=f"array {pid!r}",
            max_bytes=read_limits().max_bytes,
        )
        reporter = _progress.current()
        if reporter is None:
            return np.asarray(lazy.compute(scheduler="threads"))
        reporter.add_total(int(lazy.nbytes))
        out = np.empty(lazy.shape, dtype=lazy.dtype)
        cast(Any, dask.array).store(lazy, CountingTarget(out, reporter), lock=False, scheduler="threads")
        return out

    @classmethod
    def check_stored_format(cls, where: str, fmt: Any, version: Any) -> None:
        """Check the format name and version an array file records about itself."""
        if fmt != cls.format_name:
            raise CorruptMetadataError(where, f"its format is {fmt!r}, not {cls.format_name!r}")
        if version not in cls.supported_versions:
            raise UnsupportedFormatVersionError(f"array file {where!r}", version, cls.supported_versions)


def _where(protocol: str, protocols: Mapping[str, Any]) -> str:
    """Where ``protocol`` keeps its files, for messages."""
    if protocol == FILE_PROTOCOL:
        files = protocols[FILE_PROTOCOL]
        return str(getattr(files, "root", type(files).__name__))
    return "s3://" + s3_folder(protocols[protocol])[1]
