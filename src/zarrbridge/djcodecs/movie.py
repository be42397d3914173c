"""The lazy, read-only movie that ``<photon@store>`` returns on fetch."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import zarr

from ..errors import ReadOnlyError
from .anscombe import AnscombeParams

__all__ = ["PhotonMovie"]


class PhotonMovie:
    """A stored photon movie in detector units, decoded on slicing.

    Only the frames a selection needs are read and decoded; ``numpy.asarray(movie)`` reads all. Values are
    ``float32`` readings, whichever format the row has.

    Parameters
    ----------
    array
        The stored (read-only) zarr array as zarr decodes it: readings (format 2, through the ``anscombe-v1``
        codec) or quantised values (format 1).
    params
        The transform parameters recorded with it.
    original_dtype
        The dtype of the inserted movie (for information; values come back as ``float32``).
    inverse
        Turns what ``array`` returns into readings (format 1's algebraic inverse); ``None`` when ``array``
        already returns readings.
    quantised
        The stored codes as a read-only zarr array (defaults to ``array``).

    Examples
    --------
    >>> movie = (Scan & key).fetch1("movie")      # doctest: +SKIP
    >>> movie.shape, movie.dtype                  # doctest: +SKIP
    ((3000, 512, 512), dtype('float32'))
    >>> first = movie[0]                          # doctest: +SKIP
    """

    __slots__ = ("_array", "_inverse", "_original_dtype", "_params", "_q")

    def __init__(
        self,
        array: zarr.Array[Any],
        params: AnscombeParams,
        original_dtype: np.dtype[Any],
        *,
        inverse: Callable[[Any], np.ndarray[Any, Any]] | None = None,
        quantised: zarr.Array[Any] | None = None,
    ) -> None:
        self._array = array
        self._inverse = inverse
        self._q = array if quantised is None else quantised
        self._params = params
        self._original_dtype = np.dtype(original_dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        """(frames, height, width)."""
        return tuple(int(s) for s in self._array.shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        """Always ``float32``."""
        return np.dtype(np.float32)

    @property
    def ndim(self) -> int:
        """3."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of values."""
        return math.prod(self.shape)

    @property
    def chunks(self) -> tuple[int, ...]:
        """Stored chunk shape: (frames per chunk, height, width)."""
        return tuple(int(c) for c in self._array.chunks)

    @property
    def params(self) -> AnscombeParams:
        """Transform parameters (sensitivity, zero level, quantisation step)."""
        return self._params

    @property
    def original_dtype(self) -> np.dtype[Any]:
        """Dtype of the movie as inserted."""
        return self._original_dtype

    @property
    def quantised(self) -> zarr.Array[Any]:
        """The stored codes (quantised Anscombe values) as a read-only zarr array."""
        return self._q

    @property
    def array(self) -> zarr.Array[Any]:
        """The stored read-only zarr array as any zarr reader decodes it (format 2: readings)."""
        return self._array

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, selection: Any) -> np.ndarray[Any, Any]:
        data = self._array[selection]
        if self._inverse is not None:
            return self._inverse(data)
        return np.asarray(data, dtype=np.float32)

    def __setitem__(self, selection: Any, value: Any) -> None:
        raise ReadOnlyError(
            "a <photon> movie fetched from DataJoint",
            "to change it, insert a new row with the new movie, or copy it with numpy.asarray(...) first",
        )

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray[Any, Any]:
        data = self[...]
        return data if dtype is None else data.astype(dtype)

    def __repr__(self) -> str:
        p = self._params
        return (
            f"PhotonMovie(shape={self.shape}, chunks={self.chunks}, sensitivity={p.sensitivity:.4g}, "
            f"zero_level={p.zero_level:.4g}, beta={p.beta})"
        )
