"""Replacing a store without losing it, and one writer per destination.

Writing a file with mode ``'w'`` over an existing directory store first writes the new hierarchy beside the
old one (a hidden sibling in the same parent folder, so the final step is a rename on one filesystem) and
replaces the old one only when the new one is complete: :func:`staging_directory`, then :func:`swap_in`. On
Linux the swap is one ``renameat2(RENAME_EXCHANGE)`` call, so a process killed at any moment leaves either the
old store or the new complete one at the destination, never a mix and never nothing; elsewhere it is two
renames, with a moment in which the old store sits under a hidden name beside the destination.

Stores that are keys, not a directory (an fsspec URL such as ``s3://``, a zarr store object such as
``MemoryStore``) cannot be renamed: :func:`staging_store` gives a new hierarchy written beside the old one
(a hidden sibling prefix ``.NAME.<id>.zarrbridge-new``, or for a store object without a path a new
``MemoryStore``), and :func:`replace_keys` puts it in place once complete: the old root documents are
removed first (from then on the destination opens as no file, never as the old root over new chunks), the
new keys are copied into place (server-side where both sides are one fsspec filesystem), metadata documents
after the chunks and the root last, then the old keys the new file lacks and the staging prefix are
removed. A failure before that leaves the old file untouched; a failure during it raises
:class:`~zarrbridge.errors.WriteInterruptedError` naming where the complete new copy is.

:class:`WriteLock` is an advisory lock (``flock``) on a hidden file beside the destination: a second writer
gets :class:`~zarrbridge.errors.StoreInUseError` at once. The kernel releases the lock when its process dies,
so a killed writer never blocks the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import errno
import glob
import os
import posixpath
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zarr.abc.store import Store
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import FsspecStore, LocalStore, MemoryStore

from ..errors import StoreInUseError, WriteInterruptedError

if TYPE_CHECKING:
    from .location import Location

__all__ = [
    "StagedStore",
    "WriteLock",
    "discard_stale_staging",
    "replace_keys",
    "staging_directory",
    "staging_store",
    "swap_in",
]

_STAGING_SUFFIX = ".zarrbridge-new"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _hidden(path: str, suffix: str) -> str:
    parent, name = os.path.split(os.path.abspath(path).rstrip(os.sep))
    return os.path.join(parent, f".{name}{suffix}")


def staging_directory(dest: str) -> str:
    """A new empty hidden directory beside ``dest`` (same parent) to write the replacement into."""
    parent, name = os.path.split(os.path.abspath(dest).rstrip(os.sep))
    os.makedirs(parent, exist_ok=True)
    return tempfile.mkdtemp(prefix=f".{name}.", suffix=_STAGING_SUFFIX, dir=parent)


def discard_stale_staging(dest: str) -> None:
    """Remove staging directories that writers of ``dest`` killed mid-write left behind (hold the lock)."""
    parent, name = os.path.split(os.path.abspath(dest).rstrip(os.sep))
    for stale in glob.glob(os.path.join(glob.escape(parent), f".{glob.escape(name)}.*{_STAGING_SUFFIX}")):
        shutil.rmtree(stale, ignore_errors=True)


def _exchange(a: str, b: str) -> bool:
    """Atomically exchange the paths ``a`` and ``b`` (Linux ``renameat2``); ``False`` where unsupported."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    func = getattr(libc, "renameat2", None)
    if func is None:
        return False
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if func(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), b)


def swap_in(staged: str, dest: str) -> None:
    """Put the complete hierarchy ``staged`` at ``dest``, replacing what is there, then remove the old one."""
    if not os.path.lexists(dest):
        os.rename(staged, dest)
        return
    if _exchange(staged, dest):
        old = staged  # after the exchange the old store sits under the staging name
    else:
        old = tempfile.mkdtemp(
            prefix=os.path.basename(_hidden(dest, ".")),
            suffix=".zarrbridge-old",
            dir=os.path.dirname(os.path.abspath(dest)),
        )
        os.rmdir(old)
        os.rename(dest, old)
        os.rename(staged, dest)
    if os.path.isdir(old) and not os.path.islink(old):
        shutil.rmtree(old, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(old)


class WriteLock:
    """An exclusive, non-blocking advisory lock on a hidden file beside ``dest`` (``.NAME.zarrbridge-lock``).

    Examples
    --------
    >>> with WriteLock("/tmp/doc-example.zarr"):  # doctest: +SKIP
    ...     pass  # a second WriteLock on the same destination raises StoreInUseError here
    """

    def __init__(self, dest: str) -> None:
        self.dest = os.path.abspath(dest)
        self.path = _hidden(self.dest, ".zarrbridge-lock")
        self._fd: int | None = None

    def acquire(self) -> WriteLock:
        import fcntl

        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise StoreInUseError(self.dest, self.path) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:  # (not a lock file its previous holder removed meanwhile)
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)
        os.close(fd)

    def __enter__(self) -> WriteLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


