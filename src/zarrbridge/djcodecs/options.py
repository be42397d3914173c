"""Per-value wrappers that choose how one inserted array is laid out (in the spirit of hdmf's ``ZarrDataIO``).

Insert the bare array to get the defaults; wrap it to choose chunks,
shards and compressors for that value only::

    Recording.insert1({"recording_id": 1, "waveform": ZarrValue(data, chunks=(10_000, 32))})

Nothing here imports DataJoint: these are plain frozen value objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.arrays import DEFAULT_CHUNK_BYTES, ArrayPolicy, to_zarr_codecs
from ..errors import InvalidOptionError, UnsupportedDtypeError, UnsupportedValueTypeError

__all__ = ["ACCEPTED_INPUTS", "PhotonValue", "ZarrValue", "check_array_input"]

ACCEPTED_INPUTS = "a numpy.ndarray, a zarr.Array or a dask.array.Array (optionally wrapped in ZarrValue)"
_STORABLE_KINDS = "biufc"  # bool, signed, unsigned, float, complex


def _is_dask(value: Any) -> bool:
    return (
        type(value).__module__.startswith("dask.array")
        and hasattr(value, "dask")
        and hasattr(value, "chunks")
    )


def check_array_input(value: Any, *, what: str) -> None:
    """Raise a clear error unless ``value`` is a numeric numpy, zarr or dask array.

    Checks only the type, dtype and shape metadata: nothing is read or computed.

    Raises
    ------
    UnsupportedValueTypeError
        ``value`` is not an array (lists, scalars, dicts, strings...).
    UnsupportedDtypeError
        The array holds objects, strings, bytes, dates or records.
    """
    import zarr

    if not isinstance(value, (np.ndarray, zarr.Array)) and not _is_dask(value):
        hint = ACCEPTED_INPUTS
        if isinstance(value, (list, tuple, int, float)):
            hint += " (convert it with numpy.asarray first)"
        raise UnsupportedValueTypeError(what, type(value).__name__, hint)
    dtype = np.dtype(value.dtype) if not isinstance(value, zarr.Array) else value.dtype
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise UnsupportedDtypeError(what, dtype, "Only numeric and bool arrays can be stored.") from None
    if dtype.kind not in _STORABLE_KINDS or dtype.names is not None:
        raise UnsupportedDtypeError(
            what,
            str(dtype),
            "Only numeric and bool arrays can be stored: object, string, bytes, datetime and record arrays "
            "cannot. Store strings in a varchar/json attribute, or convert to numbers first.",
        )


@dataclass(frozen=True, eq=False)
class ZarrValue:
    """An array plus the layout to store it with in a ``<zarr@store>`` attribute.

    Parameters
    ----------
    data
        A numpy array, a :class:`zarr.Array` (copied chunk by chunk) or a :class:`dask.array.Array`
        (computed and written block by block, so it may be larger than memory).
    chunks
        Chunk shape; ``None`` picks chunks of about ``target_chunk_bytes``.
    shards
        Shard shape (a multiple of ``chunks``): many chunks in one stored object; ``None`` for none.
    compressors
        zarr v3 or numcodecs codecs, ``"default"`` (Blosc-zstd with byte shuffle) or ``None`` (uncompressed).
    filters
        Array-to-array codecs or numcodecs filters applied before compression.
    target_chunk_bytes
        Size aimed at by automatic chunking.

    Examples
    --------
    >>> import numcodecs
    >>> v = ZarrValue(np.zeros((100, 4)), chunks=(50, 4), compressors=numcodecs.Zstd(level=3))
    >>> v.policy.chunks
    (50, 4)
    """

    data: Any
    chunks: tuple[int, ...] | None = None
    shards: tuple[int, ...] | None = None
    compressors: Any = "default"
    filters: tuple[Any, ...] = ()
    target_chunk_bytes: int = DEFAULT_CHUNK_BYTES
    policy: ArrayPolicy = field(init=False, repr=False)

    def __post_init__(self) -> None:
        check_array_input(self.data, what="ZarrValue")
        # ArrayPolicy validates chunks/shards/compressors and raises InvalidOptionError naming the bad one
        policy = ArrayPolicy(
            chunks=self.chunks,
            shards=self.shards,
            compressors=self.compressors,
            filters=tuple(self.filters),
            target_chunk_bytes=self.target_chunk_bytes,
        )
        if policy.chunks is not None and len(policy.chunks) != len(self.data.shape):
            raise InvalidOptionError(
                f"ZarrValue chunks {policy.chunks} have {len(policy.chunks)} dimensions but the array has "
                f"shape {tuple(self.data.shape)}; give one chunk length per dimension"
            )
        to_zarr_codecs(policy.compressors)  # raise now, naming the bad codec, rather than at insert
        if policy.filters:
            to_zarr_codecs(policy.filters)
        object.__setattr__(self, "policy", policy)


@dataclass(frozen=True, eq=False)
class PhotonValue:
    """A photon-limited movie plus the transform settings for a ``<photon@store>`` attribute.

    Parameters
    ----------
    data
        Movie of shape (frames, height, width) in detector units (non-negative counts plus an offset).
    sensitivity
        Detector units per photon. ``None`` estimates it from the movie (variance against mean of
        temporal differences, pixel by pixel).
    zero_level
        Detector reading for zero photons. ``None`` estimates it together with ``sensitivity``.
    beta
        Quantisation step in units of the photon noise after the Anscombe transform (whose standard deviation
        is 1). The error it adds has standard deviation ``beta / sqrt(12)`` of the photon noise: 0.5 adds
        about 14 % of the noise in quadrature, i.e. about 1 % to the total noise. anscombe-v1, the codec
        ``<photon@>`` stores with, has this step built in: 0.5 is the only value accepted.
    frames_per_chunk
        Frames per stored chunk (whole frames); ``None`` picks about 4 MB per chunk.
    """

    data: Any
    sensitivity: float | None = None
    zero_level: float | None = None
    beta: float = 0.5
    frames_per_chunk: int | None = None

    def __post_init__(self) -> None:
        check_array_input(self.data, what="PhotonValue")
        if len(self.data.shape) != 3:
            raise InvalidOptionError(
                "<photon> stores movies of shape (frames, height, width); got shape "
                f"{tuple(self.data.shape)}. Use <zarr@store> for other arrays."
            )
        if np.dtype(self.data.dtype).kind == "c":
            raise UnsupportedDtypeError(
                "PhotonValue", str(self.data.dtype), "Photon counts are real numbers."
            )
        if self.sensitivity is not None and not (np.isfinite(self.sensitivity) and self.sensitivity > 0):
            raise InvalidOptionError(f"sensitivity must be a positive number, got {self.sensitivity!r}")
        if self.zero_level is not None and not np.isfinite(self.zero_level):
            raise InvalidOptionError(f"zero_level must be a finite number, got {self.zero_level!r}")
        if (self.sensitivity is None) != (self.zero_level is None):
            raise InvalidOptionError(
                "give both sensitivity and zero_level, or neither (both are then estimated)"
            )
        if self.beta != 0.5:
            raise InvalidOptionError(
                f"beta must be 0.5 (units of photon noise), got {self.beta!r}: the anscombe-v1 codec "
                "<photon> stores with quantises in that fixed step"
            )
        if self.frames_per_chunk is not None and (
            isinstance(self.frames_per_chunk, bool)
            or not isinstance(self.frames_per_chunk, int)
            or self.frames_per_chunk < 1
        ):
            raise InvalidOptionError(
                f"frames_per_chunk must be a positive integer, got {self.frames_per_chunk!r}"
            )
