"""What ``<zarr@store>`` and ``<photon@store>`` share: paths, stores, the row's JSON, fetch, rollback journal.

A subclass says how to write a value into a fresh zarr store (:meth:`ArrayCodecBase.write_value`) and what to
hand back on fetch (:meth:`ArrayCodecBase.wrap_fetched`). Everything else, including the format-version check,
lives here once.
"""

from __future__ import annotations

import json
import os
from abc import abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import datajoint as dj
import numpy as np
import zarr
from datajoint.builtin_codecs.schema import SchemaCodec
from zarr.abc.store import ByteRequest, Store
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype
from zarr.storage import LocalStore, StorePath, WrapperStore

from ..core.integrity import strict_array
from ..core.localfiles import read_file
from ..core.syncread import get_now
from ..errors import (
    CorruptMetadataError,
    NodeNotFoundError,
    ReadOnlyError,
    StoreExistsError,
    UnsupportedFormatVersionError,
)
from . import errors as dj_errors
from .errors import as_datajoint_errors, to_datajoint_error
from .foreign import open_plain_array, refuse_row
from .metadata import parse_metadata
from .paths import check_object_path, check_primary_key
from .rollback import Written, record_write
from .stores import StoreTarget, is_connection_error, resolve_store

__all__ = ["ATTRIBUTE_KEY", "ArrayCodecBase", "FetchedStore", "parse_metadata"]

ATTRIBUTE_KEY = "zarrbridge"  # the array attribute holding {"codec", "format_version", ...}