# ------------------------------------------------------------------------------------- stores of keys
_METADATA_NAMES = frozenset({"zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata"})
_PARALLEL = 32  # keys copied or removed at once


@dataclass
class StagedStore:
    """A new hierarchy being written beside an existing store (see :func:`staging_store`).

    ``store`` is written to; ``target`` is the store it replaces; ``where`` names ``store`` in messages.
    """

    store: Store
    target: Store
    where: str

    def discard(self) -> None:
        """Remove what was staged (the write failed or was not complete): the target stays as it was."""
        with contextlib.suppress(OSError):
            sync(_clear(self.store))


def staging_store(location: Location, target: Store) -> StagedStore | None:
    """Where mode ``'w'`` writes the new file when ``target`` (the store of ``location``) holds keys.

    ``None`` when there is nothing to keep (``target`` is empty) or ``location`` is a local directory or zip
    file (those are staged as directories: :func:`staging_directory`).
    """
    if location.kind in ("local", "zip") or sync(target.is_empty("")):
        return None
    suffix = f".{uuid.uuid4().hex[:12]}{_STAGING_SUFFIX}"
    if location.kind == "fsspec":
        parent, name = location.path.rstrip("/").rsplit("/", 1)
        url = f"{parent}/.{name}{suffix}"
        assert isinstance(target, FsspecStore)
        return StagedStore(FsspecStore(target.fs, path=_sibling(target.path, suffix)), target, url)
    if isinstance(target, FsspecStore) and target.path.strip("/"):
        path = _sibling(target.path, suffix)
        return StagedStore(FsspecStore(target.fs, path=path), target, f"{type(target.fs).__name__}:{path}")
    if isinstance(target, LocalStore):
        root = str(target.root).rstrip("/")
        path = os.path.join(os.path.dirname(root), f".{os.path.basename(root)}{suffix}")
        return StagedStore(LocalStore(path), target, path)
    return StagedStore(MemoryStore(), target, "a MemoryStore of this process (lost when it ends)")


def _sibling(path: str, suffix: str) -> str:
    parent, name = posixpath.split(path.rstrip("/"))
    return posixpath.join(parent, f".{name}{suffix}")


def replace_keys(staged: StagedStore, *, location: Any) -> None:
    """Put the complete hierarchy ``staged.store`` in place of ``staged.target`` (module docstring).

    Raises
    ------
    WriteInterruptedError
        Replacing failed part way; the message names the complete new copy, which is kept.
    """
    try:
        sync(_replace(staged.store, staged.target))
    except Exception as exc:
        raise WriteInterruptedError(
            location,
            f"replacing the old file failed ({type(exc).__name__}: {exc}); the complete new file is at "
            f"{staged.where}: copy it into place, or write again",
        ) from exc
    staged.discard()


async def _keys(store: Store) -> list[str]:
    return [key async for key in store.list()]


def _depth(key: str) -> int:
    return key.count("/")


async def _replace(source: Store, target: Store) -> None:
    new, old = await _keys(source), await _keys(target)
    metadata = [k for k in new if posixpath.basename(k) in _METADATA_NAMES]
    data = [k for k in new if posixpath.basename(k) not in _METADATA_NAMES]
    await _each([k for k in old if "/" not in k and k in _METADATA_NAMES], target.delete)  # old root first
    await _each(data, lambda key: _copy(source, target, key))
    for depth in sorted({_depth(k) for k in metadata}, reverse=True):  # deepest documents first, root last
        await _each([k for k in metadata if _depth(k) == depth], lambda key: _copy(source, target, key))
    stale = sorted(set(old) - set(new))
    await _each(stale, target.delete)


async def _each(keys: list[str], work: Any) -> None:
    for start in range(0, len(keys), _PARALLEL):
        await asyncio.gather(*(work(key) for key in keys[start : start + _PARALLEL]))


async def _copy(source: Store, target: Store, key: str) -> None:
    if isinstance(source, FsspecStore) and isinstance(target, FsspecStore) and source.fs is target.fs:
        copy_file = getattr(source.fs, "_cp_file", None)
        if copy_file is not None:  # server-side (s3fs: CopyObject): the bytes never come here
            await copy_file(f"{source.path}/{key}", f"{target.path}/{key}")
            return
    value = await source.get(key, default_buffer_prototype())
    if value is None:
        raise FileNotFoundError(f"{key!r} vanished from the staged copy")
    await target.set(key, value)


async def _clear(store: Store) -> None:
    if isinstance(store, FsspecStore):
        with contextlib.suppress(FileNotFoundError):
            await store.fs._rm(store.path, recursive=True)
        return
    if isinstance(store, LocalStore):
        shutil.rmtree(str(store.root), ignore_errors=True)
        return
    await store.clear()
