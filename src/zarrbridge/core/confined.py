"""A local directory store that never follows a symbolic link out of its root.

:class:`ConfinedLocalStore` is what :func:`zarrbridge.core.location.open_store` opens an existing local
directory with; the DataJoint codecs confine each array's folder with it too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from zarr.abc.store import ByteRequest
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype
from zarr.storage import LocalStore

from ..errors import UnsafeNameError

__all__ = ["ConfinedLocalStore"]


class ConfinedLocalStore(LocalStore):
    """A :class:`zarr.storage.LocalStore` that never follows a symbolic link out of its root directory.

    A key whose file, or one of whose folders, is a symbolic link leading outside the store raises
    :class:`~zarrbridge.errors.UnsafeNameError` naming the key and the link, on reads, writes and deletes
    alike (a store synced from elsewhere, or prepared by someone else, must not make a reader read or an
    appending writer overwrite another file). Links that stay inside the store are followed. Folders found
    inside are remembered, so the check costs one ``lstat`` per key after the first key of a folder.
    """

    def __init__(self, root: Path | str, *, read_only: bool = False) -> None:
        super().__init__(root, read_only=read_only)
        self._real_root = os.path.realpath(self.root)
        self._inside: set[str] = set()

    def confine(self, key: str) -> None:
        """Raise :class:`~zarrbridge.errors.UnsafeNameError` if ``key`` (a file or folder below the root,
        existing or not) leads through a symbolic link out of the store; also for callers that read or
        write the key's file themselves."""
        self._confine(key)

    def _confine(self, key: str) -> None:
        full = os.path.join(self.root, key)
        folder = os.path.dirname(full)
        if folder not in self._inside:
            self._check_real(key, folder)
            self._inside.add(folder)
        if os.path.islink(full):
            self._check_real(key, full)

    def _check_real(self, key: str, path: str) -> None:
        real = os.path.realpath(path)
        if real != self._real_root and not real.startswith(self._real_root.rstrip(os.sep) + os.sep):
            link = _first_link(self.root, path)
            raise UnsafeNameError(
                key,
                f"store entry in {str(self.root)!r}",
                f"leads through the symbolic link {link!r} to {real!r}, outside the store; zarrbridge does "
                "not follow links out of a store (replace the link with a copy of its target)",
            )

    def get_sync(
        self, key: str, *, prototype: BufferPrototype | None = None, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        self._confine(key)
        return super().get_sync(key, prototype=prototype, byte_range=byte_range)

    def set_sync(self, key: str, value: Buffer) -> None:
        self._confine(key)
        super().set_sync(key, value)

    async def get(
        self, key: str, prototype: BufferPrototype | None = None, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        self._confine(key)
        return await super().get(key, prototype or default_buffer_prototype(), byte_range)

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        key_ranges = list(key_ranges)
        for key, _ in key_ranges:
            self._confine(key)
        return await super().get_partial_values(prototype, key_ranges)

    async def _set(self, key: str, value: Buffer, exclusive: bool = False) -> None:
        self._confine(key)
        await super()._set(key, value, exclusive)

    async def delete(self, key: str) -> None:
        self._confine(key)
        await super().delete(key)

    async def exists(self, key: str) -> bool:
        self._confine(key)
        return await super().exists(key)


def _first_link(root: Any, path: str) -> str:
    """The first symbolic link on the way from ``root`` to ``path`` (``path`` itself if none is found)."""
    current = os.fspath(root)
    for part in os.path.relpath(path, current).split(os.sep):
        current = os.path.join(current, part)
        if os.path.islink(current):
            return current
    return path
