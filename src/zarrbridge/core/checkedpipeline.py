"""A zarr codec pipeline that reports missing and undecodable chunks by key and bounds what decoders allocate.

:func:`strict_array` gives an open ``zarr.Array`` a :class:`CheckedPipeline` (the rules it applies are listed
in :mod:`zarrbridge.core.integrity`); :func:`open_array_strict` opens an array that way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any, Literal

import zarr
from zarr.abc.store import ByteRequest, Store
from zarr.codecs import BloscCodec
from zarr.core.array_spec import ArrayConfig, ArraySpec
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype
from zarr.core.common import ZarrFormat
from zarr.core.metadata.v2 import ArrayV2Metadata
from zarr.core.metadata.v3 import ArrayV3Metadata

from ..errors import CorruptChunkError, MissingChunkError, ZarrBridgeError, translated
from .bounds import MAX_CHUNK_BYTES, array_chunk_bounds, check_allocation, check_encoded_chunk
from .completeness import array_what, check_document, is_complete, metadata_key

__all__ = [
    "CheckedPipeline",
    "blosc_frame_problem",
    "blosc_outer",
    "open_array_strict",
    "pipeline_of",
    "strict_array",
]


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


def _unchanged(error: ZarrBridgeError) -> ZarrBridgeError:
    return error


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
        with translated(self.translate or _unchanged):
            await self._read(batch_info, out, drop_axes)

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
            raise CorruptChunkError("?", self.what, self.location, reason=short_reason(exc)) from exc

    async def _locate(self, infos: list[Any], out: Any, drop_axes: tuple[int, ...], first: Exception) -> None:
        for info in infos:
            try:
                await self.inner.read([info], out, drop_axes)
            except _StoreFailure as failure:
                raise failure.error from None
            except ZarrBridgeError:
                raise
            except Exception as exc:
                raise CorruptChunkError(
                    info[0].path, self.what, self.location, reason=short_reason(exc)
                ) from exc

    async def write(self, batch_info: Iterable[Any], value: Any, drop_axes: tuple[int, ...] = ()) -> None:
        if self.complete:  # every chunk stays stored, also one that now holds only the fill value
            batch_info = [(setter, _keep_empty(spec), *rest) for setter, spec, *rest in batch_info]
        await self.inner.write(batch_info, value, drop_axes)


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


def short_reason(exc: BaseException) -> str:
    """``exc`` in one line of at most 300 characters, its class first (how reports give a reason)."""
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


def pipeline_of(array: zarr.Array[Any]) -> CheckedPipeline | None:
    """The :class:`CheckedPipeline` of a strict array, else ``None``."""
    pipeline = array._async_array.codec_pipeline
    return pipeline if isinstance(pipeline, CheckedPipeline) else None
