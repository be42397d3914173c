"""Arrays whose every chunk is stored: a missing or garbled chunk is an error, never fill values.

zarr reads a chunk that is not in the store as the array's fill value, which the zarr specification allows:
a writer may leave chunks that hold only the fill value unwritten. zarrbridge writes every chunk
(``write_empty_chunks=True``) and says so with the array attribute :data:`COMPLETE_ATTRIBUTE`
(``"_zarrbridge_chunks": "complete"``). For such an array a chunk that is not in the store can only mean
damage (a half-synced folder, a deleted object), and reading it raises :class:`MissingChunkError`.

:func:`strict_array` gives an open ``zarr.Array`` a codec pipeline that

- raises :class:`~zarrbridge.errors.MissingChunkError` naming the array and the key when a chunk of a complete
  array is missing (arrays without the attribute keep zarr's rule: missing reads as the fill value);
- turns a chunk that cannot be decoded (garbled, truncated, wrong size) into
  :class:`~zarrbridge.errors.CorruptChunkError` naming the array and the key, for every array;
- compares, once, the metadata the array was opened with (e.g. from consolidated metadata) with the array's
  own document in the store (:class:`~zarrbridge.errors.CorruptMetadataError` if they disagree on shape, data
  type, chunking or codecs, or if the document is missing), for complete arrays;
- keeps writing every chunk on writes through it, so a complete array stays complete;
- bounds what zarr's decoders may allocate (:func:`~zarrbridge.core.bounds.array_chunk_bounds`): on the first
  read a chunk shape above :data:`~zarrbridge.core.bounds.MAX_CHUNK_BYTES` (or a shard above the machine's
  memory) is refused, and each stored chunk whose blosc, lz4 or zstd header declares more than its chunk
  holds is refused before it is decoded, both with :class:`~zarrbridge.errors.ResourceLimitError`.

zarr 3.1 has no configuration for refusing missing chunks (a later zarr adds one); this module works the same
on every zarr 3 release. The reading fast path of :mod:`zarrbridge.core.chunkio` applies the same rules.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import zarr
from zarr.abc.store import ByteRequest, Store
from zarr.codecs import BloscCodec
from zarr.core.array_spec import ArrayConfig, ArraySpec
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype
from zarr.core.common import ZarrFormat
from zarr.core.metadata.v2 import ArrayV2Metadata
from zarr.core.metadata.v3 import ArrayV3Metadata
from zarr.core.sync import sync

from ..errors import (
    CorruptChunkError,
    CorruptMetadataError,
    InvalidOptionError,
    MissingChunkError,
    ZarrBridgeError,
)
from .bounds import MAX_CHUNK_BYTES, array_chunk_bounds, check_allocation, check_encoded_chunk
from .structdtype import reread_compound_document

__all__ = [
    "COMPLETE",
    "COMPLETE_ATTRIBUTE",
    "ChunkReport",
    "array_what",
    "check_document",
    "check_missing_chunks",
    "chunk_keys",
    "fill_missing_chunks",
    "is_complete",
    "mark_complete",
    "metadata_key",
    "open_array_strict",
    "scan_array",
    "strict_array",
]

COMPLETE_ATTRIBUTE = "_zarrbridge_chunks"
COMPLETE = "complete"
# the parts of an array document that decide what its chunks decode to
_COMPARED_V3 = ("shape", "data_type", "chunk_grid", "chunk_key_encoding", "codecs", "fill_value")
_COMPARED_V2 = ("shape", "dtype", "chunks", "compressor", "filters", "order", "dimension_separator")


def mark_complete(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """``attributes`` plus the marker that says every chunk of the array is stored."""
    return {**(attributes or {}), COMPLETE_ATTRIBUTE: COMPLETE}


def is_complete(array: zarr.Array[Any] | zarr.AsyncArray[Any]) -> bool:
    """Whether ``array`` carries the marker: every chunk of its shape is stored, none may be missing."""
    attributes = array.metadata.attributes
    return isinstance(attributes, Mapping) and attributes.get(COMPLETE_ATTRIBUTE) == COMPLETE


def array_what(array: zarr.Array[Any] | zarr.AsyncArray[Any]) -> str:
    """How errors name an array: ``array '/acquisition/ts/data'``."""
    return f"array {'/' + array.store_path.path.strip('/')!r}"


def metadata_key(array: zarr.Array[Any] | zarr.AsyncArray[Any]) -> str:
    """The store key of the array's own metadata document (``zarr.json`` or ``.zarray``)."""
    name = "zarr.json" if array.metadata.zarr_format == 3 else ".zarray"
    prefix = array.store_path.path.strip("/")
    return f"{prefix}/{name}" if prefix else name


