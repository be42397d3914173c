"""Reading a virtual view: a zarr hierarchy described by one fsspec reference file (kerchunk version 1).

A view (written by :func:`zarrbridge.zarrio.virtual.write_virtual`) is a JSON document ``{"version": 1,
"templates": {...}, "refs": {key: value}}`` in which every zarr key maps to its bytes inline (a string, or
``"base64:..."``) or to a byte range of another file (``[url, offset, size]``, ``[url]`` for a whole file).
fsspec's ``ReferenceFileSystem`` reads the same document; zarrbridge reads it with :class:`ReferenceViewStore`
so that the policy for the files a view names and the errors for bytes that went missing are its own:

- every file a view names passes :func:`~zarrbridge.core.location.check_external_location` (a view read from
  a URL never opens local paths, a local view never opens URLs, unless the reader allows it);
- a referenced file that is gone is a :class:`~zarrbridge.errors.MissingChunkError` naming it, a byte range it
  no longer holds (a truncated or replaced file) a :class:`~zarrbridge.errors.CorruptChunkError`, never fill
  values; a local file whose size differs from the one recorded when the view was made is refused at open.
- a view is read-only: opening one to modify it is a :class:`~zarrbridge.errors.ReadOnlyError`.

Opening a view costs one read of the document (one GET for a URL ending in ``.json``); the metadata and the
small arrays are inline, so only the chunks of large arrays reach the referenced files.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import posixpath
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import fsspec
from zarr.abc.store import ByteRequest, OffsetByteRequest, RangeByteRequest, Store, SuffixByteRequest
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype
from zarr.core.sync import sync

from ..errors import (
    CorruptChunkError,
    CorruptMetadataError,
    MissingChunkError,
    ReadOnlyError,
    UnsupportedFormatVersionError,
)
from .location import VIEW_DETECTORS, VIEW_OPENERS, Location, check_external_location, check_reachable
from .remotestore import _MADE_ASYNC

__all__ = ["VIEW_KEY", "ReferenceViewStore", "load_view_document", "looks_like_view", "open_view"]

REFERENCE_VERSION = 1  # the fsspec/kerchunk reference format version this module reads and writes
VIEW_KEY = "zarrbridge"  # top-level entry (ignored by fsspec) with the view's own metadata
VIEW_VERSION = 1
_KEEP: list[Any] = []  # asynchronous filesystems of referenced files (closed at exit, not at collection)
_TEMPLATE = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class _Ref:
    target: int  # index into the store's targets
    offset: int
    size: int | None  # None: the whole file


def looks_like_view(location: Location) -> bool:
    """Whether ``location`` names a reference file rather than a zarr hierarchy (no request for URLs).

    A local path is a view when it is a file that starts as a reference document does (``{"version"`` or
    ``{"refs"``); a URL when it ends in ``.json`` (so that opening it costs one request: other URLs are zarr
    hierarchies).
    """
    if location.kind == "local":
        if not os.path.isfile(location.path):
            return False
        try:
            with open(location.path, "rb") as fh:
                head = fh.read(64).lstrip()
        except OSError:
            return False
        return re.match(rb'\{\s*"(version|refs)"', head) is not None
    return location.kind == "fsspec" and location.path.lower().endswith(".json")


def load_view_document(location: Location) -> dict[str, Any]:
    """Read and parse the reference document at ``location`` (one GET for a URL)."""
    try:
        if location.kind == "fsspec":
            check_reachable(location)
            fs, path = fsspec.core.url_to_fs(location.path, **location.storage_options)
            raw = fs.cat_file(
                path, start=0
            )  # a ranged GET: s3fs asks for the size (a HEAD) before a plain one
        else:
            with open(location.path, "rb") as fh:
                raw = fh.read()
    except FileNotFoundError:
        raise MissingChunkError(
            posixpath.basename(location.path), "a virtual view", str(location), "the reference file is gone"
        ) from None
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise CorruptMetadataError("refs", f"not a JSON reference document ({exc})", str(location)) from None
    if not isinstance(document, dict) or not isinstance(document.get("refs"), dict):
        raise CorruptMetadataError("refs", "a reference document needs a 'refs' object", str(location))
    if document.get("version") != REFERENCE_VERSION:
        raise UnsupportedFormatVersionError(
            f"the reference file {str(location)!r}", document.get("version"), REFERENCE_VERSION
        )
    own = document.get(VIEW_KEY, {"version": VIEW_VERSION})
    if not isinstance(own, dict) or own.get("version") != VIEW_VERSION:
        found = own.get("version") if isinstance(own, dict) else own
        raise UnsupportedFormatVersionError(f"the virtual view {str(location)!r}", found, VIEW_VERSION)
    return document


def open_view(
    location: Any,
    *,
    storage_options: dict[str, Any] | None = None,
    target_options: dict[str, dict[str, Any]] | None = None,
    allow_external: bool = False,
) -> ReferenceViewStore:
    """Open the view at ``location`` (path or URL) as a read-only zarr store.

    Parameters
    ----------
    location
        The reference file: a local path or a URL (``s3://bucket/session.nwb.zarr.json``).
    storage_options
        fsspec options for a URL ``location``; they also serve the files the view references on the same
        protocol, unless ``target_options`` names that protocol.
    target_options
        fsspec options per protocol of the referenced files (``{"s3": {...}}``), e.g. for a local view of a
        file on S3.
    allow_external
        Let a view read from a URL reference local files, and a local view reference URLs (refused by default,
        as external links: :func:`~zarrbridge.core.location.check_external_location`).

    Returns
    -------
    ReferenceViewStore
        The read-only store of the view.

    Examples
    --------
    >>> import zarr
    >>> root = zarr.open_group(open_view("session.nwb.zarr"), mode="r")  # doctest: +SKIP
    """
    loc = Location.parse(location, storage_options=storage_options)
    return ReferenceViewStore(
        load_view_document(loc), loc, target_options=target_options, allow_external=allow_external
    )


def view_store(location: Location, mode: str) -> ReferenceViewStore | None:
    """The store of the view at ``location`` for :func:`~zarrbridge.core.location.open_store`, or ``None``."""
    if mode not in ("r", "r+", "a") or not looks_like_view(location):
        return None
    if mode != "r":
        raise ReadOnlyError(
            f"the virtual view {str(location)!r}",
            hint="a view of an HDF5 file cannot be modified; open it with mode 'r', or export it to a Zarr "
            "store (zarrbridge convert VIEW COPY.nwb.zarr) and modify the copy",
        )
    return ReferenceViewStore(load_view_document(location), location)


class ReferenceViewStore(Store):
    """A read-only zarr store over a parsed reference document (see the module docstring)."""

    supports_writes = False
    supports_deletes = False
    supports_partial_writes = False
    supports_listing = True

    def __init__(
        self,
        document: dict[str, Any],
        location: Location,
        *,
        target_options: dict[str, dict[str, Any]] | None = None,
        allow_external: bool = False,
    ) -> None:
        super().__init__(read_only=True)
        self.location = location
        self._inline: dict[str, bytes | str] = {}
        self._refs: dict[str, _Ref] = {}
        self._targets: list[Location] = []
        self._target_options = dict(target_options or {})
        self._filesystems: dict[str, Any] = {}
        self._parse(document)
        for target in self._targets:
            check_external_location(location, target, allow=allow_external)
        self._check_sizes(document.get(VIEW_KEY, {}).get("sources", {}))

    # ---------------------------------------------------------------- parsing
    def _parse(self, document: dict[str, Any]) -> None:
        templates = document.get("templates") or {}
        if not isinstance(templates, dict):
            raise CorruptMetadataError("templates", "must be an object", str(self.location))
        index: dict[str, int] = {}
        for key, value in document["refs"].items():
            if isinstance(value, str):
                self._inline[key] = value
                continue
            if not isinstance(value, list) or len(value) not in (1, 3) or not isinstance(value[0], str):
                raise CorruptMetadataError(key, f"unknown reference {value!r}", str(self.location))
            url = _TEMPLATE.sub(lambda m: str(templates.get(m.group(1), m.group(0))), value[0])
            if url not in index:
                index[url] = len(self._targets)
                self._targets.append(self._target_location(url))
            offset, size = (0, None) if len(value) == 1 else (value[1], value[2])
            if not all(isinstance(v, int) and v >= 0 for v in (offset, size if size is not None else 0)):
                raise CorruptMetadataError(key, f"bad byte range {value[1:]!r}", str(self.location))
            self._refs[key] = _Ref(index[url], offset, size)

    def _target_location(self, url: str) -> Location:
        if "://" not in url and not url.startswith("/"):
            return self.location.resolve(url)  # relative to the view (zarrbridge writes absolute ones)
        options = None
        if "://" in url and not url.startswith("file://"):
            protocol = url.split("://", 1)[0]
            options = self._target_options.get(protocol)
            if options is None and self.location.kind == "fsspec":
                same = self.location.path.split("://", 1)[0] == protocol
                options = self.location.storage_options if same else {}
        return Location.parse(url, storage_options=options or None)

    def _check_sizes(self, sources: Any) -> None:
        if not isinstance(sources, dict):
            return
        for target in self._targets:
            expected = sources.get(target.path, {}).get("size") if isinstance(sources, dict) else None
            if target.kind != "local" or not isinstance(expected, int):
                continue
            try:
                size = os.path.getsize(target.path)
            except OSError:
                raise MissingChunkError(
                    target.path,
                    f"the file the virtual view {str(self.location)!r} references",
                    None,
                    "it is gone: moved or deleted since the view was made; make the view again",
                ) from None
            if size != expected:
                raise CorruptChunkError(
                    target.path,
                    f"the file the virtual view {str(self.location)!r} references",
                    None,
                    f"it holds {size} bytes, {expected} when the view was made: it was changed or replaced; "
                    "make the view again",
                )

    # ---------------------------------------------------------------- reading
    def __eq__(self, other: object) -> bool:
        return isinstance(other, ReferenceViewStore) and other.location == self.location

    def __hash__(self) -> int:
        return hash(("ReferenceViewStore", self.location))

    def __str__(self) -> str:
        return f"view:{self.location}"

    def _inline_bytes(self, key: str) -> bytes:
        value = self._inline[key]
        if isinstance(value, bytes):
            return value
        if value.startswith("base64:"):
            try:
                data = base64.b64decode(value[7:], validate=True)
            except binascii.Error as exc:
                raise CorruptChunkError(key, "an inline value", str(self.location), str(exc)) from None
        else:
            data = value.encode("utf-8")
        self._inline[key] = data
        return data

    def _check_length(self, key: str, ref: _Ref, data: bytes) -> bytes:
        if ref.size is not None and len(data) != ref.size:
            target = self._targets[ref.target]
            raise CorruptChunkError(
                key,
                f"the virtual view {str(self.location)!r}",
                str(target),
                f"{len(data)} of {ref.size} bytes at offset {ref.offset} are there: the file was truncated "
                "or replaced since the view was made; make the view again",
            )
        return data

    def _gone(self, key: str, ref: _Ref) -> MissingChunkError:
        return MissingChunkError(
            key,
            f"the virtual view {str(self.location)!r}",
            str(self._targets[ref.target]),
            "the referenced file is gone: moved or deleted since the view was made; make the view again",
        )

    def _read_local(self, key: str, ref: _Ref) -> bytes:
        try:
            with open(self._targets[ref.target].path, "rb") as fh:
                fh.seek(ref.offset)
                data = fh.read() if ref.size is None else fh.read(ref.size)
        except FileNotFoundError:
            raise self._gone(key, ref) from None
        return self._check_length(key, ref, data)

    def _filesystem(self, target: Location) -> Any:
        protocol = target.path.split("://", 1)[0]
        fs = self._filesystems.get(protocol)
        if fs is None:
            cls = fsspec.get_filesystem_class(protocol)
            if getattr(cls, "async_impl", False):
                fs = cls(**target.storage_options, asynchronous=True)
                _MADE_ASYNC.add(fs)
                _KEEP.append(fs)  # alive until exit, where location.py closes its session in zarr's loop
            else:
                fs = fsspec.filesystem(protocol, **target.storage_options)
            self._filesystems[protocol] = fs
        return fs

    async def _read_remote(self, key: str, ref: _Ref) -> bytes:
        target = self._targets[ref.target]
        fs = self._filesystem(target)
        path = fs._strip_protocol(target.path)
        end = None if ref.size is None else ref.offset + ref.size
        try:
            if getattr(fs, "async_impl", False):
                data = await fs._cat_file(path, start=ref.offset, end=end)
            else:
                data = await asyncio.to_thread(fs.cat_file, path, start=ref.offset, end=end)
        except FileNotFoundError:
            raise self._gone(key, ref) from None
        return self._check_length(key, ref, bytes(data))

    def _entry(self, key: str) -> tuple[bytes | None, _Ref | None]:
        """``key``'s bytes if the view holds them inline, else its reference (both ``None``: no such key)."""
        if key in self._inline:
            return self._inline_bytes(key), None
        return None, self._refs.get(key)

    def _slice(self, data: bytes, byte_range: ByteRequest | None, prototype: BufferPrototype) -> Buffer:
        if isinstance(byte_range, RangeByteRequest):
            data = data[byte_range.start : byte_range.end]
        elif isinstance(byte_range, OffsetByteRequest):
            data = data[byte_range.offset :]
        elif isinstance(byte_range, SuffixByteRequest):
            data = data[-byte_range.suffix :] if byte_range.suffix else b""
        return prototype.buffer.from_bytes(data)

    def get_sync(
        self, key: str, *, prototype: BufferPrototype | None = None, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        prototype = prototype or default_buffer_prototype()
        data, ref = self._entry(key)
        if ref is not None and self._targets[ref.target].kind != "local":
            result: Buffer | None = sync(self.get(key, prototype, byte_range))
            return result
        if ref is not None:
            data = self._read_local(key, ref)
        return None if data is None else self._slice(data, byte_range, prototype)

    async def get(
        self, key: str, prototype: BufferPrototype | None = None, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        prototype = prototype or default_buffer_prototype()
        data, ref = self._entry(key)
        if ref is not None and self._targets[ref.target].kind == "local":
            data = await asyncio.to_thread(self._read_local, key, ref)
        elif ref is not None:
            data = await self._read_remote(key, ref)
        return None if data is None else self._slice(data, byte_range, prototype)

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        return list(await asyncio.gather(*(self.get(k, prototype, r) for k, r in key_ranges)))

    async def exists(self, key: str) -> bool:
        return key in self._inline or key in self._refs

    async def set(self, key: str, value: Buffer) -> None:
        raise ReadOnlyError(f"the virtual view {str(self.location)!r}", hint="a view cannot be modified")

    async def delete(self, key: str) -> None:
        raise ReadOnlyError(f"the virtual view {str(self.location)!r}", hint="a view cannot be modified")

    def _keys(self) -> list[str]:
        return [*self._inline, *self._refs]

    async def list(self) -> AsyncIterator[str]:
        for key in self._keys():
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        for key in self._keys():
            if key.startswith(prefix):
                yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        prefix = prefix.rstrip("/")
        start = prefix + "/" if prefix else ""
        seen: set[str] = set()
        for key in self._keys():
            if key.startswith(start) and key != prefix:
                child = key[len(start) :].split("/", 1)[0]
                if child not in seen:
                    seen.add(child)
                    yield child

    @property
    def referenced_files(self) -> tuple[str, ...]:
        """The files (paths, URLs) whose byte ranges the view references."""
        return tuple(str(t) for t in self._targets)


VIEW_OPENERS.append(view_store)  # open_store opens views, holds_zarr finds them (see core/location.py)
VIEW_DETECTORS.append(looks_like_view)
