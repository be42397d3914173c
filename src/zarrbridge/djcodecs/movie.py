"""The lazy, read-only movie that ``<photon@store>`` returns on fetch."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import zarr

from ..errors import ReadOnlyError
from .anscombe import AnscombeParams, inverse

__all__ = ["PhotonMovie"]


class PhotonMovie:
    """A stored photon movie in detector units, decoded on slicing.

    Only the frames a selection needs are read and inverse-transformed; ``numpy.asarray(movie)`` reads all.
    Values are ``float32`` readings (the inverse transform is not integer-valued).

    Parameters
    ----------
    quantised
        The stored (read-only) array of quantised Anscombe values.
    params
        The transform parameters recorded with it.
    original_dtype
        The dtype of the inserted movie (for information; values come back as ``float32``).

    Examples
    --------
    >>> movie = (Scan & key).fetch1("movie")      # doctest: +SKIP
    >>> movie.shape, movie.dtype                  # doctest: +SKIP
    ((3000, 512, 512), dtype('float32'))
    >>> first = movie[0]                          # doctest: +SKIP
    """

    __slots__ = ("_original_dtype", "_params", "_q")

    def __init__(
        self, quantised: zarr.Array[Any], params: AnscombeParams, original_dtype: np.dtype[Any]
    ) -> None:
        self._q = quantised
        self._params = params
        self._original_dtype = np.dtype(original_dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        """(frames, height, width)."""
        return tuple(int(s) for s in self._q.shape)

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
        return tuple(int(c) for c in self._q.chunks)

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
        """The stored read-only zarr array of quantised values."""
        return self._q

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, selection: Any) -> np.ndarray[Any, Any]:
        return inverse(self._q[selection], self._params)

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
