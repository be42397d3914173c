"""Small arrays encoded and decoded whole, synchronously, without zarr's per-array machinery.

zarr 3 creates, writes and reads every array through its event loop: a fixed cost per array, whatever its
size. For files of many small objects (an NWB file holds thousands of arrays of a few hundred values) that
fixed cost is the whole cost. This module does the same work in the calling thread for arrays of a few
chunks:

- :func:`small_array` gives the ``zarr.json`` :func:`~zarrbridge.core.arrays.create_array` would write (from
  a cached template array made by zarr itself, so the document is zarr's own), and
  :meth:`SmallArray.encode` the chunks of an in-memory array, encoded with its codecs;
- :func:`group_document` and :func:`consolidated_root` give the group documents, so that a writer can
  consolidate a tree without building zarr metadata objects;
- :func:`read_whole` reads and decodes every chunk of an open array; :func:`read_selection` serves
  ``array[key]`` from it for one-chunk arrays.

Codecs run through their synchronous methods (``zarr.abc.codec.SupportsSyncCodec``: bytes, vlen-utf8, zstd,
gzip, blosc, crc32c, transpose); any other codec (sharding, numcodecs wrappers), zarr format 2, or an array
above the size limit returns ``None`` and the caller takes zarr's normal path. The bytes written are exactly
what zarr's codec pipeline produces, so every zarr reader reads them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import json
import math
import os
import unicodedata
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, cast

import numpy as np
import zarr
from zarr.abc.codec import ArrayArrayCodec, ArrayBytesCodec, BytesBytesCodec
from zarr.abc.store import Store
from zarr.codecs import BloscCodec
from zarr.core.array_spec import ArrayConfig, ArraySpec
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype
from zarr.core.metadata.v3 import ArrayV3Metadata
from zarr.core.sync import sync
from zarr.storage import LocalStore, MemoryStore

from ..errors import CorruptChunkError, MissingChunkError, ShapeMismatchError, ZarrBridgeError
from .arrays import ArrayPolicy, create_array
from .bounds import MAX_CHUNK_BYTES, check_chunk_nbytes, check_encoded_chunk
from .cache import BoundedCache
from .integrity import (
    array_what,
    blosc_frame_problem,
    check_document,
    is_complete,
    mark_complete,
    metadata_key,
    pipeline_of,
)
from .localfiles import read_file
from .syncread import supports_get_sync

try:  # zarr >= 3.1.6 names the protocol; older releases take the normal path
    from zarr.abc.codec import SupportsSyncCodec
except ImportError:  # pragma: no cover - depends on the installed zarr
    SupportsSyncCodec = None  # type: ignore[assignment,misc]

__all__ = [
    "SMALL_ARRAY_BYTES",
    "SmallArray",
    "basic_selection",
    "consolidated_root",
    "group_document",
    "json_buffer",
    "read_selection",
    "read_whole",
    "small_array",
]

P = ParamSpec("P")
R = TypeVar("R")
SMALL_ARRAY_BYTES = 1 << 20  # arrays up to this size (uncompressed) take the synchronous path
MAX_CHUNKS = 64  # ... when they have at most this many chunks
_CONFIG = ArrayConfig.from_dict({})
_UNSTABLE = ".*does not have a Zarr V3 specification.*"  # zarr warns on every use of a structured dtype


def _quiet(func: Callable[P, R]) -> Callable[P, R]:
    """Run ``func`` with zarr's structured-dtype warning silenced (zarr warns on every use of one)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_UNSTABLE)
            return func(*args, **kwargs)

    return wrapper


_TEMPLATES: BoundedCache[tuple[str, int, str], tuple[ArrayV3Metadata, dict[str, Any]] | None] = BoundedCache(
    256
)


def _template(
    dtype: np.dtype[Any], ndim: int, policy: ArrayPolicy
) -> tuple[ArrayV3Metadata, dict[str, Any]] | None:
    """zarr's own metadata for an array of this dtype and policy (shape and chunks are set per array).

    Cached by dtype, dimensions and
    :attr:`ArrayPolicy.codec_key <zarrbridge.core.arrays.ArrayPolicy.codec_key>`.
    """
    key = (dtype.str if dtype.names is None else repr(dtype), ndim, policy.codec_key)
    return _TEMPLATES.get_or_create(key, lambda: _make_template(dtype, ndim, policy))


