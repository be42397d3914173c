"""Reading a zarr hierarchy into HDMF builders, lazily: no array data is loaded except scalars."""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Literal, Protocol, cast

import numpy as np
import zarr
from hdmf.backends.utils import WriteStatusTracker
from hdmf.build import Builder, DatasetBuilder, GroupBuilder, LinkBuilder, ReferenceBuilder
from zarr.core.group import ConsolidatedMetadata, GroupMetadata
from zarr.core.sync import sync

from ..core.integrity import strict_array
from ..core.jsonattrs import from_json_value
from ..core.location import Location
from ..core.names import check_absolute_path, check_name
from ..errors import BrokenLinkError, CorruptMetadataError, NotAZarrStoreError
from .convention import (
    CURRENT_RESERVED,
    DTYPE,
    LINKS,
    MARKER,
    OBJECT_REFERENCE,
    PARENT_RELATIVE_SOURCES,
    REFERENCE,
    REFERENCE_FIELDS,
    TEXT_KINDS,
    parent_relative,
)
from .prefetch import current_keys, prefetch_keys
from .references import (
    BuilderZarrReferenceDataset,
    BuilderZarrTableDataset,
    ZarrNumericDataset,
    ZarrStrDataset,
)

OpenExternal = Callable[[str], "TreeReader"]


class HierarchyRoot(Protocol):
    """What a reader needs of a hierarchy's root group: a ``zarr.Group``, or a legacy zarr v2 group."""

    @property
    def attrs(self) -> Mapping[str, Any]: ...

    def __getitem__(self, path: str, /) -> Any: ...

    def get(self, path: str, /) -> Any:
        """The node at ``path`` below the root, or ``None``."""


