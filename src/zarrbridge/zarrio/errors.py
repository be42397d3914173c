"""The HDMF backend's errors in HDMF's hierarchy too, where HDMF defines one for the same failure.

HDMF users catch ``hdmf.backends.errors.UnsupportedOperation`` around IO calls: ``HDF5IO`` raises it for a
write through a read-only file, a read of a file opened for writing, an export in the wrong mode or with
links across backends, a missing file opened with mode ``'r'``/``'r+'`` and an existing file opened with
mode ``'w-'``/``'x'``. ``ZarrIO`` raises the classes below in those cases: each is a zarrbridge error (and the
built-in it resembles) and an ``UnsupportedOperation``. Errors HDMF itself raises while building containers
(``hdmf.build.errors.BuildError``...) pass through unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from hdmf.backends.errors import UnsupportedOperation

from .. import errors as zb

__all__ = [
    "UnsupportedZarrOperation",
    "ZarrFileExistsError",
    "ZarrFileNotFoundError",
    "ZarrReadOnlyError",
    "as_hdmf_errors",
]


class ZarrReadOnlyError(zb.ReadOnlyError, UnsupportedOperation):  # type: ignore[misc]
    """A write through a ZarrIO opened with mode ``'r'`` (also an hdmf ``UnsupportedOperation``)."""


class UnsupportedZarrOperation(zb.InvalidOptionError, UnsupportedOperation):  # type: ignore[misc]
    """A call the file's mode or state does not allow (closed, opened for writing, a zip opened to modify,
    links across backends): also an hdmf ``UnsupportedOperation``."""


class ZarrFileNotFoundError(zb.NotAZarrStoreError, UnsupportedOperation):  # type: ignore[misc]
    """No zarr file at the path opened with mode ``'r'``, ``'r+'`` or ``'a'``: also an hdmf
    ``UnsupportedOperation`` (what ``HDF5IO`` raises for a missing file)."""


class ZarrFileExistsError(zb.StoreExistsError, UnsupportedOperation):  # type: ignore[misc]
    """A file exists where mode ``'w-'``/``'x'`` would create one: also an hdmf ``UnsupportedOperation``."""


_CLASSES: dict[type[zb.ZarrBridgeError], type[zb.ZarrBridgeError]] = {
    zb.ReadOnlyError: ZarrReadOnlyError,
    zb.NotAZarrStoreError: ZarrFileNotFoundError,
    zb.StoreExistsError: ZarrFileExistsError,
}


@contextlib.contextmanager
def as_hdmf_errors() -> Iterator[None]:
    """Re-raise the zarrbridge errors of the block that HDMF has a class for as the classes of this module."""
    with zb.translated(_to_hdmf):
        yield


def _to_hdmf(exc: zb.ZarrBridgeError) -> zb.ZarrBridgeError:
    target = _CLASSES.get(type(exc))
    return exc if target is None else zb.recast(exc, target)