def _make_template(
    dtype: np.dtype[Any], ndim: int, policy: ArrayPolicy
) -> tuple[ArrayV3Metadata, dict[str, Any]] | None:
    ones = (1,) * ndim
    meta = create_array(
        MemoryStore(),
        "t",
        shape=ones,
        dtype=dtype,
        policy=dataclasses.replace(policy, chunks=ones if ndim else None),
    ).metadata
    if (
        isinstance(meta, ArrayV3Metadata)
        and _pipeline(meta) is not None
        and meta.chunk_key_encoding.name == "default"
    ):
        # the document in JSON types (lists, not tuples), fill value encoded
        return meta, json.loads(json.dumps(meta.to_dict(), allow_nan=True))
    return None


def _normal_dtype(dtype: Any) -> np.dtype[Any]:
    if isinstance(dtype, str) and dtype == "str":  # create_array's name for variable-length text
        text: np.dtype[Any] = np.dtypes.StringDType()
        return text
    out: np.dtype[Any] = np.dtype(dtype)
    return out


@dataclass(frozen=True)
class SmallArray:
    """An array encoded whole in the calling thread: its ``zarr.json`` document and its chunks.

    Made by :func:`small_array`; ``document`` is what :func:`~zarrbridge.core.arrays.create_array` would
    write (a single-chunk array keys its chunk ``c.0.0`` beside ``zarr.json`` rather than ``c/0/0``, one
    directory fewer per array).
    """

    document: dict[str, Any]
    template: ArrayV3Metadata  # dtype, fill value and codecs, shared by arrays of one dtype and policy
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    separator: str

    def chunk_key(self, coords: tuple[int, ...]) -> str:
        return self.separator.join(["c", *map(str, coords)])

    @_quiet
    def encode(self, values: np.ndarray[Any, Any]) -> dict[str, Buffer]:
        """``zarr.json`` and every chunk of ``values``, by key relative to the array.

        Edge chunks are padded with the fill value, as zarr does; empty arrays have no chunks.
        """
        aa, ab, bb = cast(Pipeline, _pipeline(self.template))
        prototype = default_buffer_prototype()
        specs = _specs(self.template, self.chunks, aa, prototype)
        native = self.template.dtype.to_native_dtype()
        values = np.asarray(values).astype(native, copy=False)
        if values.shape != self.shape:
            raise ShapeMismatchError("encoded values", self.shape, values.shape)
        out = {"zarr.json": json_buffer(self.document)}
        if 0 in self.shape:
            return out
        for coord in _grid(self.shape, self.chunks):
            region = _region(coord, self.chunks, self.shape)
            block = values[region] if region else values  # (a 0-d text array indexes to a str)
            if block.shape != self.chunks:
                full = np.full(self.chunks, self.template.fill_value, dtype=native)
                full[tuple(slice(0, r.stop - r.start) for r in region)] = block
                block = full
            data: Any = prototype.nd_buffer.from_numpy_array(np.ascontiguousarray(block))
            for aa_codec, spec in zip(aa, specs):
                data = aa_codec._encode_sync(data, spec)  # type: ignore[attr-defined]
            data = ab._encode_sync(data, specs[-1])  # type: ignore[attr-defined]
            for bb_codec in bb:
                data = bb_codec._encode_sync(data, specs[-1])  # type: ignore[attr-defined]
            out[self.chunk_key(coord)] = data
        return out