def check_document(
    array: zarr.Array[Any] | zarr.AsyncArray[Any], raw: bytes | None, *, location: object
) -> None:
    """Raise :class:`CorruptMetadataError` unless the stored document ``raw`` agrees with ``array.metadata``.

    ``raw`` is the content of :func:`metadata_key` (``None`` when it is missing). Attributes may differ (an
    append updates them); shape, data type, chunking and codecs may not.
    """
    key = metadata_key(array)
    if raw is None:
        raise CorruptMetadataError(
            key, "the array is listed in the consolidated metadata but its own document is missing", location
        )
    try:
        own = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptMetadataError(key, f"not valid JSON ({exc})", location) from exc
    if not isinstance(own, dict):
        raise CorruptMetadataError(key, "not a JSON object", location)
    opened = json.loads(json.dumps(array.metadata.to_dict(), allow_nan=True, default=str))
    own = reread_compound_document(
        own
    )  # compounds: "structured" as written, "struct" as zarr >= 3.2 reads it
    fields = _COMPARED_V3 if array.metadata.zarr_format == 3 else _COMPARED_V2
    for name in fields:
        if name not in own and name not in opened:
            continue
        mine, theirs = _normal(opened.get(name)), _normal(own.get(name))
        if mine != theirs:
            raise CorruptMetadataError(
                key,
                f"its {name!r} is {own.get(name)!r} but the consolidated metadata says {opened.get(name)!r}; "
                "the two disagree, so neither can be trusted",
                location,
            )


def _normal(value: Any) -> Any:
    """JSON values compared structurally (tuples and lists alike; codecs with default fields dropped)."""
    if isinstance(value, (list, tuple)):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in sorted(value.items()) if v is not None}
    return value


