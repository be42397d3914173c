"""Locations: where a zarr hierarchy lives, and how to open it as a zarr store.

A location is a local directory, a ``.zip`` file, an in-memory store, an fsspec URL (``s3://bucket/key``,
``memory://x``, ``file:///...``) with storage options, or a ready :class:`zarr.abc.store.Store`.
"""

from __future__ import annotations

import atexit
import os
import posixpath
import shutil
import socket
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Literal, TypeGuard, get_args
from urllib.parse import urlsplit

import fsspec
import zarr
from zarr.abc.store import ByteRequest, Store
from zarr.core.buffer import Buffer, BufferPrototype
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
    "AccessMode",
    "ConfinedLocalStore",
    "Location",
    "check_external_location",
    "filesystem_store",
    "open_store",
]

AccessMode = Literal["r", "r+", "a", "w", "w-", "x"]
LocationKind = Literal["local", "zip", "fsspec", "store"]
_MODES: tuple[str, ...] = get_args(AccessMode)
_ROOT_MARKERS = ("zarr.json", ".zgroup", ".zarray")


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
        """Turn a path, URL, :class:`~pathlib.Path`, store or :class:`Location` into a :class:`Location`."""
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
        """The location that ``relative`` (as written by :meth:`relative_to`) names, seen from this one."""
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
        """Whether anything (a zarr hierarchy or not) is at this location."""
        if self.kind == "store":
            return True
        if self.kind in ("local", "zip"):
            return os.path.exists(self.path)
        check_reachable(self)
        fs, path = fsspec.core.url_to_fs(self.path, **self.storage_options)
        return bool(fs.exists(path))

    def holds_zarr(self) -> bool:
        """Whether a zarr hierarchy's root metadata is at this location."""
        if self.kind == "local":
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
        check_reachable(self)
        fs, path = fsspec.core.url_to_fs(self.path, **self.storage_options)
        return any(fs.exists(posixpath.join(path, m)) for m in _ROOT_MARKERS)


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
        return await super().get(key, prototype, byte_range)

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

    Raises
    ------
    NotAZarrStoreError
        A mode that reads finds no zarr hierarchy.
    StoreExistsError
        ``w-``/``x`` finds something at the location.
    """
    mode = _check_mode(mode)
    loc = Location.parse(location, storage_options=storage_options)
    if require_zarr is None:
        require_zarr = mode in ("r", "r+")
    if mode in ("w-", "x") and loc.kind != "store" and loc.exists():
        raise StoreExistsError(str(loc))
    if loc.kind == "fsspec":
        check_reachable(loc)
        if not read_only_mode(mode):
            check_bucket(loc)
    if require_zarr and not loc.holds_zarr():
        if loc.kind == "fsspec":
            check_bucket(loc)
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
    fs, path = fsspec.core.url_to_fs(loc.path, **loc.storage_options)
    if mode == "w" and fs.exists(path):
        fs.rm(path, recursive=True)
    return filesystem_store(fs, path, read_only=read_only)


def read_only_mode(mode: str) -> bool:
    return mode == "r"


def _is_hdf5(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(8) == b"\x89HDF\r\n\x1a\n"
    except OSError:
        return False


REACH_TIMEOUT = (
    1.5  # seconds a TCP connection to an object store's endpoint may take before it counts as down
)


def _endpoint(options: dict[str, Any]) -> str | None:
    client = options.get("client_kwargs")
    url = options.get("endpoint_url") or (client.get("endpoint_url") if isinstance(client, dict) else None)
    return url if isinstance(url, str) else None


def check_reachable(location: Location) -> None:
    """Raise :class:`StoreUnreachableError` quickly when an object store's
    configured endpoint does not answer.

    Only for URLs with an explicit ``endpoint_url`` (S3-compatible servers): one TCP connection with a short
    timeout, instead of the client's retries with back-off (several seconds) ending in a network error that
    names no store.
    """
    endpoint = _endpoint(location.storage_options)
    if endpoint is None:
        return
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=REACH_TIMEOUT).close()
    except OSError as exc:
        raise StoreUnreachableError(location.path, endpoint, f"{type(exc).__name__}: {exc}") from None


def check_bucket(location: Location) -> None:
    """Raise :class:`LocationError` if the bucket of an ``s3://`` location does not exist."""
    endpoint = _endpoint(location.storage_options) or "the default endpoint"
    if urlsplit(location.path).scheme in ("s3", "s3a"):
        bucket = urlsplit(location.path).netloc
        fs, _ = fsspec.core.url_to_fs(location.path, **location.storage_options)
        try:
            found = bool(fs.exists(bucket))
        except (OSError, ValueError) as exc:
            raise StoreUnreachableError(location.path, endpoint, f"{type(exc).__name__}: {exc}") from None
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


def filesystem_store(fs: Any, path: str, *, read_only: bool = False) -> FsspecStore:
    """Wrap an fsspec filesystem instance (e.g. an ``s3fs.S3FileSystem``) and a path as a zarr store.

    zarr needs an asynchronous filesystem; a synchronous instance of an async-capable implementation
    (s3fs, gcsfs, http) is re-created in asynchronous mode with the same options, and a purely synchronous
    one (local, memory) is wrapped.
    """
    if not isinstance(fs, fsspec.AbstractFileSystem):
        raise LocationError(fs, "expected an fsspec filesystem instance (such as s3fs.S3FileSystem)")
    if getattr(fs, "async_impl", False) and not getattr(fs, "asynchronous", False):
        fs = type(fs)(**{**fs.storage_options, "asynchronous": True})
        _MADE_ASYNC.add(fs)
    elif not getattr(fs, "async_impl", False):
        from fsspec.implementations.asyn_wrapper import AsyncFileSystemWrapper

        fs = AsyncFileSystemWrapper(fs, asynchronous=True)
    return FsspecStore(fs, path=path.rstrip("/"), read_only=read_only)


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
