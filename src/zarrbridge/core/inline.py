"""Small chunks carried inside the consolidated root document (a zarrbridge extension; ``docs/format.md``).

A remote open of a file of many small arrays costs one request per array read, whatever the array's size.
A writer can carry the bytes of small chunks in the root group's attribute :data:`INLINE_ATTRIBUTE` as
well: the chunk files stay where the convention puts them (every other reader reads those, and ignores the
attribute), and a zarrbridge reader serves those keys from the root it already holds
(:class:`InlineStore`), so reading them costs no request.

The attribute::

    {"version": 1, "checksum": "md5",
     "arrays": {"<array path>": {"layout": [shape, chunk shape, data type, codec names],
                                 "chunks": {"<chunk key>": ["<base64 bytes>", "<md5 hex of the bytes>"]}}}}

Which copy wins: for zarrbridge, the root's copy of an array written for the layout (shape, chunks, data
type, codecs) the root lists for that array now; never silently a wrong one:

- bytes that do not match their checksum (the root was damaged) raise
  :class:`~zarrbridge.errors.CorruptChunkError` when the array is read;
- the copy of an array since removed, or rewritten with another layout and the metadata consolidated again
  (another tool), is not served: the chunk files belong to the array listed now and are read;
- a chunk file changed later with its array's layout unchanged cannot be seen without reading it:
  :func:`inline_disagreements` reads the chunk files and names every one that differs from its root copy
  (``zarrbridge validate --data`` reports them). zarrbridge's own appends drop the attribute.

MD5 is the checksum because it is what S3 reports as the ETag of a single-part object (every small chunk
file is one), so a listing can compare the two copies without reading the files.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import zarr
from zarr.abc.store import ByteRequest, RangeByteRequest, Store
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.core.metadata.v3 import ArrayV3Metadata
from zarr.core.sync import sync
from zarr.storage import WrapperStore

from ..errors import CorruptChunkError, CorruptMetadataError
from .syncread import get_now

__all__ = [
    "INLINE_ATTRIBUTE",
    "INLINE_CHUNK_BYTES",
    "INLINE_TOTAL_BYTES",
    "INLINE_VERSION",
    "InlineStore",
    "InlineTable",
    "inline_disagreements",
    "layout_of",
    "unwrapped",
    "with_inline_chunks",
]

INLINE_ATTRIBUTE = "_zarrbridge_inline"
INLINE_VERSION = 1
# encoded chunks up to this size are carried in the root, up to this much in all (chosen by measurement:
# docs/format.md, "Small chunks in the root document")
INLINE_CHUNK_BYTES = 16 * 1024
INLINE_TOTAL_BYTES = 4 * 1024 * 1024
_METADATA = "zarr.json"


def layout_of(
    *, shape: Iterable[int], chunks: Iterable[int], dtype: np.dtype[Any], codecs: Iterable[Any]
) -> list[Any]:
    """What an inline copy is valid for: shape, chunk shape, data type and the names of the codecs.

    The data type is named as every zarr release reads it back (variable-length text ``"text"``, compounds
    ``"V<itemsize>"``, numbers by their numpy code), not by zarr's JSON name, which changed for compounds
    between releases (``structured`` / ``struct``).
    """
    if dtype.names is not None:
        name = f"V{dtype.itemsize}"
    elif dtype.kind in "TO":
        name = "text"
    else:
        name = dtype.str
    names = [c.to_dict()["name"] if hasattr(c, "to_dict") else str(c) for c in codecs]
    return [[int(s) for s in shape], [int(c) for c in chunks], name, names]


def _layout_of_metadata(meta: ArrayV3Metadata) -> list[Any] | None:
    chunks = getattr(meta.chunk_grid, "chunk_shape", None)
    if chunks is None:
        return None
    return layout_of(shape=meta.shape, chunks=chunks, dtype=meta.dtype.to_native_dtype(), codecs=meta.codecs)


class InlineTable:
    """The inline chunks a writer collects, by array path; :meth:`to_json` is the root attribute's value."""

    def __init__(self, *, max_chunk_bytes: int | None = None, max_total_bytes: int | None = None) -> None:
        self.max_chunk_bytes = INLINE_CHUNK_BYTES if max_chunk_bytes is None else max_chunk_bytes
        self.max_total_bytes = INLINE_TOTAL_BYTES if max_total_bytes is None else max_total_bytes
        self.total_bytes = 0
        self.arrays: dict[str, dict[str, Any]] = {}

    def add(self, path: str, layout: list[Any], chunks: Mapping[str, Buffer | bytes]) -> None:
        """Carry the chunks of array ``path`` (keys relative to the array) that are small enough."""
        kept = {}
        for key, value in chunks.items():
            raw = value if isinstance(value, bytes) else value.to_bytes()
            if key == _METADATA or len(raw) > self.max_chunk_bytes:
                continue
            if self.total_bytes + len(raw) > self.max_total_bytes:
                break  # the root stays small enough to be read at every open; later arrays use their files
            self.total_bytes += len(raw)
            kept[key] = [base64.b64encode(raw).decode("ascii"), hashlib.md5(raw).hexdigest()]
        if kept:
            self.arrays[path.strip("/")] = {"layout": layout, "chunks": kept}

    def discard(self, path: str) -> None:
        self.arrays.pop(path.strip("/"), None)

    def to_json(self) -> dict[str, Any] | None:
        if not self.arrays:
            return None
        return {"version": INLINE_VERSION, "checksum": "md5", "arrays": self.arrays}


