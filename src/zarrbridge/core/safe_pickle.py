"""A restricted unpickler: builds only allow-listed classes, never runs arbitrary pickle code.

Used to read the Pickle-encoded reference columns of legacy hdmf-zarr files and the result pickles of the
serializer storage in restricted mode. Anything not on the allow-list raises :class:`UnsafePickleError`
*before* it is called.

An allow-list of names is not enough for numpy. ``numpy.dtype`` rebuilt from a pickled state trusts the
state's flags, so a pickle can make a dtype with an object field whose flags say "no objects"; an array,
scalar or buffer view of that dtype over bytes from the pickle then dereferences attacker-chosen pointers (the
process dies of SIGSEGV). Allowed numpy globals are therefore never handed out as they are: :mod:`.safe_numpy`
builds dtypes only through numpy's public constructors (which compute the flags) and refuses every
construction that could put objects over raw bytes.

Untrusted bytes must not exhaust memory either. Everything the pickle makes grow beyond its own size
(``bytearray(3_000_000_000)``, ``list(range(10**9))``, a giant numpy shape, a ``BYTEARRAY8`` opcode declaring
more bytes than the pickle holds) is charged to a budget before it is allocated; going over it raises
:class:`ResourceLimitError`. The default budget is :data:`MIN_BUDGET` plus :data:`BUDGET_PER_BYTE` times the
size of the pickle, so genuine data (which is never much larger than its pickle) always fits.

The pure-Python :class:`pickle._Unpickler` is the base class because its opcode table can be extended (the C
unpickler cannot refuse a ``BUILD`` on a numpy object, nor bound an opcode's allocation). It is slower, which
matters little for the small payloads this reads: arrays of results live in serializer files, not in pickles.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import collections
import importlib
import io
import pickle
import struct
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from ..errors import CorruptMetadataError, ResourceLimitError, UnsafePickleError
from .safe_numpy import NUMPY_GUARDS, NumpyGuard

__all__ = [
    "BUDGET_PER_BYTE",
    "MIN_BUDGET",
    "NUMPY_ARRAY_GLOBALS",
    "PLAIN_DATA_GLOBALS",
    "RestrictedUnpickler",
    "default_budget",
    "restricted_loads",
]

#: Bytes any restricted load may allocate beyond its own pickle (before :data:`BUDGET_PER_BYTE` is added).
MIN_BUDGET = 64 * 2**20
#: Bytes a restricted load may allocate per byte of pickle data.
BUDGET_PER_BYTE = 8
#: What one element of a container built from an iterable is charged (the pointer and a small object).
ITEM_BYTES = 64

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
        ("builtins", "bytes"),  # protocol 2 writes b"" as bytes()
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
        ("_codecs", "encode"),  # the name protocol 2 actually writes
    }
)

_CONTAINERS: dict[tuple[str, str], Callable[..., Any]] = {
    ("builtins", "list"): list,
    ("builtins", "tuple"): tuple,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "dict"): dict,
    ("collections", "OrderedDict"): collections.OrderedDict,
}
_TEXT_ENCODINGS = frozenset({"latin1", "latin-1", "iso-8859-1", "iso8859-1", "ascii", "utf-8", "utf8"})


_BASE_BUILD: Callable[[Any], None] = pickle._Unpickler.dispatch[pickle.BUILD[0]]


def default_budget(size: int) -> int:
    """The allocation budget of a restricted load of a ``size``-byte pickle."""
    return MIN_BUDGET + BUDGET_PER_BYTE * max(int(size), 0)


class _Source:
    """The pickle bytes as the file the unpickler reads; a short read is an error, not silently short data."""

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._buffer = io.BytesIO(data)
        self.size = len(data)

    def read(self, n: int = -1) -> bytes:
        data = self._buffer.read(n)
        if 0 <= n != len(data):
            raise pickle.UnpicklingError(f"pickle data was truncated (wanted {n} more bytes)")
        return data

    def readline(self) -> bytes:
        return self._buffer.readline()


class RestrictedUnpickler(pickle._Unpickler):
    """An unpickler that resolves only allow-listed globals and bounds what it allocates.

    Parameters
    ----------
    file
        A binary file-like object holding the pickle, or the pickle's bytes.
    allowed
        ``(module, name)`` pairs that may be loaded. numpy's and the builtins' constructors among them are
        replaced by guarded versions (see the module docstring); other names are loaded as they are.
    substitutes
        ``(module, name) -> callable`` used *instead of* the named global, e.g. to map a third-party class
        (``hdmf_zarr.utils.ZarrReference``, a dict subclass) to a local one without importing it.
    persistent_load
        Called with each persistent id, for pickles that carry them.
    what
        A description of the payload, used in error messages.
    max_bytes
        The allocation budget; default :func:`default_budget` of the pickle's size (or :data:`MIN_BUDGET` when
        ``file`` is a stream of unknown size).
    """

    # set by pickle._Unpickler.load(), which the stubs do not describe
    proto: int
    stack: list[Any]
    read: Callable[[int], bytes]
    readinto: Callable[[bytearray], int]
    append: Callable[[Any], None]

    dispatch: ClassVar[dict[int, Callable[[Any], None]]] = dict(pickle._Unpickler.dispatch)

    def __init__(
        self,
        file: Any,
        *,
        allowed: frozenset[tuple[str, str]] | set[tuple[str, str]] = frozenset(),
        substitutes: Mapping[tuple[str, str], Callable[..., Any]] | None = None,
        persistent_load: Callable[[Any], Any] | None = None,
        what: str = "pickle data",
        max_bytes: int | None = None,
    ) -> None:
        size: int | None = None
        if isinstance(file, (bytes, bytearray, memoryview)):
            file = _Source(file)
            size = file.size
        super().__init__(file)
        self._allowed = frozenset(allowed)
        self._substitutes = dict(substitutes or {})
        self._persistent = persistent_load
        self._what = what
        self.limit = max_bytes if max_bytes is not None else default_budget(size or 0)
        self.spent = 0
        self._size = size
        self._numpy = NumpyGuard(charge=self.charge, refuse=self.refuse, corrupt=self.corrupt)
        self._buildable: set[type] = set()

    # ------------------------------------------------------------------------------------------ errors
    def refuse(self, construct: str) -> UnsafePickleError:
        return UnsafePickleError(self._what, construct)

    def corrupt(self, reason: str) -> CorruptMetadataError:
        return CorruptMetadataError(self._what, f"not a valid pickle ({reason})")

    def charge(self, nbytes: int, construct: str) -> None:
        """Count ``nbytes`` against the budget before they are allocated."""
        if nbytes < 0 or self.spent + nbytes > self.limit:
            raise ResourceLimitError(
                f"{self._what} ({construct})",
                nbytes,
                self.limit - self.spent,
                "The data is damaged or hostile; if it is genuine, load it with a larger max_bytes.",
            )
        self.spent += nbytes

    # ------------------------------------------------------------------------------------------ globals
    def find_class(self, module: str, name: str) -> Any:
        if self.proto < 3:  # Python 2 names (__builtin__.list), as pickle's own fix_imports maps them
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            else:
                module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        key = (module, name)
        if key in self._substitutes:
            found = self._substitutes[key]
        elif key not in self._allowed:
            raise UnsafePickleError(self._what, f"{module}.{name}")
        elif key in NUMPY_GUARDS:
            return self._numpy.guard(NUMPY_GUARDS[key])
        elif key in _CONTAINERS:
            return self._container(_CONTAINERS[key], name)
        elif key == ("builtins", "bytearray"):
            return self._bytearray
        elif key == ("builtins", "bytes"):
            return self._bytes
        elif key in (("codecs", "encode"), ("_codecs", "encode")):
            return self._encode
        else:
            found = getattr(importlib.import_module(module), name)
        if isinstance(found, type):
            self._buildable.add(found)
        return found

    def persistent_load(self, pid: Any) -> Any:
        if self._persistent is None:
            raise UnsafePickleError(self._what, f"persistent id {pid!r}")
        return self._persistent(pid)

    # -------------------------------------------------------------------------------------- guarded builtins
    def _size_of(self, value: Any, construct: str) -> int:
        try:
            return len(value)
        except OverflowError:  # range(10**30)
            raise ResourceLimitError(f"{self._what} ({construct})", 2**63, self.limit - self.spent) from None
        except TypeError:
            raise self.refuse(f"{construct} of a {type(value).__name__}") from None

    def _container(self, kind: Callable[..., Any], name: str) -> Callable[..., Any]:
        def build(*args: Any) -> Any:
            if len(args) > 1:
                raise self.corrupt(f"{name}() takes at most one argument")
            if args:
                self.charge(ITEM_BYTES * self._size_of(args[0], f"{name}()"), f"{name}() of an iterable")
            return kind(*args)

        return build

    def _bytearray(self, source: Any = b"", *args: Any) -> bytearray:
        self._charge_bytes(source, "bytearray")
        return bytearray(source, *args)

    def _bytes(self, source: Any = b"", *args: Any) -> bytes:
        self._charge_bytes(source, "bytes")
        return bytes(source, *args)

    def _charge_bytes(self, source: Any, kind: str) -> None:
        if isinstance(source, bool) or not isinstance(
            source, (int, str, bytes, bytearray, memoryview, range)
        ):
            raise self.refuse(f"builtins.{kind} of a {type(source).__name__}")
        count = source if isinstance(source, int) else self._size_of(source, f"{kind}()")
        self.charge(count * (4 if isinstance(source, str) else 1), f"{kind}({count})")

    def _encode(self, text: Any, encoding: Any = "utf-8", errors: Any = "strict") -> bytes:
        if (
            not isinstance(text, str)
            or not isinstance(encoding, str)
            or encoding.lower() not in _TEXT_ENCODINGS
        ):
            raise self.refuse(f"codecs.encode with {type(text).__name__}, {encoding!r}")
        if errors != "strict":
            raise self.refuse(f"codecs.encode with errors={errors!r}")
        self.charge(4 * len(text), "codecs.encode")
        return codecs.encode(text, encoding)

    # ------------------------------------------------------------------------------------------ opcodes
    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, (np.ndarray, np.dtype)):
            self._numpy.build(inst, state)
            return
        if type(inst) not in self._buildable:
            raise self.refuse(f"BUILD on a {type(inst).__name__}")
        self.stack.append(state)
        _BASE_BUILD(self)

    dispatch[pickle.BUILD[0]] = load_build

    def load_bytearray8(self) -> None:
        (count,) = struct.unpack("<Q", self.read(8))
        if self._size is not None and count > self._size:
            raise self.corrupt(f"BYTEARRAY8 declares {count} bytes in a {self._size}-byte pickle")
        self.charge(count, f"BYTEARRAY8 of {count} bytes")
        buffer = bytearray(count)
        self.readinto(buffer)
        self.append(buffer)

    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8

    def load_ext(self) -> None:
        raise self.refuse("a copyreg extension code (EXT opcode)")

    dispatch[pickle.EXT1[0]] = load_ext
    dispatch[pickle.EXT2[0]] = load_ext
    dispatch[pickle.EXT4[0]] = load_ext

    def load(self) -> Any:
        try:
            return super().load()
        except MemoryError as exc:
            if isinstance(exc, ResourceLimitError):
                raise
            raise ResourceLimitError(self._what, self.spent, self.limit) from exc


def restricted_loads(
    data: bytes,
    *,
    allowed: frozenset[tuple[str, str]] | set[tuple[str, str]] = NUMPY_ARRAY_GLOBALS | PLAIN_DATA_GLOBALS,
    substitutes: Mapping[tuple[str, str], Callable[..., Any]] | None = None,
    what: str = "pickle data",
    max_bytes: int | None = None,
) -> Any:
    """Unpickle ``data`` allowing only the given globals, within an allocation budget.

    Raises
    ------
    UnsafePickleError
        The payload names a global that is not allowed, or asks numpy for objects over raw bytes (nothing of
        it was called).
    ResourceLimitError
        The payload asks for more memory than ``max_bytes`` (default :func:`default_budget`).
    CorruptMetadataError
        The payload is not a valid pickle.
    """
    try:
        return RestrictedUnpickler(
            data, allowed=allowed, substitutes=substitutes, what=what, max_bytes=max_bytes
        ).load()
    except (UnsafePickleError, ResourceLimitError, CorruptMetadataError):
        raise
    except PICKLE_ERRORS as exc:
        raise CorruptMetadataError(what, f"not a valid pickle ({type(exc).__name__}: {exc})") from exc


#: What a damaged pickle makes the unpickler raise (besides zarrbridge's own errors).
PICKLE_ERRORS: tuple[type[Exception], ...] = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    IndexError,
    KeyError,
    struct.error,
    OverflowError,
    RecursionError,
)