@_quiet
def small_array(
    shape: Sequence[int], dtype: Any, policy: ArrayPolicy, attributes: dict[str, Any], *, zarr_format: int = 3
) -> SmallArray | None:
    """The array :func:`~zarrbridge.core.arrays.create_array` would make, ready to encode, or ``None``.

    ``None`` (take zarr's normal path) for zarr format 2, sharded layouts, codecs without a synchronous
    implementation, arrays above :data:`SMALL_ARRAY_BYTES` or with more than :data:`MAX_CHUNKS` chunks.
    ``attributes`` must be JSON-ready.
    """
    shape = tuple(int(s) for s in shape)
    if zarr_format != 3 or policy.shards is not None:
        return None
    dtype = _normal_dtype(dtype)
    itemsize = 16 if dtype.kind in "OT" else max(1, dtype.itemsize)  # as create_array counts it
    if math.prod(shape) * itemsize > SMALL_ARRAY_BYTES:
        return None
    chunks = policy.resolve_chunks(shape, itemsize)
    if math.prod(math.ceil(s / c) for s, c in zip(shape, chunks)) > MAX_CHUNKS:
        return None
    found = _template(dtype, len(shape), policy)
    if found is None:
        return None
    template, template_doc = found
    separator = "." if all(c >= s for c, s in zip(chunks, shape)) else "/"
    document = dict(
        template_doc,
        shape=list(shape),
        attributes=mark_complete(attributes),
        chunk_grid={"name": "regular", "configuration": {"chunk_shape": list(chunks)}},
        chunk_key_encoding={"name": "default", "configuration": {"separator": separator}},
    )
    return SmallArray(document, template, shape, chunks, separator)


def json_buffer(document: dict[str, Any]) -> Buffer:
    """A metadata document as zarr stores it (JSON, ``NaN``/``Infinity`` allowed as zarr writes them)."""
    return default_buffer_prototype().buffer.from_bytes(json.dumps(document, allow_nan=True).encode())


def group_document(attributes: dict[str, Any]) -> dict[str, Any]:
    """The ``zarr.json`` of a zarr format 3 group without consolidated metadata
    (``attributes`` JSON-ready)."""
    return {"attributes": attributes, "zarr_format": 3, "node_type": "group"}


def consolidated_root(attributes: dict[str, Any], nodes: dict[str, Any]) -> dict[str, Buffer]:
    """The root ``zarr.json`` of a format 3 hierarchy with ``nodes`` consolidated, as zarr writes it.

    ``nodes`` maps paths to zarr metadata objects or to documents from :class:`SmallArray` /
    :func:`group_document`; they are listed parents first, as zarr orders them.
    """

    def order(path: str) -> tuple[int, str]:
        return path.count("/"), unicodedata.normalize("NFKC", path).casefold()

    listed = {
        path: (node if isinstance(node, dict) else node.to_dict())
        for path, node in sorted(nodes.items(), key=lambda item: order(item[0]))
    }
    doc = {
        **group_document(attributes),
        "consolidated_metadata": {"kind": "inline", "must_understand": False, "metadata": listed},
    }
    return {"zarr.json": json_buffer(doc)}


Pipeline = tuple[tuple[ArrayArrayCodec, ...], ArrayBytesCodec, tuple[BytesBytesCodec, ...]]
_SYNC: dict[type, bool] = {}


def _pipeline(meta: ArrayV3Metadata) -> Pipeline | None:
    """The metadata's codecs split by kind, if all of them can run synchronously."""
    if SupportsSyncCodec is None:
        return None
    for codec in meta.codecs:  # a runtime protocol check is slow: once per codec class
        kind = type(codec)
        if kind not in _SYNC:
            _SYNC[kind] = isinstance(codec, SupportsSyncCodec)
        if not _SYNC[kind]:
            return None
    aa = tuple(c for c in meta.codecs if isinstance(c, ArrayArrayCodec))
    ab = [c for c in meta.codecs if isinstance(c, ArrayBytesCodec)]
    bb = tuple(c for c in meta.codecs if isinstance(c, BytesBytesCodec))
    if len(ab) != 1 or len(aa) + 1 + len(bb) != len(meta.codecs):
        return None
    return aa, ab[0], bb