class _StoreFailure(Exception):
    """Carries an exception raised by the store itself (not by a codec) through the codec pipeline."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class _CheckedGetter:
    """A chunk's ``ByteGetter`` that raises :class:`MissingChunkError` for a missing
    chunk of a complete array."""

    def __init__(self, inner: Any, pipeline: CheckedPipeline) -> None:
        self._inner = inner
        self._pipeline = pipeline

    @property
    def path(self) -> str:
        return str(self._inner.path)

    async def get(self, prototype: BufferPrototype, byte_range: ByteRequest | None = None) -> Buffer | None:
        try:
            value: Buffer | None = await self._inner.get(prototype=prototype, byte_range=byte_range)
        except ZarrBridgeError:
            raise
        except Exception as exc:  # the store failed (network, permissions): not the chunk's fault
            raise _StoreFailure(exc) from exc
        if value is None:
            if self._pipeline.complete and not self._pipeline.fill_missing:
                raise MissingChunkError(self.path, self._pipeline.what, self._pipeline.location)
            return None
        pipeline = self._pipeline
        if byte_range is None and pipeline.blosc:
            problem = blosc_frame_problem(value.as_numpy_array())
            if problem:
                raise CorruptChunkError(self.path, pipeline.what, pipeline.location, reason=problem)
        if byte_range is None and pipeline.compressor is not None:  # refused before zarr inflates it
            check_encoded_chunk(
                pipeline.compressor,
                value.as_buffer_like(),
                limit=pipeline.decoded_limit,
                key=self.path,
                what=pipeline.what,
                where=pipeline.location,
            )
        return value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.__dict__["_inner"], name)


class CheckedPipeline:
    """A zarr codec pipeline that reports missing and undecodable chunks by key (see the module docstring).

    It wraps the pipeline zarr made for the array and delegates everything else to it.
    """

    def __init__(
        self,
        inner: Any,
        *,
        what: str,
        location: object,
        complete: bool,
        verify: zarr.AsyncArray[Any] | None,
        translate: Callable[[ZarrBridgeError], BaseException] | None = None,
    ) -> None:
        self.inner = inner
        self.translate = translate  # a host's hook: the error in its own hierarchy too
        self.what = what
        self.location = location
        self.complete = complete
        self.verify = verify  # the array whose own document is compared once, on the first read
        self.blosc = False  # whether stored chunks are blosc frames (their stated length is checked)
        self.metadata: Any = None  # the array's metadata, whose chunk shape is checked on the first read
        self.compressor: Any = None  # the outermost compressor of stored chunks (its declared size checked)
        self.decoded_limit = 0
        self.fill_missing = False  # missing chunks of complete arrays read as the fill value (asked for)
        self.max_bytes: int | None = None  # the most one read may allocate (None: the machine's memory)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.__dict__["inner"], name)

    async def _verify(self) -> None:
        array, self.verify = self.verify, None
        if array is None:
            return
        raw = await array.store_path.store.get(metadata_key(array), default_buffer_prototype())
        check_document(array, None if raw is None else raw.to_bytes(), location=self.location)

    def _bound(self) -> None:
        if self.metadata is not None:  # (raises on every read while the chunk shape is refused)
            where = f"{self.what} in {self.location}" if self.location is not None else self.what
            limit = MAX_CHUNK_BYTES if self.max_bytes is None else min(MAX_CHUNK_BYTES, self.max_bytes)
            self.decoded_limit, self.compressor = array_chunk_bounds(self.metadata, what=where, limit=limit)
            self.metadata = None

    async def read(self, batch_info: Iterable[Any], out: Any, drop_axes: tuple[int, ...] = ()) -> None:
        try:
            await self._read(batch_info, out, drop_axes)
        except ZarrBridgeError as exc:
            if self.translate is None:
                raise
            translated = self.translate(exc)
            if translated is exc:
                raise
            raise translated from exc.__cause__

    async def _read(self, batch_info: Iterable[Any], out: Any, drop_axes: tuple[int, ...]) -> None:
        self._bound()  # before any chunk is fetched or decoded
        if self.max_bytes is not None:
            shape = tuple(getattr(out, "shape", ()))
            check_allocation(
                shape=shape, itemsize=out.dtype.itemsize, what=f"{self.what}", max_bytes=self.max_bytes
            )
        infos = [(_CheckedGetter(getter, self), *rest) for getter, *rest in batch_info]
        try:
            if self.verify is not None:
                # both run to their end (a request left pending would be destroyed with the event loop's
                # task); a metadata disagreement explains any decoding error, so it is reported first
                outcomes: tuple[Any, ...] = await asyncio.gather(
                    self._verify(), self.inner.read(infos, out, drop_axes), return_exceptions=True
                )
                for outcome in outcomes:
                    if isinstance(outcome, BaseException):
                        raise outcome
            else:
                await self.inner.read(infos, out, drop_axes)
        except _StoreFailure as failure:
            raise failure.error from None
        except ZarrBridgeError:
            raise
        except Exception as exc:  # a codec could not decode one of the chunks: find which
            await self._locate(infos, out, drop_axes, exc)
            raise CorruptChunkError("?", self.what, self.location, reason=_reason(exc)) from exc

    async def _locate(self, infos: list[Any], out: Any, drop_axes: tuple[int, ...], first: Exception) -> None:
        for info in infos:
            try:
                await self.inner.read([info], out, drop_axes)
            except _StoreFailure as failure:
                raise failure.error from None
            except ZarrBridgeError:
                raise
            except Exception as exc:
                raise CorruptChunkError(info[0].path, self.what, self.location, reason=_reason(exc)) from exc

    async def write(self, batch_info: Iterable[Any], value: Any, drop_axes: tuple[int, ...] = ()) -> None:
        if self.complete:  # every chunk stays stored, also one that now holds only the fill value
            batch_info = [(setter, _keep_empty(spec), *rest) for setter, spec, *rest in batch_info]
        await self.inner.write(batch_info, value, drop_axes)


def check_missing_chunks(value: object, *, owner: str) -> Literal["error", "fill"]:
    """``value`` as a missing-chunk policy (``"error"`` or ``"fill"``), else :class:`InvalidOptionError`."""
    if value == "error" or value == "fill":
        return "error" if value == "error" else "fill"
    raise InvalidOptionError(
        f"{owner}: missing_chunks must be 'error' (a missing chunk is an error) or 'fill' (it reads as the "
        f"fill value, for files other tools wrote with unwritten regions), not {value!r}"
    )


def _keep_empty(spec: ArraySpec) -> ArraySpec:
    if spec.config.write_empty_chunks:
        return spec
    config = ArrayConfig(order=spec.config.order, write_empty_chunks=True)
    return ArraySpec(
        shape=spec.shape,
        dtype=spec.dtype,
        fill_value=spec.fill_value,
        config=config,
        prototype=spec.prototype,
    )


def blosc_outer(metadata: Any) -> bool:
    """Whether a stored chunk of the array is a blosc frame (blosc is the last codec applied on write)."""
    if isinstance(metadata, ArrayV3Metadata):
        return bool(metadata.codecs) and isinstance(metadata.codecs[-1], BloscCodec)
    if isinstance(metadata, ArrayV2Metadata):
        return getattr(metadata.compressor, "codec_id", None) == "blosc"
    return False


def blosc_frame_problem(raw: Any) -> str | None:
    """Why ``raw`` cannot be a whole blosc frame, or ``None``.

    A blosc frame's 16-byte header states its own length; blosc trusts it, so a truncated frame would be read
    past its end (and decode to whatever follows) instead of failing.
    """
    data = memoryview(raw).cast("B")
    if len(data) < 16:
        return f"a blosc frame has a 16-byte header, this chunk has {len(data)} bytes"
    stated = int.from_bytes(data[12:16], "little")
    if stated != len(data):
        return f"its blosc header states {stated} bytes, but {len(data)} are stored (truncated or garbled)"
    return None


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


def strict_array(
    array: zarr.Array[Any],
    *,
    location: object = None,
    verify_metadata: bool = False,
    missing_chunks: Literal["error", "fill"] = "error",
    max_bytes: int | None = None,
    translate: Callable[[ZarrBridgeError], BaseException] | None = None,
) -> zarr.Array[Any]:
    """Make reads of ``array`` strict (in place) and return it.

    Parameters
    ----------
    array
        An open zarr array (from a group, ``zarr.open_array`` or
        :func:`~zarrbridge.core.arrays.create_array`).
    location
        How errors name the file the array belongs to (a path or URL); the store's own name by default.
    verify_metadata
        Compare the metadata the array was opened with against its own document in the store on the first read
        (for arrays opened from consolidated metadata); only done for complete arrays.
    missing_chunks
        ``"error"`` (default): a missing chunk of a complete array is a :class:`MissingChunkError`;
        ``"fill"``: it reads as the fill value, as zarr reads it (for files known to have unwritten regions).
    max_bytes
        The most one read may allocate: a selection, or a chunk to decode, larger than this raises
        :class:`~zarrbridge.errors.ResourceLimitError` before it is read (default: the machine's memory for
        selections, :data:`~zarrbridge.core.bounds.MAX_CHUNK_BYTES` for chunks).
    translate
        For a host subpackage: turns the zarrbridge errors raised by reads into the host's classes (which
        must still be zarrbridge errors), e.g. the DataJoint codecs' ``DataJointError`` subclasses.

    Examples
    --------
    >>> import zarr, numpy as np
    >>> store = zarr.storage.MemoryStore()
    >>> a = zarr.create_array(store, shape=(4,), chunks=(2,), dtype="i4", attributes=mark_complete({}))
    >>> a[:] = np.arange(4)
    >>> _ = zarr.core.sync.sync(store.delete("c/1"))
    >>> strict_array(zarr.open_array(store))[:]  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    zarrbridge.errors.MissingChunkError: chunk 'c/1' of array '/' in '...' is missing...
    """
    inner = array._async_array
    current = inner.codec_pipeline
    complete = is_complete(inner)
    if isinstance(current, CheckedPipeline):
        current.complete = complete
        if translate is not None:
            current.translate = translate
        current.fill_missing, current.max_bytes = missing_chunks == "fill", max_bytes
        return array
    where = location if location is not None else str(inner.store_path.store)
    checked = CheckedPipeline(
        current,
        what=array_what(inner),
        location=where,
        complete=complete,
        verify=inner if verify_metadata and complete else None,
        translate=translate,
    )
    checked.blosc = blosc_outer(inner.metadata)
    checked.metadata = inner.metadata
    checked.fill_missing, checked.max_bytes = missing_chunks == "fill", max_bytes
    object.__setattr__(inner, "codec_pipeline", checked)
    return array


def open_array_strict(
    store: Store, path: str = "", *, location: object = None, zarr_format: ZarrFormat | None = None
) -> zarr.Array[Any]:
    """``zarr.open_array(store, path=path)`` read-only, made strict with :func:`strict_array`."""
    array = zarr.open_array(store, path=path, mode="r", zarr_format=zarr_format)
    return strict_array(array, location=location)


# ------------------------------------------------------------------------------------------ chunk grids
def _outer_chunks(metadata: Any) -> tuple[int, ...]:
    """The shape of the stored objects: chunks, or shards for a sharded array."""
    if isinstance(metadata, ArrayV3Metadata):
        return tuple(metadata.chunk_grid.chunk_shape)  # type: ignore[attr-defined]
    assert isinstance(metadata, ArrayV2Metadata)
    return tuple(metadata.chunks)


def chunk_keys(array: zarr.Array[Any]) -> Iterator[tuple[tuple[int, ...], str]]:
    """``(grid position, store key)`` of every stored object (chunk, or shard) the array's shape needs."""
    metadata = array.metadata
    shape = tuple(metadata.shape)
    if 0 in shape:
        return
    outer = _outer_chunks(metadata)
    prefix = array.store_path.path.strip("/")
    for coords in itertools.product(*(range(math.ceil(s / c)) for s, c in zip(shape, outer))):
        key = metadata.encode_chunk_key(tuple(coords))
        yield tuple(coords), f"{prefix}/{key}" if prefix else key


