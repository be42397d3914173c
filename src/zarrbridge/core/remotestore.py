"""Stores of URLs: fsspec filesystems as zarr stores, the S3 client's defaults, unreachable endpoints.

:func:`zarrbridge.core.location.open_store` opens a URL location (``s3://``, ``memory://``, ...) here:
:func:`open_remote` checks the bucket, reads the root documents once and returns a :class:`RemoteStore`.
The functions take a :class:`~zarrbridge.core.location.Location` of kind ``"fsspec"`` (anything with its
``path``, ``storage_options`` and ``filesystem()``; this module does not import it, so that it can import
this one).
"""

from __future__ import annotations

import asyncio
import atexit
import socket
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol
from urllib.parse import urlsplit

import fsspec
from zarr.abc.store import Store
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import FsspecStore

from ..errors import LocationError, NotAZarrStoreError, StoreExistsError, StoreUnreachableError

__all__ = [
    "CONNECT_TIMEOUT_S",
    "MAX_ATTEMPTS",
    "MAX_POOL_CONNECTIONS",
    "RemoteStore",
    "URLLocation",
    "check_bucket",
    "filesystem_options",
    "filesystem_store",
    "is_connection_error",
    "open_remote",
    "reporting_unreachable",
    "root_documents",
]


class URLLocation(Protocol):
    """What this module needs of a :class:`~zarrbridge.core.location.Location` of kind ``"fsspec"``."""

    @property
    def path(self) -> str:
        """The URL."""

    @property
    def storage_options(self) -> dict[str, Any]:
        """The user's fsspec options."""

    def filesystem(self) -> tuple[Any, str]:
        """The fsspec filesystem and the path on it."""


#: Seconds the S3 client waits for a TCP connection to the endpoint (botocore's default is 60).
CONNECT_TIMEOUT_S = 3
#: Attempts per S3 request, the first included (botocore's default retries a refused connection for ~6 s).
MAX_ATTEMPTS = 2
#: Connections the S3 client keeps open; botocore's default, 10, caps the concurrent reads of small values.
MAX_POOL_CONNECTIONS = 64
_S3_SCHEMES = ("s3", "s3a")


def filesystem_options(location: URLLocation) -> dict[str, Any]:
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
def reporting_unreachable(location: URLLocation) -> Iterator[None]:
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


def check_bucket(location: URLLocation) -> None:
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


def open_remote(loc: URLLocation, *, mode: str, require_zarr: bool) -> RemoteStore:
    """Open a URL location. Read only (``r``): the root documents are read once, in one round of requests
    (``zarr.json``; without it ``.zgroup``, ``.zattrs``, ``.zmetadata``, ``.zarray`` together), and the
    store answers them from memory afterwards."""
    fs, path = loc.filesystem()
    if mode in ("w-", "x") and fs.exists(path):
        raise StoreExistsError(str(loc))
    if mode != "r":
        check_bucket(loc)
    if mode == "w" and fs.exists(path):
        fs.rm(path, recursive=True)
    store = filesystem_store(fs, path, read_only=mode == "r")
    if require_zarr:
        found = sync(root_documents(store))
        if all(value is None for value in found.values()):
            check_bucket(loc)
            raise NotAZarrStoreError(str(loc), "nothing there" if not fs.exists(path) else "")
        if mode == "r":
            store.remember(found)
    return store


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


async def root_documents(store: Store) -> dict[str, Buffer | None]:
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
