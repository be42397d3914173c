"""Local files read and written with bare system calls.

Whole files, for the many small files of zarr hierarchies: Python's buffered file objects cost extra system
calls per file (``fstat``, ``ioctl``, ``lseek``, a final empty ``read``) that a single whole-file read or
write does not need; for files of a few hundred bytes (zarr metadata documents, one-chunk arrays) those calls
are most of the cost.
"""

from __future__ import annotations

import os

__all__ = ["read_file", "write_file"]

_OPEN_READ = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def read_file(path: str | os.PathLike[str]) -> bytes:
    """The whole content of the local file ``path``: open, fstat, read, close
    (``FileNotFoundError`` if missing).

    Decision: ``Path.read_bytes`` (``open(...).read()``) costs nine system calls per file (buffered-reader
    set-up: two more ``fstat``, ``ioctl``, two ``lseek``, a final empty ``read``); a one-chunk array read
    costs two files, so this is most of the system calls of a fetched row. A file shorter than ``fstat`` said
    is read to its end; one that grew while being read is returned as it was when opened
    (chunks are written once).
    """
    fd = os.open(path, _OPEN_READ)
    try:
        size = os.fstat(fd).st_size
        parts = [os.read(fd, size)] if size else []
        got = len(parts[0]) if parts else 0
        while got < size or not size:
            part = os.read(fd, max(size - got, 1 << 16))
            if not part:
                break
            parts.append(part)
            got += len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)
    finally:
        os.close(fd)


_OPEN_WRITE = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def write_file(
    path: str | os.PathLike[str], data: bytes | memoryview, *, exclusive: bool = False, mode: int = 0o666
) -> None:
    """Write ``data`` as the whole content of the local file ``path``: open, write, close.

    Parameters
    ----------
    path
        The file; its folder must exist.
    data
        The content.
    exclusive
        Create the file, raising ``FileExistsError`` if it exists; otherwise an existing file is truncated
        and rewritten in place.
    mode
        Permission bits of a new file (before the umask; they apply to later opens, not to this write).
    """
    flags = _OPEN_WRITE | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