def _region(coords: tuple[int, ...], outer: tuple[int, ...], shape: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(coords, outer, shape))


async def _present(store: Store, keys: list[str]) -> list[bool]:
    gate = asyncio.Semaphore(32)

    async def one(key: str) -> bool:
        async with gate:
            return bool(await store.exists(key))

    return list(await asyncio.gather(*(one(k) for k in keys)))


def _missing(array: zarr.Array[Any]) -> list[tuple[tuple[int, ...], str]]:
    grid = list(chunk_keys(array))
    present = sync(_present(array.store_path.store, [key for _, key in grid]))
    return [item for item, here in zip(grid, present) if not here]


def fill_missing_chunks(array: zarr.Array[Any]) -> int:
    """Store the fill value in every chunk of ``array`` that has no stored object yet; return how many.

    Writers call it for arrays that were not written whole (an iterator that left regions out, a dataset
    declared with a shape but no data) before marking them complete.
    """
    missing = _missing(array)
    if not missing:
        return 0
    writer = array.with_config({"write_empty_chunks": True})
    shape, outer = tuple(array.metadata.shape), _outer_chunks(array.metadata)
    fill: Any = array.metadata.fill_value
    for coords, _key in missing:
        writer[_region(coords, outer, shape)] = fill
    return len(missing)