class TreeReader:
    """Builds :class:`GroupBuilder`/:class:`DatasetBuilder` objects from one zarr hierarchy."""

    # how arrays are read (set by ZarrIO): see its ``missing_chunks`` and ``max_bytes``
    missing_chunks: Literal["error", "fill"] = "error"
    max_bytes: int | None = None

    def __init__(
        self,
        root: HierarchyRoot,
        *,
        location: Location,
        source: str | None,
        written: WriteStatusTracker,
        open_external: OpenExternal,
        to_container: Callable[[Any], Any],
        ignore: set[str],
    ) -> None:
        self.root = root
        self.location = location
        self.source = source
        self.written = written
        self.open_external = open_external
        self.to_container = to_container
        self.ignore = ignore
        self.built: dict[str, Builder] = {}
        self.scalars: dict[str, Any] = {}  # values of 0-d arrays, fetched together by read_root
        marker = root.attrs.get(MARKER) if isinstance(root, zarr.Group) else None
        # the convention's external sources are relative to the store; zarrbridge 1 wrote them parent-relative
        self.parent_relative_sources = (
            isinstance(marker, dict) and marker.get("version") in PARENT_RELATIVE_SOURCES
        )

    # ------------------------------------------------------------------------------------------ nodes
    def node(self, path: str) -> Any:
        key = path.strip("/")
        if not key:
            return self.root
        try:
            node = self.root[key]
        except KeyError:
            return None
        return self._checked(node)

    def _checked(self, node: Any) -> Any:
        """Arrays read strictly: missing chunks of complete arrays and undecodable chunks are errors, and
        metadata from the consolidated listing is compared with the array's own document on first read."""
        if isinstance(node, zarr.Array):
            strict_array(
                node,
                location=str(self.location),
                verify_metadata=True,
                missing_chunks=self.missing_chunks,
                max_bytes=self.max_bytes,
            )
        return node

    def read_path(self, path: str, referrer: str = "a reference") -> Builder:
        """The builder for the object at absolute ``path`` (read on first use, then cached)."""
        path = "/" + path.strip("/")
        if path in self.built:
            return self.built[path]
        if path != "/":
            check_absolute_path(path, what=f"target of {referrer}")
        node = self.node(path)
        if node is None:
            raise BrokenLinkError(referrer, path, str(self.location))
        name = posixpath.basename(path) or "root"
        if self._is_group(node):
            return self.group(node, name, path)
        return self.dataset(node, name, path)

    def prefetch_scalars(self) -> None:
        """Read every zero-dimensional array of the hierarchy concurrently (one round of store requests).

        Only with consolidated metadata, which lists them without any request; scalars are the only array
        data a read loads, and one request each would dominate opening a file of many small objects.
        """
        consolidated = getattr(getattr(self.root, "metadata", None), "consolidated_metadata", None)
        if consolidated is None:
            return
        paths = [
            key
            for key, meta in consolidated.flattened_metadata.items()
            if getattr(meta, "shape", None) == ()
            and key.strip("/") not in self.ignore
            and not any(key.startswith(f"{ig}/") for ig in self.ignore)
        ]
        arrays = [cast(zarr.Array[Any], self._checked(self.root[p])) for p in paths]

        async def fetch() -> list[Any]:
            return list(await asyncio.gather(*(a._async_array.getitem(()) for a in arrays)))

        for key, value in zip(paths, sync(fetch())):
            self.scalars["/" + key.strip("/")] = value

    def _scalar_value(self, array: zarr.Array[Any], path: str) -> Any:
        value = self.scalars.pop(path, None)
        return array[()] if value is None else value

    def read_ahead(self) -> None:
        """Request together, now, the small objects the read will fetch one by one (see :mod:`.prefetch`)."""
        consolidated = getattr(getattr(self.root, "metadata", None), "consolidated_metadata", None)
        if consolidated is not None:
            prefetch_keys(getattr(self.root, "store", None), current_keys(consolidated, self.ignore))

    def read_root(self) -> GroupBuilder:
        self.read_ahead()
        self.prefetch_scalars()
        builder = self.group(self.root, "root", "/")
        assert isinstance(builder, GroupBuilder)
        return builder

    def _is_group(self, node: Any) -> bool:
        return isinstance(node, zarr.Group)

    def _group_links(self, attrs: dict[str, Any], path: str) -> list[dict[str, Any]]:
        """The validated link entries stored in a group's attributes."""
        return _links(attrs.get(LINKS, []), path)

    def group(self, group: Any, name: str, path: str) -> Builder:
        if path in self.built:
            return self.built[path]
        attrs = dict(group.attrs)
        # references may lead back here: those attributes are resolved once the builder is registered
        later = {k for k, v in attrs.items() if _is_reference(v)}
        builder = GroupBuilder(name, source=self.source)
        set_attributes(builder, self._attributes({k: v for k, v in attrs.items() if k not in later}, path))
        if path != "/":
            builder.location = posixpath.dirname(path)
        self.built[path] = builder
        for key, value in self._attributes({k: attrs[k] for k in later}, path).items():
            builder.set_attribute(key, value)
        for child_name, child in _members(group):
            child = self._checked(child)
            child_path = posixpath.join(path, child_name)
            if child_path.strip("/") in self.ignore:
                continue
            if self._is_group(child):
                builder.set_group(self.group(child, child_name, child_path))
            else:
                builder.set_dataset(self.dataset(child, child_name, child_path))
        for link in self._group_links(attrs, path):
            target = self._link_target(link, path)
            lb = LinkBuilder(target, name=link["name"], source=self.source)
            lb.location = path
            self.written.set_written(lb)
            builder.set_link(lb)
        self.written.set_written(builder)
        return builder

    def dataset(self, array: zarr.Array[Any], name: str, path: str) -> Builder:
        if path in self.built:
            return self.built[path]
        attrs = dict(array.attrs)
        stored = attrs.get(DTYPE)
        kwargs: dict[str, Any] = {"source": self.source, "maxshape": tuple(array.shape)}
        if stored == OBJECT_REFERENCE:
            kwargs["dtype"] = "object"
            if array.ndim == 0:
                kwargs["data"] = ReferenceBuilder(self.read_path(str(self._scalar_value(array, path)), path))
            else:
                kwargs["data"] = BuilderZarrReferenceDataset(array, self._resolver(path), self.to_container)
        elif array.dtype.names is not None:
            ref_fields = [str(f) for f in cast(list[Any], attrs.get(REFERENCE_FIELDS, []))]
            table = BuilderZarrTableDataset(array, ref_fields, self._resolver(path), self.to_container)
            kwargs["dtype"] = table.builder_dtype()  # as HDF5IO reports it: references 'object', text 'utf'
            if array.ndim == 0 and not ref_fields:
                # a scalar compound of plain fields: a 0-d structured array, as HDF5IO returns it
                kwargs["data"] = np.asarray(self._scalar_value(array, path))
            else:  # rows as np.void records (a 0-d one with its references resolved)
                kwargs["data"] = table[()] if array.ndim == 0 else table
        elif _is_string(array):
            kwargs["dtype"] = _string_dtype(stored)
            as_bytes = kwargs["dtype"] == "ascii"  # ascii reads as bytes, as HDF5IO returns it
            if array.ndim == 0:
                text = str(self._scalar_value(array, path))
                kwargs["data"] = text.encode("utf-8") if as_bytes else text
            else:
                kwargs["data"] = ZarrStrDataset(array, as_bytes=as_bytes)
        else:
            kwargs["dtype"] = array.dtype
            kwargs["data"] = self._scalar_value(array, path) if array.ndim == 0 else ZarrNumericDataset(array)
        builder = DatasetBuilder(name, **kwargs)
        set_attributes(builder, self._attributes(attrs, path))
        builder.location = posixpath.dirname(path)
        self.built[path] = builder
        self.written.set_written(builder)
        return builder

    # ------------------------------------------------------------------------------------------ values
    def _resolver(self, referrer: str) -> Callable[[str], Builder]:
        return lambda p: self.read_path(p, referrer)

    def _attributes(self, attrs: dict[str, Any], path: str) -> dict[str, Any]:
        out = {}
        for key, value in attrs.items():
            if key in CURRENT_RESERVED:
                continue
            out[key] = self._attribute(value, f"attribute {key!r} of {path!r}")
        return out

    def _attribute(self, value: Any, referrer: str) -> Any:
        if isinstance(value, dict) and REFERENCE in value:
            return self._reference(value[REFERENCE], referrer)
        if _is_reference(value):
            return [self._reference(v[REFERENCE], referrer) for v in value]
        return from_json_value(value)

    def _reference(self, ref: Any, referrer: str) -> Builder:
        if not isinstance(ref, dict) or not isinstance(ref.get("path"), str):
            raise CorruptMetadataError(referrer, f"malformed reference {ref!r}", str(self.location))
        source = ref.get("source", ".")
        if source in (".", "", None):
            return self.read_path(ref["path"], referrer)
        return self._other_file(source, ref["path"], referrer)

    def _link_target(self, link: dict[str, Any], path: str) -> Builder:
        source = link.get("source", ".")
        referrer = f"link {link['name']!r} in {path!r}"
        if source in (".", "", None):
            return self.read_path(link["path"], referrer)
        return self._other_file(source, link["path"], referrer)

    def _other_file(self, source: str, target: str, referrer: str) -> Builder:
        """The builder at ``target`` in the other file ``source``; a missing file is a BrokenLinkError."""
        stored = source
        if not self.parent_relative_sources:
            source = parent_relative(source, self.location.name)  # the form open_external resolves
        try:
            reader = self.open_external(source)
        except NotAZarrStoreError as exc:
            raise BrokenLinkError(
                f"{referrer} of {self.location}",
                target,
                exc.location,
                hint=f"The file it links to ({stored!r} relative to {self.location}) is not there: restore "
                "it, or export the linking file again with the data copied (export copies by default).",
            ) from exc
        return reader.read_path(target, f"{referrer} of {self.location}")


