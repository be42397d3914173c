"""Locations: where a zarr hierarchy lives, and how to open it as a zarr store.

A location is a local directory, a ``.zip`` file, an in-memory store, an fsspec URL (``s3://bucket/key``,
``memory://x``, ``file:///...``) with storage options, or a ready :class:`zarr.abc.store.Store`.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import posixpath
import shutil
import socket
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Literal, TypeGuard, get_args
from urllib.parse import urlsplit

import fsspec
import zarr
from zarr.abc.store import ByteRequest, Store
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import FsspecStore, LocalStore, MemoryStore, ZipStore

from ..errors import (
    InvalidOptionError,
    LocationError,
    NotAZarrStoreError,
    StoreExistsError,
    StoreUnreachableError,
    UnsafeNameError,
)

__all__ = [
    "CONNECT_TIMEOUT_S",
    "MAX_ATTEMPTS",
    "MAX_POOL_CONNECTIONS",
    "AccessMode",
    "ConfinedLocalStore",
    "Location",
    "RemoteStore",
    "check_external_location",
    "filesystem_options",
    "filesystem_store",
    "open_store",
]

#: The modes a location opens with: ``"r"`` read, ``"r+"``/``"a"`` modify, ``"w"`` replace,
#: ``"w-"``/``"x"`` create new.
AccessMode = Literal["r", "r+", "a", "w", "w-", "x"]
LocationKind = Literal["local", "zip", "fsspec", "store"]
_MODES: tuple[str, ...] = get_args(AccessMode)
_ROOT_MARKERS = ("zarr.json", ".zgroup", ".zarray")


# Hook for virtual views (one reference file, not a directory): zarrbridge.core.refview registers itself here
# when zarrbridge.core is imported, so that this module does not import it (no import circle).
VIEW_OPENERS: list[Callable[[Location, str], Store | None]] = []  # a store for the location, or None
VIEW_DETECTORS: list[Callable[[Location], bool]] = []  # whether a local file is a view


def _is_mode(mode: str) -> TypeGuard[AccessMode]:
    return mode in _MODES


def _check_mode(mode: str) -> AccessMode:
    if not _is_mode(mode):
        raise InvalidOptionError(f"mode must be one of {_MODES}, got {mode!r}")
    return mode


@dataclass(frozen=True)
class Location:
    """Where a zarr hierarchy lives.

    Parameters
    ----------
    kind
        ``"local"`` (a directory), ``"zip"`` (a zip file), ``"fsspec"`` (a URL) or ``"store"``
        (a store object).
    path
        Absolute POSIX path for ``local``/``zip``, the URL for ``fsspec``, ``""`` for ``store``.
    storage_options
        fsspec options for ``fsspec`` locations (e.g. ``{"endpoint_url": ..., "key": ..., "secret": ...}``).
    store
        The store object for ``kind == "store"``.

    Examples
    --------
    >>> Location.parse("/data/rec.nwb.zarr").kind
    'local'
    >>> Location.parse("s3://bucket/rec.zarr", storage_options={"anon": True}).kind
    'fsspec'
    """

    kind: LocationKind
    path: str
    storage_options: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    store: Store | None = field(default=None, compare=False, hash=False)

    @classmethod
    def parse(cls, spec: Any, *, storage_options: dict[str, Any] | None = None) -> Location:
        """Turn a path, URL, :class:`~pathlib.Path`, store or :class:`Location` into a :class:`Location`.

        Parameters
        ----------
        spec : str, os.PathLike, zarr store or Location
            A local path, a ``.zip`` path, an fsspec URL, a store object or a
            location.
        storage_options : dict, optional
            fsspec options for URLs (e.g. ``endpoint_url``, ``key``, ``secret``).
        """
        if isinstance(spec, Location):
            return spec
        if isinstance(spec, Store):
            return cls("store", "", {}, spec)
        if isinstance(spec, PurePath):
            spec = str(spec)
        if not isinstance(spec, str):
            raise LocationError(
                spec, f"expected a path, URL, zarr store or Location, not {type(spec).__name__}"
            )
        if not spec:
            raise LocationError(spec, "the location is empty")
        if "://" in spec:
            scheme = urlsplit(spec).scheme
            if scheme == "file":
                spec = urlsplit(spec).path
            else:
                return cls("fsspec", spec.rstrip("/"), dict(storage_options or {}))
        elif storage_options:
            raise InvalidOptionError("storage_options apply to URLs only (e.g. 's3://bucket/key')")
        path = Path(spec).expanduser().absolute().as_posix()
        kind: LocationKind = "zip" if path.lower().endswith(".zip") else "local"
        return cls(kind, path)

    @property
    def name(self) -> str:
        """The last component of the path (``""`` for a store object)."""
        return posixpath.basename(self.path.rstrip("/"))

    def __str__(self) -> str:
        return self.path if self.kind != "store" else f"<{type(self.store).__name__}>"

    def relative_to(self, other: Location) -> str:
        """Express this location relative to the *parent* of ``other``, without OS path separators.

        Used for external links: ``"../other.nwb.zarr"`` style, POSIX on every platform. Falls back to the
        absolute path or URL when the two live in different filesystems or buckets.

        Parameters
        ----------
        other : Location
            The location the result is relative to (its parent folder).

        Returns
        -------
        str
            A ``/``-separated relative path, or the absolute path or URL.
        """
        if self.kind == "store" or other.kind == "store":
            raise LocationError(self, "links between store objects need a path or URL on both sides")
        same_fs = (self.kind in ("local", "zip")) == (other.kind in ("local", "zip"))
        if self.kind == "fsspec" and other.kind == "fsspec":
            a, b = urlsplit(self.path), urlsplit(other.path)
            same_fs = (a.scheme, a.netloc) == (b.scheme, b.netloc)
            if same_fs:
                return posixpath.relpath(a.path or "/", posixpath.dirname(b.path.rstrip("/")) or "/")
        if not same_fs:
            return self.path
        return posixpath.relpath(self.path, posixpath.dirname(other.path.rstrip("/")))

    def resolve(self, relative: str) -> Location:
        """The location that ``relative`` (as written by :meth:`relative_to`) names, seen from this one.

        Parameters
        ----------
        relative : str
            A relative path or a URL, as :meth:`relative_to` returns.

        Returns
        -------
        Location
            The location named.
        """
        if "://" in relative or relative.startswith("/") or (len(relative) > 1 and relative[1] == ":"):
            return Location.parse(
                relative, storage_options=self.storage_options if "://" in relative else None
            )
        if self.kind == "store":
            raise LocationError(relative, "cannot resolve a relative location from a store object")
        relative = relative.replace("\\", "/")  # files written on Windows by older tools
        if self.kind == "fsspec":
            parts = urlsplit(self.path)
            base = posixpath.dirname(parts.path.rstrip("/"))
            joined = posixpath.normpath(posixpath.join(base, relative))
            return Location("fsspec", f"{parts.scheme}://{parts.netloc}{joined}", dict(self.storage_options))
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(self.path.rstrip("/")), relative))
        return Location.parse(joined)

    def exists(self) -> bool:
        """Whether anything (a zarr hierarchy or not) is at this location.

        Returns
        -------
        bool
            Whether something is there.
        """
        if self.kind == "store":
            return True
        if self.kind in ("local", "zip"):
            return os.path.exists(self.path)
        fs, path = self.filesystem()
        with _reporting_unreachable(self):
            return bool(fs.exists(path))

    def holds_zarr(self) -> bool:
        """Whether a zarr hierarchy's root metadata is at this location.

        Returns
        -------
        bool
            Whether a ``zarr.json`` or ``.zgroup`` is at the root.
        """
        if self.kind == "local":
            if os.path.isfile(self.path):  # hook: a virtual view (zarrbridge.core.refview) is a hierarchy
                return any(detect(self) for detect in VIEW_DETECTORS)
            return any(os.path.isfile(os.path.join(self.path, m)) for m in _ROOT_MARKERS)
        if self.kind == "zip":
            import zipfile

            if not zipfile.is_zipfile(self.path):
                return False
            with zipfile.ZipFile(self.path) as zf:
                names = set(zf.namelist())
            return any(m in names for m in _ROOT_MARKERS)
        if self.kind == "store":
            assert self.store is not None
            return any(_sync_exists(self.store, m) for m in _ROOT_MARKERS)
        fs, path = self.filesystem()
        with _reporting_unreachable(self):
            found = sync(_root_documents(filesystem_store(fs, path, read_only=True)))
        return any(value is not None for value in found.values())

    def filesystem(self) -> tuple[Any, str]:
        """The fsspec filesystem and path of a URL location, opened with :func:`filesystem_options`."""
        if self.kind != "fsspec":
            raise LocationError(self.path, "only URL locations have an fsspec filesystem")
        fs, path = fsspec.core.url_to_fs(self.path, **filesystem_options(self))
        return fs, str(path)


class ConfinedLocalStore(LocalStore):
    """A :class:`zarr.storage.LocalStore` that never follows a symbolic link out of its root directory.

    A key whose file, or one of whose folders, is a symbolic link leading outside the store raises
    :class:`~zarrbridge.errors.UnsafeNameError` naming the key and the link, on reads, writes and deletes
    alike (a store synced from elsewhere, or prepared by someone else, must not make a reader read or an
    appending writer overwrite another file). Links that stay inside the store are followed. Folders found
    inside are remembered, so the check costs one ``lstat`` per key after the first key of a folder.
    """

    def __init__(self, root: Path | str, *, read_only: bool = False) -> None:
        super().__init__(root, read_only=read_only)
        self._real_root = os.path.realpath(self.root)
        self._inside: set[str] = set()

    def confine(self, key: str) -> None:
        """Raise :class:`~zarrbridge.errors.UnsafeNameError` if ``key`` (a file or folder below the root,
        existing or not) leads through a symbolic link out of the store; also for callers that read or
        write the key's file themselves."""
        self._confine(key)

    def _confine(self, key: str) -> None:
        full = os.path.join(self.root, key)
        folder = os.path.dirname(full)
        if folder not in self._inside:
            self._check_real(key, folder)
            self._inside.add(folder)
        if os.path.islink(full):
            self._check_real(key, full)

    def _check_real(self, key: str, path: str) -> None:
        real = os.path.realpath(path)
        if real != self._real_root and not real.startswith(self._real_root.rstrip(os.sep) + os.sep):
            link = _first_link(self.root, path)
            raise UnsafeNameError(
                key,
                f"store entry in {str(self.root)!r}",
                f"leads through the symbolic link {link!r} to {real!r}, outside the store; zarrbridge does "
                "not follow links out of a store (replace the link with a copy of its target)",
            )

    def get_sync(
        self, key: str, *, prototype: BufferPrototype | None = None, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        self._confine(key)
        return super().get_sync(key, prototype=prototype, byte_range=byte_range)

    def set_sync(self, key: str, value: Buffer) -> None:
        self._confine(key)
        super().set_sync(key, value)

    async def get(
        self, key: str, prototype: BufferPrototype | None = None, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        self._confine(key)
        return await super().get(key, prototype or default_buffer_prototype(), byte_range)

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        key_ranges = list(key_ranges)
        for key, _ in key_ranges:
            self._confine(key)
        return await super().get_partial_values(prototype, key_ranges)

    async def _set(self, key: str, value: Buffer, exclusive: bool = False) -> None:
        self._confine(key)
        await super()._set(key, value, exclusive)

    async def delete(self, key: str) -> None:
        self._confine(key)
        await super().delete(key)

    async def exists(self, key: str) -> bool:
        self._confine(key)
        return await super().exists(key)


def _first_link(root: Any, path: str) -> str:
    """The first symbolic link on the way from ``root`` to ``path`` (``path`` itself if none is found)."""
    current = os.fspath(root)
    for part in os.path.relpath(path, current).split(os.sep):
        current = os.path.join(current, part)
        if os.path.islink(current):
            return current
    return path


def check_external_location(origin: Location, target: Location, *, allow: bool = False) -> Location:
    """Return ``target`` if a link in the file at ``origin`` may open it, else raise :class:`LocationError`.

    The one policy for external links and references between files: a file in an object store (``s3://...``)
    never makes the reader open a local path (an absolute path or a ``file://`` URL), and a local file never
    makes it open a URL, unless the user allows it explicitly (``allow=True``). A file that comes from
    elsewhere must not decide which local files are read, nor make a local read reach out to the network.
    """
    if allow:
        return target
    origin_local = origin.kind in ("local", "zip")
    target_local = target.kind in ("local", "zip")
    if origin.kind == "fsspec" and target_local:
        raise LocationError(
            str(target),
            f"an external link in the remote file {origin.path!r} names this local path; a remote file may "
            "not open local files. If you trust the file, pass allow_external_links=True",
        )
    if origin_local and target.kind == "fsspec":
        raise LocationError(
            target.path,
            f"an external link in the local file {origin.path!r} names this URL; a local file may not open "
            "remote ones. If you trust the file, pass allow_external_links=True",
        )
    return target


def _sync_exists(store: Store, key: str) -> bool:
    from zarr.core.sync import sync

    return bool(sync(store.exists(key)))


def open_store(
    location: Any,
    *,
    mode: AccessMode = "r",
    storage_options: dict[str, Any] | None = None,
    require_zarr: bool | None = None,
) -> Store:
    """Open ``location`` as a zarr store in ``mode``.

    Parameters
    ----------
    location
        A path, URL, :class:`~pathlib.Path`, store object or :class:`Location`.
    mode
        ``r`` read only, must exist; ``r+`` read/write, must exist; ``a`` read/write, created if missing;
        ``w`` created, existing content removed; ``w-``/``x`` created, fails if anything is there.
    storage_options
        fsspec options for URL locations.
    require_zarr
        Whether the location must already hold a zarr hierarchy (default: for ``r`` and ``r+``).

    Returns
    -------
    zarr store
        The open store; close it when done.

    Raises
    ------
    NotAZarrStoreError
        A mode that reads finds no zarr hierarchy.
    StoreExistsError
        ``w-``/``x`` finds something at the location.
    """
    mode = _check_mode(mode)
    loc = Location.parse(location, storage_options=storage_options)
    for opener in VIEW_OPENERS:  # hook: a virtual view (zarrbridge.core.refview) opens as a read-only store
        view = opener(loc, mode)
        if view is not None:
            return view
    if require_zarr is None:
        require_zarr = mode in ("r", "r+")
    if loc.kind == "fsspec":
        with _reporting_unreachable(loc):
            return _open_remote(loc, mode=mode, require_zarr=require_zarr)
    if mode in ("w-", "x") and loc.kind != "store" and loc.exists():
        raise StoreExistsError(str(loc))
    if require_zarr and not loc.holds_zarr():
        if loc.kind == "local" and _is_hdf5(loc.path):
            raise LocationError(
                loc.path,
                "it is an HDF5 file, not a Zarr store; read it with pynwb.NWBHDF5IO (or h5py), or convert it "
                f"first: zarrbridge convert {loc.path} {loc.path}.zarr",
            )
        raise NotAZarrStoreError(str(loc), "nothing there" if not loc.exists() else "")
    read_only = mode == "r"
    if loc.kind == "store":
        assert loc.store is not None
        store = loc.store
        if read_only and not store.read_only:
            store = store.with_read_only(True)
        if mode == "w":
            try:
                zarr.core.sync.sync(store.clear())
            except FileNotFoundError:  # a LocalStore whose directory does not exist yet: nothing to clear
                pass
        return store
    if loc.kind == "local":
        if mode == "w" and os.path.exists(loc.path):
            _remove_local(loc.path)
        if not read_only:
            os.makedirs(loc.path, exist_ok=True)
        if mode == "w":  # a directory just emptied or made holds no links: the plain store (its fast paths)
            return LocalStore(loc.path, read_only=read_only)
        return ConfinedLocalStore(loc.path, read_only=read_only)
    if loc.kind == "zip":
        if mode == "w" and os.path.exists(loc.path):
            os.remove(loc.path)
        if read_only:
            return ZipStore(loc.path, mode="r", read_only=True)
        os.makedirs(os.path.dirname(loc.path), exist_ok=True)
        return ZipStore(loc.path, mode="a" if os.path.exists(loc.path) else "w")
    raise AssertionError(f"unknown location kind {loc.kind!r}")  # (fsspec locations are opened above)


def _open_remote(loc: Location, *, mode: AccessMode, require_zarr: bool) -> RemoteStore:
    """Open a URL location. Read only (``r``): the root documents are read once, in one round of requests
    (``zarr.json``; without it ``.zgroup``, ``.zattrs``, ``.zmetadata``, ``.zarray`` together), and the
    store answers them from memory afterwards."""
    fs, path = loc.filesystem()
    if mode in ("w-", "x") and fs.exists(path):
        raise StoreExistsError(str(loc))
    if not read_only_mode(mode):
        check_bucket(loc)
    if mode == "w" and fs.exists(path):
        fs.rm(path, recursive=True)
    store = filesystem_store(fs, path, read_only=mode == "r")
    if require_zarr:
        found = sync(_root_documents(store))
        if all(value is None for value in found.values()):
            check_bucket(loc)
            raise NotAZarrStoreError(str(loc), "nothing there" if not fs.exists(path) else "")
        if mode == "r":
            store.remember(found)
    return store


def read_only_mode(mode: str) -> bool:
    return mode == "r"


def _is_hdf5(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(8) == b"\x89HDF\r\n\x1a\n"
    except OSError:
        return False


#: Seconds the S3 client waits for a TCP connection to the endpoint (botocore's default is 60).
CONNECT_TIMEOUT_S = 3
#: Attempts per S3 request, the first included (botocore's default retries a refused connection for ~6 s).
MAX_ATTEMPTS = 2
#: Connections the S3 client keeps open; botocore's default, 10, caps the concurrent reads of small values.
MAX_POOL_CONNECTIONS = 64
_S3_SCHEMES = ("s3", "s3a")


def filesystem_options(location: Location) -> dict[str, Any]:
    """The storage options a URL location is opened with: the user's, over zarrbridge's defaults for S3.

    For ``s3://`` URLs (s3fs), unless given: ``max_concurrency=1`` (s3fs otherwise sends a HEAD before every
    whole-object GET, to split objects larger than its block size into concurrent ranged requests; zarr's
    objects are chunks and metadata documents, read concurrently already), and a botocore configuration
    (``config_kwargs``) with a pool of :data:`MAX_POOL_CONNECTIONS` connections, a connect timeout of
    :data:`CONNECT_TIMEOUT_S` and at most :data:`MAX_ATTEMPTS` attempts per request. An unreachable endpoint
    is thereby reported by the S3 client itself within a few seconds, through whatever proxy
    (``HTTPS_PROXY``...) botocore is configured with, as :class:`~zarrbridge.errors.StoreUnreachableError`.
    Other protocols get the options as given.
    """
    options = dict(location.storage_options)
    if urlsplit(location.path).scheme not in _S3_SCHEMES:
        return options
    options.setdefault("max_concurrency", 1)
    config = dict(options.get("config_kwargs") or {})
    config.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    config.setdefault("retries", {"max_attempts": MAX_ATTEMPTS, "mode": "standard"})
    config.setdefault("max_pool_connections", MAX_POOL_CONNECTIONS)
    options["config_kwargs"] = config
    return options


def _endpoint(options: dict[str, Any]) -> str | None:
    client = options.get("client_kwargs")
    url = options.get("endpoint_url") or (client.get("endpoint_url") if isinstance(client, dict) else None)
    return url if isinstance(url, str) else None


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` says a network store could not be reached (refused, DNS, connect timeout).

    Recognised by class: the built-in connection and timeout errors, and the connection errors of botocore
    and aiohttp by name (the core imports neither).
    """
    if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror)):
        return True
    return any(
        (cls.__module__.startswith("botocore") and cls.__name__ in ("ConnectionError", "ConnectTimeoutError"))
        or (cls.__module__.startswith("aiohttp") and cls.__name__ == "ClientConnectorError")
        for cls in type(exc).__mro__
    )


@contextmanager
def _reporting_unreachable(location: Location) -> Iterator[None]:
    """Turn connection errors raised inside the block into :class:`StoreUnreachableError` for ``location``."""
    try:
        yield
    except StoreUnreachableError:
        raise
    except Exception as exc:
        if not is_connection_error(exc):
            raise
        endpoint = _endpoint(location.storage_options) or "the default endpoint"
        raise StoreUnreachableError(location.path, endpoint, f"{type(exc).__name__}: {exc}") from None


def check_reachable(location: Location) -> None:
    """Ask a remote ``location`` whether it exists, so that an unreachable endpoint is a clear
    :class:`StoreUnreachableError` before any work starts (botocore's timeouts bound the wait; local
    locations need no request)."""
    if location.kind != "fsspec":
        return
    with _reporting_unreachable(location):
        location.exists()


def check_bucket(location: Location) -> None:
    """Raise :class:`LocationError` if the bucket of an ``s3://`` location does not exist."""
    endpoint = _endpoint(location.storage_options) or "the default endpoint"
    if urlsplit(location.path).scheme in ("s3", "s3a"):
        bucket = urlsplit(location.path).netloc
        fs, _ = location.filesystem()
        try:  # (fs.exists answers False for an endpoint that cannot be reached)
            fs.info(bucket)
            found = True
        except FileNotFoundError:
            found = False
        except Exception as exc:
            if is_connection_error(exc):
                raise StoreUnreachableError(location.path, endpoint, f"{type(exc).__name__}: {exc}") from None
            if not isinstance(exc, (OSError, ValueError)):
                raise
            found = bool(fs.exists(bucket))  # e.g. allowed to use the bucket but not to ask about it
        if not found:
            raise LocationError(
                location.path,
                f"the bucket {bucket!r} does not exist at {endpoint}; create it first (or check the name)",
            )


def _remove_local(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.remove(path)


def filesystem_store(fs: Any, path: str, *, read_only: bool = False) -> RemoteStore:
    """Wrap an fsspec filesystem instance (e.g. an ``s3fs.S3FileSystem``) and a path as a zarr store.

    zarr needs an asynchronous filesystem; a synchronous instance of an async-capable implementation
    (s3fs, gcsfs, http) is re-created in asynchronous mode with the same options, and a purely synchronous
    one (local, memory) is wrapped.

    Parameters
    ----------
    fs : fsspec.AbstractFileSystem
        The filesystem instance.
    path : str
        The store's root on ``fs``.
    read_only : bool
        Open the store read-only.

    Returns
    -------
    zarr.storage.FsspecStore
        The store.
    """
    if not isinstance(fs, fsspec.AbstractFileSystem):
        raise LocationError(fs, "expected an fsspec filesystem instance (such as s3fs.S3FileSystem)")
    if getattr(fs, "async_impl", False) and not getattr(fs, "asynchronous", False):
        fs = type(fs)(**{**fs.storage_options, "asynchronous": True})
        _MADE_ASYNC.add(fs)
    elif not getattr(fs, "async_impl", False):
        from fsspec.implementations.asyn_wrapper import AsyncFileSystemWrapper

        fs = AsyncFileSystemWrapper(fs, asynchronous=True)
    return RemoteStore(fs, path=path.rstrip("/"), read_only=read_only)


class RemoteStore(FsspecStore):
    """zarr's :class:`~zarr.storage.FsspecStore` that can answer documents already read from memory.

    :func:`open_store` reads a file's root documents once when it opens a URL location for reading and hands
    them to the store (:meth:`remember`), so that zarr, the convention detection and the legacy reader do not
    ask the object store for them again. Everything else is the plain ``FsspecStore``.
    """

    def remember(self, documents: dict[str, Buffer | None]) -> None:
        """Answer ``get``/``exists`` of these keys (``None``: known to be absent) without a request."""
        if not self.read_only:
            raise LocationError(self.path, "only a read-only store may answer from memory")
        self.__dict__.setdefault("_documents", {}).update(documents)

    def _known(self, key: str, byte_range: Any) -> tuple[bool, Buffer | None]:
        known = self.__dict__.get("_documents")
        if not known or byte_range is not None or key not in known:
            return False, None
        return True, known[key]

    async def get(
        self, key: str, prototype: BufferPrototype | None = None, byte_range: Any = None
    ) -> Buffer | None:
        hit, value = self._known(key, byte_range)
        if hit:
            return value
        return await super().get(key, prototype or default_buffer_prototype(), byte_range)

    async def prefetch(self, keys: Iterable[str]) -> None:
        """Read ``keys`` now, concurrently, and answer later whole-object reads of them from memory.

        For small objects a reader will need one by one (metadata documents, chunks of scalars): one round of
        concurrent requests instead of one after another. Only for a read-only store.
        """
        wanted = [key for key in dict.fromkeys(keys) if not self._known(key, None)[0]]
        if not wanted:
            return
        prototype = default_buffer_prototype()
        values = await asyncio.gather(*(FsspecStore.get(self, key, prototype) for key in wanted))
        self.remember(dict(zip(wanted, values)))

    async def exists(self, key: str) -> bool:
        hit, value = self._known(key, None)
        if hit:
            return value is not None
        return await super().exists(key)


async def _root_documents(store: Store) -> dict[str, Buffer | None]:
    """The root documents of the hierarchy in ``store``: ``zarr.json``, else the four of zarr v2 together."""
    prototype = default_buffer_prototype()
    found: dict[str, Buffer | None] = {"zarr.json": await store.get("zarr.json", prototype)}
    if found["zarr.json"] is None:
        keys = (".zgroup", ".zattrs", ".zmetadata", ".zarray")
        values = await asyncio.gather(*(store.get(key, prototype) for key in keys))
        found.update(zip(keys, values))
    return found


# Asynchronous filesystems made by filesystem_store for zarr. s3fs closes the HTTP session of a synchronous
# instance itself (a finalizer) but leaves that of an asynchronous one to its owner, and aiohttp reports an
# unclosed one at exit ("Unclosed client session"). They are closed at exit in zarr's event loop, where they
# were opened, before zarr stops that loop: atexit runs the last-registered handler first, and zarr registers
# its own when it is imported, before this module.
_MADE_ASYNC: weakref.WeakSet[Any] = weakref.WeakSet()


@atexit.register
def _close_async_sessions() -> None:
    for fs in list(_MADE_ASYNC):
        owner = getattr(fs, "_s3creator", None)  # s3fs: the client context that holds the aiohttp session
        if owner is None or not hasattr(owner, "__aexit__"):
            continue  # never used (no session), or not s3fs
        try:
            sync(owner.__aexit__(None, None, None), timeout=5)
        except (OSError, RuntimeError, TimeoutError):
            pass  # the interpreter is exiting: the operating system closes what is left
        fs._s3creator = fs._s3 = None


__all__ += ["MemoryStore"]  # re-exported for convenience: open_store(MemoryStore(), mode="w")
