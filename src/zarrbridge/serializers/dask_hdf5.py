"""Dask arrays as HDF5 files through the file protocol, the dask chunks kept as HDF5 chunks.

A save writes ``<name>.h5.partial`` and renames it to ``<name>.h5`` only after the last block is written,
so a crash never leaves a file that looks complete. Through a file protocol with ``open()`` alone (no
``rename``), the file is written under its final, fresh name: nothing refers to it until the save returns
its id, and the result that keeps the id is written after it. New files are written through
:func:`zarrbridge.hdf5files.guarded_h5`, so that a full disk is an error and never a crash. Blocks that are
whole chunks of an unfiltered numeric dataset are written with h5py's ``write_direct_chunk``
(:class:`.hdf5_chunks.ChunkWriter`); anything else with ``dset[sel] = block``. HDF5 files cannot be written
by several processes at once: from a ``distributed`` cluster the workers compute the blocks and this process
writes them, one by one.

Loaded arrays hold no h5py handle and can be shipped to workers: each block read opens the file, checks that
it is still the file that was loaded (a replaced or truncated file is an error, never other values), reads
and closes it. Blocks that are one chunk of an unfiltered numeric dataset are read with h5py's
``read_direct_chunk`` (:mod:`.hdf5_chunks`). :meth:`DaskHDF5Serializer.load` reads a whole array with one
``Dataset.read_direct`` into the result.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal, cast

import dask.array
import h5py
import numpy as np

from .. import progress as _progress
from ..core.bounds import check_allocation
from ..daskwrite import CountingTarget, compute_side_effects
from ..errors import (
    BrokenLinkError,
    CorruptChunkError,
    CorruptMetadataError,
    InvalidOptionError,
    WriteInterruptedError,
    ZarrBridgeError,
)
from ..hdf5files import guarded_h5
from .base import active_client, parse_array_id, read_limits, require_protocol
from .dask_format import DaskFormatSerializer, FileIdentity, file_identity, stored_dtype
from .hdf5_chunks import RAW_KINDS, ChunkWriter, has_plain_chunks, read_chunk_block
from .protocols import (
    FILE_PROTOCOL,
    DirectoryCapable,
    check_file_protocol,
    file_exists,
    has_operation,
    normalize_protocols,
    remove_file,
)

da: Any = dask.array  # dask's functions are untyped: call them through Any
_log = logging.getLogger(__name__)

__all__ = ["DaskHDF5Serializer", "HDF5Options"]

Encoding = Literal["none", "utf32", "int64"]
_MAX_CHUNK_BYTES = 1 << 30  # HDF5 refuses chunks of 4 GiB or more


@dataclass(frozen=True)
class HDF5Options:
    """How :class:`DaskHDF5Serializer` lays out its datasets.

    Parameters
    ----------
    compression
        ``None``, ``"gzip"`` or ``"lzf"``.
    compression_opts
        The gzip level (0-9); only with ``"gzip"``.
    shuffle
        Apply the HDF5 byte-shuffle filter before compression.
    """

    compression: Literal["gzip", "lzf"] | None = None
    compression_opts: int | None = None
    shuffle: bool = False

    def __post_init__(self) -> None:
        if self.compression not in (None, "gzip", "lzf"):
            raise InvalidOptionError(
                f"HDF5 compression must be None, 'gzip' or 'lzf', got {self.compression!r}"
            )
        if self.compression_opts is not None and (
            self.compression != "gzip"
            or not isinstance(self.compression_opts, int)
            or not 0 <= self.compression_opts <= 9
        ):
            raise InvalidOptionError("compression_opts is a gzip level 0-9 and needs compression='gzip'")

    def to_dict(self) -> dict[str, Any]:
        """The options as JSON-compatible data.

        Returns
        -------
        dict
            The options, as :meth:`from_dict` reads them.
        """
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HDF5Options:
        """Options from :meth:`to_dict` output; unknown keys are an error.

        Parameters
        ----------
        data : Mapping[str, Any]
            What :meth:`to_dict` returned.
        """
        unknown = set(data) - {"compression", "compression_opts", "shuffle"}
        if unknown:
            raise InvalidOptionError(f"unknown HDF5 options {sorted(unknown)}")
        return cls(**data)


def _encoding(dt: np.dtype[Any]) -> tuple[Encoding, np.dtype[Any], int]:
    """How a numpy dtype is kept in HDF5: ``(encoding, stored dtype, extra trailing axis length)``."""
    if dt.kind == "U":  # h5py has no UTF-32: keep the code points, one per trailing axis element
        return "utf32", np.dtype("<u4"), dt.itemsize // 4
    if dt.kind in "mM":
        return "int64", np.dtype("<i8"), 0
    return "none", dt, 0


def _encode(block: np.ndarray[Any, Any], encoding: Encoding, dt: np.dtype[Any]) -> np.ndarray[Any, Any]:
    block = np.asarray(block)
    if encoding == "utf32":
        n = dt.itemsize // 4
        flat = np.ascontiguousarray(block, dtype=dt.newbyteorder("<")).reshape(-1)
        return flat.view("<u4").reshape(block.shape + (n,))
    if encoding == "int64":
        return np.ascontiguousarray(block, dtype=dt).reshape(-1).view("<i8").reshape(block.shape)
    return block


def _decode(raw: np.ndarray[Any, Any], encoding: Encoding, dt: np.dtype[Any]) -> np.ndarray[Any, Any]:
    raw = np.asarray(raw)
    if encoding == "utf32":
        flat = np.ascontiguousarray(raw, dtype="<u4").reshape(-1)
        return flat.view(dt.newbyteorder("<")).reshape(raw.shape[:-1]).astype(dt, copy=False)
    if encoding == "int64":
        return np.ascontiguousarray(raw, dtype="<i8").reshape(-1).view(dt).reshape(raw.shape)
    return np.asarray(raw, dtype=dt)  # h5py returns a scalar for dset[()]: b"" would come back as "S1"


@contextmanager
def _open_h5(files: Any, name: str, mode: Literal["r", "w"]) -> Iterator[h5py.File]:
    """An HDF5 file through the file protocol: by local path when it has one, else through ``open()``."""
    if isinstance(files, DirectoryCapable):
        path = files.local_path(name)
        if mode == "w":
            os.makedirs(os.path.dirname(path), exist_ok=True)
        if mode == "r":
            with h5py.File(path, "r") as h5:
                yield h5
            return
        with open(path, "w+b") as local, guarded_h5(local) as h5:
            yield h5
        return
    if mode == "r":
        with files.open(name, "rb") as handle, h5py.File(handle, "r") as h5:
            yield h5
        return
    with files.open(name, "w+b") as handle, guarded_h5(handle) as h5:
        yield h5


@dataclass(frozen=True)
class _EncodingTarget:
    """A ``da.store`` target that encodes each block into an open dataset."""

    dset: Any
    encoding: Encoding
    dtype: np.dtype[Any]

    def __setitem__(self, sel: tuple[slice, ...], block: np.ndarray[Any, Any]) -> None:
        extra = (slice(None),) if self.encoding == "utf32" else ()
        self.dset[tuple(sel) + extra] = _encode(block, self.encoding, self.dtype)


def _file_identity(h5: h5py.File) -> FileIdentity:
    """The identity of the local file h5py opened by path (its ``sec2`` driver's descriptor)."""
    return file_identity(int(h5.id.get_vfd_handle()))


@dataclass(frozen=True)
class HDF5Source:
    """A picklable, lazily opened HDF5 dataset: each read opens the file, reads, decodes and closes it.

    ``plain_chunks``: whole chunks are read with ``read_direct_chunk``
    (:func:`.hdf5_chunks.read_chunk_block`). ``identity``: for local files, the identity of the file when the
    array was loaded; a read from a file that no longer has it (replaced, truncated, rewritten) is a
    :class:`~zarrbridge.errors.CorruptChunkError`, so a loaded array gives its saved values or an error.
    """

    files: Any
    name: str
    datapath: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    encoding: Encoding
    plain_chunks: bool = False
    identity: FileIdentity | None = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __getitem__(self, sel: Any) -> np.ndarray[Any, Any]:
        sel = sel if isinstance(sel, tuple) else (sel,)
        sel = sel + (slice(None),) if self.encoding == "utf32" else sel
        key = f"block {sel}"
        with self.reading(key):
            with _open_h5(self.files, self.name, "r") as h5:
                self._check(h5, key)
                dset = h5[self.datapath]
                raw = read_chunk_block(dset, sel) if self.plain_chunks else None
                if raw is None:
                    raw = dset[sel]
        return _decode(raw, self.encoding, self.dtype)

    def _check(self, h5: h5py.File, key: str) -> None:
        if self.identity is not None and _file_identity(h5) != self.identity:
            raise self._changed(key)

    def _changed(self, key: str) -> CorruptChunkError:
        return CorruptChunkError(
            key,
            f"HDF5 array file {self.name!r}",
            reason="the file was replaced or modified after the array was loaded from it; saved array files "
            "never change, so load the result again or restore the file",
        )

    @contextmanager
    def reading(self, key: str) -> Iterator[None]:
        """Turn what h5py raises while reading ``key`` of this file into zarrbridge's errors."""
        try:
            yield
        except ZarrBridgeError:
            raise
        except (OSError, KeyError, RuntimeError) as exc:
            if _removed(self.files, self.name):
                raise BrokenLinkError(
                    "loaded array",
                    self.name,
                    hint="Its file was deleted after the array was loaded (an overwritten or removed result "
                    "whose files collect_garbage() deleted, or a removal through another storage); load the "
                    "result again.",
                ) from exc
            if self.identity is not None and isinstance(self.files, DirectoryCapable):
                try:
                    changed = file_identity(self.files.local_path(self.name)) != self.identity
                except FileNotFoundError:
                    changed = True
                if changed:
                    raise self._changed(key) from exc
            raise CorruptChunkError(
                key, f"HDF5 array file {self.name!r}", reason=f"HDF5 cannot read it: {exc}"
            ) from exc


def _removed(files: Any, name: str) -> bool:
    """Whether the file ``name`` is gone (through ``open()``, which every file protocol has)."""
    try:
        with files.open(name, "rb"):
            return False
    except FileNotFoundError:
        return True


def _hdf5_chunks(darr: dask.array.Array, extra: int) -> tuple[int, ...] | None:
    if darr.ndim == 0 or darr.size == 0:
        return None
    chunks = [max(1, min(int(c), int(s))) for c, s in zip(darr.chunksize, darr.shape)]
    itemsize = max(1, darr.dtype.itemsize)
    while math.prod(chunks) * itemsize > _MAX_CHUNK_BYTES:
        axis = chunks.index(max(chunks))
        chunks[axis] = math.ceil(chunks[axis] / 2)
    return tuple(chunks) + ((extra,) if extra else ())


def _block_selections(darr: dask.array.Array) -> Iterator[tuple[tuple[slice, ...], Any]]:
    from dask.array.core import slices_from_chunks

    blocks = cast(Any, darr).to_delayed().ravel()
    yield from zip(cast(Any, slices_from_chunks)(darr.chunks), blocks)


def _store_from_cluster(client: Any, darr: dask.array.Array, target: Any) -> None:
    """Compute blocks on the cluster, a bounded number at a time, and write them here one by one (as the
    cluster completes them, so a :class:`~zarrbridge.daskwrite.CountingTarget` follows the cluster's work)."""
    from distributed import as_completed as _as_completed

    as_completed: Any = _as_completed  # untyped
    window = max(2, 2 * sum(client.nthreads().values()))
    todo = _block_selections(darr)
    pending: dict[Any, tuple[slice, ...]] = {}
    queue = as_completed(loop=client.loop)

    def submit_next() -> None:
        for sel, block in todo:
            future = client.compute(block)
            pending[future] = sel
            queue.add(future)
            return

    for _ in range(window):
        submit_next()
    try:
        for future in queue:
            target[pending.pop(future)] = future.result()
            future.release()
            submit_next()
    except BaseException:
        client.cancel(list(pending))
        raise


class DaskHDF5Serializer(DaskFormatSerializer):
    """Dask arrays in HDF5 files reached through the file protocol.

    Configure by subclassing: ``options`` (an :class:`HDF5Options`) and ``datapath`` (the dataset name).

    Examples
    --------
    >>> import tempfile, dask.array as da
    >>> from zarrbridge.serializers import FILE_PROTOCOL, LocalFiles
    >>> protocols = {FILE_PROTOCOL: LocalFiles(tempfile.mkdtemp())}
    >>> tag, inner = DaskHDF5Serializer.pickle(da.ones(10, chunks=5), protocols)
    >>> float(DaskHDF5Serializer.unpickle(inner, protocols).sum())
    10.0
    """

    name: ClassVar[str] = "dask-hdf5"
    format_name: ClassVar[str] = "zarrbridge.dask-hdf5"
    suffix: ClassVar[str] = ".h5"
    datapath: ClassVar[str] = "data"
    options: ClassVar[HDF5Options] = HDF5Options()

    @classmethod
    def _protocol(cls, protocols: Mapping[str, Any]) -> str:
        check_file_protocol(require_protocol(protocols, FILE_PROTOCOL, cls.__name__), cls.__name__)
        return FILE_PROTOCOL

    @classmethod
    def _write(
        cls, darr: Any, dtype: np.dtype[Any], protocol: str, protocols: Mapping[str, Any], name: str
    ) -> None:
        files = protocols[FILE_PROTOCOL]
        encoding, stored, extra = _encoding(dtype)
        partial = name + ".partial" if has_operation(files, "rename") else name  # (see the module docstring)
        chunks = _hdf5_chunks(darr, extra)
        client = active_client()
        plain = cls._writes_plain_chunks(darr)
        with _open_h5(files, partial, "w") as h5:
            dset = h5.create_dataset(
                cls.datapath,
                shape=tuple(darr.shape) + ((extra,) if extra else ()),
                dtype=stored,
                chunks=chunks,
                **(cls._filters() if darr.ndim and darr.size else {}),
            )
            dset.attrs.update(
                {
                    "zarrbridge_format": cls.format_name,
                    "zarrbridge_format_version": cls.format_version,
                    "zarrbridge_dtype": json.dumps(np.lib.format.dtype_to_descr(dtype)),
                    "zarrbridge_encoding": encoding,
                }
            )
            target: Any = ChunkWriter(dset) if plain else _EncodingTarget(dset, encoding, dtype)
            reporter = _progress.current()
            if reporter is not None:
                target = CountingTarget(target, reporter)
            _log.info(
                "saving a dask array %s %s as HDF5 %s: chunks %s, %s, %s",
                darr.shape,
                dtype,
                name,
                chunks,
                "write_direct_chunk for whole chunks" if plain else f"filters {cls._filters()}",
                "blocks from a distributed cluster" if client is not None else "local threads",
            )
            if darr.size == 0:
                pass
            elif darr.ndim == 0:
                target[()] = darr.compute()
            elif client is not None:
                _store_from_cluster(client, darr, target)
            else:
                compute_side_effects(da.store(darr, target, lock=True, compute=False))
        if partial != name:
            files.rename(partial, name)

    @classmethod
    def _writes_plain_chunks(cls, darr: Any) -> bool:
        """Whether a save writes whole chunks with ``write_direct_chunk`` (:class:`.hdf5_chunks.ChunkWriter`):
        numbers whose file layout is numpy's, stored without filters."""
        return (
            darr.ndim > 0
            and darr.dtype.kind in RAW_KINDS
            and cls.options.compression is None
            and not cls.options.shuffle
        )

    @classmethod
    def _discard(cls, protocol: str, protocols: Mapping[str, Any], name: str) -> None:
        files = protocols[FILE_PROTOCOL]
        for leftover in (name + ".partial", name):
            if not remove_file(files, leftover) and leftover == name:
                with files.open(name, "wb"):  # no remove(): at least give the space back
                    pass

    @classmethod
    def _filters(cls) -> dict[str, Any]:
        opts = cls.options
        out: dict[str, Any] = {"shuffle": opts.shuffle}
        if opts.compression is not None:
            out["compression"] = opts.compression
            if opts.compression_opts is not None:
                out["compression_opts"] = opts.compression_opts
        return out

    @classmethod
    def unpickle(cls, pid: Any, protocols: Mapping[str, Any]) -> dask.array.Array:
        """A lazy dask array over the HDF5 file of ``pid``, one block per HDF5 chunk.

        Parameters
        ----------
        pid : object
            The inner id (or the whole ``(name, inner)`` id) that :meth:`pickle` returned.
        protocols : Mapping[str, Any]
            The storage's protocols (``{FILE_PROTOCOL: ...}`` or ``{S3_PROTOCOL: ...}``).
        """
        source, chunks = cls._source(pid, protocols)
        result: dask.array.Array = da.from_array(
            source,
            chunks=chunks or source.shape,
            name=f"zarrbridge-hdf5-{source.name}",
            lock=False,
            fancy=False,
            asarray=False,
            meta=np.empty((0,) * len(source.shape), dtype=source.dtype),
        )
        return result

    @classmethod
    def load(cls, pid: Any, protocols: Mapping[str, Any]) -> np.ndarray[Any, Any]:
        """The stored array of ``pid`` read whole into memory.

        Decision: one ``Dataset.read_direct`` into the result, where h5py reads each chunk straight into its
        place, instead of ``unpickle(pid).compute()``, which reads every chunk into a block of its own and
        then copies the blocks into the result: a whole-array load then costs what ``dset[:]`` costs.

        Parameters
        ----------
        pid : object
            The inner id (or the whole ``(name, inner)`` id) that :meth:`pickle` returned.
        protocols : Mapping[str, Any]
            The storage's protocols (``{FILE_PROTOCOL: ...}`` or ``{S3_PROTOCOL: ...}``).
        """
        source, _ = cls._source(pid, protocols)
        with source.reading("the whole array"), _open_h5(source.files, source.name, "r") as h5:
            source._check(h5, "the whole array")
            dset = h5[source.datapath]
            check_allocation(  # before anything is allocated: the file's shape may be hostile
                shape=tuple(source.shape),
                itemsize=np.dtype(source.dtype).itemsize,
                what=f"array {source.name!r}",
                max_bytes=read_limits().max_bytes,
            )
            reporter = _progress.current()
            if reporter is not None:
                reporter.add_total(math.prod(source.shape) * source.dtype.itemsize)
            if source.encoding == "none" and dset.size and dset.ndim and dset.dtype == source.dtype:
                out = np.empty(source.shape, dtype=source.dtype)
                if reporter is None or not reporter.enabled:
                    dset.read_direct(out)
                else:
                    for rows in _row_slabs(dset):  # reported slab by slab, each read straight into place
                        dset.read_direct(out, source_sel=rows, dest_sel=rows)
                        reporter(out[rows].nbytes)
                    return out
                if reporter is not None:
                    reporter(out.nbytes)
                return out
            raw = dset[()]
        result = _decode(raw, source.encoding, source.dtype)
        if reporter is not None:
            reporter(result.nbytes)
        return result

    @classmethod
    def _source(cls, pid: Any, protocols: Mapping[str, Any]) -> tuple[HDF5Source, tuple[int, ...] | None]:
        """The readable dataset of ``pid`` and its (HDF5) chunk shape, after every check of the file."""
        pid = cls.inner_id(pid)
        _, name = parse_array_id(pid, format_name=cls.format_name, supported=cls.supported_versions)
        files = check_file_protocol(require_protocol(protocols, FILE_PROTOCOL, cls.__name__), cls.__name__)
        if not file_exists(files, name):
            if has_operation(files, "exists") and files.exists(name + ".partial"):
                raise WriteInterruptedError(name, "the HDF5 file was never completed")
            raise BrokenLinkError(
                "stored result", name, hint="The array file was removed; save the result again."
            )
        try:
            with _open_h5(files, name, "r") as h5:
                dset = h5[cls.datapath]
                attrs = dict(dset.attrs)
                shape, chunks = tuple(dset.shape), dset.chunks
                plain = has_plain_chunks(dset)
                identity = _file_identity(h5) if isinstance(files, DirectoryCapable) else None
        except (OSError, KeyError) as exc:
            raise CorruptMetadataError(
                name, f"not a readable HDF5 file with dataset {cls.datapath!r} ({exc})"
            ) from exc
        cls.check_stored_format(name, attrs.get("zarrbridge_format"), attrs.get("zarrbridge_format_version"))
        dt = stored_dtype(_json_attr(attrs.get("zarrbridge_dtype"), name), name)
        encoding = attrs.get("zarrbridge_encoding")
        if encoding not in ("none", "utf32", "int64"):
            raise CorruptMetadataError(name, f"unknown value encoding {encoding!r}")
        if encoding == "utf32":
            shape, chunks = shape[:-1], chunks[:-1] if chunks else None
        return HDF5Source(files, name, cls.datapath, shape, dt, encoding, plain, identity), chunks

    @classmethod
    def remove(cls, pid: Any, protocols: Mapping[str, Any]) -> None:
        """Remove the HDF5 file of ``pid`` (and any unfinished one).

        Parameters
        ----------
        pid : object
            The inner id (or the whole ``(name, inner)`` id) that :meth:`pickle` returned.
        protocols : Mapping[str, Any]
            The storage's protocols (``{FILE_PROTOCOL: ...}`` or ``{S3_PROTOCOL: ...}``).
        """
        pid = cls.inner_id(pid)
        _, name = parse_array_id(pid, format_name=cls.format_name, supported=cls.supported_versions)
        files = require_protocol(normalize_protocols(protocols), FILE_PROTOCOL, cls.__name__)
        remove_file(files, name)  # (a protocol without remove() keeps the file: nothing can delete it)
        remove_file(files, name + ".partial")


def _row_slabs(dset: Any, target_bytes: int = 64 << 20) -> Iterator[tuple[slice, ...]]:
    """Selections of whole chunk rows along the first axis, about ``target_bytes`` each."""
    rows = int(dset.chunks[0]) if dset.chunks else 1
    row_bytes = max(1, math.prod(dset.shape[1:]) * dset.dtype.itemsize)
    step = max(rows, (target_bytes // (row_bytes * rows)) * rows)
    for start in range(0, int(dset.shape[0]), step):
        yield (slice(start, min(start + step, int(dset.shape[0]))),)


def _json_attr(value: Any, name: str) -> Any:
    try:
        return json.loads(str(value))
    except ValueError as exc:
        raise CorruptMetadataError(name, f"dtype attribute {value!r} is not JSON ({exc})") from exc
