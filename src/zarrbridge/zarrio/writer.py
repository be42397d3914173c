"""Writing a tree of HDMF builders to a zarr hierarchy, each metadata document once."""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np
import zarr
from hdmf.backends.utils import WriteStatusTracker
from hdmf.build import Builder, DatasetBuilder, GroupBuilder, LinkBuilder, ReferenceBuilder
from hdmf.container import Container
from hdmf.data_utils import AbstractDataChunkIterator, DataIO
from zarr.abc.store import Store
from zarr.core.buffer import Buffer, default_buffer_prototype
from zarr.core.group import GroupMetadata
from zarr.core.sync import sync
from zarr.storage import MemoryStore

from ..core.arrays import ArrayPolicy, copy_array, create_array
from ..core.chunkio import group_document, json_buffer, small_array
from ..core.inline import InlineTable, layout_of, unwrapped
from ..core.integrity import fill_missing_chunks
from ..core.location import Location
from ..core.names import check_absolute_path
from ..core.transfer import copy_store, put_many
from ..errors import BrokenLinkError, CodecNotMappedWarning, UnsupportedDtypeError
from .builderpaths import builder_path
from .convention import (
    DTYPE,
    LINKS,
    OBJECT_REFERENCE,
    REFERENCE_FIELDS,
    is_ref_dtype,
    numpy_dtype_for,
    spec_dtype_name,
    store_relative,
    string_kind,
)
from .copying import CopySettings, copy_source, plan_copy
from .dataio import ZarrDataIO
from .dims import ARRAY_DIMENSIONS
from .iterwrite import exhaust
from .sources import (
    TextSource,
    Typed,
    dtype_label,
    holds_references,
    is_text,
    keep_chunks,
    policy_from_dataio,
    store_location,
)
from .values import STRING_DTYPE, attribute_json, compound_array, reference_paths, text_array

_log = logging.getLogger(__name__)

ROOT_DOCUMENTS = ("zarr.json", ".zgroup", ".zattrs", ".zmetadata")
SMALL_BYTES = 1 << 20  # on-disk source arrays up to this size are read whole and staged in memory
PENDING_BYTES = 64 << 20  # encoded small nodes held in memory before they are written to the store


@dataclass
class WriteOptions:
    link_data: bool = True
    exhaust_dci: bool = True
    export_source: str | None = None
    zarr_format: Literal[2, 3] = 3
    copy: CopySettings = field(default_factory=CopySettings)
    export_store: Store | None = None  # the store of the ZarrIO being exported (its arrays are copied)
    number_of_jobs: int = 1  # threads writing the chunks of DataChunkIterators


