"""Where a ZarrIO writes: the store of the file, or a new hierarchy staged beside it, and the lock around it.

A zip file cannot have entries replaced: its hierarchy is written into a staging directory and packed when
the ZarrIO closes. Mode ``'w'`` over an existing directory store writes the new file beside the old one,
which is replaced only once the new one is complete (:func:`~zarrbridge.core.replace.swap_in`). Local
destinations opened for writing hold a :class:`~zarrbridge.core.replace.WriteLock`: one writer at a time.
"""

from __future__ import annotations

import os
import shutil

from zarr.abc.store import Store

from ..core.location import AccessMode, Location, open_store
from ..core.replace import WriteLock, discard_stale_staging, staging_directory, swap_in
from .errors import UnsupportedZarrOperation
from .rootfile import pack_zip, staged_complete

__all__ = ["Destination"]


class Destination:
    """The store a ZarrIO opens in ``mode`` at ``location``, with its lock and staging."""

    def __init__(self, location: Location, mode: AccessMode) -> None:
        self.location = location
        self.mode = mode
        self.lock: WriteLock | None = None
        self.staging: str | None = None  # a zip file's hierarchy, packed by finish()
        self.replacing: str | None = None  # the new hierarchy written beside an existing directory store

    def open(self) -> tuple[Store, bool]:
        """Open the store; returns it and whether it is the file itself (not a hierarchy staged beside it)."""
        location, mode = self.location, self.mode
        if location.kind == "zip" and mode in ("r+", "a") and location.holds_zarr():
            raise UnsupportedZarrOperation(
                f"{location}: a .zip file cannot be modified in place (zip entries cannot be replaced); "
                "write a new file with mode 'w', or use a directory store for appending"
            )
        if mode != "r" and location.kind in ("local", "zip"):
            self.lock = WriteLock(location.path).acquire()  # one writer per destination
            discard_stale_staging(location.path)
        try:
            return self._open_store()
        except BaseException:
            self.release()
            raise

    def _open_store(self) -> tuple[Store, bool]:
        location, mode = self.location, self.mode
        if location.kind == "zip" and mode != "r":
            # zip entries cannot be replaced: stage the hierarchy in a directory, pack it in finish()
            if mode in ("w-", "x") and location.exists():
                open_store(location, mode=mode)  # raises StoreExistsError
            self.staging = staging_directory(location.path)
            return open_store(self.staging, mode="w"), False
        if mode == "w" and location.kind == "local" and os.path.lexists(location.path):
            # the new file is written beside the old one, which is replaced only once the new one is complete
            self.replacing = staging_directory(location.path)
            return open_store(self.replacing, mode="w"), False
        return open_store(location, mode=mode), True

    def release(self) -> None:
        """Release the write lock (if held)."""
        lock, self.lock = self.lock, None
        if lock is not None:
            lock.release()

    def finish(self) -> None:
        """After the store is closed: pack or swap in a complete staged hierarchy, drop an incomplete one."""
        staging, self.staging = self.staging, None
        replacing, self.replacing = self.replacing, None
        try:
            if staging is not None:
                try:
                    if staged_complete(staging):
                        pack_zip(staging, self.location.path)
                finally:
                    shutil.rmtree(staging, ignore_errors=True)
            if replacing is not None:
                if staged_complete(replacing):
                    swap_in(replacing, self.location.path)
                else:  # nothing (complete) was written: the old file stays as it was
                    shutil.rmtree(replacing, ignore_errors=True)
        finally:
            self.release()
