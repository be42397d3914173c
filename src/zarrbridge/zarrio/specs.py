"""Caching HDMF specifications in a file and loading them back."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import zarr
from hdmf.backends.io import HDMFIO
from hdmf.build import BuildManager
from hdmf.spec import NamespaceCatalog, SpecReader, SpecWriter

from ..errors import CorruptMetadataError
from .convention import NAMESPACE_DOC, SPEC_GROUP, SPECLOC
from .legacy.metadata import join_key
from .legacy.nodes import LegacyGroup
from .prefetch import prefetch_keys, reads_ahead

__all__ = [
    "SpecCollector",
    "ZarrSpecReader",
    "cached_namespace_versions",
    "newest_version",
    "spec_group_path",
]


class SpecCollector(SpecWriter):  # type: ignore[misc]
    """A :class:`hdmf.spec.SpecWriter` that collects the JSON documents of one namespace in memory."""

    def __init__(self) -> None:
        self.documents: dict[str, str] = {}

    def write_spec(self, spec: Any, path: str) -> None:
        self.documents[_strip_ext(path)] = json.dumps(spec, separators=(",", ":"))

    def write_namespace(self, namespace: Any, path: str) -> None:
        self.documents[path] = json.dumps({"namespaces": [namespace]}, separators=(",", ":"))


def _strip_ext(path: str) -> str:
    return re.sub(r"\.(ya?ml|json)$", "", path.rsplit("/", 1)[-1])


class ZarrSpecReader(SpecReader):  # type: ignore[misc]
    """Reads cached JSON specifications from a zarr group (current and legacy layouts)."""

    def __init__(self, group: zarr.Group | LegacyGroup, source: str) -> None:
        super().__init__(source=source)
        self._group = group
        self._namespace: Any = None

    def _read(self, name: str) -> Any:
        try:
            arr: Any = self._group[name]
        except KeyError:
            raise CorruptMetadataError(f"{self._group.path}/{name}", "cached specification missing") from None
        value = arr[()] if arr.ndim == 0 else arr[0]  # legacy files store shape (1,) arrays
        if isinstance(value, np.ndarray):
            value = value.item()
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        if isinstance(value, dict):  # legacy JSON object codec returns parsed JSON
            return value
        try:
            return json.loads(str(value))
        except json.JSONDecodeError as exc:
            raise CorruptMetadataError(f"{self._group.path}/{name}", f"not JSON ({exc})") from exc

    def read_spec(self, spec_path: str) -> Any:
        return self._read(_strip_ext(spec_path))

    def read_namespace(self, ns_path: str) -> Any:
        if self._namespace is None:
            self._namespace = self._read(ns_path)
        return self._namespace["namespaces"]


def _version_key(version: str) -> tuple[Any, ...]:
    if version in ("unversioned", "None", ""):
        return ((-1,),)
    parts = re.split(r"[.\-+_]", version)
    key: list[tuple[int, Any]] = []
    for part in parts:
        key.append((1, int(part)) if part.isdigit() else (0, part))
    return tuple(key)


def newest_version(versions: list[str]) -> str:
    """The newest of ``versions`` by version order (``2.11.0`` beats ``2.9.0``; ``unversioned`` loses)."""
    return max(versions, key=_version_key)


def spec_group_path(root: zarr.Group | LegacyGroup) -> str | None:
    """Where the cached specifications live, from the root's ``.specloc`` (string or reference form)."""
    loc = root.attrs.get(SPECLOC)
    if loc is None:
        return None
    if isinstance(loc, dict):
        ref = loc.get("_REFERENCE", loc.get("value", loc))
        loc = ref.get("path") if isinstance(ref, dict) else None
    if not isinstance(loc, str):
        raise CorruptMetadataError(SPECLOC, f"expected a path, got {loc!r}")
    return loc.strip("/") or SPEC_GROUP


def cached_namespace_versions(root: zarr.Group | LegacyGroup) -> dict[str, str]:
    """Map each cached namespace to its newest cached version."""
    path = spec_group_path(root)
    if path is None or path not in root:
        return {}
    spec_group: Any = root[path]
    out = {}
    for ns_name, ns_group in spec_group.groups():
        versions = [name for name, _ in ns_group.groups()]
        if versions:
            out[ns_name] = newest_version(versions)
    return out


def load_cached_namespaces(
    root: zarr.Group | LegacyGroup, catalog: NamespaceCatalog, namespaces: list[str] | None, source: str
) -> dict[str, Any]:
    """Load the newest cached version of each namespace into ``catalog``."""
    versions = cached_namespace_versions(root)
    if not versions:
        return {}
    spec_group: Any = root[spec_group_path(root) or SPEC_GROUP]
    readers = {}
    for ns in namespaces if namespaces is not None else list(versions):
        if ns not in versions:
            continue
        group = spec_group[f"{ns}/{versions[ns]}"]
        readers[ns] = ZarrSpecReader(group, f"{source}:{group.path}")
    known = set(
        getattr(catalog, "namespace_catalog", catalog).namespaces
    )  # (hdmf reads only their namespace)
    _read_ahead([(reader._group, ns in known) for ns, reader in readers.items()])
    return dict(catalog.load_namespaces(NAMESPACE_DOC, reader=readers))


