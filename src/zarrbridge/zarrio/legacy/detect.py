"""Which convention a file follows, and opening its root accordingly.

- ``zarrbridge``: our ``_ZARRBRIDGE`` marker at the root (zarr v3, or v2 when written with ``zarr_format=2``);
- ``hdmf-zarr``: the current convention (zarr v3) without our marker (hdmf-zarr 0.14, LINDI);
- ``hdmf-zarr-legacy``: zarr v2 without our marker (hdmf-zarr <= 0.13), read by :mod:`.reader`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import zarr
import zarr.errors
from zarr.abc.store import Store
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

from ...core.structdtype import quiet_struct_endian
from ...errors import CorruptMetadataError, NotAZarrStoreError, UnsupportedFormatVersionError
from ..convention import MARKER
from .metadata import check_zarr_format, parse_document
from .nodes import LegacyGroup, open_legacy_root

__all__ = ["LEGACY", "Convention", "open_any_root"]

ConventionName = Literal["zarrbridge", "hdmf-zarr", "hdmf-zarr-legacy"]
LEGACY: ConventionName = "hdmf-zarr-legacy"


@dataclass(frozen=True)
class Convention:
    """The on-disk convention of a file.

    Parameters
    ----------
    name
        ``"zarrbridge"`` (our marker present), ``"hdmf-zarr"`` (current zarr v3 convention, no marker) or
        ``"hdmf-zarr-legacy"`` (zarr v2, hdmf-zarr <= 0.13).
    zarr_format
        2 or 3.
    version
        The version of zarrbridge's extensions (our marker's ``version``); ``None`` when the file does not
        record one (hdmf-zarr files do not).

    Examples
    --------
    >>> Convention("hdmf-zarr-legacy", 2).legacy
    True
    """

    name: ConventionName
    zarr_format: int
    version: str | None = None

    def __post_init__(self) -> None:
        if self.name not in ("zarrbridge", "hdmf-zarr", "hdmf-zarr-legacy"):
            raise ValueError(f"unknown convention name {self.name!r}")
        if self.zarr_format not in (2, 3):
            raise ValueError(f"zarr_format must be 2 or 3, got {self.zarr_format!r}")

    @property
    def legacy(self) -> bool:
        """Whether the file is a legacy hdmf-zarr file (read-only for zarrbridge)."""
        return self.name == LEGACY

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "zarr_format", "version"}``, for reports (``zarrbridge info``).

        Returns
        -------
        dict
            The convention as JSON-compatible data.
        """
        return {"name": self.name, "zarr_format": self.zarr_format, "version": self.version}


def _get(store: Store, key: str) -> bytes | None:
    buf = sync(store.get(key, prototype=default_buffer_prototype()))
    return None if buf is None else buf.to_bytes()


def _marker_version(attrs: Any) -> str | None:
    marker = attrs.get(MARKER) if isinstance(attrs, dict) else None
    return str(marker["version"]) if isinstance(marker, dict) and "version" in marker else None


def _open_zarr(store: Store, where: str, zarr_format: Literal[2, 3]) -> zarr.Group:
    mode: Literal["r", "r+"] = "r" if store.read_only else "r+"
    try:
        with quiet_struct_endian():  # (consolidated metadata: every array's metadata is parsed here)
            return zarr.open_group(store, mode=mode, zarr_format=zarr_format)
    except (zarr.errors.GroupNotFoundError, FileNotFoundError):
        raise
    except (ValueError, TypeError, KeyError) as exc:  # zarr raises these on unparsable metadata
        key = "zarr.json" if zarr_format == 3 else ".zgroup"
        raw = _get(store, key)
        if raw is not None:
            try:
                found = json.loads(raw).get("zarr_format")
            except (ValueError, AttributeError):
                found = zarr_format
            if isinstance(found, int) and found != zarr_format:
                raise UnsupportedFormatVersionError(f"{where} ({key})", found, (zarr_format,)) from exc
        raise CorruptMetadataError(key, str(exc), where) from exc


def open_any_root(store: Store, where: str) -> tuple[Convention, zarr.Group | LegacyGroup]:
    """Open the root group of the file in ``store`` and tell its convention.

    Parameters
    ----------
    store : zarr store
        The store of a file of either convention, opened for reading.
    where : str
        The file's location, named in errors.

    Returns
    -------
    tuple of (Convention, zarr.Group or LegacyGroup)
        The convention and the root group.

    Raises
    ------
    NotAZarrStoreError
        No zarr group at the root.
    CorruptMetadataError, UnsupportedFormatVersionError
        The root metadata cannot be parsed or names an unknown format.
    """
    try:
        root = _open_zarr(store, where, 3)
    except (zarr.errors.GroupNotFoundError, FileNotFoundError):
        pass
    else:
        version = _marker_version(dict(root.attrs))
        return Convention("zarrbridge" if version is not None else "hdmf-zarr", 3, version), root
    raw = _get(store, ".zgroup")
    if raw is None:
        reason = "its root is an array, not a group" if _get(store, ".zarray") is not None else ""
        raise NotAZarrStoreError(where, reason)
    doc = parse_document(raw, ".zgroup", where)
    check_zarr_format(doc, ".zgroup", where)
    raw_attrs = _get(store, ".zattrs")
    attrs = parse_document(raw_attrs, ".zattrs", where) if raw_attrs is not None else {}
    version = _marker_version(attrs)
    if version is not None:
        try:
            return Convention("zarrbridge", 2, version), _open_zarr(store, where, 2)
        except (zarr.errors.GroupNotFoundError, FileNotFoundError) as exc:
            raise CorruptMetadataError(".zgroup", str(exc), where) from exc
    return Convention(LEGACY, 2), open_legacy_root(store, where=where, root_doc=doc)
