"""New HDF5 files that survive a full disk: shared by the serializers and the Zarr -> HDF5 export.

HDF5 must never see a failed write. When one fails (a full disk, a quota), h5py's ``close()`` fails too and
leaves the file open inside HDF5, which writes to it again later and the process dies of SIGSEGV, at the
latest at interpreter exit (seen with h5py 3.16, through a path and through a file object alike; a second
``close()`` crashes at once). So new HDF5 files are written through a :class:`GuardedFile`: the first failed
write is kept there, later writes go nowhere, and the failure is raised once h5py has closed the file, by
:func:`guarded_h5` or by the caller through :meth:`GuardedFile.raise_failure`. The caller then discards the
file it was writing; the file it replaces is untouched.

h5py is imported on first use, so the error helpers here work without it.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import h5py

__all__ = ["GuardedFile", "guarded_h5", "is_disk_full"]


@contextmanager
def guarded_h5(handle: Any) -> Iterator[h5py.File]:
    """A new HDF5 file written through the open binary file ``handle`` (wrapped in a :class:`GuardedFile`);
    the first write error is raised once h5py has closed the file."""
    import h5py

    guarded = GuardedFile(handle)
    with h5py.File(guarded, "w") as h5:
        yield h5
    guarded.raise_failure()


class GuardedFile:
    """An open binary file handed to h5py, whose write errors HDF5 never sees.

    Parameters
    ----------
    raw
        The file: anything with ``write``, ``truncate``, ``flush``, ``read``, ``seek`` and ``tell``.
    name
        The file's path: h5py names a file object by its ``repr()`` (``h5py.File.filename``), so with a
        name the HDF5 file reports its path, as one opened by path does (``HDF5IO(path, file=...)`` checks
        that).

    Examples
    --------
    >>> with open("new.h5", "w+b") as raw:  # doctest: +SKIP
    ...     guarded = GuardedFile(raw, name="new.h5")
    ...     with h5py.File(guarded, "w") as h5:
    ...         h5["x"] = data
    ...     guarded.raise_failure()  # the disk filled up: OSError(ENOSPC), after h5py closed the file
    """

    def __init__(self, raw: Any, *, name: str | None = None) -> None:
        self._raw = raw
        self._name = name
        self.failure: OSError | None = None

    def __repr__(self) -> str:
        return self._name if self._name is not None else f"GuardedFile({self._raw!r})"

    def raise_failure(self) -> None:
        """Raise the first write error, if there was one (after h5py closed the file, or to stop early)."""
        if self.failure is not None:
            raise self.failure

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


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` (or an error it was raised from) says the disk or the quota is full.

    h5py reports a full disk as an ``OSError`` without ``errno`` whose message quotes HDF5's ``errno = 28``.
    """
    seen: BaseException | None = error
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, OSError):
            if seen.errno in (errno.ENOSPC, errno.EDQUOT):
                return True
            text = str(seen)
            if "No space left on device" in text or "errno = 28," in text or "Disk quota exceeded" in text:
                return True
        seen = seen.__cause__ or seen.__context__
    return False