@dataclass
class TreeWriter:
    """Writes one builder tree; groups are written after their children, the root last."""

    store: Store
    location: Location
    written: WriteStatusTracker
    options: WriteOptions
    existing: zarr.Group | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    dci_queue: deque[tuple[zarr.Array[Any], AbstractDataChunkIterator]] = field(default_factory=deque)
    container_path: Any = None  # callable Container -> Builder, set by ZarrIO
    unmapped: list[tuple[str, str]] = field(default_factory=list)  # (dataset path, source filter name)
    stage: Store | None = None  # in-memory store for small nodes during a fresh write
    pending: dict[str, Buffer] = field(default_factory=dict)  # encoded small nodes of a fresh write, by key
    pending_bytes: int = 0
    # small chunks also carried in the root document (zarrbridge.core.inline): fresh writes only
    inline: InlineTable = field(default_factory=InlineTable)
    dims: dict[int, tuple[str, ...]] = field(default_factory=dict)  # dimension names by id(DatasetBuilder)
    current_dims: tuple[str, ...] | None = None  # those of the dataset being written

    # ----------------------------------------------------------------------------------------- helpers
    def path_of(self, value: Any) -> str:
        if isinstance(value, Container):
            if self.container_path is None:
                raise BrokenLinkError("a reference", repr(value), hint="The container has not been built.")
            value = self.container_path(value)
        if isinstance(value, ReferenceBuilder):
            value = value.builder
        if not isinstance(value, Builder):
            raise UnsupportedDtypeError(
                "a reference", type(value).__name__, "References must point to HDMF containers or builders."
            )
        return check_absolute_path(builder_path(value), what="reference target")

    def _attrs(self, builder: Builder, path: str) -> dict[str, Any]:
        return {
            k: attribute_json(v, self.path_of, f"attribute {k!r} of {path!r}")
            for k, v in builder.attributes.items()
        }

    def _exists(self, path: str) -> bool:
        return self.existing is not None and path.strip("/") in self.existing

    # ----------------------------------------------------------------------------------------- groups
    def write_root(self, builder: GroupBuilder, extra_attrs: dict[str, Any]) -> dict[str, Any]:
        """Write everything below the root; return the root's attributes (written by the caller, last)."""
        links = self._links_of(builder)
        attrs = self._attrs(builder, "/")
        if links:
            attrs[LINKS] = links
        attrs.update(extra_attrs)
        # small nodes are built in memory and moved to the store in one concurrent pass: their cost is the
        # store's per-object latency, not bytes
        self.stage = MemoryStore() if self.existing is None else None
        self._children(builder, "")
        self.written.set_written(builder)
        self._exhaust()
        if self.stage is not None:
            self._flush()
            # zarr wrote implicit parent groups (the root among them) into the stage beside the arrays it
            # created there: the store's groups are those written above with their attributes, the root stays
            # the caller's (marked incomplete)
            copy_store(self.stage, self.store, exclude={*ROOT_DOCUMENTS, *_group_documents(self.stage)})
            self.stage = None
        return attrs

    def _put(self, name: str, documents: dict[str, Buffer]) -> None:
        """Queue the encoded documents and chunks of node ``name``; written in batches by :meth:`_flush`."""
        for key, value in documents.items():
            self.pending[f"{name}/{key}"] = value
            self.pending_bytes += len(value)
        if self.pending_bytes > PENDING_BYTES:
            self._flush()

    def _flush(self) -> None:
        put_many(self.store, self.pending)
        self.pending, self.pending_bytes = {}, 0

    def _dimension_names(self, shape: tuple[int, ...], attrs: dict[str, Any]) -> list[str] | None:
        """The current dataset's dimension names if they fit ``shape``, also set as ``_ARRAY_DIMENSIONS``."""
        names = self.current_dims
        if not names or len(names) != len(shape):
            return None
        attrs[ARRAY_DIMENSIONS] = list(names)
        return list(names)

    def _write_values(
        self, name: str, values: np.ndarray[Any, Any], dtype: Any, policy: ArrayPolicy, attrs: dict[str, Any]
    ) -> None:
        """Create ``name`` holding the in-memory ``values`` (in the staging store when there is one).

        In a fresh write, small arrays are encoded in this thread (:mod:`zarrbridge.core.chunkio`) and queued;
        the rest go through zarr.
        """
        names = self._dimension_names(values.shape, attrs)
        if self.stage is not None:
            small = small_array(values.shape, dtype, policy, attrs, zarr_format=self.options.zarr_format)
            if small is not None:
                if names is not None:
                    small.document["dimension_names"] = names
                encoded = small.encode(values)
                self._put(name, encoded)
                self.metadata[name] = small.document
                layout = layout_of(
                    shape=small.shape,
                    chunks=small.chunks,
                    dtype=small.template.dtype.to_native_dtype(),
                    codecs=small.template.codecs,
                )
                self.inline.add(name, layout, encoded)
                return
        arr = self._create(name, values.shape, dtype, policy, attrs, store=self.stage)
        if values.size:
            arr[...] = values
        self.metadata[name] = arr.metadata

    def _children(self, builder: GroupBuilder, path: str) -> None:
        for sub in builder.groups.values():
            self._group(sub, f"{path}/{sub.name}")
        for sub in builder.datasets.values():
            self._dataset(sub, f"{path}/{sub.name}")

    def _links_of(self, builder: GroupBuilder) -> list[dict[str, str]]:
        """The ``_LINKS`` entries a group gets: its link builders and datasets that link zarr arrays."""
        links: list[dict[str, str]] = []
        for sub in builder.datasets.values():
            if self.written.get_written(sub):
                continue
            data, link_data, asked = sub.data, self.options.link_data, False
            if isinstance(data, ZarrDataIO):
                data, link_data, asked = data.data, data.link_data, data.link_data
            if isinstance(data, zarr.Array) and link_data:
                if not asked and self._exported_in_place(data, builder_path(sub)):
                    continue  # export copies the source's own datasets, as HDF5IO's export does
                links.append(self._zarr_link(sub.name, data))
                self.written.set_written(sub)
        for sub in builder.links.values():
            if not self.written.get_written(sub):
                links.append(self._link(sub))
                self.written.set_written(sub)
        return links

    def _in_export_source(self, data: zarr.Array[Any]) -> bool:
        """Whether ``data`` is an array of the file being exported."""
        store = unwrapped(data.store)  # (a file read with its small chunks in the root: the file's store)
        if self.options.export_store is not None and store is self.options.export_store:
            return True
        source = self.options.export_source
        return source is not None and store_location(store) == Location.parse(source)

    def _exported_in_place(self, data: zarr.Array[Any], path: str) -> bool:
        """Whether ``data`` is the export source's own array at ``path``: copied, not linked.

        As with ``HDF5IO.export`` and hdmf-zarr: during an export, datasets of the source file are copied
        to the same path; a dataset of the source found at another path becomes a soft link, one of another
        file stays an external link (``link_data=True``, hdmf's default).
        """
        return self._in_export_source(data) and "/" + data.path.strip("/") == path

    def _group(self, builder: GroupBuilder, path: str) -> None:
        links = self._links_of(builder)
        if self.written.get_written(builder):
            if links:  # links added to a group that is already in the file (append)
                assert self.existing is not None
                group = self.existing[path.strip("/")]
                group.attrs[LINKS] = [*cast(list[Any], group.attrs.get(LINKS, [])), *links]
        else:
            attrs = self._attrs(builder, path)
            if links:
                attrs[LINKS] = links
            # each group document is written once; zarr never creates parents implicitly
            name = path.strip("/")
            if self.stage is not None and self.options.zarr_format == 3:
                self.metadata[name] = document = group_document(attrs)
                self._put(name, {"zarr.json": json_buffer(document)})
            elif self.stage is not None:
                meta = GroupMetadata(attributes=attrs, zarr_format=self.options.zarr_format)
                self._put(name, meta.to_buffer_dict(default_buffer_prototype()))
                self.metadata[name] = meta
            else:
                group = zarr.create_group(
                    self.store,
                    path=name,
                    attributes=attrs,
                    zarr_format=self.options.zarr_format,
                    overwrite=self._exists(path),
                )
                self.metadata[name] = group.metadata
            self.written.set_written(builder)
        self._children(builder, path)

    def _link(self, builder: LinkBuilder) -> dict[str, str]:
        target = builder.builder
        target_path = check_absolute_path(builder_path(target), what=f"target of link {builder.name!r}")
        same = target.source is None or target.source in (
            builder.source,
            self.options.export_source,
            str(self.location),
        )
        if same or self.location.kind == "store":
            return {"name": builder.name, "source": ".", "path": target_path}
        src = Location.parse(target.source)
        return {"name": builder.name, "source": self._source_of(src), "path": target_path}

    # ----------------------------------------------------------------------------------------- datasets
    def _dataset(self, builder: DatasetBuilder, path: str) -> None:
        if self.written.get_written(builder):
            return
        self.current_dims = self.dims.get(id(builder))
        data, policy, link_data = builder.data, ArrayPolicy(), self.options.link_data
        if isinstance(data, ZarrDataIO):
            policy, link_data, data = data.policy, data.link_data, data.data
        elif isinstance(data, DataIO):
            policy = policy_from_dataio(data)
            link_data = getattr(data, "link_data", link_data)
            data = data.data if data.data is not None or not data.valid else None
        what = f"dataset {path!r}"
        attrs = self._attrs(builder, path)
        dtype = spec_dtype_name(builder.dtype)
        name = path.strip("/")
        arr: zarr.Array[Any] | None
        if isinstance(dtype, list):
            values, ref_fields = compound_array(dtype, data, self.path_of, what)
            if ref_fields:
                attrs[REFERENCE_FIELDS] = ref_fields
            self._write_values(name, values, values.dtype, policy, attrs)
            arr = None
        elif is_ref_dtype(dtype) or holds_references(data):
            values = reference_paths(data, self.path_of)
            attrs[DTYPE] = OBJECT_REFERENCE
            self._write_values(name, values, STRING_DTYPE, policy, attrs)
            arr = None
        elif isinstance(data, AbstractDataChunkIterator):
            arr = self._iterator_array(name, data, dtype, policy, attrs, what)
        elif data is None:
            shape = builder.data.shape if isinstance(builder.data, DataIO) else ()
            np_dtype = (
                STRING_DTYPE
                if string_kind(dtype)
                else numpy_dtype_for(dtype or builder.data.dtype, None, what)
            )
            attrs[DTYPE] = dtype_label(dtype, np_dtype)
            arr = self._create(name, tuple(shape or ()), np_dtype, policy, attrs)
            fill_missing_chunks(arr)  # declared but not written: the fill value is its content
        elif string_kind(dtype) or is_text(data):
            kind = string_kind(dtype) or "str"
            attrs[DTYPE] = kind
            on_disk = hasattr(data, "shape") and hasattr(data, "dtype") and not isinstance(data, np.ndarray)
            if on_disk and (self.stage is None or math.prod(data.shape) * 16 > SMALL_BYTES):
                arr = self._create(name, tuple(data.shape), STRING_DTYPE, keep_chunks(policy, data), attrs)
                copy_array(TextSource(data, what), arr)
            elif on_disk:  # small: read whole and staged like text given in memory (same documents)
                values = TextSource(data, what)[()]
                self._write_values(name, values, STRING_DTYPE, keep_chunks(policy, data), attrs)
                arr = None
            else:
                values = text_array(data, what)
                self._write_values(name, values, STRING_DTYPE, policy, attrs)
                arr = None
        elif hasattr(data, "shape") and hasattr(data, "dtype") and not isinstance(data, np.ndarray):
            # an array on disk (zarr, h5py...): copy it block by block with bounded memory
            np_dtype = numpy_dtype_for(dtype, data, what)
            attrs[DTYPE] = dtype_label(dtype, np_dtype)
            arr = self._copy_on_disk(name, data, np.dtype(np_dtype), policy, attrs)
        else:
            values = np.asarray(data)
            np_dtype = numpy_dtype_for(dtype, values, what)
            attrs[DTYPE] = dtype_label(dtype, np_dtype)
            self._write_values(name, values.astype(np_dtype, copy=False), np_dtype, policy, attrs)
            arr = None
        if arr is not None:
            self.metadata[name] = arr.metadata
        self.written.set_written(builder)
        if self.options.exhaust_dci:
            self._exhaust()

    def _copy_on_disk(
        self, name: str, data: Any, np_dtype: np.dtype[Any], policy: ArrayPolicy, attrs: dict[str, Any]
    ) -> zarr.Array[Any] | None:
        """Create ``name`` laid out like the on-disk source ``data`` (unless ``policy`` says otherwise),
        copy it."""
        settings = self.options.copy
        plan = plan_copy(data, dtype=np_dtype, settings=settings, zarr_format=self.options.zarr_format)
        raw = plan.raw
        if policy != ArrayPolicy():  # the user's ZarrDataIO settings win over the source's layout
            plan_policy, raw = keep_chunks(policy, data), None
        else:
            plan_policy = plan.policy
        for filter_name in plan.unmapped:
            self.unmapped.append(("/" + name, filter_name))
            warnings.warn(CodecNotMappedWarning(f"/{name}", filter_name), stacklevel=2)
        nbytes = math.prod(data.shape) * max(1, np_dtype.itemsize)
        # read whole, stage in memory (except a virtual view's referenced datasets: zarrio/virtual.py)
        if nbytes <= SMALL_BYTES and self.stage is not None and raw != "reference":
            _log.info(
                "copying /%s %s: read whole and encoded in memory, chunks %s, compressors %s",
                name,
                tuple(data.shape),
                plan_policy.chunks,
                plan_policy.compressors,
            )
            values = np.asarray(data[()]).astype(np_dtype, copy=False)
            self._write_values(name, values, np_dtype, plan_policy, attrs)
            if settings.progress is not None:
                settings.progress(int(values.nbytes))
            return None
        arr = self._create(name, tuple(data.shape), np_dtype, plan_policy, attrs)
        copy_source(data, arr, raw=raw, settings=settings)
        return arr

    def _zarr_link(self, name: str, data: zarr.Array[Any]) -> dict[str, str]:
        target = check_absolute_path("/" + data.path.strip("/"), what=f"target of link {name!r}")
        store = unwrapped(data.store)
        if store is self.store or self.location.kind == "store" or self._in_export_source(data):
            return {"name": name, "source": ".", "path": target}
        other = store_location(store)
        if other is None:
            raise BrokenLinkError(
                name,
                target,
                hint="Linking needs the target array to live at a path or URL; "
                "use ZarrDataIO(..., link_data=False) to copy it instead.",
            )
        if other == self.location:
            return {"name": name, "source": ".", "path": target}
        return {"name": name, "source": self._source_of(other), "path": target}

    def _source_of(self, other: Location) -> str:
        """The ``source`` of an external link to ``other``: relative to this store itself (the convention)."""
        return store_relative(other.relative_to(self.location), self.location.name)

    def _create(
        self,
        name: str,
        shape: tuple[int, ...],
        dtype: Any,
        policy: ArrayPolicy,
        attrs: dict[str, Any],
        *,
        store: Store | None = None,
    ) -> zarr.Array[Any]:
        names = self._dimension_names(shape, attrs)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have a Zarr V3 specification.*")
            return create_array(
                store or self.store,
                name,
                shape=shape,
                dtype=dtype,
                policy=policy,
                attributes=attrs,
                zarr_format=self.options.zarr_format,
                overwrite=self._exists(name),
                dimension_names=names,
            )

    # ----------------------------------------------------------------------------------------- iterators
    def _iterator_array(
        self,
        name: str,
        dci: AbstractDataChunkIterator,
        dtype: Any,
        policy: ArrayPolicy,
        attrs: dict[str, Any],
        what: str,
    ) -> zarr.Array[Any]:
        np_dtype = (
            STRING_DTYPE
            if string_kind(dtype)
            else numpy_dtype_for(dtype or dci.dtype, Typed(dci.dtype), what)
        )
        maxshape = tuple(dci.maxshape)
        start = tuple(int(m) if m is not None else 0 for m in maxshape)
        if policy.chunks is None:
            rec = dci.recommended_chunk_shape()
            if rec is not None:
                policy = ArrayPolicy(
                    chunks=tuple(rec),
                    shards=policy.shards,
                    compressors=policy.compressors,
                    filters=policy.filters,
                    fill_value=policy.fill_value,
                )
            elif None in maxshape:
                buf = dci.recommended_data_shape()
                policy = ArrayPolicy(
                    chunks=tuple(max(1, int(b)) for b in buf),
                    shards=policy.shards,
                    compressors=policy.compressors,
                    filters=policy.filters,
                    fill_value=policy.fill_value,
                )
        attrs[DTYPE] = dtype_label(dtype, np_dtype)
        arr = self._create(name, start, np_dtype, policy, attrs)
        self.dci_queue.append((arr, dci))
        return arr

    def _exhaust(self) -> None:
        """Write the queued iterators (round robin; chunk writes on ``number_of_jobs`` threads)."""
        if not self.dci_queue:
            return
        for arr in exhaust(self.dci_queue, jobs=self.options.number_of_jobs):
            self.metadata[arr.path] = arr.metadata


def _group_documents(stage: Store) -> set[str]:
    """The keys of group documents in ``stage`` (zarr's implicit parents of the arrays created there)."""

    async def keys() -> list[str]:
        return [key async for key in stage.list()]

    found = sync(keys())
    groups = {k.rsplit("/", 1)[0] for k in found if k.endswith(".zgroup")}
    out = {f"{g}/{name}" for g in groups for name in (".zgroup", ".zattrs")}
    for key in found:
        if key.endswith("zarr.json"):
            raw = sync(stage.get(key, default_buffer_prototype()))
            if raw is not None and json.loads(raw.to_bytes()).get("node_type") == "group":
                out.add(key)
    return out