class InlineStore(WrapperStore[Store]):
    """A read-only view of ``store`` that serves the inline chunks of the root from memory.

    Every other key is read from ``store``. An inline array's own ``zarr.json`` is served from the root's
    consolidated listing too (that is the metadata its copy was checked against), so reading such an array
    needs no request at all.
    """

    def __init__(
        self,
        store: Store,
        *,
        chunks: dict[str, tuple[str, str, str]],
        documents: dict[str, bytes],
        location: object,
    ) -> None:
        super().__init__(store)
        self._chunks = chunks  # store key -> (base64, md5, array path)
        self._documents = documents  # store key of an inline array's zarr.json -> its bytes
        self._location = location
        self._checked: dict[str, bytes] = {}

    @property
    def read_only(self) -> bool:
        return True

    def _with_store(self, store: Store) -> InlineStore:
        return type(self)(store, chunks=self._chunks, documents=self._documents, location=self._location)

    def with_read_only(self, read_only: bool = False) -> InlineStore:
        return self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InlineStore) and other._store == self._store

    def __repr__(self) -> str:
        return f"InlineStore({self._store!r})"

    def inline(self, key: str) -> bytes | None:
        """The root's copy of ``key`` (checked against its checksum), or None when the root has none."""
        if key in self._documents:
            return self._documents[key]
        found = self._checked.get(key)
        if found is not None or key not in self._chunks:
            return found
        encoded, digest, array = self._chunks[key]
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CorruptChunkError(
                key,
                f"array {array!r}",
                self._location,
                reason=f"its copy in the root document is not base64 ({exc})",
            ) from exc
        if hashlib.md5(raw).hexdigest() != digest:
            raise CorruptChunkError(
                key,
                f"array {array!r}",
                self._location,
                reason="its copy in the root document does not match its checksum",
            )
        self._checked[key] = raw
        return raw

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        raw = self.inline(key)
        if raw is None:
            return await self._store.get(key, prototype, byte_range)
        return prototype.buffer.from_bytes(_slice(raw, byte_range))

    def get_sync(
        self, key: str, *, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        """zarr's synchronous read (``SupportsGetSync``): inline keys from memory, others from the store."""
        raw = self.inline(key)
        if raw is not None:
            return prototype.buffer.from_bytes(_slice(raw, byte_range))
        return get_now(self._store, key, prototype, byte_range)

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        return [await self.get(key, prototype, byte_range) for key, byte_range in key_ranges]

    async def exists(self, key: str) -> bool:
        return key in self._chunks or key in self._documents or await self._store.exists(key)


def unwrapped(store: Any) -> Any:
    """The store an :class:`InlineStore` reads through (for identity and location checks), else ``store``."""
    return store._store if isinstance(store, InlineStore) else store


def _slice(raw: bytes, byte_range: ByteRequest | None) -> bytes:
    if byte_range is None:
        return raw
    if isinstance(byte_range, RangeByteRequest):
        return raw[byte_range.start : byte_range.end]
    offset = getattr(byte_range, "offset", None)
    if offset is not None:
        return raw[offset:]
    return raw[-byte_range.suffix :]  # type: ignore[union-attr]


def _table(root: zarr.Group, location: object) -> dict[str, Any] | None:
    value = root.attrs.get(INLINE_ATTRIBUTE)
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or value.get("version") != INLINE_VERSION
        or not isinstance(value.get("arrays"), dict)
    ):
        raise CorruptMetadataError(
            f"zarr.json attribute {INLINE_ATTRIBUTE}",
            f"expected {{'version': {INLINE_VERSION}, 'arrays': {{...}}}}, got a {type(value).__name__}",
            location,
        )
    return value


