"""Find out whether a path is a zarr hierarchy or an HDF5 file, and open it with the namespaces it caches."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from .._optional import import_optional
from ..core.location import Location
from ..errors import LocationError

__all__ = ["FileKind", "OpenFile", "detect_kind", "is_url", "new_type_map", "open_file"]

FileKind = Literal["zarr", "hdf5"]
HDF5_SUFFIXES = (".nwb", ".h5", ".hdf5", ".hdf")
FEATURE = "the zarrbridge command"


def is_url(path: str) -> bool:
    """Whether ``path`` is an fsspec URL (``s3://...``) rather than a local path."""
    return "://" in path and not path.startswith("file://")


def detect_kind(path: str) -> FileKind:
    """``"zarr"`` for a directory, ``.zip`` or URL holding a zarr hierarchy; ``"hdf5"`` for an HDF5 file.

    Raises
    ------
    LocationError
        If ``path`` does not exist or is neither.
    """
    if is_url(path):
        if path.lower().endswith(HDF5_SUFFIXES):
            raise LocationError(path, "HDF5 files are read from local paths only; download it first")
        return "zarr"
    local = path[len("file://") :] if path.startswith("file://") else path
    if not os.path.exists(local):
        raise LocationError(path, "no such file or directory; check the path")
    if os.path.isdir(local) or local.lower().endswith(".zip"):
        return "zarr"
    if Location.parse(local).holds_zarr():  # a virtual view: one reference file (zarrbridge.core.refview)
        return "zarr"
    h5py = import_optional("h5py", extra="hdmf", feature=FEATURE)
    if h5py.is_hdf5(local):
        return "hdf5"
    raise LocationError(path, "it is neither a zarr hierarchy (a directory, .zip or URL) nor an HDF5 file")


def new_type_map() -> Any:
    """A fresh :class:`hdmf.build.TypeMap` with NWB core (if pynwb is installed) and hdmf-common loaded."""
    import_optional("hdmf", extra="hdmf", feature=FEATURE)
    try:
        import pynwb
    except ImportError:
        from hdmf.common import get_type_map

        return get_type_map()
    return pynwb.get_type_map()


@dataclass(frozen=True)
class OpenFile:
    """An open file: its kind, the HDMF io reading it (with the file's cached namespaces loaded)."""

    path: str
    kind: FileKind
    io: Any
    storage_options: dict[str, Any]


def _io_class(kind: FileKind) -> Any:
    if kind == "zarr":
        from ..zarrio import ZarrIO

        return ZarrIO
    from hdmf.backends.hdf5 import HDF5IO

    return HDF5IO


def load_cached(
    kind: FileKind, path: str, catalog_or_type_map: Any, storage_options: dict[str, Any]
) -> dict[str, Any]:
    """Load the namespaces cached in the file into ``catalog_or_type_map``; return their dependencies."""
    if kind == "zarr":
        from ..zarrio import ZarrIO

        return dict(
            ZarrIO.load_namespaces(catalog_or_type_map, path, storage_options=storage_options or None)
        )
    from hdmf.backends.hdf5 import HDF5IO

    return dict(HDF5IO.load_namespaces(catalog_or_type_map, path=path))


@contextmanager
def open_file(
    path: str, *, storage_options: dict[str, Any] | None = None, manager: Any = None
) -> Iterator[OpenFile]:
    """Open ``path`` (zarr or HDF5) for reading, with a manager built from the namespaces it caches.

    Parameters
    ----------
    path
        A local path or an fsspec URL.
    storage_options
        fsspec options for URLs.
    manager
        A ready :class:`hdmf.build.BuildManager`; ``None`` builds one from the cached namespaces.
    """
    kind = detect_kind(path)
    options = dict(storage_options or {})
    if manager is None:
        from hdmf.build import BuildManager

        type_map = new_type_map()
        load_cached(kind, path, type_map, options)
        manager = BuildManager(type_map)
    io: Any
    if kind == "zarr":
        io = _io_class(kind)(path, mode="r", manager=manager, storage_options=options or None)
    else:
        io = _io_class(kind)(path, mode="r", manager=manager)
    try:
        yield OpenFile(path, kind, io, options)
    finally:
        io.close()