def _read_ahead(groups: list[tuple[Any, bool]]) -> None:
    """Request the cached documents hdmf will read from ``groups`` together (it reads them one by one).

    Each group comes with whether its namespace is already in the catalog in that version: then hdmf reads
    only its namespace document. Only for consolidated hierarchies (their arrays are listed without a
    request); the store answers hdmf's reads from memory afterwards (see :mod:`.prefetch`).
    """
    legacy: list[str] = []
    current: list[str] = []
    for group, only_namespace in groups:
        if isinstance(group, LegacyGroup):
            if group.v2.consolidated and reads_ahead(group.v2.store):
                legacy.extend(
                    join_key(arr.path, arr.meta.chunk_key((0,) * len(arr.shape)))
                    for name, arr in group.arrays()
                    if name == NAMESPACE_DOC or not only_namespace
                )
        elif getattr(group.metadata, "consolidated_metadata", None) is not None:
            current.extend(
                f"{arr.path}/{arr.metadata.encode_chunk_key((0,) * arr.ndim)}"
                for name, arr in group.arrays()
                if name == NAMESPACE_DOC or not only_namespace
            )
    if legacy:
        groups[0][0].v2.prefetch(legacy)
    if current:
        prefetch_keys(groups[0][0].store, current)


_INT_KINDS = "iu"


def restore_integer_attributes(builder: Any, catalog: NamespaceCatalog) -> None:
    """Give integer attributes back the width their spec declares (``uint32``...):
    JSON keeps only "an integer".

    Walks the builder tree; scalar attributes whose spec dtype is a fixed-width integer type and whose value
    fits it are cast to it (so that an export does not widen ``uint32`` to ``uint64`` with a warning). Arrays
    and floats are left as they are: HDF5 keeps lists of Python ints as int64 and Python floats as float64
    even where the spec asks for less, so casting them would make the Zarr read differ from the HDF5 read.
    """
    type_key = catalog.group_spec_cls.type_key()  # "data_type" in hdmf, "neurodata_type" in NWB
    stack = [builder]
    while stack:
        node = stack.pop()
        attrs = node.attributes
        nd_type, namespace = attrs.get(type_key), attrs.get("namespace")
        if isinstance(nd_type, str) and isinstance(namespace, str):
            try:
                spec = catalog.get_spec(namespace, nd_type)
            except (KeyError, ValueError):  # a type of a namespace that is not loaded: nothing to restore
                spec = None
            if spec is not None:
                _restore(spec, node, type_key)
        stack.extend(getattr(node, "groups", {}).values())
        stack.extend(getattr(node, "datasets", {}).values())


def _restore(spec: Any, node: Any, type_key: str) -> None:
    for attr in spec.attributes:
        value = node.attributes.get(attr.name)
        dtype = _int_dtype(attr.dtype)
        if dtype is not None and value is not None:
            node.attributes[attr.name] = _cast(value, dtype)
    for sub in [*getattr(spec, "groups", []), *getattr(spec, "datasets", [])]:
        if sub.name is None:
            continue
        child = getattr(node, "groups", {}).get(sub.name) or getattr(node, "datasets", {}).get(sub.name)
        if child is not None and child.attributes.get(type_key) is None:
            _restore(sub, child, type_key)


def _int_dtype(spec_dtype: Any) -> np.dtype[Any] | None:
    from .convention import NUMERIC

    if isinstance(spec_dtype, str) and spec_dtype in NUMERIC:
        dtype = np.dtype(NUMERIC[spec_dtype])
        return dtype if dtype.kind in _INT_KINDS else None
    return None


def _cast(value: Any, dtype: np.dtype[Any]) -> Any:
    info = np.iinfo(dtype)
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return dtype.type(value) if info.min <= value <= info.max else value
    return value


@runtime_checkable
class CachesNamespaces(Protocol):
    """An IO that tells the namespace versions its file caches (:class:`~zarrbridge.ZarrIO` does)."""

    def cached_namespace_versions(self) -> dict[str, str]:
        """Each cached namespace with its newest cached version;
        empty when the file cannot be copied as read."""
        ...


def same_cached_namespaces(src_io: HDMFIO, manager: BuildManager) -> bool:
    """Whether ``src_io`` (HDF5, or Zarr of the current convention) caches the namespace
    versions ``manager`` would.

    Only then is copying its builders as read the same as hdmf's export (which builds every container
    again, updating what older specification versions wrote).
    """
    from hdmf.backends.hdf5 import HDF5IO

    source = getattr(src_io, "source", None)
    if isinstance(src_io, CachesNamespaces):
        cached = src_io.cached_namespace_versions()
    elif isinstance(src_io, HDF5IO) and isinstance(source, (str, Path)):
        try:
            cached = HDF5IO.get_namespaces(path=str(source))
        except (OSError, ValueError, KeyError):
            return False
    else:
        return False
    catalog = manager.namespace_catalog
    return bool(cached) and all(
        name in catalog.namespaces and str(catalog.get_namespace(name).version) == str(version)
        for name, version in cached.items()
    )
