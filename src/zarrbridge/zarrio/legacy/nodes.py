"""Groups of a legacy (zarr v2) hierarchy, with the part of the :class:`zarr.Group` API the readers use."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import Any, Literal

from zarr.abc.store import Store

from ...core.names import check_name
from ...errors import NotAZarrStoreError
from .chunks import V2Array
from .metadata import ArrayMeta, check_zarr_format, join_key
from .store import V2Store

__all__ = ["LegacyGroup", "open_legacy_root"]


class LegacyGroup:
    """A read-only zarr v2 group: ``attrs``, ``members()``, ``groups()``, ``arrays()``, ``group[path]``,
    ``in``.

    Parameters
    ----------
    v2
        The hierarchy's :class:`V2Store`.
    path
        The group's path (``""`` for the root).
    attrs
        Its raw ``.zattrs``.
    """

    def __init__(self, v2: V2Store, path: str, attrs: dict[str, Any]) -> None:
        self.v2 = v2
        self.path = path.strip("/")
        self.attrs = attrs

    @property
    def store(self) -> Store:
        """The zarr store of the file."""
        return self.v2.store

    @property
    def name(self) -> str:
        """The group's absolute path in the file (``"/"`` for the root)."""
        return "/" + self.path

    @property
    def basename(self) -> str:
        """The last component of the group's path."""
        return posixpath.basename(self.path)

    def _child(self, path: str) -> LegacyGroup | V2Array | None:
        found = self.v2.kind(path)
        if found is None:
            return None
        kind, doc = found
        key = join_key(path, ".zgroup" if kind == "group" else ".zarray")
        attrs = self.v2.attributes(path)
        if kind == "group":
            check_zarr_format(doc, key, self.v2.where)
            return LegacyGroup(self.v2, path, attrs)
        return V2Array(self.v2, path, ArrayMeta.from_document(doc, key, self.v2.where), attrs)

    def get(self, path: str) -> LegacyGroup | V2Array | None:
        """The node at ``path`` relative to this group, or ``None``.

        Parameters
        ----------
        path : str
            A ``/``-separated path relative to this group.

        Returns
        -------
        LegacyGroup, V2Array or None
            The node, or ``None`` when there is none.

        Raises
        ------
        UnsafeNameError
            ``path`` has a ``..`` component, a NUL or another control character, or a backslash.
        """
        parts = [p for p in path.split("/") if p not in ("", ".")]
        for part in parts:
            check_name(part, what=f"component of the path {path!r} in {self.v2.where}")
        full = join_key(self.path, "/".join(parts)).strip("/")
        if not full:
            return LegacyGroup(self.v2, "", self.v2.attributes(""))
        return self._child(full)

    def __getitem__(self, path: str) -> LegacyGroup | V2Array:
        node = self.get(path)
        if node is None:
            raise KeyError(path)
        return node

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self.get(path) is not None

    def members(self) -> Iterator[tuple[str, LegacyGroup | V2Array]]:
        """Children in name order."""
        for name in self.v2.children(self.path):
            child = self._child(join_key(self.path, name))
            if child is not None:
                yield name, child

    def groups(self) -> Iterator[tuple[str, LegacyGroup]]:
        """``(name, group)`` for each child group."""
        for name, child in self.members():
            if isinstance(child, LegacyGroup):
                yield name, child

    def arrays(self) -> Iterator[tuple[str, V2Array]]:
        """``(name, array)`` for each child array."""
        for name, child in self.members():
            if isinstance(child, V2Array):
                yield name, child

    def __repr__(self) -> str:
        return f"<legacy zarr v2 group {self.name} in {self.v2.where}>"


def open_legacy_root(
    store: Store,
    *,
    where: str,
    root_doc: dict[str, Any] | None = None,
    consolidated: bool = True,
    missing_chunks: Literal["error", "fill"] = "error",
) -> LegacyGroup:
    """The root group of the zarr v2 hierarchy in ``store`` (its ``.zgroup`` is validated).

    ``missing_chunks="fill"`` reads chunks that are not stored as the fill value (hdmf-zarr's behaviour)
    instead of raising :class:`~zarrbridge.errors.MissingChunkError`.

    Parameters
    ----------
    store : zarr store
        The file's store.
    where : str
        The file's location, named in errors.
    root_doc : dict, optional
        The root ``.zgroup`` document when already read.
    consolidated : bool
        Use the consolidated ``.zmetadata`` when there is one.
    missing_chunks : {"error", "fill"}
        What a chunk that is not stored reads as.

    Returns
    -------
    LegacyGroup
        The root group.

    Raises
    ------
    NotAZarrStoreError
        There is no ``.zgroup`` at the root.
    CorruptMetadataError, UnsupportedFormatVersionError
        ``.zgroup``, ``.zattrs`` or ``.zmetadata`` cannot be parsed or name another format.
    """
    v2 = V2Store(store, where=where, consolidated=consolidated, missing_chunks=missing_chunks)
    doc = root_doc if root_doc is not None else v2.document(".zgroup")
    if doc is None:
        raise NotAZarrStoreError(where, "no .zgroup at its root")
    check_zarr_format(doc, ".zgroup", where)
    return LegacyGroup(v2, "", v2.attributes(""))
