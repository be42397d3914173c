"""The codecs' errors in DataJoint's hierarchy too: each is also a ``datajoint.errors.DataJointError``.

DataJoint users catch ``DataJointError`` around inserts and fetches. Each class here derives from the
zarrbridge error it stands for (so ``except zarrbridge.errors.CorruptChunkError`` keeps working, and so does
the built-in it resembles) and from ``DataJointError``; where DataJoint has a closer class, from that one:
an array or chunk that is gone is also a ``MissingExternalFile``, an unreachable store a
``BucketInaccessible``. The core (``zarrbridge.errors``) never imports DataJoint: the codecs raise these
classes at their entry points (:func:`as_datajoint_errors`), and reads of fetched arrays translate through
the strict pipeline's hook (:func:`to_datajoint_error`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import cast

from datajoint.errors import BucketInaccessible, DataJointError, MissingExternalFile

from .. import errors as zb


class ZarrBridgeDataJointError(zb.ZarrBridgeError, DataJointError):  # type: ignore[misc]
    """Any other zarrbridge error raised by the codecs (a ``ZarrBridgeError`` and a ``DataJointError``)."""


class InvalidOptionError(zb.InvalidOptionError, DataJointError):  # type: ignore[misc]
    """:class:`zarrbridge.errors.InvalidOptionError` raised by a codec."""


class LocationError(zb.LocationError, DataJointError):  # type: ignore[misc]
    """:class:`zarrbridge.errors.LocationError` raised by a codec (an unusable store or path)."""


class UnsafeNameError(zb.UnsafeNameError, DataJointError):  # type: ignore[misc]
    """:class:`zarrbridge.errors.UnsafeNameError` raised by a codec (a path leaving the store)."""


class StoreExistsError(zb.StoreExistsError, DataJointError):  # type: ignore[misc]
    """:class:`zarrbridge.errors.StoreExistsError` raised by a codec."""


class ReadOnlyError(zb.ReadOnlyError, DataJointError):  # type: ignore[misc]
    """:class:`zarrbridge.errors.ReadOnlyError` raised by a codec (a fetched array is read-only)."""


class NodeNotFoundError(zb.NodeNotFoundError, MissingExternalFile):  # type: ignore[misc]
    """:class:`zarrbridge.errors.NodeNotFoundError` raised by a codec: the row's array is not in the store."""


class BrokenLinkError(zb.BrokenLinkError, MissingExternalFile):  # type: ignore[misc]
    """:class:`zarrbridge.errors.BrokenLinkError` raised by a codec."""


class MissingChunkError(zb.MissingChunkError, MissingExternalFile):  # type: ignore[misc]
    """:class:`zarrbridge.errors.MissingChunkError` raised reading a fetched array."""


class CorruptChunkError(zb.CorruptChunkError, DataJointError):  # type: ignore[misc]
    """:class:`zarrbridge.errors.CorruptChunkError` raised reading a fetched array."""


class CorruptMetadataError(zb.CorruptMetadataError, DataJointError):  # type: ignore[misc]
    """:class:`zarrbridge.errors.CorruptMetadataError` raised by a codec (a wrong row or document)."""


class UnsupportedFormatVersionError(zb.UnsupportedFormatVersionError, DataJointError):  # type: ignore[misc]
    """:class:`zarrbridge.errors.UnsupportedFormatVersionError` raised by a codec."""


class UnsupportedDtypeError(zb.UnsupportedDtypeError, DataJointError):  # type: ignore[misc]
    """:class:`zarrbridge.errors.UnsupportedDtypeError` raised by a codec."""


class UnsupportedValueTypeError(zb.UnsupportedValueTypeError, DataJointError):  # type: ignore[misc]
    """:class:`zarrbridge.errors.UnsupportedValueTypeError` raised by a codec."""


class ShapeMismatchError(zb.ShapeMismatchError, DataJointError):  # type: ignore[misc]
    """:class:`zarrbridge.errors.ShapeMismatchError` raised by a codec."""


class WriteInterruptedError(zb.WriteInterruptedError, DataJointError):  # type: ignore[misc]
    """:class:`zarrbridge.errors.WriteInterruptedError` raised by a codec."""


class StoreUnreachableError(zb.StoreUnreachableError, BucketInaccessible):  # type: ignore[misc]
    """:class:`zarrbridge.errors.StoreUnreachableError` raised by a codec (store unreachable)."""


class ResourceLimitError(zb.ResourceLimitError, DataJointError):  # type: ignore[misc]
    """:class:`zarrbridge.errors.ResourceLimitError` raised by a codec."""


class StorageFullError(zb.StorageFullError, DataJointError):  # type: ignore[misc]
    """:class:`zarrbridge.errors.StorageFullError` raised by a codec."""


class ForeignRowError(zb.ForeignRowError, DataJointError):  # type: ignore[misc]
    """:class:`zarrbridge.errors.ForeignRowError` raised by a codec (a row another package wrote)."""


# each class above stands for its first base, the zarrbridge class of the same name
_CLASSES: dict[type[zb.ZarrBridgeError], type[zb.ZarrBridgeError]] = {
    cls.__bases__[0]: cls
    for cls in (
        InvalidOptionError,
        LocationError,
        UnsafeNameError,
        StoreExistsError,
        ReadOnlyError,
        NodeNotFoundError,
        BrokenLinkError,
        MissingChunkError,
        CorruptChunkError,
        CorruptMetadataError,
        UnsupportedFormatVersionError,
        UnsupportedDtypeError,
        UnsupportedValueTypeError,
        ShapeMismatchError,
        WriteInterruptedError,
        StoreUnreachableError,
        ResourceLimitError,
        StorageFullError,
        ForeignRowError,
    )
}

__all__ = [
    "ZarrBridgeDataJointError",
    "as_datajoint_errors",
    "to_datajoint_error",
    *sorted(cls.__name__ for cls in _CLASSES.values()),
]


def to_datajoint_error(exc: zb.ZarrBridgeError) -> zb.ZarrBridgeError:
    """``exc`` as the class of this module that stands for its class (``exc`` itself if it already is a
    ``DataJointError``): same message, attributes, notes, cause and traceback."""
    already: bool = isinstance(exc, DataJointError)
    if already:
        return exc
    target = _CLASSES.get(type(exc))
    if target is None:  # a zarrbridge class with no counterpart here: keep it catchable as both
        target = _combined(type(exc))
    return zb.recast(exc, target)


_COMBINED: dict[type[zb.ZarrBridgeError], type[zb.ZarrBridgeError]] = {}


def _combined(cls: type[zb.ZarrBridgeError]) -> type[zb.ZarrBridgeError]:
    made = _COMBINED.get(cls)
    if made is None:
        made = _COMBINED[cls] = cast(
            type[zb.ZarrBridgeError], type(cls.__name__, (cls, DataJointError), {"__module__": __name__})
        )
    return made


@contextlib.contextmanager
def as_datajoint_errors() -> Iterator[None]:
    """Re-raise zarrbridge errors from the block as the classes of this module (DataJoint's hierarchy too)."""
    with zb.translated(to_datajoint_error):
        yield
