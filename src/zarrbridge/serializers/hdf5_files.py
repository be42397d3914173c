"""New HDF5 files through a file protocol, safe on a full disk,
and file tests for protocols with ``open()`` only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import h5py

from .protocols import has_operation

__all__ = ["GuardedFile", "file_exists", "guarded_h5"]


@contextmanager
def guarded_h5(handle: Any) -> Iterator[h5py.File]:
    """A new HDF5 file written through ``handle``, whose write errors HDF5 never sees (:class:`GuardedFile`);
    the first one is raised once h5py has closed the file."""
    guarded = GuardedFile(handle)
    with h5py.File(guarded, "w") as h5:
        yield h5
    if guarded.failure is not None:
        raise guarded.failure


class GuardedFile:
    """A protocol's file handed to h5py, whose write errors HDF5 never sees.

    Decision: when a write fails (a full disk), h5py's ``close()`` fails too and leaves the file open in
    HDF5, which later writes to it again and the process dies of SIGSEGV (seen with h5py 3.16, through a
    path and through a file object alike; a second ``close()`` crashes at once). So new HDF5 files are
    written through this object, local ones too: the first failed write is kept here and raised once h5py
    has closed the file, and later writes go nowhere (the failed save discards the file). Blocks saved as
    raw chunk bytes (the default for numbers) are written after h5py closed the file and are not affected.
    """

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self.failure: OSError | None = None

    def write(self, data: Any) -> int:
        if self.failure is None:
            try:
                return int(self._raw.write(data))
            except OSError as exc:
                self.failure = exc
        return len(memoryview(data).cast("B"))

    def truncate(self, size: int | None = None) -> int:
        if self.failure is None:
            try:
                return int(self._raw.truncate(size))
            except OSError as exc:
                self.failure = exc
        return int(size or 0)

    def flush(self) -> None:
        if self.failure is None:
            try:
                self._raw.flush()
            except OSError as exc:
                self.failure = exc

    def __getattr__(self, name: str) -> Any:  # read, readinto, seek, tell...
        return getattr(self._raw, name)


def file_exists(files: Any, name: str) -> bool:
    """Whether the file ``name`` exists, through ``exists()`` or, without it, by opening it."""
    if has_operation(files, "exists"):
        return bool(files.exists(name))
    try:
        with files.open(name, "rb"):
            return True
    except FileNotFoundError:
        return False
