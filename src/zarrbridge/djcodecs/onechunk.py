"""Rows that fit one chunk, encoded in memory: the ``zarr.json`` and the chunk object as bytes.

Decision: a small row (a (1000, 32) float64 waveform) written through zarr-python costs two trips through its
event-loop thread (create the array, then write the chunk), about ten times what ``np.save`` of the same row
costs. A numpy row that fits one chunk is encoded by :mod:`zarrbridge.core.chunkio` instead
(the ``zarr.json`` zarr itself makes, from a cached template array, and the chunk through the codecs'
synchronous methods, so the bytes are zarr's) and written by the caller in one step (plain file writes, or one
concurrent ``pipe`` to S3). The chunk key is ``c.0.0`` beside ``zarr.json`` (the ``.`` separator of zarr's
``default`` chunk key encoding), so no ``c/0/`` folders are created per row.

Anything else (zarr/dask inputs, 0-d or empty arrays, more than one chunk, codecs without a synchronous
implementation) goes through zarr. The tests compare both routes object by object.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.arrays import ArrayPolicy
from ..core.chunkio import small_array

__all__ = ["CHUNK_KEY_ENCODING", "encode_one_chunk"]

#: The chunk key encoding of one-chunk arrays: ``c.0.0`` next to ``zarr.json``.
CHUNK_KEY_ENCODING: dict[str, Any] = {"name": "default", "separator": "."}


def encode_one_chunk(data: Any, policy: ArrayPolicy, attributes: dict[str, Any]) -> dict[str, bytes] | None:
    """The stored objects (``zarr.json`` and ``c.0...0``) of ``data`` as zarr would write them, or ``None``.

    ``None`` means "write it through zarr": ``data`` is not a numpy array, is 0-d or empty, or does not fit
    one chunk under ``policy``, or a codec has no synchronous implementation. Data are stored little-endian.
    """
    if not isinstance(data, np.ndarray) or data.ndim == 0 or data.size == 0:
        return None
    shape = tuple(int(s) for s in data.shape)
    small = small_array(shape, data.dtype.newbyteorder("<"), policy, attributes)
    if small is None or small.chunks != shape:
        return None
    return {key: value.to_bytes() for key, value in small.encode(data).items()}
