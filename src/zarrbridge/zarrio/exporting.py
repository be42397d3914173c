"""The arguments of an export into a Zarr file: what is copied, linked and cached,
and how chunks are copied."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from hdmf.backends.io import HDMFIO
from hdmf.build import BuildManager, DatasetBuilder, GroupBuilder
from zarr.abc.store import Store

from ..core.parallel import check_jobs
from ..progress import ByteProgress
from .copying import CopySettings
from .errors import UnsupportedZarrOperation

__all__ = [
    "count_array_bytes",
    "export_copy_settings",
    "export_write_args",
    "merge_namespaces",
    "modified_since_read",
    "reporting_to",
]


def export_copy_settings(settings: CopySettings | None, *, number_of_jobs: int, client: Any) -> CopySettings:
    """The copy settings of an export: ``settings`` (or the defaults) with the export's jobs and client."""
    settings = settings or CopySettings()
    if check_jobs(number_of_jobs) != 1 or client is not None:
        settings = dataclasses.replace(
            settings,
            number_of_jobs=number_of_jobs,
            client=client if client is not None else settings.client,
        )
    return settings


def export_write_args(
    src_io: HDMFIO,
    write_args: dict[str, Any] | None,
    *,
    zarr_store: Store | None,
    from_zarr: bool,
    cache_spec: bool,
    consolidate_metadata: bool,
    settings: CopySettings,
) -> dict[str, Any]:
    """The ``write_builder`` arguments of an export from ``src_io``.

    Datasets of a source of another backend are copied whatever ``link_data`` says (as HDF5IO's export
    does); asking for links explicitly is refused there, since links between backends cannot exist.
    """
    args = dict(write_args or {})
    args.setdefault("consolidate_metadata", consolidate_metadata)
    if not from_zarr:
        args.setdefault("link_data", False)
        if args["link_data"]:
            raise UnsupportedZarrOperation(
                f"cannot export from {type(src_io).__name__} to Zarr with link_data=True: links between "
                "backends are not possible; pass write_args=dict(link_data=False)"
            )
    args["copy_settings"] = settings
    src = getattr(src_io, "source", None)
    args["export_source"] = (
        os.path.abspath(src) if isinstance(src, (str, Path)) and "://" not in str(src) else src
    )
    args["cache_spec"] = cache_spec
    if zarr_store is not None:
        args["export_store"] = zarr_store
    return args


def merge_namespaces(source: BuildManager, target: BuildManager) -> None:
    """Add the namespaces ``source`` knows and ``target`` does not (extensions cached in the source file)."""
    for ns in source.namespace_catalog.namespaces:
        if ns not in target.namespace_catalog.namespaces:
            target.namespace_catalog.add_namespace(
                name=ns, namespace=source.namespace_catalog.get_namespace(ns)
            )


def reporting_to(settings: CopySettings, reporter: ByteProgress) -> CopySettings:
    """``settings`` whose copies also report their bytes to ``reporter`` (after any ``progress`` they had)."""
    inner = settings.progress
    if inner is None:
        return dataclasses.replace(settings, progress=reporter)

    def both(nbytes: int) -> None:
        inner(nbytes)
        reporter(nbytes)

    hook: Callable[[int], None] = both
    return dataclasses.replace(settings, progress=hook)


def count_array_bytes(builder: GroupBuilder) -> tuple[int, int]:
    """Number of datasets under ``builder`` and the uncompressed bytes of their numeric and fixed-size data
    (what a progress bar of a copy of it counts)."""
    datasets, nbytes = 0, 0
    stack: list[GroupBuilder] = [builder]
    while stack:
        group = stack.pop()
        stack.extend(group.groups.values())
        for ds in group.datasets.values():
            datasets += 1
            nbytes += _nbytes(ds)
    return datasets, nbytes


def _nbytes(ds: DatasetBuilder) -> int:
    data = ds.data
    shape, dtype = getattr(data, "shape", None), getattr(data, "dtype", None)
    if shape is None or dtype is None:
        return 0
    try:
        itemsize = np.dtype(dtype).itemsize
    except TypeError:
        return 0
    return int(np.prod(shape, dtype=np.int64)) * (itemsize if np.dtype(dtype).kind not in "OT" else 0)


def modified_since_read(src_io: HDMFIO) -> bool:
    """Whether a container ``src_io`` has read was changed since: export must then build the containers.

    hdmf's export of ``src_io`` without ``container`` exports what ``src_io.read()`` returns, which is the
    container already read, with the user's changes; copying the builders as read would drop them. The
    containers read are in the build manager's cache, which hdmf exposes under no public name: when that
    cache cannot be inspected (another hdmf), the answer is "modified", so that export takes the path that
    is right in every case.
    """
    manager = getattr(src_io, "manager", None)
    if manager is None:
        return False
    containers = getattr(manager, "_BuildManager__containers", None)
    if not isinstance(containers, dict):
        return True
    return any(getattr(container, "modified", True) for container in containers.values())
