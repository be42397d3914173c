"""Where a ZarrIO writes: the store of the file, or a new hierarchy staged beside it, and the lock around it.

A zip file cannot have entries replaced: its hierarchy is written into a staging directory and packed when
the ZarrIO closes. Mode ``'w'`` over an existing directory store writes the new file beside the old one,
which is replaced only once the new one is complete (:func:`~zarrbridge.core.replace.swap_in`); over an
existing fsspec URL (``s3://``) or store object, the new file is written under a hidden sibling prefix and
copied into place once complete (:func:`~zarrbridge.core.replace.replace_keys`). Local
destinations opened for writing hold a :class:`~zarrbridge.core.replace.WriteLock`: one writer at a time.
"""

from __future__ import annotations

import os
import shutil

from zarr.abc.store import Store

from ..core.location import AccessMode, Location, open_store
from ..core.refview import looks_like_view, open_view
from ..core.replace import (
    StagedStore,
    WriteLock,
    discard_stale_staging,
    replace_keys,
    staging_directory,
    staging_store,
    swap_in,
)
from .errors import UnsupportedZarrOperation
from .rootfile import pack_zip, staged_complete

__all__ = ["Destination"]


class Destination:
    """The store a ZarrIO opens in ``mode`` at ``location``, with its lock and staging."""

    def __init__(self, location: Location, mode: AccessMode, *, allow_external_links: bool = False) -> None:
        self.location = location
        self.mode = mode
        self.allow_external_links = allow_external_links  # also for the files a virtual view references
        self.lock: WriteLock | None = None
        self.staging: str | None = None  # a zip file's hierarchy, packed by finish()
        self.replacing: str | None = None  # the new hierarchy written beside an existing directory store
        self.replacing_keys: StagedStore | None = None  # ... beside an existing fsspec URL or store object

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
        if mode == "w" and location.kind in ("fsspec", "store"):
            target = open_store(location, mode="a")  # nothing removed: the old file stays until replaced
            self.replacing_keys = staging_store(location, target)
            if self.replacing_keys is not None:
                return self.replacing_keys.store, False
            return target, True  # (nothing there: written in place)
        if mode == "r" and self.allow_external_links and looks_like_view(location):
            return open_view(location, allow_external=True), True
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
        keys, self.replacing_keys = self.replacing_keys, None
        try:
            if keys is not None:
                if staged_complete(keys.store):
                    replace_keys(keys, location=str(self.location))
                else:  # the write failed or never happened: the old file stays as it was
                    keys.discard()
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