class FetchedStore(WrapperStore[Store]):
    """A read-only view of a fetched array's store whose write methods raise :class:`ReadOnlyError`."""

    def __init__(
        self,
        store: Store,
        *,
        what: str,
        inline_reads: bool = False,
        unreachable: Callable[[BaseException], Exception] | None = None,
    ) -> None:
        super().__init__(store)
        self._what = what
        self._inline = inline_reads and isinstance(store, LocalStore)
        self._unreachable = unreachable  # turns the S3 client's connection errors into StoreUnreachableError

    async def get(
        self, key: str, prototype: BufferPrototype | None = None, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        """Read ``key``; a whole local object is read in place when ``inline_reads`` was asked for.

        Decision: a small array's one chunk is read directly instead of on zarr's file thread (``LocalStore``
        hands every read to ``asyncio.to_thread``): one thread switch less per fetched row. Arrays of several
        chunks keep the threaded reads, which overlap.
        """
        if not self._inline or byte_range is not None:
            try:
                return await self._store.get(key, prototype or default_buffer_prototype(), byte_range)
            except Exception as exc:
                if self._unreachable is not None and is_connection_error(exc):
                    raise self._unreachable(exc) from exc
                raise
        return self.get_sync(key, prototype=prototype)  # (a plain file read: the store is local)

    def get_sync(
        self, key: str, *, prototype: BufferPrototype | None = None, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        """Read ``key`` in the calling thread (zarr's ``SupportsGetSync``):
        a plain file read on a local store.

        Decision: :func:`zarrbridge.core.chunkio.read_selection` reads a one-chunk array's chunk through this,
        so a fetched row costs no round trip through zarr's event-loop thread (about 20 system calls and two
        thread switches per row). Stores without a synchronous read go through that loop as before.
        """
        prototype = prototype or default_buffer_prototype()
        if isinstance(self._store, LocalStore) and byte_range is None:
            try:
                return prototype.buffer.from_bytes(read_file(os.path.join(self._store.root, key)))
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                return None
        return get_now(self._store, key, prototype, byte_range)

    def _refuse(self) -> ReadOnlyError:
        return ReadOnlyError(
            self._what,
            "arrays fetched from DataJoint belong to a table row; to change one, insert a new row (or delete "
            "the row and insert it again) with the new array, or copy it with numpy.asarray(...) first",
        )

    @property
    def read_only(self) -> bool:
        return True

    def _check_writable(self) -> None:
        raise self._refuse()

    async def set(self, key: str, value: Buffer) -> None:
        raise self._refuse()

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        raise self._refuse()

    async def delete(self, key: str) -> None:
        raise self._refuse()

    async def delete_dir(self, prefix: str) -> None:
        raise self._refuse()

    async def clear(self) -> None:
        raise self._refuse()


def _check_row_matches(row: dict[str, Any], metadata: Any, *, where: str, store_label: str) -> None:
    """Raise :class:`CorruptMetadataError` when ``zarr.json`` no longer describes the array the row recorded.

    The row's ``shape`` and ``dtype`` (byte order aside) were written with the array; a document changed since
    (by hand, or a resize) would otherwise read the row's chunk as a different array.
    """
    shape, dtype = row.get("shape"), row.get("dtype")
    problem = ""
    if isinstance(shape, list) and [int(s) for s in metadata.shape] != shape:
        problem = f"shape {list(metadata.shape)}, but the row recorded {shape}"
    elif isinstance(dtype, str):
        try:
            recorded = np.dtype(dtype).newbyteorder("<")
        except TypeError:
            recorded = None
        stored = metadata.dtype.to_native_dtype()
        if recorded is None or stored.newbyteorder("<") != recorded:
            problem = f"dtype {stored.str}, but the row recorded {dtype!r}"
    if problem:
        raise CorruptMetadataError(
            where, f"it describes {problem}: the array's metadata was changed after the insert", store_label
        )


class ArrayCodecBase(SchemaCodec, register=False):  # type: ignore[misc,call-arg]
    """Base of the zarrbridge DataJoint codecs: schema-addressed zarr arrays, one folder per value."""

    name: ClassVar[str]
    format_version: ClassVar[int] = 1  # written
    read_versions: ClassVar[tuple[int, ...]] = (1,)  # read
    ext: ClassVar[str] = ".zarr"

    # ---- declaration --------------------------------------------------------------------------------------
    def get_dtype(self, is_store: bool) -> str:
        """The database column holds JSON metadata; the array itself needs a store (``<name@store>``)."""
        if not is_store:
            raise dj_errors.InvalidOptionError(
                f"<{self.name}> keeps arrays in an object store, so it needs one: declare the attribute as "
                f"<{self.name}@> (the default store, dj.config['stores']['default']) or <{self.name}@name>"
            )
        return "json"

    # ---- insert --------------------------------------------------------------------------------------------
    @abstractmethod
    def validate(self, value: Any) -> None:
        """Raise a clear error for values this codec cannot store (called by DataJoint before encode)."""

    @abstractmethod
    def write_value(self, value: Any, store: Store) -> dict[str, Any]:
        """Write ``value`` as the root array of the empty ``store``; return the row metadata it adds."""

    def encode_in_memory(self, value: Any) -> tuple[dict[str, bytes], dict[str, Any]] | None:
        """The stored objects of a small ``value`` (key -> bytes) and the row metadata, or ``None`` to write
        ``value`` through zarr with :meth:`write_value` (the default)."""
        return None

    def encode(
        self,
        value: Any,
        *,
        key: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        store_name: str | None = None,
    ) -> dict[str, Any]:
        """Write ``value`` to its schema-addressed path and return the JSON kept in the table row.

        If writing fails the partial array is removed; if the insert that called this fails afterwards, the
        insert guard (:mod:`zarrbridge.djcodecs.rollback`) removes it. Errors are zarrbridge errors that are
        also ``DataJointError`` (:mod:`zarrbridge.djcodecs.errors`).
        """
        with as_datajoint_errors():
            return self._encode(value, key=key, context=context, store_name=store_name)

    def _encode(
        self,
        value: Any,
        *,
        key: dict[str, Any] | None,
        context: dict[str, Any] | None,
        store_name: str | None,
    ) -> dict[str, Any]:
        self.validate(value)
        schema, table, field, primary_key = self._extract_context(key, context)
        config = self._codec_config(key, context)
        target = resolve_store(store_name, config)
        check_primary_key(primary_key)
        path, _token = self._build_path(
            schema, table, field, primary_key, ext=self.ext, store_name=target.name, config=config
        )
        check_object_path(path)
        try:
            small = self.encode_in_memory(value)
            if small is not None:
                objects, extra = small
                target.put_objects(path, objects)
            else:
                extra = self.write_value(value, target.zarr_store(path, read_only=False))
        except StoreExistsError:
            raise  # the folder belongs to someone else (a token collision): keep it
        except BaseException as exc:
            self._discard(target, path, exc)
            if target.protocol != "file" and is_connection_error(exc):
                raise target.unreachable(exc) from exc
            raise
        record_write(Written(target=target, path=path, field=field, primary_key=dict(primary_key)))
        return {
            "path": path,
            "store": target.name or self._default_store_name(config),
            "codec": self.name,
            "format_version": self.format_version,
            **extra,
        }

    @staticmethod
    def _default_store_name(config: Any) -> str | None:
        stores = getattr(config, "stores", None) if config is not None else dj.config.stores
        default = dict(stores or {}).get("default")
        return default if isinstance(default, str) else None

    @staticmethod
    def _discard(target: StoreTarget, path: str, exc: BaseException) -> None:
        try:
            target.remove(path)
        except Exception as cleanup:  # report, but let the original error through
            exc.add_note(f"zarrbridge could not remove the partial array {path!r}: {cleanup}")

    # ---- fetch ---------------------------------------------------------------------------------------------
    @abstractmethod
    def wrap_fetched(self, array: zarr.Array[Any], stored: dict[str, Any]) -> Any:
        """What ``fetch`` returns for the read-only ``array`` (after the version checks)."""

    def parse_row(self, stored: Any) -> dict[str, Any]:
        """The row's JSON as a dict with a safe ``path``; raise for JSON that is not a row at all."""
        if isinstance(stored, (str, bytes)):
            try:
                stored = json.loads(stored)
            except ValueError as exc:
                raise CorruptMetadataError(f"<{self.name}> column", f"not JSON ({exc})") from exc
        if not isinstance(stored, dict) or not isinstance(stored.get("path"), str):
            raise CorruptMetadataError(
                f"<{self.name}> column", f"expected an object with a 'path', got {stored!r}"
            )
        check_object_path(stored["path"])
        return stored

    def check_stored(self, stored: Any) -> dict[str, Any]:
        """Parse and check a zarrbridge row's JSON; raise for foreign, corrupt or unknown-version metadata."""
        row = self.parse_row(stored)
        if row.get("codec") != self.name:
            raise refuse_row(row, codec=self.name)
        self._check_version(row.get("format_version"), f"<{self.name}> row metadata")
        return row

    def foreign_origin(self, row: dict[str, Any]) -> str | None:
        """The package that wrote ``row`` when it is not a zarrbridge row but one this codec reads,
        else None."""
        return None

    def wrap_foreign(self, array: zarr.Array[Any], row: dict[str, Any], origin: str) -> Any:
        """What ``fetch`` returns for a row written by ``origin`` (see :meth:`foreign_origin`)."""
        raise refuse_row(row, codec=self.name)

    def _check_version(self, found: Any, what: str) -> None:
        if isinstance(found, bool) or found not in self.read_versions:
            raise UnsupportedFormatVersionError(what, found, list(self.read_versions))

    def decode(
        self, stored: Any, *, key: dict[str, Any] | None = None, context: dict[str, Any] | None = None
    ) -> Any:
        """Open the stored array read-only with one metadata read and return :meth:`wrap_fetched` of it.

        Rows another package wrote under this codec's name (:meth:`foreign_origin`) open as plain zarr arrays,
        v3 or v2, and go to :meth:`wrap_foreign`. Errors, also those of later reads of the array, are
        zarrbridge errors that are also ``DataJointError`` (:mod:`zarrbridge.djcodecs.errors`).
        """
        with as_datajoint_errors():
            return self._decode(stored, key=key, context=context)

    def _decode(self, stored: Any, *, key: dict[str, Any] | None, context: dict[str, Any] | None) -> Any:
        meta = self.parse_row(stored)
        origin = None if meta.get("codec") == self.name else self.foreign_origin(meta)
        if origin is None:
            meta = self.check_stored(meta)
        target = resolve_store(meta.get("store"), self._codec_config(key, context))
        what = f"the <{self.name}> array at {target.label}:{meta['path']}"
        if origin is not None:
            array = open_plain_array(
                target,
                meta["path"],
                make_store=lambda: FetchedStore(
                    target.zarr_store(meta["path"], read_only=True), what=what, unreachable=target.unreachable
                ),
                column=f"<{self.name}>",
            )
            _check_row_matches(meta, array.metadata, where=meta["path"], store_label=target.label)
            # (no completeness marker: a chunk it lacks reads as the fill value, as its writer meant)
            return self.wrap_foreign(
                strict_array(array, location=what, translate=to_datajoint_error), meta, origin
            )
        try:
            raw = target.read_object(meta["path"], "zarr.json")
        except FileNotFoundError as exc:
            raise NodeNotFoundError(
                meta["path"],
                target.label,
                "The row references an array that is no longer in the store (removed by hand, or by a "
                "garbage collection that ran against another configuration); restore it from a backup or "
                "delete the row.",
            ) from exc
        metadata = parse_metadata(raw, where=f"{meta['path']}/zarr.json", store_label=target.label)
        _check_row_matches(meta, metadata, where=f"{meta['path']}/zarr.json", store_label=target.label)
        one_chunk = getattr(metadata.chunk_grid, "chunk_shape", None) == tuple(metadata.shape)
        store = FetchedStore(
            target.zarr_store(meta["path"], read_only=True),
            what=what,
            inline_reads=one_chunk,
            unreachable=target.unreachable,
        )
        # arrays zarrbridge wrote store every chunk: a missing one is MissingChunkError, a garbled one
        # CorruptChunkError, both naming the array and the key (rows from before the marker read as before)
        array = strict_array(
            zarr.Array(zarr.AsyncArray(metadata=metadata, store_path=StorePath(store))),
            location=what,
            translate=to_datajoint_error,
        )
        attrs = array.attrs.get(ATTRIBUTE_KEY)
        if not isinstance(attrs, dict) or attrs.get("codec") != self.name:
            raise CorruptMetadataError(
                f"{meta['path']}/zarr.json",
                f"attribute {ATTRIBUTE_KEY!r} does not describe a <{self.name}> array",
                target.label,
            )
        self._check_version(attrs.get("format_version"), f"{what} (zarr.json)")
        if attrs.get("format_version") != meta.get("format_version"):
            raise CorruptMetadataError(
                f"{meta['path']}/zarr.json",
                f"it has format version {attrs.get('format_version')}, but the row recorded "
                f"{meta.get('format_version')}: the array was replaced after the insert",
                target.label,
            )
        return self.wrap_fetched(array, meta)

    def array_attributes(self, **extra: Any) -> dict[str, Any]:
        """The attributes written (once, with the array metadata) into every stored array."""
        return {ATTRIBUTE_KEY: {"codec": self.name, "format_version": self.format_version, **extra}}