def _specs(
    meta: ArrayV3Metadata,
    chunks: tuple[int, ...],
    aa: tuple[ArrayArrayCodec, ...],
    prototype: BufferPrototype,
) -> list[ArraySpec]:
    """The chunk spec seen by each array-to-array codec, then by the array-to-bytes codec
    (all chunks alike)."""
    spec = ArraySpec(
        shape=chunks, dtype=meta.dtype, fill_value=meta.fill_value, config=_CONFIG, prototype=prototype
    )
    specs = [spec]
    for codec in aa:
        spec = codec.resolve_metadata(spec)
        specs.append(spec)
    return specs


def _grid(shape: tuple[int, ...], chunks: tuple[int, ...]) -> list[tuple[int, ...]]:
    return [tuple(c) for c in itertools.product(*(range(math.ceil(s / c)) for s, c in zip(shape, chunks)))]


def _region(coords: tuple[int, ...], chunks: tuple[int, ...], shape: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(coords, chunks, shape))


def _read_keys(store: Store, keys: list[str], prototype: BufferPrototype) -> list[bytes | Buffer | None]:
    if type(store) is LocalStore:  # a plain file read: no event loop, no thread hop (subclasses keep theirs)
        found: list[bytes | Buffer | None] = []
        for key in keys:
            try:
                found.append(read_file(os.path.join(store.root, key)))
            except FileNotFoundError:
                found.append(None)
        return found
    if supports_get_sync(store):  # e.g. a wrapper around a local store: read in this thread too
        return [store.get_sync(key, prototype=prototype) for key in keys]  # type: ignore[attr-defined]

    async def get_all() -> list[Buffer | None]:
        return list(await asyncio.gather(*(store.get(k, prototype) for k in keys)))

    return list(sync(get_all()))


@_quiet
def read_whole(
    array: zarr.Array[Any], *, max_bytes: int = SMALL_ARRAY_BYTES, max_chunks: int = MAX_CHUNKS
) -> np.ndarray[Any, Any] | None:
    """All of ``array`` as numpy, decoded in this thread; ``None`` when it must take zarr's normal path.

    ``None`` for arrays above ``max_bytes`` or with more than ``max_chunks`` chunks, for zarr format 2, for
    chunk grids other than a regular one and for codecs without a synchronous implementation. Missing
    chunks read as the fill value, as with zarr, except in complete arrays (:mod:`zarrbridge.core.integrity`),
    where they raise :class:`~zarrbridge.errors.MissingChunkError`; chunks that do not decode raise
    :class:`~zarrbridge.errors.CorruptChunkError`. Checksums (crc32c) are verified by the codec.
    """
    meta = array.metadata
    if not isinstance(meta, ArrayV3Metadata) or array.nbytes > max_bytes:
        return None
    budget = getattr(pipeline_of(array), "max_bytes", None)
    if budget is not None and array.nbytes > budget:
        return None  # zarr's path refuses it (a strict array's allocation budget)
    pipeline = _pipeline(meta)
    if pipeline is None:
        return None
    regular = getattr(meta.chunk_grid, "chunk_shape", None)  # zarr >= 3.2 also has rectilinear grids
    if regular is None:
        return None
    chunks = tuple(regular)
    coords = _grid(tuple(meta.shape), chunks)
    if len(coords) > max_chunks:
        return None
    aa, ab, bb = pipeline
    prototype = default_buffer_prototype()
    specs = _specs(meta, chunks, aa, prototype)
    native = meta.dtype.to_native_dtype()
    what = f"{array.path or '/'} in {array.store_path.store}"
    limit = check_chunk_nbytes(chunks=chunks, itemsize=native.itemsize, what=what)  # before any allocation
    limit = MAX_CHUNK_BYTES if native.kind in "OT" or native.hasobject else limit  # vlen strings: sizes vary
    shape = tuple(meta.shape)
    if 0 in shape:
        return np.full(shape, meta.fill_value, dtype=native)
    single = chunks == shape  # one chunk that is the whole array: copied out once, no filled array first
    out = None if single else np.full(shape, meta.fill_value, dtype=native)
    prefix = array.store_path.path.strip("/")
    keys = [f"{prefix}/{meta.encode_chunk_key(c)}" if prefix else meta.encode_chunk_key(c) for c in coords]
    checked = pipeline_of(array)
    verify = checked is not None and checked.verify is not None
    store = array.store_path.store
    found = _read_keys(store, [*keys, metadata_key(array)] if verify else keys, prototype)
    where = checked.location if checked is not None else str(store)
    if verify:
        assert checked is not None
        document = found.pop()
        checked.verify = None
        check_document(array, None if document is None else _as_bytes(document), location=where)
    complete = is_complete(array) and not (checked is not None and checked.fill_missing)
    for coord, key, raw in zip(coords, keys, found):
        if raw is None:
            if complete:
                raise MissingChunkError(key, array_what(array), where)
            continue  # (a single missing chunk: the filled array below)
        if bb and isinstance(bb[-1], BloscCodec):
            problem = blosc_frame_problem(raw if isinstance(raw, bytes) else raw.as_numpy_array())
            if problem:
                raise CorruptChunkError(key, array_what(array), where, reason=problem)
        if bb:  # a compressor that says it inflates beyond the chunk is refused before it allocates
            encoded = memoryview(raw) if isinstance(raw, bytes) else raw.as_buffer_like()
            check_encoded_chunk(bb[-1], encoded, limit=limit, key=key, what=array_what(array), where=where)
        try:
            block = _decode(raw, aa, ab, bb, specs, prototype).reshape(chunks)
        except ZarrBridgeError:
            raise
        except Exception as exc:  # codecs raise what their library raises (zlib.error, RuntimeError...)
            reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:300]
            raise CorruptChunkError(key, array_what(array), where, reason=reason) from exc
        if out is None:
            return np.array(block, dtype=native, copy=True)  # owned and writable, as zarr returns
        region = _region(coord, chunks, shape)
        out[region] = block[tuple(slice(0, r.stop - r.start) for r in region)]
    return np.full(shape, meta.fill_value, dtype=native) if out is None else out


