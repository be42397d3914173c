"""Protocols: how a serializer reaches the place where a storage keeps its array files.

A storage hands its serializers a ``protocols`` dict. Two keys are understood:

``FILE_PROTOCOL``
    An object whose ``open(name, mode)`` works like Python's :func:`open` (names are relative, ``/``
    separated), with ``remove``, ``rename`` and ``exists``: see :class:`FileProtocol`. :class:`LocalFiles`
    implements it for a local directory, and also gives zarr stores (:class:`DirectoryCapable`).
``S3_PROTOCOL``
    A dict ``{"client": <s3fs.S3FileSystem>, "folder": "bucket/prefix"}``.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any, Final, Protocol, runtime_checkable

from zarr.abc.store import Store

from ..core.location import filesystem_store
from ..errors import InvalidOptionError

__all__ = [
    "FILE_PROTOCOL",
    "S3_PROTOCOL",
    "DirectoryCapable",
    "FileProtocol",
    "LocalFiles",
    "check_name",
    "remove_tree",
    "s3_folder",
    "zarr_store_for",
]

FILE_PROTOCOL: Final = "file"
S3_PROTOCOL: Final = "s3"


@runtime_checkable
class FileProtocol(Protocol):
    """What the file protocol object must do. Names are relative, ``/``-separated."""

    def open(self, name: str, mode: str) -> IO[bytes]:
        """Open ``name`` like :func:`open` (binary modes only); parent folders are created for writing."""

    def remove(self, name: str) -> None:
        """Remove the file or folder ``name``; a missing one is not an error."""

    def rename(self, source: str, target: str) -> None:
        """Move ``source`` to ``target`` atomically, replacing ``target``."""

    def exists(self, name: str) -> bool:
        """Whether ``name`` exists."""


@runtime_checkable
class DirectoryCapable(Protocol):
    """Optional capabilities of a file protocol: local paths (fast HDF5) and zarr stores (Zarr on files)."""

    def local_path(self, name: str) -> str:
        """The local filesystem path of ``name``."""

    def zarr_store(self, name: str, *, read_only: bool) -> Store:
        """A zarr store rooted at the folder ``name``."""


def check_name(name: object) -> str:
    """Validate a relative, ``/``-separated name that cannot escape its root."""
    if not isinstance(name, str) or not name:
        raise InvalidOptionError(f"a file name must be a non-empty string, got {name!r}")
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
        raise InvalidOptionError(
            f"file name {name!r} must be relative and '/'-separated, without '.', '..' or empty parts"
        )
    return name


@dataclass(frozen=True)
class LocalFiles:
    """The file protocol for a local directory.

    Parameters
    ----------
    root
        The directory that holds the files; created on first write.

    Examples
    --------
    >>> import tempfile
    >>> files = LocalFiles(tempfile.mkdtemp())
    >>> with files.open("a/b.bin", "wb") as f:
    ...     _ = f.write(b"x")
    >>> files.exists("a/b.bin")
    True
    """

    root: str

    def __post_init__(self) -> None:
        if not isinstance(self.root, (str, os.PathLike)):
            raise InvalidOptionError(f"LocalFiles root must be a path, got {type(self.root).__name__}")
        object.__setattr__(self, "root", os.path.abspath(os.fspath(self.root)))

    def local_path(self, name: str) -> str:
        """The absolute local path of ``name``."""
        return os.path.join(self.root, *check_name(name).split("/"))

    def open(self, name: str, mode: str) -> IO[bytes]:
        """Open ``name`` in a binary ``mode``."""
        if "b" not in mode:
            raise InvalidOptionError(f"the file protocol opens files in binary mode only, got mode {mode!r}")
        path = self.local_path(name)
        if any(c in mode for c in "wax+"):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        return open(path, mode)  # the caller closes it, as with open()

    def remove(self, name: str) -> None:
        """Remove a file or a folder tree."""
        path = self.local_path(name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=False)
        elif os.path.lexists(path):
            os.remove(path)

    def rename(self, source: str, target: str) -> None:
        """Atomically replace ``target`` with ``source`` (same filesystem)."""
        os.replace(self.local_path(source), self.local_path(target))

    def exists(self, name: str) -> bool:
        """Whether ``name`` exists."""
        return os.path.lexists(self.local_path(name))

    def zarr_store(self, name: str, *, read_only: bool) -> Store:
        """A zarr store for the folder ``name``."""
        from zarr.storage import LocalStore

        path = self.local_path(name)
        if not read_only:
            os.makedirs(path, exist_ok=True)
        return LocalStore(path, read_only=read_only)


def s3_folder(protocol: Any) -> tuple[Any, str]:
    """Check an S3 protocol dict and return ``(client, folder)``."""
    if not isinstance(protocol, Mapping) or "client" not in protocol or "folder" not in protocol:
        raise InvalidOptionError(
            'the S3 protocol must be a dict {"client": s3fs.S3FileSystem(...), "folder": "bucket/prefix"}, '
            f"got {protocol!r}"
        )
    folder = protocol["folder"]
    if not isinstance(folder, str) or not folder.strip("/"):
        raise InvalidOptionError(f'the S3 protocol "folder" must be "bucket/prefix", got {folder!r}')
    return protocol["client"], folder.strip("/")


def zarr_store_for(protocol_name: str, protocols: Mapping[str, Any], name: str, *, read_only: bool) -> Store:
    """A zarr store for the array ``name`` under ``protocols[protocol_name]``."""
    check_name(name)
    if protocol_name == S3_PROTOCOL:
        client, folder = s3_folder(protocols[S3_PROTOCOL])
        return filesystem_store(client, posixpath.join(folder, name), read_only=read_only)
    files = protocols[FILE_PROTOCOL]
    if not isinstance(files, DirectoryCapable):
        raise InvalidOptionError(
            f"Zarr on the file protocol needs a file protocol with zarr_store() (such as LocalFiles), "
            f"got {type(files).__name__}; choose the 'hdf5' format for it instead"
        )
    return files.zarr_store(name, read_only=read_only)


def remove_tree(protocol_name: str, protocols: Mapping[str, Any], name: str) -> None:
    """Remove the folder (or file) ``name`` under ``protocols[protocol_name]``; a missing one is fine."""
    check_name(name)
    if protocol_name == S3_PROTOCOL:
        client, folder = s3_folder(protocols[S3_PROTOCOL])
        path = posixpath.join(folder, name)
        client.invalidate_cache(path)  # zarr wrote through another (asynchronous) instance
        if client.exists(path):
            client.rm(path, recursive=True)
        return
    protocols[FILE_PROTOCOL].remove(name)
