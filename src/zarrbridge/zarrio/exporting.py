"""The arguments of an export into a Zarr file: what is copied, linked and cached, and how chunks are copied."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from hdmf.backends.errors import UnsupportedOperation
from hdmf.backends.io import HDMFIO
from hdmf.build import BuildManager
from zarr.abc.store import Store

from ..core.parallel import check_jobs
from .copying import CopySettings

__all__ = ["export_copy_settings", "export_write_args", "merge_namespaces"]


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
            raise UnsupportedOperation(
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
