"""``<photon@store>``: photon-limited movies, Anscombe-transformed, quantised and compressed as Zarr.

See :mod:`zarrbridge.djcodecs.anscombe` for the transform and its error, and ``docs/djcodecs.md`` for
measurements on simulated Poisson movies.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import zarr
import zarr.codecs
from zarr.abc.store import Store

from ..core.arrays import DEFAULT_CHUNK_BYTES, ArrayPolicy, create_array
from ..daskwrite import write_dask_array
from ..errors import CorruptMetadataError
from .anscombe import AnscombeParams, estimate_sensitivity, forward, storage_dtype
from .base import ATTRIBUTE_KEY, ArrayCodecBase
from .movie import PhotonMovie
from .options import PhotonValue
from .registration import register

__all__ = ["PhotonCodec"]

_SAMPLE_BYTES = 64 * 1024 * 1024  # float64 working memory for estimation and for each transformed block
_COMPRESSORS = (zarr.codecs.ZstdCodec(level=5),)  # measured smaller than blosc+shuffle on 8-bit noise


def _frames_block(shape: tuple[int, ...], chunk_frames: int) -> int:
    """Frames per transformed block: whole chunks, about ``_SAMPLE_BYTES`` of float64."""
    per_frame = max(1, shape[1] * shape[2] * 8)
    chunks = max(1, _SAMPLE_BYTES // (per_frame * chunk_frames))
    return chunks * chunk_frames


def _max_reading(data: Any) -> float:
    dtype = np.dtype(data.dtype)
    if isinstance(data, np.ndarray):
        return float(data.max()) if data.size else 0.0
    if dtype.kind in "iub":
        return float(np.iinfo(dtype).max) if dtype.kind != "b" else 1.0  # bound: no extra pass over the data
    if isinstance(data, zarr.Array):
        step = _frames_block(data.shape, 1)
        return max((float(np.max(data[t : t + step])) for t in range(0, data.shape[0], step)), default=0.0)
    return float(data.max().compute())


class PhotonCodec(ArrayCodecBase, register=False):  # type: ignore[call-arg]
    """Store photon-limited movies (frames, height, width) compactly; fetch returns a lazy
    :class:`~zarrbridge.djcodecs.PhotonMovie` in the original detector units.

    Readings are converted to photons (``(x - zero_level) / sensitivity``, both estimated from the movie unless
    given in a :class:`~zarrbridge.djcodecs.PhotonValue`), Anscombe-transformed, rounded to steps of ``beta``
    photon-noise units and stored as small unsigned integers, chunked along time in whole frames and compressed
    with zstd. The row and the array's ``zarr.json`` record the transform parameters and the codec's format
    version, which fetch checks.
    """

    name = "photon"

    def validate(self, value: Any) -> None:
        """Accept a 3-D numeric numpy/zarr/dask movie or a :class:`PhotonValue`; raise a clear error otherwise."""
        if not isinstance(value, PhotonValue):
            PhotonValue(value)  # runs every check

    def write_value(self, value: Any, store: Store) -> dict[str, Any]:
        """Estimate or take the transform parameters, then transform and write the movie block by block."""
        opts = value if isinstance(value, PhotonValue) else PhotonValue(value)
        data = opts.data
        shape = tuple(int(s) for s in data.shape)
        if opts.sensitivity is not None and opts.zero_level is not None:
            sensitivity, zero_level = opts.sensitivity, opts.zero_level
        else:
            n = max(2, min(shape[0], _SAMPLE_BYTES // max(1, shape[1] * shape[2] * 8)))
            sample = data[:n]
            sensitivity, zero_level = estimate_sensitivity(
                sample.compute() if hasattr(sample, "compute") else np.asarray(sample)
            )
        params = AnscombeParams(sensitivity=sensitivity, zero_level=zero_level, beta=opts.beta)
        dtype = storage_dtype(_max_reading(data), params)
        frames = opts.frames_per_chunk or max(
            1, DEFAULT_CHUNK_BYTES // max(1, shape[1] * shape[2] * dtype.itemsize)
        )
        policy = ArrayPolicy(
            chunks=(min(frames, max(1, shape[0])), max(1, shape[1]), max(1, shape[2])),
            compressors=_COMPRESSORS,
        )
        original = np.dtype(data.dtype).str
        dest = create_array(
            store,
            "",
            shape=shape,
            dtype=dtype,
            policy=policy,
            dimension_names=("time", "y", "x"),
            attributes=self.array_attributes(transform=params.to_dict(), original_dtype=original),
        )
        if isinstance(data, (np.ndarray, zarr.Array)):
            step = _frames_block(shape, dest.chunks[0])
            for t in range(0, shape[0], step):
                dest[t : t + step] = forward(data[t : t + step], params, dtype)
        else:
            write_dask_array(data.map_blocks(forward, params, dtype, dtype=dtype), dest)
        return {
            "shape": list(shape),
            "dtype": dtype.str,
            "chunks": list(dest.chunks),
            "original_dtype": original,
            "transform": params.to_dict(),
        }

    def wrap_fetched(self, array: zarr.Array[Any], stored: dict[str, Any]) -> PhotonMovie:
        """A lazy movie that inverse-transforms what is sliced; parameters come from ``zarr.json``."""
        attrs = array.attrs[ATTRIBUTE_KEY]
        assert isinstance(attrs, dict)
        params = AnscombeParams.from_dict(attrs.get("transform"))
        try:
            original = np.dtype(str(attrs.get("original_dtype")))
        except TypeError as exc:
            raise CorruptMetadataError(
                "original_dtype", f"{attrs.get('original_dtype')!r} is not a dtype"
            ) from exc
        return PhotonMovie(array, params, original)


register(PhotonCodec)
