"""Arrays that fit one chunk, encoded in memory: the ``zarr.json`` and the chunk object as bytes.

Decision: a small row (a (1000, 32) float64 waveform) written through zarr-python costs two trips through its
event-loop thread (create the array, then write the chunk), about 5 ms on a loaded 2-core machine, against
0.5 ms for ``np.save``. For a numpy array that fits one chunk with the default Blosc codec, the stored objects
are fully determined by the array, so they are made here without that machinery and written by the caller in
one step (two plain file writes, or one concurrent ``pipe`` to S3):

* ``zarr.json`` is made by zarr itself, into a :class:`zarr.storage.MemoryStore`, once per (shape, dtype,
  codec instance, attributes) and cached: rows of one table usually share it.
* the chunk key uses the ``.`` separator (``c.0.0``, a valid zarr v3 ``default`` chunk key encoding), so the
  array's folder holds two files and no ``c/0/`` folders have to be created for every row;
* the chunk is the C-ordered little-endian bytes (zarr's ``bytes`` codec) compressed by numcodecs' Blosc with
  the configuration read back from that ``zarr.json``, which is what zarr's ``BloscCodec`` calls too.

Anything else (other codecs, more than one chunk, zarr/dask inputs, 0-d or empty arrays) goes through zarr.
The tests compare both routes object by object.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np
import zarr
from numcodecs import Blosc

from ..core.arrays import ArrayPolicy

__all__ = ["CHUNK_KEY_ENCODING", "encode_one_chunk"]

#: One chunk per array: its key is ``c.0.0`` next to ``zarr.json`` (no ``c/0/`` folders to create per row).
CHUNK_KEY_ENCODING: dict[str, Any] = {"name": "default", "separator": "."}
_SHUFFLE = {"noshuffle": Blosc.NOSHUFFLE, "shuffle": Blosc.SHUFFLE, "bitshuffle": Blosc.BITSHUFFLE}


_cache: dict[tuple[Any, ...], tuple[zarr.codecs.BloscCodec, tuple[bytes, Blosc] | None]] = {}
_cache_lock = threading.Lock()
_CACHE_SIZE = 256


def _metadata(shape: tuple[int, ...], dtype: np.dtype[Any], codec: zarr.codecs.BloscCodec,
              attributes: dict[str, Any]) -> tuple[bytes, Blosc] | None:
    """zarr's own ``zarr.json`` for an empty array and the Blosc codec its chunk needs; None: not one chunk.

    Cached by shape, dtype, codec instance (zarr's codecs are not hashable: they keep a set of tunable
    attributes) and attributes.
    """
    key = (shape, dtype.str, id(codec), json.dumps(attributes, sort_keys=True))
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] is codec:
        return hit[1]
    made = _make_metadata(shape, dtype, codec, attributes)
    with _cache_lock:
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[key] = (codec, made)  # the reference keeps id(codec) from being reused while cached
    return made


def _make_metadata(shape: tuple[int, ...], dtype: np.dtype[Any], codec: zarr.codecs.BloscCodec,
                   attributes: dict[str, Any]) -> tuple[bytes, Blosc] | None:
    documents: dict[str, Any] = {}
    zarr.create_array(zarr.storage.MemoryStore(store_dict=documents), shape=shape, dtype=dtype, chunks=shape,
                      compressors=(codec,), attributes=attributes, chunk_key_encoding=CHUNK_KEY_ENCODING,
                      zarr_format=3)
    raw = documents["zarr.json"].to_bytes()
    codecs = json.loads(raw)["codecs"]
    if len(codecs) != 2 or codecs[0].get("name") != "bytes" or codecs[1].get("name") != "blosc":
        return None
    if codecs[0].get("configuration", {}).get("endian", "little") != "little":
        return None
    conf = codecs[1]["configuration"]
    blosc = Blosc(cname=conf["cname"], clevel=conf["clevel"], shuffle=_SHUFFLE[conf["shuffle"]],
                  blocksize=conf.get("blocksize", 0), typesize=conf["typesize"])
    return raw, blosc


def encode_one_chunk(data: Any, policy: ArrayPolicy, attributes: dict[str, Any]) -> dict[str, bytes] | None:
    """The stored objects (``zarr.json`` and ``c.0...0``) of ``data`` as zarr would write them, or ``None``.

    ``None`` means "write it through zarr": ``data`` is not a numpy array, is 0-d or empty, does not fit one
    chunk under ``policy``, or ``policy`` is not a single Blosc compressor.
    """
    if not isinstance(data, np.ndarray) or data.ndim == 0 or data.size == 0:
        return None
    if policy.filters or policy.shards is not None or policy.fill_value is not None:
        return None
    if not isinstance(policy.compressors, tuple) or len(policy.compressors) != 1:
        return None
    codec = policy.compressors[0]
    if not isinstance(codec, zarr.codecs.BloscCodec):
        return None
    shape = tuple(int(s) for s in data.shape)
    if policy.resolve_chunks(shape, max(1, data.dtype.itemsize)) != shape:
        return None
    little = data.dtype.newbyteorder("<")  # zarr's bytes codec stores little-endian
    made = _metadata(shape, little, codec, attributes)
    if made is None:
        return None
    metadata, blosc = made
    chunk = np.ascontiguousarray(data, dtype=little)
    key = "c." + ".".join("0" for _ in shape)
    return {key: bytes(blosc.encode(chunk)), "zarr.json": metadata}