def _as_bytes(raw: bytes | Buffer) -> bytes:
    return raw if isinstance(raw, bytes) else raw.to_bytes()


def _decode(
    raw: bytes | Buffer,
    aa: tuple[ArrayArrayCodec, ...],
    ab: ArrayBytesCodec,
    bb: tuple[BytesBytesCodec, ...],
    specs: list[ArraySpec],
    prototype: BufferPrototype,
) -> np.ndarray[Any, Any]:
    """One stored chunk decoded by the array's codecs, in this thread."""
    data: Any = raw if isinstance(raw, Buffer) else prototype.buffer.from_bytes(raw)
    for bb_codec in reversed(bb):
        data = bb_codec._decode_sync(data, specs[-1])  # type: ignore[attr-defined]
    data = ab._decode_sync(data, specs[-1])  # type: ignore[attr-defined]
    for aa_codec, spec in zip(reversed(aa), reversed(specs[:-1])):
        data = aa_codec._decode_sync(data, spec)  # type: ignore[attr-defined]
    result: np.ndarray[Any, Any] = data.as_numpy_array()
    return result


def basic_selection(key: Any) -> bool:
    """Whether ``key`` is a basic selection that numpy and zarr read alike (ints, forward slices, ``...``)."""
    parts = key if isinstance(key, tuple) else (key,)
    return all(
        part is Ellipsis
        or (isinstance(part, (int, np.integer)) and not isinstance(part, bool))
        or (isinstance(part, slice) and (part.step is None or (isinstance(part.step, int) and part.step > 0)))
        for part in parts
    )


def read_selection(array: zarr.Array[Any], key: Any, *, max_chunks: int = 1) -> Any:
    """``array[key]``, decoded in this thread when ``array`` has at most ``max_chunks`` chunks.

    zarr's own path costs a round trip through its event loop per call whatever the size; for an array of
    one chunk both routes decode the same chunk. Other selections (lists, masks) and other arrays take zarr's
    path, so the result is always what ``zarr.Array.__getitem__`` returns.
    """
    if basic_selection(key):
        whole = read_whole(array, max_chunks=max_chunks)
        if whole is not None:
            return whole[key]
    return zarr.Array.__getitem__(array, key)