@dataclass(frozen=True)
class ChunkReport:
    """What :func:`scan_array` found in one array."""

    array: str
    chunks: int  # stored objects the shape needs
    missing: tuple[str, ...]  # keys of missing chunks of a complete array: damage
    filled: tuple[str, ...]  # keys missing from an array without the marker: they read as the fill value
    corrupt: tuple[tuple[str, str], ...]  # (key, reason) of chunks that cannot be decoded


def scan_array(
    array: zarr.Array[Any], *, location: object = None, progress: Callable[[int], Any] | None = None
) -> ChunkReport:
    """Read and decode every chunk of ``array``; report the missing and the corrupt ones by key.

    ``progress`` is called with the (uncompressed) bytes of each chunk checked, present or not; the calls
    add up to the array's ``nbytes``.
    """
    what = "/" + array.store_path.path.strip("/")
    grid = list(chunk_keys(array))
    present = sync(_present(array.store_path.store, [key for _, key in grid]))
    complete = is_complete(array)
    shape, outer = tuple(array.metadata.shape), _outer_chunks(array.metadata)
    fresh: zarr.AsyncArray[Any] = zarr.AsyncArray(
        metadata=array.metadata,
        store_path=array.store_path,
        config=array._async_array.config,
    )
    probe = zarr.Array(fresh)  # a fresh handle: strict whatever the caller's handle is
    strict_array(probe, location=location)
    missing: list[str] = []
    filled: list[str] = []
    corrupt: list[tuple[str, str]] = []
    itemsize = _itemsize(array)
    for (coords, key), here in zip(grid, present):
        region = _region(coords, outer, shape) if shape else ()
        if progress is not None:
            progress(math.prod(r.stop - r.start for r in region) * itemsize if shape else itemsize)
        if not here:
            (missing if complete else filled).append(key)
            continue
        try:
            probe[region]
        except CorruptChunkError as exc:
            corrupt.append((key, _reason(exc.__cause__ or exc)))
        except MissingChunkError:  # removed between the listing and the read
            missing.append(key)
    return ChunkReport(what, len(grid), tuple(missing), tuple(filled), tuple(corrupt))


def _itemsize(array: zarr.Array[Any]) -> int:
    """Bytes of one element as numpy holds it (variable-length strings count as 0: no fixed size)."""
    try:
        dtype = np.dtype(array.dtype)
    except TypeError:
        return 0
    return 0 if dtype.kind in "OT" else int(dtype.itemsize)


def pipeline_of(array: zarr.Array[Any]) -> CheckedPipeline | None:
    """The :class:`CheckedPipeline` of a strict array, else ``None``."""
    pipeline = array._async_array.codec_pipeline
    return pipeline if isinstance(pipeline, CheckedPipeline) else None
