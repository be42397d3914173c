"""A restricted unpickler: builds only allow-listed classes, never runs arbitrary pickle code.

Used to read the Pickle-encoded reference columns of legacy hdmf-zarr files and the result pickles of the
serializer storage in restricted mode. Anything not on the allow-list raises :class:`UnsafePickleError`
*before* it is called.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import CorruptMetadataError, UnsafePickleError

__all__ = ["NUMPY_ARRAY_GLOBALS", "PLAIN_DATA_GLOBALS", "RestrictedUnpickler", "restricted_loads"]

# What numpy needs to rebuild ndarrays and dtypes (numpy >= 2 and < 2 module names).
NUMPY_ARRAY_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
    }
)

# Plain containers and values that pickle protocol may name as globals.
PLAIN_DATA_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("builtins", "dict"),
        ("builtins", "list"),
        ("builtins", "tuple"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "bytearray"),
        ("builtins", "complex"),
        ("builtins", "slice"),
        ("builtins", "range"),
        ("collections", "OrderedDict"),
        ("datetime", "datetime"),
        ("datetime", "date"),
        ("datetime", "time"),
        ("datetime", "timedelta"),
        ("datetime", "timezone"),
        ("codecs", "encode"),  # protocol 2 bytes in py3 pickles; returns bytes only
    }
)


class RestrictedUnpickler(pickle.Unpickler):
    """An :class:`pickle.Unpickler` that resolves only allow-listed globals.

    Parameters
    ----------
    file
        A binary file-like object holding the pickle.
    allowed
        ``(module, name)`` pairs that may be loaded as they are.
    substitutes
        ``(module, name) -> callable`` used *instead of* the named global, e.g. to map a third-party class
        (``hdmf_zarr.utils.ZarrReference``, a dict subclass) to a local one without importing it.
    persistent_load
        Called with each persistent id, for pickles that carry them.
    what
        A description of the payload, used in error messages.
    """

    def __init__(
        self,
        file: Any,
        *,
        allowed: frozenset[tuple[str, str]] | set[tuple[str, str]] = frozenset(),
        substitutes: Mapping[tuple[str, str], Callable[..., Any]] | None = None,
        persistent_load: Callable[[Any], Any] | None = None,
        what: str = "pickle data",
    ) -> None:
        super().__init__(file)
        self._allowed = frozenset(allowed)
        self._substitutes = dict(substitutes or {})
        self._persistent = persistent_load
        self._what = what

    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        if key in self._substitutes:
            return self._substitutes[key]
        if key in self._allowed:
            return super().find_class(module, name)
        raise UnsafePickleError(self._what, f"{module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        if self._persistent is None:
            raise UnsafePickleError(self._what, f"persistent id {pid!r}")
        return self._persistent(pid)


def restricted_loads(
    data: bytes,
    *,
    allowed: frozenset[tuple[str, str]] | set[tuple[str, str]] = NUMPY_ARRAY_GLOBALS | PLAIN_DATA_GLOBALS,
    substitutes: Mapping[tuple[str, str], Callable[..., Any]] | None = None,
    what: str = "pickle data",
) -> Any:
    """Unpickle ``data`` allowing only the given globals.

    Raises
    ------
    UnsafePickleError
        The payload names a global that is not allowed (nothing of it was called).
    CorruptMetadataError
        The payload is not a valid pickle.
    """
    try:
        return RestrictedUnpickler(
            io.BytesIO(data), allowed=allowed, substitutes=substitutes, what=what
        ).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise CorruptMetadataError(what, f"not a valid pickle ({exc})") from exc
