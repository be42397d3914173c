"""The interface every persistent serializer implements, and the persistent ids they hand out.

A persistent serializer writes an object of its ``serializer_class`` to array files reachable through the
storage's ``protocols`` and returns a small *persistent id* that the result pickle keeps instead of the data.

The contract is Function Fuse's, so that its storages (``FileStorage``, ``S3FileStorage``) and zarrbridge's
take each other's serializers: a serializer class has ``serializer_class`` and ``name``; ``pickle(obj,
protocols)`` returns the persistent id ``(name, inner)``; a storage reading it does ``tag, inner = pid`` and
calls ``unpickle(inner, protocols)`` of the class registered under ``tag``; removing it calls
``remove(inner, protocols)``. zarrbridge's array serializers use the inner id ``(format_name, format_version,
protocol, file name)``; the format version is checked when the id is read back. Results saved by earlier
releases hold ``("dask-array" | "numpy-array" | ..., inner)`` ids of the same shape, whose protocol is
``"file"`` or ``"s3"``: they still load.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from ..core.bounds import check_allocation
from ..core.names import check_relative_path
from ..daskwrite import active_client
from ..errors import (
    CorruptMetadataError,
    InvalidOptionError,
    UnsupportedDtypeError,
    UnsupportedFormatVersionError,
)
from ..hdf5files import is_disk_full
from .protocols import ARRAY_NAME, normalize_protocols, protocol_of_id

__all__ = [
    "ArrayId",
    "PersistentId",
    "PersistentSerializer",
    "ReadLimits",
    "active_client",
    "check_array_dtype",
    "check_blocks",
    "check_dask_array",
    "discard_after_failure",
    "is_disk_full",
    "new_name",
    "parse_array_id",
    "read_limits",
    "reading_with",
    "require_protocol",
]


@dataclass(frozen=True)
class ReadLimits:
    """How the arrays of one :meth:`ResultStorage.load <zarrbridge.serializers.ResultStorage.load>` are read:
    ``max_bytes``, the most one read (a whole array loaded, one block of a lazy one) may allocate (``None``:
    the machine's memory), and ``missing_chunks`` (``"error"``, or ``"fill"`` for zarr arrays other tools
    wrote with regions left unwritten)."""

    max_bytes: int | None = None
    missing_chunks: Literal["error", "fill"] = "error"


_LIMITS: contextvars.ContextVar[ReadLimits | None] = contextvars.ContextVar(
    "zarrbridge_read_limits", default=None
)
_DEFAULT_LIMITS = ReadLimits()


def read_limits() -> ReadLimits:
    """The :class:`ReadLimits` of the load in progress (the defaults outside one)."""
    return _LIMITS.get() or _DEFAULT_LIMITS


@contextlib.contextmanager
def reading_with(limits: ReadLimits) -> Iterator[None]:
    """Within the block, serializers read arrays with ``limits`` (set by a storage's ``load``)."""
    token = _LIMITS.set(limits)
    try:
        yield
    finally:
        _LIMITS.reset(token)


def check_blocks(value: Any, *, what: str) -> None:
    """Refuse a loaded lazy (dask) array one of whose blocks is larger than the load's ``max_bytes``."""
    budget = read_limits().max_bytes
    chunks = getattr(value, "chunks", None)
    if budget is None or not isinstance(chunks, tuple) or not all(isinstance(c, tuple) for c in chunks):
        return
    block = tuple(max(c, default=0) for c in chunks)
    check_allocation(
        shape=block, itemsize=value.dtype.itemsize, what=f"one block of {what}", max_bytes=budget
    )


ArrayId = tuple[str, int, str, str]
"""``(format_name, format_version, protocol, name)``: the inner persistent id of one stored array."""

PersistentId = tuple[str, Any]
"""``(serializer name, inner id)``: what ``pickle`` returns and a storage keeps in the result pickle."""


class PersistentSerializer(ABC):
    """Writes objects of ``serializer_class`` out of a pickle and reads them back.

    Subclasses set ``serializer_class`` (instances of subclasses of it are matched too) and ``name`` (the
    unique tag under which a storage routes persistent ids to this serializer), and implement the three
    classmethods. Options are class attributes: configure a serializer by subclassing it.
    """

    serializer_class: ClassVar[type]
    name: ClassVar[str]

    @classmethod
    def accepts(cls, obj: object) -> bool:
        """Whether this serializer takes ``obj`` out of the pickle (default: an instance of the class).

        Parameters
        ----------
        obj : object
            The object found in the result being pickled.
        """
        return isinstance(obj, cls.serializer_class)

    @classmethod
    @abstractmethod
    def pickle(cls, obj: Any, protocols: Mapping[str, Any]) -> PersistentId | None:
        """Write ``obj`` to new array files and return its persistent id ``(name, inner)`` (plain data).

        ``None`` leaves ``obj`` in the pickle (as pickle's ``persistent_id`` does).

        Parameters
        ----------
        obj : object
            The object found in the result being pickled.
        protocols : Mapping[str, Any]
            The storage's protocols (``{FILE_PROTOCOL: ...}`` or ``{S3_PROTOCOL: ...}``).
        """

    @classmethod
    @abstractmethod
    def unpickle(cls, pid: Any, protocols: Mapping[str, Any]) -> Any:
        """Return the object that the inner id ``pid`` names, read through ``protocols``.

        The whole id ``(name, inner)`` that :meth:`pickle` returned is accepted too.

        Parameters
        ----------
        pid : object
            The inner id (or the whole ``(name, inner)`` id) that :meth:`pickle` returned.
        protocols : Mapping[str, Any]
            The storage's protocols (``{FILE_PROTOCOL: ...}`` or ``{S3_PROTOCOL: ...}``).
        """

    @classmethod
    @abstractmethod
    def remove(cls, pid: Any, protocols: Mapping[str, Any]) -> None:
        """Remove the array files of the inner id ``pid`` (or the whole id); files already gone are fine.

        Parameters
        ----------
        pid : object
            The inner id (or the whole ``(name, inner)`` id) that :meth:`pickle` returned.
        protocols : Mapping[str, Any]
            The storage's protocols (``{FILE_PROTOCOL: ...}`` or ``{S3_PROTOCOL: ...}``).
        """

    @classmethod
    def check_id(cls, pid: Any) -> None:
        """Raise if the inner id ``pid`` is malformed or names a file outside the storage (default:
        nothing).

        Parameters
        ----------
        pid : object
            The inner id found in a pickle.
        """
        return None

    @classmethod
    def inner_id(cls, pid: Any) -> Any:
        """The inner id of ``pid``: ``pid`` itself, or ``inner`` when ``pid`` is
        this serializer's whole id.

        Parameters
        ----------
        pid : object
            The persistent id :meth:`pickle` returned: the whole ``(name, inner)`` or the inner id.
        """
        if (
            isinstance(pid, (tuple, list))
            and len(pid) == 2
            and pid[0] == cls.name
            and isinstance(pid[1], (tuple, list))
        ):
            return pid[1]
        return pid


def new_name(suffix: str = "") -> str:
    """A fresh, collision-free file name."""
    return f"{uuid.uuid4().hex}{suffix}"


def require_protocol(protocols: Mapping[str, Any], protocol: str, serializer: str) -> Any:
    """``protocols[protocol]``, or a clear error when the storage does not provide it."""
    protocols = normalize_protocols(protocols)
    if protocol not in protocols:
        raise InvalidOptionError(
            f"{serializer} needs the {protocol!r} protocol, but the storage offers {sorted(protocols)}; "
            "use a storage that provides it or a serializer format for the protocols it has"
        )
    return protocols[protocol]


def parse_array_id(pid: Any, *, format_name: str, supported: tuple[int, ...]) -> tuple[str, str]:
    """Check an :data:`ArrayId` and return ``(protocol, name)`` (the protocol under today's name).

    Raises
    ------
    CorruptMetadataError
        ``pid`` is not an array id of ``format_name``.
    UnsupportedFormatVersionError
        The id was written by a format version this release cannot read.
    UnsafeNameError
        The file name could lead out of the array folder (``..``, absolute, NUL...).
    """
    if (
        not isinstance(pid, (tuple, list))
        or len(pid) != 4
        or not isinstance(pid[0], str)
        or isinstance(pid[1], bool)
        or not isinstance(pid[1], int)
        or protocol_of_id(pid[2]) is None
        or not isinstance(pid[3], str)
    ):
        raise CorruptMetadataError(
            "persistent id", f"expected (format, version, protocol, name), got {pid!r}"
        )
    if pid[0] != format_name:
        raise CorruptMetadataError("persistent id", f"format {pid[0]!r} is not {format_name!r}")
    if pid[1] not in supported:
        raise UnsupportedFormatVersionError(f"stored array {pid[3]!r} ({format_name})", pid[1], supported)
    return str(protocol_of_id(pid[2])), check_relative_path(pid[3], what=ARRAY_NAME)


def check_array_dtype(dtype: Any, what: str) -> np.dtype[Any]:
    """The numpy dtype of an array to store; object arrays are refused."""
    dt: np.dtype[Any] = np.dtype(dtype)
    if dt.hasobject:
        raise UnsupportedDtypeError(
            what,
            dt,
            "Arrays of Python objects cannot be written to array files. Convert them to str "
            "(x.astype('U')), numbers or a structured dtype, or keep them out of the result.",
        )
    return dt


def check_dask_array(obj: object, serializer: str) -> None:
    """Raise :class:`InvalidOptionError` unless ``obj`` is a dask array."""
    import dask.array

    if not isinstance(obj, dask.array.Array):
        raise InvalidOptionError(f"{serializer} stores dask arrays, got {type(obj).__name__}")


def discard_after_failure(remove: Callable[[], None], name: str, error: BaseException) -> None:
    """Remove what a failed save wrote, without hiding ``error``.

    A task already running on a ``distributed`` worker cannot be stopped and may write after the failure;
    removal is retried briefly, and what cannot be removed is reported as a note on ``error``. Such leftovers
    have no completion marker, so they are never read as a complete array.
    """
    for attempt in range(5):
        try:
            remove()
            return
        except OSError as exc:
            if attempt == 4:
                error.add_note(
                    f"zarrbridge: could not remove the unfinished array {name!r} ({exc}); it is "
                    "not marked complete and is never read; delete it when convenient"
                )
            time.sleep(0.1 * (attempt + 1))
