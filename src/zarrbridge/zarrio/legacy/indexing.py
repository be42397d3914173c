"""Orthogonal selections on a chunked array: which chunks a selection touches and where each part goes.

Slices never materialise index arrays (an axis may have billions of elements); integer and boolean arrays
are grouped by chunk. Several array axes select orthogonally (like ``numpy.ix_``), as in zarr and h5py.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["AxisPart", "Selection", "plan_selection"]

Index = slice | np.ndarray[Any, Any] | int


@dataclass(frozen=True)
class AxisPart:
    """One chunk's share of one axis: ``local`` selects inside the chunk, ``out`` places it in the result."""

    chunk: int
    local: Index
    out: slice | np.ndarray[Any, Any]


@dataclass(frozen=True)
class Selection:
    """A planned selection: the result shape (before dropping integer axes) and each axis' parts."""

    out_shape: tuple[int, ...]
    drop: tuple[bool, ...]
    axes: tuple[tuple[AxisPart, ...], ...]

    @property
    def final_shape(self) -> tuple[int, ...]:
        return tuple(n for n, d in zip(self.out_shape, self.drop) if not d)

    def parts(self) -> Iterator[tuple[AxisPart, ...]]:
        """Every combination of axis parts: one per touched chunk."""
        return itertools.product(*self.axes)


def _expand(key: Any, ndim: int) -> tuple[Any, ...]:
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is None for k in key):
        raise IndexError("np.newaxis is not supported in legacy array selections")
    ellipses = sum(1 for k in key if k is Ellipsis)
    if ellipses > 1:
        raise IndexError("a selection can hold only one Ellipsis")
    if ellipses:
        i = next(i for i, k in enumerate(key) if k is Ellipsis)
        key = key[:i] + (slice(None),) * (ndim - len(key) + 1) + key[i + 1 :]
    if len(key) > ndim:
        raise IndexError(f"too many indices: {len(key)} for an array of {ndim} dimensions")
    expanded: tuple[Any, ...] = key + (slice(None),) * (ndim - len(key))
    return expanded


def _slice_parts(sel: slice, n: int, c: int) -> tuple[tuple[AxisPart, ...], int]:
    start, stop, step = sel.indices(n)
    count = len(range(start, stop, step))
    if count == 0:
        return (), 0
    if step < 0:
        return _array_parts(np.arange(start, stop, step), c), count
    last = start + (count - 1) * step
    parts = []
    for k in range(start // c, last // c + 1):
        lo, hi = k * c, min((k + 1) * c, last + 1)
        first = start + -(-(max(start, lo) - start) // step) * step
        if first >= hi:
            continue
        n_in = len(range(first, hi, step))
        o = (first - start) // step
        parts.append(AxisPart(k, slice(first - lo, hi - lo, step), slice(o, o + n_in)))
    return tuple(parts), count


def _as_slice(values: np.ndarray[Any, Any]) -> slice | np.ndarray[Any, Any]:
    if values.size and np.all(np.diff(values) == 1):
        return slice(int(values[0]), int(values[-1]) + 1)
    return values


def _array_parts(indices: np.ndarray[Any, Any], c: int) -> tuple[AxisPart, ...]:
    chunk_ids = indices // c
    parts = []
    for k in np.unique(chunk_ids):
        positions = np.nonzero(chunk_ids == k)[0]
        parts.append(AxisPart(int(k), _as_slice(indices[positions] - int(k) * c), _as_slice(positions)))
    return tuple(parts)


def _axis(key: Any, n: int, c: int, axis: int) -> tuple[tuple[AxisPart, ...], int, bool]:
    if isinstance(key, slice):
        parts, count = _slice_parts(key, n, c)
        return parts, count, False
    if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
        i = operator.index(key)
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of bounds for axis {axis} with size {n}")
        i %= n
        return (AxisPart(i // c, i % c, slice(0, 1)),), 1, True
    arr = np.asarray(key)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise IndexError(f"boolean index of shape {arr.shape} does not match axis {axis} of size {n}")
        arr = np.nonzero(arr)[0]
    elif arr.dtype.kind not in "iu" or arr.ndim != 1:
        raise IndexError(
            f"unsupported selection {key!r} on axis {axis}: use ints, slices, or 1-D int/bool arrays"
        )
    if arr.size and (arr.min() < -n or arr.max() >= n):
        raise IndexError(f"index array {key!r} is out of bounds for axis {axis} with size {n}")
    arr = np.where(arr < 0, arr + n, arr).astype(np.int64)
    return _array_parts(arr, c), int(arr.size), False


def selection_shape(key: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The element counts ``array[key]`` selects per axis, computed without planning
    (for size checks first)."""
    if not shape:
        return ()
    counts = []
    for k, n in zip(_expand(key, len(shape)), shape):
        if isinstance(k, slice):
            counts.append(len(range(*k.indices(n))))
        elif isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)):
            counts.append(1)
        else:
            arr = np.asarray(k)
            counts.append(int(np.count_nonzero(arr)) if arr.dtype == bool else int(arr.size))
    return tuple(counts)


def plan_selection(key: Any, shape: tuple[int, ...], chunks: tuple[int, ...]) -> Selection:
    """Plan ``array[key]`` on an array of ``shape`` stored in ``chunks``."""
    if not shape:
        if key not in ((), Ellipsis) and not (isinstance(key, tuple) and all(k is Ellipsis for k in key)):
            raise IndexError("a zero-dimensional array takes only () or ... as a selection")
        return Selection((), (), ())
    axes, counts, drop = [], [], []
    for axis, (k, n, c) in enumerate(zip(_expand(key, len(shape)), shape, chunks)):
        parts, count, dropped = _axis(k, n, c, axis)
        axes.append(parts)
        counts.append(count)
        drop.append(dropped)
    return Selection(tuple(counts), tuple(drop), tuple(axes))


def place(out: np.ndarray[Any, Any], chunk: np.ndarray[Any, Any], parts: tuple[AxisPart, ...]) -> None:
    """Copy the selected part of ``chunk`` into ``out`` (both orthogonal, axis by axis)."""
    sub = chunk
    for axis, part in enumerate(parts):
        sub = sub[(slice(None),) * axis + (_keep_dim(part.local),)]
    targets = [p.out for p in parts]
    if sum(isinstance(t, np.ndarray) for t in targets) > 1:
        out[np.ix_(*[np.arange(t.start, t.stop) if isinstance(t, slice) else t for t in targets])] = sub
    else:
        out[tuple(targets)] = sub


def _keep_dim(index: Index) -> slice | np.ndarray[Any, Any]:
    return slice(index, index + 1) if isinstance(index, int) else index
