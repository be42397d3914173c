"""A lazy, read-only legacy (zarr v2) array: chunks are fetched and decoded only for what is selected.

A chunk that is not in the store is a :class:`MissingChunkError` naming the array and the key. hdmf-zarr
<= 0.13 wrote with zarr 2 (``write_empty_chunks`` on by default), so every chunk of the data it was given is
stored; a missing one is damage, or a region a ``DataChunkIterator`` never produced. hdmf-zarr itself reads
both as the fill value (zarr's rule); zarrbridge does so only when asked: inside
``with missing_chunks_as_fill():`` or for a root opened with ``missing_chunks="fill"``.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from hdmf.query import HDMFDataset

from ...core.bounds import check_allocation
from ...errors import MissingChunkError
from .codecs import ChunkCodecs
from .indexing import place, plan_selection, selection_shape
from .metadata import ArrayMeta, join_key
from .store import V2Store

__all__ = ["MissingChunks", "V2Array", "missing_chunks_as_fill"]

FETCH_BATCH = 64  # chunks fetched concurrently; bounds the compressed bytes held at once
MissingChunks = Literal["error", "fill"]
_MISSING: contextvars.ContextVar[MissingChunks | None] = contextvars.ContextVar(
    "zarrbridge_legacy_missing_chunks", default=None
)


@contextlib.contextmanager
def missing_chunks_as_fill() -> Iterator[None]:
    """Within the block, a missing chunk of a legacy array reads as its fill value (hdmf-zarr's behaviour).

    Use it only for files you know have unwritten regions (a ``DataChunkIterator`` that skipped chunks): a
    chunk lost from a copy reads as the fill value as well.

    Examples
    --------
    >>> from zarrbridge.zarrio.legacy import missing_chunks_as_fill
    >>> with missing_chunks_as_fill():
    ...     pass  # data = io.get_builder("/acquisition/ts/data").data[:]
    """
    token = _MISSING.set("fill")
    try:
        yield
    finally:
        _MISSING.reset(token)


class V2Array(HDMFDataset):  # type: ignore[misc]
    """One zarr v2 array of a legacy file, read lazily.

    Behaves like a read-only numpy/zarr array (``shape``, ``dtype``, ``chunks``, ``ndim``, ``size``,
    ``__getitem__`` with ints, slices, Ellipsis and 1-D int/bool arrays per axis, orthogonally) and is an
    :class:`hdmf.query.HDMFDataset`, so HDMF containers accept it as data. ``vlen-utf8`` elements are
    ``str``, ``vlen-bytes`` elements ``bytes`` (as hdmf-zarr returns them). Copying code can read it chunk by
    chunk (``chunks``) and report its stored size (:meth:`nbytes_stored`).

    Parameters
    ----------
    store
        The hierarchy's :class:`V2Store`.
    path
        The array's path in the hierarchy (``"/a/b"``).
    meta
        Its validated ``.zarray``.
    attrs
        Its raw ``.zattrs`` (reserved legacy names included).
    """

    def __init__(self, store: V2Store, path: str, meta: ArrayMeta, attrs: dict[str, Any]) -> None:
        # HDMFDataset.__init__ (docval) is not called: this object is its own dataset
        self._store = store
        self.path = "/" + path.strip("/")
        self.meta = meta
        self.attrs = attrs
        self._codecs: ChunkCodecs | None = None

    # ------------------------------------------------------------------------------ array protocol
    @property
    def dataset(self) -> V2Array:
        """The array itself (HDMF's ``HDMFDataset.dataset``)."""
        return self

    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape."""
        return self.meta.shape

    @property
    def chunks(self) -> tuple[int, ...]:
        """The chunk shape."""
        return self.meta.chunks

    @property
    def dtype(self) -> np.dtype[Any]:
        """The numpy dtype of the elements."""
        return self.meta.dtype

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        return len(self.meta.shape)

    @property
    def size(self) -> int:
        """The number of elements."""
        return int(np.prod(self.meta.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        """The size of the decoded data, in bytes."""
        return self.size * self.meta.dtype.itemsize

    @property
    def name(self) -> str:
        """The array's absolute path in the file."""
        return self.path

    @property
    def fill_value(self) -> Any:
        """What a chunk that is not stored would read as (``None``: no fill value)."""
        return self.meta.fill_value

    def nbytes_stored(self) -> int:
        """Bytes this array occupies in the store (chunks and metadata documents).

        Returns
        -------
        int
            The stored bytes.
        """
        return self._store.size_prefix(self.path.strip("/") + "/")

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a zero-dimensional array")
        return self.shape[0]

    def __iter__(self) -> Iterator[Any]:
        if not self.shape:
            raise TypeError("iteration over a zero-dimensional array")
        step = self.chunks[0]
        for start in range(0, self.shape[0], step):
            yield from self[start : start + step]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray[Any, Any]:
        return np.asarray(self[...], dtype=dtype)

    def __repr__(self) -> str:
        return (
            f"<legacy zarr v2 array {self.path} shape={self.shape} dtype={self.dtype} in {self._store.where}>"
        )

    # ------------------------------------------------------------------------------ reading
    @property
    def codecs(self) -> ChunkCodecs:
        """The compressor and filters of the chunks, resolved (an unknown codec is an error)."""
        if self._codecs is None:
            self._codecs = ChunkCodecs.resolve(self.meta, what=self.path, where=self._store.where)
        return self._codecs

    def __getitem__(self, key: Any) -> Any:
        codecs = self.codecs  # refuses chunk shapes too large to decode, before anything is read
        check_allocation(
            shape=selection_shape(key, self.shape),
            itemsize=self.dtype.itemsize,
            what=f"{self.path} in {codecs.where}",
            max_bytes=self._store.max_bytes,
        )
        selection = plan_selection(key, self.shape, self.chunks)
        out = np.empty(selection.out_shape, dtype=self.dtype)
        pending: list[tuple[str, Any]] = []
        for parts in selection.parts():
            key_name = self.meta.chunk_key(tuple(p.chunk for p in parts))
            pending.append((key_name, parts))
            if len(pending) >= FETCH_BATCH:
                self._fill(out, pending)
                pending = []
        if pending:
            self._fill(out, pending)
        result = out.reshape(selection.final_shape)
        return result[()] if not selection.final_shape else result

    def _fill(self, out: np.ndarray[Any, Any], pending: list[tuple[str, Any]]) -> None:
        codecs = self.codecs
        raws = self._store.get_many(join_key(self.path, name) for name, _ in pending)
        for (name, parts), raw in zip(pending, raws):
            if raw is None:
                self._missing(out, name, parts)
                continue
            place(out, codecs.decode(raw, name), parts)

    def _missing(self, out: np.ndarray[Any, Any], name: str, parts: Any) -> None:
        if (_MISSING.get() or self._store.missing_chunks) != "fill":
            raise MissingChunkError(
                name,
                self.path,
                self._store.where,
                "hdmf-zarr stores every chunk of the data it is given. If this array was written by a "
                "DataChunkIterator that left regions unwritten, read it inside "
                "zarrbridge.zarrio.legacy.missing_chunks_as_fill() to get the fill value there",
            )
        if self.meta.fill_value is None:
            reason = (
                "an object array has no fill value"
                if self.dtype.hasobject
                else "the array has no fill value (fill_value: null)"
            )
            raise MissingChunkError(name, self.path, self._store.where, reason)
        place(out, np.full(self.chunks, self.meta.fill_value, dtype=self.dtype), parts)