def set_attributes(builder: GroupBuilder | DatasetBuilder, attributes: dict[str, Any]) -> None:
    """Give a new builder its attributes: what ``set_attribute`` does for each, in one step.

    hdmf validates the arguments of every ``set_attribute`` call (docval), and a builder's constructor calls
    it once per attribute; those checks were a third of reading a file of many small objects. A group also
    records each attribute name in ``obj_type``, as ``GroupBuilder.set_attribute`` does, so later name clashes
    between attributes and children are still refused by hdmf.
    """
    builder.attributes.update(attributes)
    if isinstance(builder, GroupBuilder):
        builder.obj_type.update(dict.fromkeys(attributes, "attributes"))


def _is_reference(value: Any) -> bool:
    """Whether an attribute value is a stored reference or a list of them."""
    if isinstance(value, dict):
        return REFERENCE in value
    return (
        isinstance(value, list) and bool(value) and all(isinstance(v, dict) and REFERENCE in v for v in value)
    )


def _links(value: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(
        isinstance(v, dict) and isinstance(v.get("name"), str) and isinstance(v.get("path"), str)
        for v in value
    ):
        raise CorruptMetadataError(f"{path}/{LINKS}", "expected a list of {name, source, path} objects")
    for link in value:
        check_name(link["name"], what=f"name of a link in {path!r}")
        check_absolute_path(link["path"], what=f"target of link {link['name']!r} in {path!r}")
    return value


def _is_string(array: zarr.Array[Any]) -> bool:
    return array.dtype.kind in "TUSO"


def _string_dtype(stored: Any) -> str:
    kind = TEXT_KINDS.get(stored, "str") if isinstance(stored, str) else "str"
    return {"str": "text", "ascii": "ascii", "isodatetime": "isodatetime"}[kind]


def _members(group: Any) -> list[tuple[str, Any]]:
    """The children of ``group``; from its consolidated metadata when it has some (no store request).

    zarr's ``Group.members()`` costs an event-loop round trip per group even then, which added up to a
    large part of reading files of many small groups, and a listing request for a group without children
    (zarr records no consolidated metadata for those).
    """
    consolidated = getattr(getattr(group, "metadata", None), "consolidated_metadata", None)
    if not isinstance(group, zarr.Group) or consolidated is None:
        return list(group.members())
    out: list[tuple[str, Any]] = []
    for name, meta in consolidated.metadata.items():
        check_name(name, what=f"member of {'/' + group.path.strip('/')!r} in the consolidated metadata")
        where = group.store_path / name
        if isinstance(meta, GroupMetadata):
            if meta.consolidated_metadata is None:  # zarr leaves it unset on a group with no children
                meta = replace(meta, consolidated_metadata=ConsolidatedMetadata(metadata={}))
            out.append((name, zarr.Group(zarr.AsyncGroup(metadata=meta, store_path=where))))
        else:
            out.append((name, zarr.Array(zarr.AsyncArray(metadata=meta, store_path=where))))
    return out