def _current(
    table: dict[str, Any], listed: Mapping[str, Any], location: object
) -> Iterable[tuple[str, dict[str, Any], ArrayV3Metadata]]:
    """The entries still valid: of arrays the root lists, with the layout their copy was written for.

    The others belong to arrays removed or rewritten (another tool, the metadata consolidated again): their
    chunk files are those of the array now listed, and are read instead.
    """
    for path, entry in table["arrays"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("chunks", {}), dict):
            raise CorruptMetadataError(f"{INLINE_ATTRIBUTE}/{path}", "expected {layout, chunks}", location)
        meta = listed.get(path)
        if isinstance(meta, ArrayV3Metadata) and entry.get("layout") == _layout_of_metadata(meta):
            yield path, entry, meta


def with_inline_chunks(root: zarr.Group, *, location: object) -> zarr.Group:
    """``root`` reading its inline chunks from memory (:class:`InlineStore`), or ``root`` as it is.

    Copies of arrays since removed or rewritten with another layout are not served (:func:`_current`).
    Raises :class:`~zarrbridge.errors.CorruptMetadataError` when the table is malformed.
    """
    table = _table(root, location)
    consolidated = getattr(root.metadata, "consolidated_metadata", None)
    if table is None or consolidated is None:
        return root
    listed = consolidated.flattened_metadata
    prefix = root.store_path.path.strip("/")
    chunks: dict[str, tuple[str, str, str]] = {}
    documents: dict[str, bytes] = {}
    for path, entry, meta in _current(table, listed, location):
        base = f"{prefix}/{path}" if prefix else path
        for key, value in dict(entry.get("chunks", {})).items():
            if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
                raise CorruptMetadataError(
                    f"{INLINE_ATTRIBUTE}/{path}/{key}", "expected [base64, md5]", location
                )
            chunks[f"{base}/{key}"] = (value[0], value[1], "/" + path)
        documents[f"{base}/{_METADATA}"] = json.dumps(meta.to_dict(), allow_nan=True, default=str).encode()
    store = InlineStore(root.store_path.store, chunks=chunks, documents=documents, location=location)
    return zarr.Group(
        zarr.AsyncGroup(metadata=root.metadata, store_path=zarr.storage.StorePath(store, prefix))
    )


def inline_disagreements(root: zarr.Group, *, location: object) -> list[tuple[str, CorruptChunkError]]:
    """Every inline chunk whose chunk file is missing or holds other bytes: (array path, error naming it).

    Reads the chunk files (one request each); the inline copies themselves are checked as they are read.
    """
    table = _table(root, location)
    if table is None:
        return []
    consolidated = getattr(root.metadata, "consolidated_metadata", None)
    if consolidated is None:
        return []
    store = unwrapped(root.store_path.store)
    prefix = root.store_path.path.strip("/")
    problems: list[tuple[str, CorruptChunkError]] = []
    for path, entry, _meta in _current(table, consolidated.flattened_metadata, location):
        for key, (_encoded, digest) in dict(entry.get("chunks", {})).items():
            full = f"{prefix}/{path}/{key}" if prefix else f"{path}/{key}"
            found = sync(store.get(full, zarr.core.buffer.default_buffer_prototype()))
            if found is None or hashlib.md5(found.to_bytes()).hexdigest() != digest:
                state = "missing" if found is None else "different from its copy in the root document"
                reason = (
                    f"the chunk file is {state}; zarrbridge reads the root's copy, other readers the file"
                )
                error = CorruptChunkError(full, f"array {path!r}", location, reason=reason)
                problems.append(("/" + path, error))
    return problems
