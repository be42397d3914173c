"""numpy's pickle constructors, guarded: dtypes made by public constructors, never objects over raw bytes.

numpy pickles an array as ``_reconstruct(ndarray, (0,), b"b")`` followed by a ``BUILD`` with the state
``(1, shape, dtype, is_fortran, data)``; a dtype as ``dtype("V12", False, True)`` followed by a ``BUILD`` with
``(3, endian, subarray, names, fields, elsize, alignment, flags)``; a scalar as ``scalar(dtype, raw)``; a
protocol-5 array as ``_frombuffer(buffer, dtype, shape, order)``. numpy trusts the pickled dtype flags: a
dtype with an object field and flags of 0 passes for plain bytes, so ``data``, ``raw`` or ``buffer`` become
object pointers of the attacker's choosing. :class:`NumpyGuard` instead

- rebuilds every dtype state through ``np.dtype`` from names, formats and offsets (numpy computes the flags
  and refuses overlapping object fields), and lets a dtype be built only once, before anything uses it;
- accepts an object-holding dtype only with a list of elements (as numpy writes it), never with bytes;
- checks that raw data has exactly the size its shape and dtype need, and charges every allocation to the
  unpickler's budget before making it (a shape of ``2**40`` elements is refused, not attempted).
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import CorruptMetadataError, UnsafePickleError

__all__ = ["NUMPY_GUARDS", "Forbidden", "NumpyGuard"]

NUMPY_GUARDS: dict[tuple[str, str], str] = {
    ("numpy.core.multiarray", "_reconstruct"): "reconstruct",
    ("numpy._core.multiarray", "_reconstruct"): "reconstruct",
    ("numpy.core.multiarray", "scalar"): "scalar",
    ("numpy._core.multiarray", "scalar"): "scalar",
    ("numpy.core.numeric", "_frombuffer"): "frombuffer",
    ("numpy._core.numeric", "_frombuffer"): "frombuffer",
    ("numpy", "ndarray"): "ndarray",
    ("numpy", "dtype"): "dtype",
}
"""The numpy globals a restricted load never gets as they are, and the guard that replaces each."""

_ALIGNED_STRUCT = 0x80  # numpy's NPY_ALIGNED_STRUCT dtype flag
_OBJECT_POINTER = np.dtype(object).itemsize
_RAW = (bytes, bytearray, memoryview, pickle.PickleBuffer)


class Forbidden:
    """Stands for a class the pickle may name (as an argument of a guard) but never call."""

    def __init__(self, name: str, refuse: Callable[[str], Exception]) -> None:
        self.name = name
        self._refuse = refuse

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise self._refuse(f"{self.name} called directly")

    def __repr__(self) -> str:
        return f"<{self.name}: not callable in a restricted load>"


def _count(shape: Any, corrupt: Callable[[str], Exception]) -> tuple[tuple[int, ...], int]:
    if not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape):
        raise corrupt(f"a numpy shape must be a tuple of non-negative integers, got {shape!r}")
    if len(shape) > 64:
        raise corrupt(f"a numpy shape has at most 64 dimensions, got {len(shape)}")
    return shape, math.prod(shape)


class NumpyGuard:
    """The guarded numpy constructors of one restricted load.

    Parameters
    ----------
    charge
        ``charge(nbytes, construct)`` counts an allocation against the load's budget (raising
        :class:`~zarrbridge.errors.ResourceLimitError` when it would go over), before it is made.
    refuse
        Makes the :class:`~zarrbridge.errors.UnsafePickleError` for a refused construction.
    corrupt
        Makes the :class:`~zarrbridge.errors.CorruptMetadataError` for a malformed one.
    """

    def __init__(
        self,
        *,
        charge: Callable[[int, str], None],
        refuse: Callable[[str], UnsafePickleError],
        corrupt: Callable[[str], CorruptMetadataError],
    ) -> None:
        self._charge = charge
        self._refuse = refuse
        self._corrupt = corrupt
        self.ndarray = Forbidden("numpy.ndarray", refuse)
        self._fresh_dtypes: dict[int, tuple[np.dtype[Any], str]] = {}  # made here, neither built nor used
        self._fresh_arrays: dict[int, np.ndarray[Any, Any]] = {}  # made by _reconstruct, not yet built

    def guard(self, name: str) -> Any:
        """The replacement of the numpy global whose :data:`NUMPY_GUARDS` entry is ``name``."""
        guards: dict[str, Any] = {
            "reconstruct": self.reconstruct,
            "scalar": self.scalar,
            "frombuffer": self.frombuffer,
            "ndarray": self.ndarray,
            "dtype": self.dtype,
        }
        return guards[name]

    # ------------------------------------------------------------------------------------------ dtypes
    def dtype(self, spec: Any, align: Any = False, copy: Any = True) -> np.dtype[Any]:
        """``numpy.dtype(spec, align, copy)`` for a type string; always a fresh copy
        (never numpy's singleton)."""
        if not isinstance(spec, str) or not isinstance(align, bool) or not isinstance(copy, bool):
            raise self._refuse(f"numpy.dtype({spec!r}, {align!r}, {copy!r}): only a type string is accepted")
        try:
            made: np.dtype[Any] = np.dtype(spec, align=align, copy=True)
        except (TypeError, ValueError) as exc:
            raise self._corrupt(f"numpy.dtype({spec!r}): {exc}") from exc
        self._fresh_dtypes[id(made)] = (made, spec)
        return made

    def _use(self, dtype: Any) -> np.dtype[Any]:
        """``dtype`` as an argument of a construction: from now on no state can be applied to it."""
        if not isinstance(dtype, np.dtype):
            raise self._corrupt(f"expected a numpy dtype, got a {type(dtype).__name__}")
        self._fresh_dtypes.pop(id(dtype), None)
        return dtype

    def _build_dtype(self, inst: np.dtype[Any], state: Any) -> None:
        entry = self._fresh_dtypes.pop(id(inst), None)
        if entry is None or entry[0] is not inst:
            raise self._refuse("numpy.dtype state applied to a dtype that is already built or in use")
        safe = self._dtype_from_state(entry[1], state)
        inst.__setstate__(safe.__reduce__()[2])  # type: ignore[attr-defined]
        if inst != safe or inst.flags != safe.flags or inst.itemsize != safe.itemsize:
            raise self._refuse(f"numpy.dtype state {state!r} that numpy does not rebuild as {safe!r}")

    def _dtype_from_state(self, spec: str, state: Any) -> np.dtype[Any]:
        if not isinstance(state, tuple) or len(state) not in (8, 9) or state[0] not in (3, 4):
            raise self._corrupt(f"unsupported numpy dtype state {state!r}")
        _, endian, subarray, names, fields, elsize, _, flags = state[:8]
        metadata = state[8] if len(state) == 9 else None
        base: np.dtype[Any] = np.dtype(spec)
        if not isinstance(elsize, int) or not isinstance(flags, int) or endian not in ("<", ">", "=", "|"):
            raise self._corrupt(f"malformed numpy dtype state {state!r}")
        if names is not None or fields is not None:
            made = self._structured(base, names, fields, elsize, flags, subarray)
        elif subarray is not None:
            if base.kind != "V" or not isinstance(subarray, tuple) or len(subarray) != 2:
                raise self._corrupt(f"malformed numpy subarray dtype state {state!r}")
            item, (sub_shape, _) = self._use(subarray[0]), _count(subarray[1], self._corrupt)
            made = np.dtype((item, sub_shape))
        else:
            made = base
            if base.kind in "mM" and metadata is not None:
                made = np.dtype(f"{spec}[{_datetime_unit(metadata, self._corrupt)}]")
            if endian in "<>" and made.byteorder != "|":
                made = made.newbyteorder(endian)
        if elsize != -1 and made.itemsize != elsize:
            raise self._corrupt(f"numpy dtype state says {elsize} bytes per item, {made} has {made.itemsize}")
        if made.__reduce__()[1][0] != base.__reduce__()[1][0]:
            raise self._corrupt(f"numpy dtype state {state!r} does not describe a {spec!r} dtype")
        return made

    def _structured(
        self, base: np.dtype[Any], names: Any, fields: Any, elsize: int, flags: int, subarray: Any
    ) -> np.dtype[Any]:
        if (
            base.kind != "V"
            or subarray is not None
            or not isinstance(names, tuple)
            or not all(isinstance(n, str) for n in names)
            or not isinstance(fields, dict)
        ):
            raise self._corrupt(f"malformed structured dtype state (names {names!r})")
        formats: list[np.dtype[Any]] = []
        offsets: list[int] = []
        titles: list[str | None] = []
        for name in names:
            entry = fields.get(name)
            if not isinstance(entry, tuple) or len(entry) not in (2, 3):
                raise self._corrupt(f"malformed field {name!r} in a structured dtype state")
            offset, title = entry[1], entry[2] if len(entry) == 3 else None
            if type(offset) is not int or offset < 0 or not (title is None or isinstance(title, str)):
                raise self._corrupt(f"malformed field {name!r} in a structured dtype state")
            formats.append(self._use(entry[0]))
            offsets.append(offset)
            titles.append(title)
        layout: dict[str, Any] = {"names": list(names), "formats": formats, "offsets": offsets}
        if elsize >= 0:
            layout["itemsize"] = elsize
        if any(t is not None for t in titles):
            layout["titles"] = titles
        try:  # numpy's constructor computes the flags and refuses overlapping object fields
            made: np.dtype[Any] = np.dtype(layout, align=bool(flags & _ALIGNED_STRUCT))  # type: ignore[call-overload]
            return made
        except (TypeError, ValueError) as exc:
            raise self._refuse(f"structured numpy dtype {layout!r} ({exc})") from exc

    # ------------------------------------------------------------------------------------------ arrays
    def reconstruct(self, cls: Any, shape: Any, typecode: Any) -> np.ndarray[Any, Any]:
        """``numpy._core.multiarray._reconstruct``: the empty array a ``BUILD`` then fills."""
        if cls is not self.ndarray:
            raise self._refuse(f"numpy _reconstruct of {cls!r} (only numpy.ndarray is rebuilt)")
        shape, count = _count(shape, self._corrupt)
        if not isinstance(typecode, (bytes, str)) or len(typecode) > 8:
            raise self._corrupt(f"numpy _reconstruct with the type code {typecode!r}")
        code = np.dtype(typecode.decode("ascii") if isinstance(typecode, bytes) else typecode)
        if code.hasobject or code.kind not in "biuf":
            raise self._refuse(f"numpy _reconstruct with the type code {typecode!r}")
        self._charge(count * code.itemsize, f"numpy array of shape {shape}")
        made: np.ndarray[Any, Any] = np.ndarray(shape, code)
        self._fresh_arrays[id(made)] = made
        return made

    def build(self, inst: np.ndarray[Any, Any] | np.dtype[Any], state: Any) -> None:
        """A ``BUILD`` on an array made by :meth:`reconstruct` or a dtype made by :meth:`dtype`."""
        if isinstance(inst, np.dtype):
            self._build_dtype(inst, state)
            return
        if self._fresh_arrays.pop(id(inst), None) is not inst:
            raise self._refuse("numpy.ndarray state applied to an array that is already built")
        if not isinstance(state, tuple) or len(state) != 5 or state[0] != 1:
            raise self._corrupt(
                f"unsupported numpy array state of {len(state) if isinstance(state, tuple) else 0}"
            )
        _, shape, dtype, fortran, data = state
        shape, count = _count(shape, self._corrupt)
        dtype = self._use(dtype)
        if not isinstance(fortran, bool):
            raise self._corrupt(f"numpy array state with is_fortran={fortran!r}")
        what = f"numpy array of shape {shape} and dtype {dtype}"
        if dtype.hasobject:
            if not isinstance(data, list):
                raise self._refuse(f"{what} over raw {type(data).__name__} (objects come as a list)")
            self._charge(count * max(dtype.itemsize, _OBJECT_POINTER), what)
            if len(data) != count:
                raise self._corrupt(f"{what} with {len(data)} elements")
        else:
            if isinstance(data, str):  # Python 2 pickles: bytes as latin-1 text
                self._charge(len(data), what)
                data = data.encode("latin-1")
            if not isinstance(data, _RAW):
                raise self._corrupt(f"{what} with data of type {type(data).__name__}")
            self._charge(count * dtype.itemsize, what)
            if memoryview(data).nbytes != count * dtype.itemsize:
                raise self._corrupt(f"{what} with {memoryview(data).nbytes} bytes of data")
        inst.__setstate__((1, shape, dtype, fortran, data))  # type: ignore[arg-type]

    def scalar(self, dtype: Any, raw: Any = None) -> Any:
        """``numpy._core.multiarray.scalar``: one element of ``dtype`` from its raw bytes."""
        dtype = self._use(dtype)
        if dtype.hasobject:
            if dtype.kind == "O" and dtype.names is None and dtype.subdtype is None:
                return raw  # numpy pickles an object scalar as the object itself
            if isinstance(raw, np.ndarray) and raw.shape == () and raw.dtype == dtype:
                return raw[()]  # a record with object fields comes as a 0-d array (built by this guard)
            raise self._refuse(f"numpy scalar of dtype {dtype} over raw bytes (it holds objects)")
        if isinstance(raw, str):
            raw = raw.encode("latin-1")
        if not isinstance(raw, (bytes, bytearray)) or len(raw) != dtype.itemsize or dtype.itemsize == 0:
            raise self._corrupt(f"numpy scalar of dtype {dtype} from {type(raw).__name__} data")
        self._charge(dtype.itemsize, f"numpy scalar of dtype {dtype}")
        return np.frombuffer(bytes(raw), dtype=dtype, count=1)[0]

    def frombuffer(self, buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray[Any, Any]:
        """``numpy._core.numeric._frombuffer``: a protocol-5 array over an in-band buffer."""
        dtype = self._use(dtype)
        shape, count = _count(shape, self._corrupt)
        if dtype.hasobject:
            raise self._refuse(f"numpy _frombuffer of dtype {dtype} over raw bytes (it holds objects)")
        if not isinstance(buffer, _RAW) or order not in ("C", "F", "A", "K"):
            raise self._corrupt(f"numpy _frombuffer of a {type(buffer).__name__} in order {order!r}")
        nbytes = memoryview(buffer).nbytes
        if nbytes != count * dtype.itemsize:
            raise self._corrupt(f"numpy _frombuffer of {nbytes} bytes as shape {shape} of {dtype}")
        if count == 0 or dtype.itemsize == 0:
            return np.empty(shape, dtype=dtype, order="F" if order == "F" else "C")
        return np.frombuffer(memoryview(buffer), dtype=dtype).reshape(shape, order=order)


def _datetime_unit(metadata: Any, corrupt: Callable[[str], Exception]) -> str:
    """``"10ms"`` from the metadata ``(None, (b"ms", 10, 1, 1))`` of a pickled datetime dtype."""
    unit = metadata[1] if isinstance(metadata, tuple) and len(metadata) == 2 else None
    if not (
        isinstance(unit, tuple)
        and len(unit) == 4
        and isinstance(unit[0], bytes)
        and unit[0].isalpha()
        and type(unit[1]) is int
        and unit[1] > 0
    ):
        raise corrupt(f"malformed datetime metadata {metadata!r} in a numpy dtype state")
    return f"{unit[1]}{unit[0].decode('ascii')}"
