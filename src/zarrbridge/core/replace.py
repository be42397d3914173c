"""Replacing a local store without losing it, and one writer per destination.

Writing a file with mode ``'w'`` over an existing directory store first writes the new hierarchy beside the
old one (a hidden sibling in the same parent folder, so the final step is a rename on one filesystem) and
replaces the old one only when the new one is complete: :func:`staging_directory`, then :func:`swap_in`. On
Linux the swap is one ``renameat2(RENAME_EXCHANGE)`` call, so a process killed at any moment leaves either the
old store or the new complete one at the destination, never a mix and never nothing; elsewhere it is two
renames, with a moment in which the old store sits under a hidden name beside the destination.

:class:`WriteLock` is an advisory lock (``flock``) on a hidden file beside the destination: a second writer
gets :class:`~zarrbridge.errors.StoreInUseError` at once. The kernel releases the lock when its process dies,
so a killed writer never blocks the next one.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import glob
import os
import shutil
import tempfile
from typing import Any

from ..errors import StoreInUseError

__all__ = ["WriteLock", "discard_stale_staging", "staging_directory", "swap_in"]

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
