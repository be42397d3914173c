"""Locations: where a zarr hierarchy lives, and how to open it as a zarr store.

A location is a local directory, a ``.zip`` file, an in-memory store, an fsspec URL (``s3://bucket/key``,
``memory://x``, ``file:///...``) with storage options, or a ready :class:`zarr.abc.store.Store`.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Literal, TypeGuard, get_args
from urllib.parse import urlsplit

import fsspec
import zarr
from zarr.abc.store import Store
from zarr.core.sync import sync
from zarr.storage import LocalStore, MemoryStore, ZipStore

from ..errors import (
    InvalidOptionError,
    LocationError,
    NotAZarrStoreError,
    StoreExistsError,
)
from .confined import ConfinedLocalStore
from .remotestore import (
    CONNECT_TIMEOUT_S,
    MAX_ATTEMPTS,
    MAX_POOL_CONNECTIONS,
    RemoteStore,
    check_bucket,
    filesystem_options,
    filesystem_store,
    is_connection_error,
    open_remote,
    reporting_unreachable,
    root_documents,
)

__all__ = [
    "CONNECT_TIMEOUT_S",
    "MAX_ATTEMPTS",
    "MAX_POOL_CONNECTIONS",
    "AccessMode",
    "ConfinedLocalStore",
    "Location",
    "RemoteStore",
    "check_bucket",
    "check_external_location",
    "check_reachable",
    "filesystem_options",
    "filesystem_store",
    "is_connection_error",
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
        with reporting_unreachable(self):
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
        with reporting_unreachable(self):
            found = sync(root_documents(filesystem_store(fs, path, read_only=True)))
        return any(value is not None for value in found.values())

    def filesystem(self) -> tuple[Any, str]:
        """The fsspec filesystem and path of a URL location, opened with :func:`filesystem_options`.

        Returns
        -------
        tuple of (fsspec.AbstractFileSystem, str)
            The filesystem and the location's path on it.
        """
        if self.kind != "fsspec":
            raise LocationError(self.path, "only URL locations have an fsspec filesystem")
        fs, path = fsspec.core.url_to_fs(self.path, **filesystem_options(self))
        return fs, str(path)


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
        with reporting_unreachable(loc):
            return open_remote(loc, mode=mode, require_zarr=require_zarr)
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


def _is_hdf5(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(8) == b"\x89HDF\r\n\x1a\n"
    except OSError:
        return False


def check_reachable(location: Location) -> None:
    """Ask a remote ``location`` whether it exists, so that an unreachable endpoint is a clear
    :class:`StoreUnreachableError` before any work starts (botocore's timeouts bound the wait; local
    locations need no request)."""
    if location.kind != "fsspec":
        return
    with reporting_unreachable(location):
        location.exists()


def _remove_local(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.remove(path)


__all__ += ["MemoryStore"]  # re-exported for convenience: open_store(MemoryStore(), mode="w")
