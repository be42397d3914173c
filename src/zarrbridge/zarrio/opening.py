"""Opening a ZarrIO's file: its store (with the lock and staging of a write), the root and its convention.

:func:`open_file` is what :meth:`ZarrIO.open <zarrbridge.zarrio.ZarrIO.open>` does: it takes the
:class:`~zarrbridge.zarrio.destination.Destination` of the mode, and for an existing file opens the root in
whichever convention it follows. A legacy hdmf-zarr (Zarr v2) file opens read-only; the root of a current file
opened for reading serves the small chunks it carries inline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import zarr
from hdmf.build import TypeMap
from hdmf.spec import NamespaceCatalog
from zarr.abc.store import Store

from ..core.inline import with_inline_chunks
from ..core.location import AccessMode, Location, open_store
from .compat import remove_for_overwrite
from .destination import Destination
from .errors import as_hdmf_errors
from .legacy import Convention, LegacyGroup, open_any_root
from .rootfile import ZarrReadOnlyError, check_marker
from .specs import load_cached_namespaces

__all__ = ["OpenedFile", "load_namespaces_at", "open_file"]


@dataclass(frozen=True)
class OpenedFile:
    """An open ZarrIO file: its store and destination, and for an existing file its root and convention."""

    store: Store
    destination: Destination
    convention: Convention | None = None
    root: zarr.Group | None = None
    legacy_root: LegacyGroup | None = None


def open_file(
    location: Location,
    mode: AccessMode,
    *,
    force_overwrite: bool,
    allow_external_links: bool,
    missing_chunks: Literal["error", "fill"],
    max_bytes: int | None,
) -> OpenedFile:
    """Open the store at ``location`` in ``mode`` (taking the write lock for writing modes) and its root.

    Parameters
    ----------
    location : Location
        The file.
    mode : str
        ZarrIO's mode (``'r-'`` already read as ``'r'``).
    force_overwrite : bool
        In mode ``'w'``, remove whatever is at a local path first.
    allow_external_links : bool
        Whether links out of the file may be followed.
    missing_chunks : {"error", "fill"}
        What a missing chunk of a legacy file reads as.
    max_bytes : int or None
        The most one read of a legacy file's dataset may take.

    Returns
    -------
    OpenedFile
        The store, its destination, and the root of an existing file. A file that cannot be opened
        releases the store and the lock before the error is raised.
    """
    if mode == "w" and force_overwrite:
        remove_for_overwrite(location)
    destination = Destination(location, mode, allow_external_links=allow_external_links)
    with as_hdmf_errors():
        store, direct = destination.open()
    try:
        if direct and (mode in ("r", "r+") or (mode == "a" and location.holds_zarr())):
            with as_hdmf_errors():
                return _open_existing(
                    store, destination, location, mode, missing_chunks=missing_chunks, max_bytes=max_bytes
                )
    except BaseException:  # an unreadable file: release the store and the lock before reporting it
        store.close()
        destination.release()
        raise
    return OpenedFile(store, destination)


def _open_existing(
    store: Store,
    destination: Destination,
    location: Location,
    mode: AccessMode,
    *,
    missing_chunks: Literal["error", "fill"],
    max_bytes: int | None,
) -> OpenedFile:
    convention, root = open_any_root(store, str(location))
    if isinstance(root, LegacyGroup):
        root.v2.missing_chunks, root.v2.max_bytes = missing_chunks, max_bytes
        if mode != "r":
            raise ZarrReadOnlyError(
                f"{location} (a legacy hdmf-zarr Zarr v2 file)",
                hint=(
                    "zarrbridge reads legacy files but never modifies them; open it with mode 'r' "
                    "and convert it to the current convention with "
                    "ZarrIO(dst, 'w').export(src_io=...) or `zarrbridge convert SRC DST`, then "
                    "modify the copy"
                ),
            )
        return OpenedFile(store, destination, convention, legacy_root=root)
    check_marker(root, str(location))
    # small chunks the root carries are served from it (reads only: an append drops them)
    root = with_inline_chunks(root, location=location) if mode == "r" else root
    return OpenedFile(store, destination, convention, root=root)


def load_namespaces_at(
    path: Any,
    namespace_catalog: NamespaceCatalog | TypeMap,
    *,
    namespaces: list[str] | None,
    storage_options: dict[str, Any] | None,
) -> dict[str, Any]:
    """Load the namespaces cached in the file at ``path`` (either convention) into ``namespace_catalog``.

    Parameters
    ----------
    path : str, os.PathLike or zarr store
        The file.
    namespace_catalog : NamespaceCatalog or TypeMap
        Where the namespaces go.
    namespaces : list of str, optional
        Load only these namespaces.
    storage_options : dict, optional
        fsspec options for URLs.

    Returns
    -------
    dict
        What HDMF's ``load_namespaces`` returns.
    """
    store = open_store(path, mode="r", storage_options=storage_options)
    try:
        _convention, root = open_any_root(store, str(path))
        return load_cached_namespaces(root, namespace_catalog, namespaces, str(path))
    finally:
        store.close()
