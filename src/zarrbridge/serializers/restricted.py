"""Restricted loading of result pickles: plain data, numpy arrays and registered serializers only.

Unpickling runs code: a pickle can name any importable callable and have it called with arguments of its
choosing. :meth:`ResultStorage.load` does that (like :func:`pickle.load`) unless ``restricted=True``, in which
case only the globals in :data:`DEFAULT_ALLOWED` (plus those the caller adds) can be built, and persistent ids
go only to the serializers registered on the storage. Use the restricted mode for results you did not write.

The restricted mode also refuses what would crash or exhaust the process: numpy objects over raw bytes (a
crafted dtype makes numpy dereference pointers taken from the pickle) and allocations beyond a budget
(``bytearray(3_000_000_000)``, ``list(range(10**9))``, giant numpy shapes); see
:mod:`zarrbridge.core.safe_pickle`.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from typing import Any

from ..core.safe_pickle import NUMPY_ARRAY_GLOBALS, PICKLE_ERRORS, PLAIN_DATA_GLOBALS, RestrictedUnpickler
from ..errors import CorruptMetadataError, ZarrBridgeError

__all__ = ["DEFAULT_ALLOWED", "restricted_load", "unrestricted_load"]

DEFAULT_ALLOWED: frozenset[tuple[str, str]] = NUMPY_ARRAY_GLOBALS | PLAIN_DATA_GLOBALS
"""Globals a restricted load may build: plain containers, dates, numpy arrays, dtypes and scalars."""


def restricted_load(
    data: bytes,
    *,
    persistent_load: Callable[[Any], Any],
    allowed: frozenset[tuple[str, str]] = DEFAULT_ALLOWED,
    what: str = "result",
    max_bytes: int | None = None,
) -> Any:
    """Unpickle ``data`` building only ``allowed`` globals; persistent ids go to ``persistent_load``.

    ``max_bytes`` bounds what the pickle itself may allocate (default
    :func:`zarrbridge.core.safe_pickle.default_budget` of its size); arrays read by the serializers through
    persistent ids are not counted.

    Raises
    ------
    UnsafePickleError
        The pickle names a global that is not allowed, or asks numpy for objects over raw bytes; nothing it
        names was called.
    ResourceLimitError
        The pickle asks for more memory than ``max_bytes``.
    CorruptMetadataError
        ``data`` is not a valid pickle.
    """
    unpickler = RestrictedUnpickler(
        data, allowed=allowed, persistent_load=persistent_load, what=what, max_bytes=max_bytes
    )
    try:
        return unpickler.load()
    except ZarrBridgeError:
        raise  # unsafe globals, and errors of the serializers reading arrays, as they are
    except PICKLE_ERRORS as exc:
        raise CorruptMetadataError(what, f"not a valid pickle ({type(exc).__name__}: {exc})") from exc


class _PersistentUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, persistent_load: Callable[[Any], Any]) -> None:
        super().__init__(file)
        self._persistent = persistent_load

    def persistent_load(self, pid: Any) -> Any:
        return self._persistent(pid)


def unrestricted_load(data: bytes, *, persistent_load: Callable[[Any], Any], what: str = "result") -> Any:
    """Unpickle ``data`` like :func:`pickle.loads` (this runs code named by the pickle: trusted data only)."""
    try:
        return _PersistentUnpickler(io.BytesIO(data), persistent_load).load()
    except (pickle.UnpicklingError, EOFError) as exc:
        raise CorruptMetadataError(what, f"not a valid pickle ({type(exc).__name__}: {exc})") from exc
