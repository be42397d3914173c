"""The root of a file ZarrIO writes: its marker, the cached specification, the root document written last,
and the staged hierarchies (zip files, replaced directories) that become the file when complete."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import warnings
import zipfile
from typing import Any, Literal, cast

import numpy as np
import zarr
from hdmf.backends.utils import NamespaceToBuilderHelper
from hdmf.build import GroupBuilder
from hdmf.spec import NamespaceCatalog
from zarr.abc.store import Store
from zarr.core.buffer import Buffer, default_buffer_prototype
from zarr.core.group import GroupMetadata
from zarr.core.sync import sync

from ..core.arrays import ArrayPolicy, create_array
from ..core.chunkio import consolidated_root, group_document, json_buffer, small_array
from ..core.inline import INLINE_ATTRIBUTE
from ..core.transfer import put_many
from ..errors import CorruptMetadataError, UnsupportedFormatVersionError, WriteInterruptedError
from .convention import MARKER, MARKER_VERSION, SPEC_GROUP, SPECLOC, SUPPORTED_MARKER_VERSIONS
from .errors import ZarrReadOnlyError
from .legacy import LegacyGroup, open_any_root
from .specs import SpecCollector
from .writer import TreeWriter

__all__ = [
    "ZarrReadOnlyError",
    "cache_spec",
    "check_marker",
    "finish_root",
    "open_root",
    "pack_zip",
    "staged_complete",
    "write_tree",
]


def open_root(store: Store, where: str) -> zarr.Group:
    """The root zarr group of a file of the current convention (legacy files are opened for reading only,
    by ``ZarrIO.open``, as a :class:`LegacyGroup`)."""
    _convention, root = open_any_root(store, where)
    if isinstance(root, LegacyGroup):
        raise ZarrReadOnlyError(
            f"{where} (a legacy hdmf-zarr Zarr v2 file)",
            hint="zarrbridge reads legacy files but never modifies them; open it with mode 'r'",
        )
    return root


def check_marker(root: zarr.Group, where: str) -> None:
    """Refuse a root whose zarrbridge marker is malformed, of an unknown version, or marked incomplete."""
    marker = root.attrs.get(MARKER)
    if marker is None:
        return
    if not isinstance(marker, dict) or "version" not in marker:
        raise CorruptMetadataError(MARKER, f"expected {{'version': int}}, got {marker!r}", where)
    if marker["version"] not in SUPPORTED_MARKER_VERSIONS:
        raise UnsupportedFormatVersionError(
            f"{where} (zarrbridge convention marker)", marker["version"], SUPPORTED_MARKER_VERSIONS
        )
    if marker.get("incomplete"):
        raise WriteInterruptedError(where, "the file is marked incomplete: its write was interrupted")


def staged_complete(staged: str | Store) -> bool:
    """Whether a staged hierarchy (a directory or a store) has its final root (written last; not the
    placeholder marked incomplete)."""
    for name in ("zarr.json", ".zattrs"):
        try:
            if isinstance(staged, str):
                with open(os.path.join(staged, name), "rb") as fh:
                    document = json.load(fh)
            else:
                raw = sync(staged.get(name, default_buffer_prototype()))
                if raw is None:
                    continue
                document = json.loads(raw.to_bytes())
        except (FileNotFoundError, ValueError):
            continue
        attributes = document.get("attributes", {}) if name == "zarr.json" else document
        marker = attributes.get(MARKER) if isinstance(attributes, dict) else None
        return isinstance(marker, dict) and not marker.get("incomplete")
    return False


def pack_zip(directory: str, target: str) -> None:
    """Pack a staged hierarchy into ``target`` (uncompressed entries: chunks are compressed already)."""
    tmp = target + ".partial"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for dirpath, _dirs, files in os.walk(directory):
            for name in sorted(files):
                full = os.path.join(dirpath, name)
                zf.write(full, os.path.relpath(full, directory).replace(os.sep, "/"))
    os.replace(tmp, target)


def cache_spec(
    store: Store,
    writer: TreeWriter,
    *,
    catalog: NamespaceCatalog,
    root: zarr.Group | None,
    zarr_format: Literal[2, 3],
) -> None:
    """Cache every namespace of ``catalog`` under the specification group (those ``root`` lacks)."""
    # a new file: the documents are encoded here (all alike: 0-d text arrays) and written at once, at the end
    fast = root is None and zarr_format == 3
    text_array = small_array((), "str", ArrayPolicy(), {}) if fast else None
    items: dict[str, Buffer] = {}
    for ns_name in catalog.namespaces:
        namespace = catalog.get_namespace(ns_name)
        version = str(namespace.version) if namespace.version not in (None, "None") else "unversioned"
        base = f"{SPEC_GROUP}/{ns_name}/{version}"
        if root is not None and base in root:
            continue
        collector = SpecCollector()
        NamespaceToBuilderHelper.convert_namespace(catalog, ns_name).export("namespace", writer=collector)
        for group_path in (SPEC_GROUP, f"{SPEC_GROUP}/{ns_name}", base):
            if group_path in writer.metadata or (root is not None and group_path in root):
                continue
            if fast:
                writer.metadata[group_path] = document = group_document({})
                items[f"{group_path}/zarr.json"] = json_buffer(document)
            else:
                writer.metadata[group_path] = zarr.create_group(
                    store, path=group_path, zarr_format=zarr_format
                ).metadata
        for name, text in collector.documents.items():
            if text_array is not None:
                encoded = text_array.encode(np.array(text, dtype=np.dtypes.StringDType()))
                items.update({f"{base}/{name}/{key}": value for key, value in encoded.items()})
                writer.metadata[f"{base}/{name}"] = text_array.document
                continue
            arr = create_array(store, f"{base}/{name}", shape=(), dtype="str", zarr_format=zarr_format)
            arr[()] = text
            writer.metadata[f"{base}/{name}"] = arr.metadata
    put_many(store, items)


def finish_root(
    store: Store,
    writer: TreeWriter,
    attrs: dict[str, Any],
    *,
    existing: zarr.Group | None,
    zarr_format: Literal[2, 3],
    where: str,
    consolidate: bool = True,
) -> zarr.Group | None:
    """Write the root document last, once, with the consolidated metadata of the whole tree.

    ``existing`` is the root of the file appended to (then the reopened root is returned), or None for a new
    file. Without ``consolidate`` a new file's root has no consolidated metadata (hdmf-zarr's
    ``consolidate_metadata=False``). An append always consolidates again: the old listing would be stale.
    """
    if existing is not None:
        root = existing
        merged = {**dict(root.attrs), **attrs}
        if "_LINKS" in attrs and "_LINKS" in root.attrs:
            old = cast(list[Any], root.attrs["_LINKS"])
            merged["_LINKS"] = [*old, *[ln for ln in attrs["_LINKS"] if ln not in old]]
        merged.pop(INLINE_ATTRIBUTE, None)  # the chunks carried in the root may be stale once appended to
        root.attrs.put(merged)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            zarr.consolidate_metadata(store, zarr_format=zarr_format)
        return open_root(store, where)
    if zarr_format == 3 and consolidate:
        inline = writer.inline.to_json()
        put_many(
            store,
            consolidated_root(
                attrs if inline is None else {**attrs, INLINE_ATTRIBUTE: inline}, writer.metadata
            ),
        )
    elif zarr_format == 3:
        put_many(store, {"zarr.json": json_buffer(group_document(attrs))})
    else:
        meta = GroupMetadata(attributes=attrs, zarr_format=zarr_format)
        put_many(store, meta.to_buffer_dict(default_buffer_prototype()))
        if consolidate:
            zarr.consolidate_metadata(store, zarr_format=2)
    # parsing the consolidated metadata of thousands of nodes is not free:
    # the caller reopens on first use only
    return None


def write_tree(
    store: Store,
    writer: TreeWriter,
    builder: GroupBuilder,
    *,
    existing: zarr.Group | None,
    catalog: NamespaceCatalog | None,
    placeholder: bool,
    zarr_format: Literal[2, 3],
    where: str,
    consolidate: bool = True,
) -> zarr.Group | None:
    """Write ``builder``'s tree into ``store``, the specification of ``catalog`` (if given), then the root.

    A new file (``existing`` None) first gets a placeholder root marked incomplete (``placeholder``; not for
    a zip file's staging, which is packed only when complete), so that an interrupted write never opens as a
    valid file; if the write fails, what it created is removed. A full disk is a
    :class:`~zarrbridge.errors.WriteInterruptedError` naming ``where``. Returns what :func:`finish_root` does.
    """
    fresh = existing is None
    try:
        # compact JSON: json's C encoder (indentation falls back to the pure-Python one, which dominated
        # writing the consolidated root of files with thousands of objects)
        with zarr.config.set({"json_indent": None}):
            if fresh and placeholder:
                zarr.create_group(
                    store,
                    zarr_format=zarr_format,
                    attributes={MARKER: {"version": MARKER_VERSION, "incomplete": True}},
                )
            root_attrs = writer.write_root(builder, {MARKER: {"version": MARKER_VERSION}})
            if catalog is not None:
                cache_spec(store, writer, catalog=catalog, root=existing, zarr_format=zarr_format)
                root_attrs[SPECLOC] = SPEC_GROUP
            return finish_root(
                store,
                writer,
                root_attrs,
                existing=existing,
                zarr_format=zarr_format,
                where=where,
                consolidate=consolidate,
            )
    except BaseException as exc:
        if fresh:  # nothing half-written may look like a file: remove what this write created
            with contextlib.suppress(OSError):
                sync(store.clear())
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise WriteInterruptedError(
                where, f"no space left on the device ({exc.filename or exc}); free some space"
            ) from exc
        raise
