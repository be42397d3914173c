"""Key-level access to a zarr v2 hierarchy in any zarr store: metadata documents and chunk bytes.

With a consolidated ``.zmetadata`` (hdmf-zarr always writes one) every metadata document comes from that one
request; without it documents and child listings are read from the store on demand.

Nothing here reads outside the store: every key of ``.zmetadata`` and every listed child name is checked with
:mod:`zarrbridge.core.names` (``..``, absolute keys, NUL, backslashes raise :class:`UnsafeNameError`), and in
a local directory a key that resolves through a symbolic link to a file outside the store is refused.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from zarr.abc.store import Store
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import LocalStore

from ...core.names import check_name, check_relative_path
from ...errors import InvalidOptionError, UnsafeNameError
from .metadata import check_consolidated, join_key, parse_document

__all__ = ["V2Store"]

NodeKind = Literal["group", "array"]
_KINDS: dict[str, NodeKind] = {".zgroup": "group", ".zarray": "array"}
_NODE_DOCS = frozenset({".zgroup", ".zarray", ".zattrs"})


class V2Store:
    """Documents and chunks of one zarr v2 hierarchy.

    Parameters
    ----------
    store
        The zarr store (local directory, zip, fsspec...).
    where
        The location, for error messages.
    consolidated
        Use ``.zmetadata`` when present (the default, as hdmf-zarr does).
    missing_chunks
        ``"error"`` (default): a chunk not in the store is a MissingChunkError; ``"fill"``: it reads as the
        array's fill value, as hdmf-zarr reads it (see :mod:`.chunks`).
    """

    def __init__(
        self,
        store: Store,
        *,
        where: str,
        consolidated: bool = True,
        missing_chunks: Literal["error", "fill"] = "error",
    ) -> None:
        if missing_chunks not in ("error", "fill"):
            raise InvalidOptionError(f"missing_chunks must be 'error' or 'fill', got {missing_chunks!r}")
        self.missing_chunks = missing_chunks
        self.max_bytes: int | None = None  # the most one read may allocate (ZarrIO's max_bytes)
        self.store = store
        self.where = where
        self._docs: dict[str, dict[str, Any]] | None = None
        self._children: dict[str, dict[str, NodeKind]] = {}
        self._fetched: dict[str, bytes | None] = {}  # keys read ahead by prefetch()
        self._local_root = os.path.realpath(store.root) if isinstance(store, LocalStore) else None
        if consolidated:
            raw = self.get(".zmetadata")
            if raw is not None:
                self._docs = check_consolidated(parse_document(raw, ".zmetadata", where), where)
                self._index_children(self._docs)

    @property
    def consolidated(self) -> bool:
        return self._docs is not None

    # ------------------------------------------------------------------------------------------ raw keys
    def check_key(self, key: str) -> str:
        """``key`` if reading it stays inside the store, else :class:`UnsafeNameError`."""
        check_relative_path(key, what=f"key in {self.where}")
        if self._local_root is not None:
            real = os.path.realpath(os.path.join(self._local_root, key))
            if real != self._local_root and not real.startswith(self._local_root + os.sep):
                raise UnsafeNameError(
                    key,
                    f"key in {self.where}",
                    f"is a symbolic link (or lies below one) that leads to {real!r}",
                )
        return key

    def get(self, key: str) -> bytes | None:
        if key in self._fetched:
            return self._fetched[key]
        buf = sync(self.store.get(self.check_key(key), prototype=default_buffer_prototype()))
        return None if buf is None else buf.to_bytes()

    def get_many(self, keys: Iterable[str]) -> list[bytes | None]:
        """Fetch several keys concurrently (one round trip's latency on remote stores)."""
        keys = list(keys)
        checked = [self.check_key(k) for k in keys if k not in self._fetched]

        async def fetch() -> list[Any]:
            proto = default_buffer_prototype()
            return list(await asyncio.gather(*(self.store.get(k, prototype=proto) for k in checked)))

        found = dict(zip(checked, [None if b is None else b.to_bytes() for b in sync(fetch())]))
        return [self._fetched[k] if k in self._fetched else found[k] for k in keys]

    def prefetch(self, keys: Iterable[str]) -> None:
        """Read ``keys`` now, concurrently; later reads of them are answered from memory.

        For the small values a reader is going to need one by one (scalars, cached specifications, table
        ids): one round of concurrent requests instead of one request after another.
        """
        wanted = [k for k in dict.fromkeys(keys) if k not in self._fetched]
        if wanted:
            self._fetched.update(zip(wanted, self.get_many(wanted)))

    def size_prefix(self, prefix: str) -> int:
        return int(sync(self.store.getsize_prefix(prefix)))

    # ------------------------------------------------------------------------------------------ documents
    def document(self, key: str) -> dict[str, Any] | None:
        """The parsed JSON document at ``key`` (``None`` if missing)."""
        if self._docs is not None and posixpath.basename(key) in _NODE_DOCS:
            return self._docs.get(key)  # consolidated: a node document not listed does not exist
        raw = self.get(key)
        return None if raw is None else parse_document(raw, key, self.where)

    def consolidated_arrays(self) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
        """Each array listed in ``.zmetadata``: its path, ``.zarray`` document and attributes (none if not
        consolidated)."""
        for key, doc in (self._docs or {}).items():
            path, _, name = key.rpartition("/")
            if name == ".zarray" and isinstance(doc, dict):
                yield path, doc, self.attributes(path)

    def attributes(self, path: str) -> dict[str, Any]:
        key = join_key(path, ".zattrs")
        if self._docs is not None:
            return dict(self._docs.get(key, {}))
        doc = self.document(key)
        return {} if doc is None else doc

    def kind(self, path: str) -> tuple[NodeKind, dict[str, Any]] | None:
        """Whether ``path`` is a group or an array, with its ``.zgroup``/``.zarray`` document."""
        for name, kind in _KINDS.items():
            doc = self.document(join_key(path, name))
            if doc is not None:
                return kind, doc
        return None

    def children(self, path: str) -> dict[str, NodeKind]:
        """Child names of the group at ``path`` and whether each is a group or an array, in name order."""
        key = path.strip("/")
        if self._docs is not None:
            return dict(sorted(self._children.get(key, {}).items()))
        if key not in self._children:
            names = sync(_collect(self.store.list_dir(key)))
            found: dict[str, NodeKind] = {}
            for name in sorted(names):
                if name.startswith(".") or "/" in name.strip("/"):
                    continue
                check_name(name.strip("/"), what=f"node name in {self.where}")
                child = join_key(key, name.strip("/"))
                for marker, kind in _KINDS.items():
                    if sync(self.store.exists(join_key(child, marker))):
                        found[name.strip("/")] = kind
                        break
            self._children[key] = found
        return dict(self._children[key])

    def _index_children(self, docs: dict[str, Any]) -> None:
        for key in docs:
            check_relative_path(key, what=f"key listed in {self.where}/.zmetadata")
            parent_path, _, name = key.rpartition("/")
            if name not in _KINDS or not parent_path:
                continue
            parent, _, child = parent_path.rpartition("/")
            self._children.setdefault(parent, {})[child] = _KINDS[name]


async def _collect(iterator: Any) -> list[str]:
    return [key async for key in iterator]
