"""Protocols: how a serializer reaches the place where a storage keeps its array files.

A storage hands its serializers a ``protocols`` dict. Two keys are understood, with the values Function Fuse
uses, so that the serializers and storages of both packages work together:

``FILE_PROTOCOL`` (``"file_protocol"``)
    An object whose ``open(name, mode)`` works like Python's :func:`open` (names are relative, ``/``
    separated). That is all a file protocol must have (:class:`FileProtocol`). Serializers use ``remove``,
    ``rename`` and ``exists`` where the object has them (:class:`FileOperations`), and local paths and zarr
    stores where it offers them (:class:`DirectoryCapable`, which :class:`LocalFiles` implements).
``S3_PROTOCOL`` (``"s3 protocol"``)
    A dict ``{"client": <s3fs.S3FileSystem>, "folder": "bucket/prefix"}``.

Persistent ids written by earlier zarrbridge releases name the protocols ``"file"`` and ``"s3"``; they still
read (:func:`protocol_of_id`), as do protocol dicts that use those keys (:func:`normalize_protocols`).
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
from ..core.names import check_relative_path
from ..errors import InvalidOptionError, UnsafeNameError

__all__ = [
    "FILE_PROTOCOL",
    "LEGACY_PROTOCOL_NAMES",
    "S3_PROTOCOL",
    "DirectoryCapable",
    "FileOperations",
    "FileProtocol",
    "LocalFiles",
    "check_file_protocol",
    "ARRAY_NAME",
    "file_exists",
    "has_operation",
    "normalize_protocols",
    "protocol_of_id",
    "remove_file",
    "remove_tree",
    "s3_folder",
    "zarr_store_for",
]

FILE_PROTOCOL: Final = "file_protocol"
S3_PROTOCOL: Final = "s3 protocol"
LEGACY_PROTOCOL_NAMES: Final = {"file": FILE_PROTOCOL, "s3": S3_PROTOCOL}
ARRAY_NAME: Final = "array file name"
"""How :func:`zarrbridge.core.names.check_relative_path` names an array file in its errors."""
"""The protocol names of zarrbridge releases before the Function Fuse values, and what they are now."""


@runtime_checkable
class FileProtocol(Protocol):
    """What a file protocol object must do: ``open()``. Names are relative, ``/``-separated.

    Parameters
    ----------
    *args, **kwargs
        A protocol is a structural type: it is implemented, not instantiated.
    """

    def open(self, name: str, mode: str) -> IO[bytes]:
        """Open ``name`` like :func:`open` (binary modes).

        Parameters
        ----------
        name : str
            A relative, ``/``-separated name.
        mode : str
            ``'rb'``, ``'wb'``, ``'r+b'``...
        """


@runtime_checkable
class FileOperations(Protocol):
    """Optional operations of a file protocol, used where the object has them (:func:`has_operation`)."""

    def remove(self, name: str) -> None:
        """Remove the file or folder ``name``."""

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


def normalize_protocols(protocols: Any) -> Mapping[str, Any]:
    """``protocols``, with the keys of earlier releases (``"file"``, ``"s3"``) read as today's."""
    if not isinstance(protocols, Mapping):
        raise InvalidOptionError(
            f"protocols must be a dict such as {{FILE_PROTOCOL: ...}}, got {protocols!r}"
        )
    if not any(key in protocols for key in LEGACY_PROTOCOL_NAMES):
        return protocols
    out = dict(protocols)
    for old, new in LEGACY_PROTOCOL_NAMES.items():
        if old in out:
            out.setdefault(new, out.pop(old))
    return out


def protocol_of_id(value: Any) -> str | None:
    """The protocol a persistent id names (today's name or an earlier release's), or ``None``."""
    if value in (FILE_PROTOCOL, S3_PROTOCOL):
        return str(value)
    return LEGACY_PROTOCOL_NAMES.get(value) if isinstance(value, str) else None


def has_operation(files: Any, operation: str) -> bool:
    """Whether the file protocol ``files`` offers the optional ``operation`` (``remove``, ``rename``...)."""
    return callable(getattr(files, operation, None))


def file_exists(files: Any, name: str) -> bool:
    """Whether the file ``name`` exists, through ``exists()`` or, without it, by opening it."""
    if has_operation(files, "exists"):
        return bool(files.exists(name))
    try:
        with files.open(name, "rb"):
            return True
    except FileNotFoundError:
        return False


def check_file_protocol(files: Any, serializer: str) -> Any:
    """``files`` if it can serve as the file protocol (it has ``open()``), else a clear error.

    Serializers call it before any work starts, so that nothing is computed or written for a protocol
    that cannot take the array.
    """
    if not has_operation(files, "open"):
        offered = [op for op in ("remove", "rename", "exists") if has_operation(files, op)]
        raise InvalidOptionError(
            f"{serializer} needs a file protocol with open(name, mode) that works like Python's open(), but "
            f"{type(files).__name__} has no open() (it has {', '.join(offered) or 'no file operations'}). "
            "Give the storage such an object under FILE_PROTOCOL, e.g. "
            "zarrbridge.serializers.LocalFiles(path)."
        )
    return files


def remove_file(files: Any, name: str) -> bool:
    """Remove ``name`` through the file protocol (a missing one is fine); ``False`` if it has no ``remove()``.

    Through a protocol with ``open()`` alone nothing can be deleted: such files stay until someone deletes
    them (they are never referenced again).
    """
    check_relative_path(name, what=ARRAY_NAME)
    if not has_operation(files, "remove"):
        return False
    try:
        files.remove(name)
    except FileNotFoundError:  # Function Fuse's protocol removes with os.remove, which refuses missing files
        pass
    return True


@dataclass(frozen=True)
class LocalFiles:
    """The file protocol for a local directory; symbolic links inside it are never followed.

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
        """The absolute local path of ``name``; a symbolic link on the way is an :class:`UnsafeNameError`.

        Parameters
        ----------
        name : str
            A relative, ``/``-separated name.

        Returns
        -------
        str
            The absolute path.
        """
        return self._path(name, link_ok=False)

    def _path(self, name: str, *, link_ok: bool) -> str:
        """The path of ``name``, refused if it passes through a symbolic link (which could lead anywhere).

        ``link_ok`` lets the last component be a link: removing or testing a link does not follow it.
        """
        parts = check_relative_path(name, what=ARRAY_NAME).split("/")
        path = self.root  # (the root itself may be a link: the user chose it)
        for i, part in enumerate(parts):
            path = os.path.join(path, part)
            if os.path.islink(path) and not (link_ok and i == len(parts) - 1):
                raise UnsafeNameError(
                    name,
                    "array file name",
                    f"leads through the symbolic link {path!r}, which zarrbridge does not follow (it could "
                    "point out of the storage); replace the link with the data it points to",
                )
        return path

    def open(self, name: str, mode: str) -> IO[bytes]:
        """Open ``name`` in a binary ``mode``.

        Parameters
        ----------
        name : str
            A relative, ``/``-separated name.
        mode : str
            ``'rb'``, ``'wb'``, ``'r+b'``...

        Returns
        -------
        file object
            The open binary file.
        """
        if "b" not in mode:
            raise InvalidOptionError(f"the file protocol opens files in binary mode only, got mode {mode!r}")
        path = self.local_path(name)
        if any(c in mode for c in "wax+"):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        return open(path, mode)  # the caller closes it, as with open()

    def remove(self, name: str) -> None:
        """Remove a file or a folder tree (a symbolic link is removed, never followed).

        Parameters
        ----------
        name : str
            A relative, ``/``-separated name.
        """
        path = self._path(name, link_ok=True)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=False)
        elif os.path.lexists(path):
            os.remove(path)

    def rename(self, source: str, target: str) -> None:
        """Atomically replace ``target`` with ``source`` (same filesystem).

        Parameters
        ----------
        source : str
            The relative name of the new file or folder.
        target : str
            The relative name it replaces.
        """
        os.replace(self.local_path(source), self.local_path(target))

    def exists(self, name: str) -> bool:
        """Whether ``name`` exists.

        Parameters
        ----------
        name : str
            A relative, ``/``-separated name.

        Returns
        -------
        bool
            Whether it exists.
        """
        return os.path.lexists(self._path(name, link_ok=True))

    def zarr_store(self, name: str, *, read_only: bool) -> Store:
        """A zarr store for the folder ``name``; for reading, a folder holding a symbolic link is refused.

        Parameters
        ----------
        name : str
            The relative name of the folder.
        read_only : bool
            Open it for reading only.

        Returns
        -------
        zarr store
            The store of the folder.
        """
        from zarr.storage import LocalStore

        path = self.local_path(name)
        if read_only:
            _refuse_links_below(path, name)
        else:
            os.makedirs(path, exist_ok=True)
        return LocalStore(path, read_only=read_only)


def _refuse_links_below(folder: str, name: str) -> None:
    """Raise :class:`UnsafeNameError` if the tree ``folder`` holds a symbolic link (to a chunk or a folder).

    One directory listing per folder: ``scandir`` tells links from the listing itself, without a ``stat``
    per chunk file.
    """
    pending = [folder]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.is_symlink():
                raise UnsafeNameError(
                    f"{name}/{os.path.relpath(entry.path, folder)}",
                    "file of a stored array",
                    "is a symbolic link, which zarrbridge does not follow (it could point out of the "
                    "storage)",
                )
            if entry.is_dir(follow_symlinks=False):
                pending.append(entry.path)


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
    check_relative_path(name, what=ARRAY_NAME)
    if protocol_name == S3_PROTOCOL:
        client, folder = s3_folder(protocols[S3_PROTOCOL])
        return filesystem_store(client, posixpath.join(folder, name), read_only=read_only)
    files = check_file_protocol(protocols[FILE_PROTOCOL], "Zarr on the file protocol")
    if not isinstance(files, DirectoryCapable):
        raise InvalidOptionError(
            f"Zarr on the file protocol needs a file protocol with folders (local_path() and zarr_store(), "
            f"such as LocalFiles), got {type(files).__name__}; choose the HDF5 format for it instead"
        )
    return files.zarr_store(name, read_only=read_only)


def remove_tree(protocol_name: str, protocols: Mapping[str, Any], name: str) -> None:
    """Remove the folder (or file) ``name`` under ``protocols[protocol_name]``; a missing one is fine."""
    check_relative_path(name, what=ARRAY_NAME)
    if protocol_name == S3_PROTOCOL:
        client, folder = s3_folder(protocols[S3_PROTOCOL])
        path = posixpath.join(folder, name)
        client.invalidate_cache(path)  # zarr wrote through another (asynchronous) instance
        if client.exists(path):
            client.rm(path, recursive=True)
        return
    remove_file(protocols[FILE_PROTOCOL], name)
