"""Reading a legacy hdmf-zarr (zarr v2) hierarchy into HDMF builders, lazily, like :class:`TreeReader`.

Differences from the current convention handled here: ``zarr_dtype`` on every dataset says its kind
(``"scalar"`` datasets are shape ``(1,)``), links are ``zarr_link`` entries, references are records
(``{"zarr_dtype": "object", "value": {...}}`` in attributes, ``ZarrReference`` elements in datasets) whose
``source`` is relative to the store itself, not to its parent.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Callable
from functools import cached_property
from typing import Any

import numpy as np
from hdmf.build import Builder, DatasetBuilder, GroupBuilder, ReferenceBuilder

from ...core.jsonattrs import from_json_value
from ...core.names import check_name
from ...errors import CorruptMetadataError
from ..convention import LEGACY_DTYPE, LEGACY_LINK, RESERVED
from ..prefetch import MAX_ELEMENTS, read_while_building, reads_ahead
from ..reader import TreeReader, set_attributes
from .chunks import V2Array
from .metadata import ArrayMeta, join_key
from .nodes import LegacyGroup
from .views import (
    EXTERNAL,
    LegacyBuilderReferenceDataset,
    LegacyBuilderTableDataset,
    RecordView,
    ReferencePathView,
    reference_target,
)

__all__ = ["LegacyTreeReader"]

_TEXT = {
    "str": "text",
    "str_": "text",
    "text": "text",
    "utf": "text",
    "utf8": "text",
    "utf-8": "text",
    "bytes": "ascii",
    "bytes_": "ascii",
    "ascii": "ascii",
    "isodatetime": "isodatetime",
}


class LegacyTreeReader(TreeReader):
    """Builds builders from a :class:`LegacyGroup` root; same interface as :class:`TreeReader`.

    Parameters
    ----------
    root : LegacyGroup
        The file's root group.
    location : Location
        The file's location.
    source : str, optional
        The source string builders carry (the file's path).
    written : WriteStatusTracker
        HDMF's tracker, marked for every builder read.
    open_external : callable
        Opens the file an external link names.
    to_container : callable
        Turns a builder into its container (for references in attributes).
    ignore : set of str
        Attribute names not passed to the builders.
    """

    @cached_property
    def _sources(self) -> dict[str, str | None]:
        """Legacy external ``source`` strings and what :meth:`_parent_relative` made of them."""
        return {}

    # ------------------------------------------------------------------------------------------ nodes
    def node(self, path: str) -> Any:
        """The group or array at ``path`` relative to the root, or ``None``.

        Parameters
        ----------
        path : str
            A path in the file.

        Returns
        -------
        LegacyGroup, V2Array or None
            The node, or ``None`` when there is none.
        """
        return self.root.get(path)

    def read_path(self, path: str, referrer: str = "a reference") -> Builder:
        """The builder for the object at absolute ``path``; a path into another file (an external link of the
        legacy convention) is read from that file.

        Parameters
        ----------
        path : str
            An absolute path in the file.
        referrer : str
            What points there, named in errors.

        Returns
        -------
        Builder
            The builder.
        """
        if EXTERNAL in path:
            source, _, target = path.partition(EXTERNAL)
            return self._external(source, target, referrer)
        return super().read_path(path, referrer)

    def read_ahead(self) -> None:
        """Request together the scalars and the arrays hdmf reads while building (see :mod:`..prefetch`)."""
        assert isinstance(self.root, LegacyGroup)
        v2 = self.root.v2
        if not reads_ahead(v2.store):
            return
        keys = []
        for path, doc, attrs in v2.consolidated_arrays():
            meta = ArrayMeta.from_document(doc, join_key(path, ".zarray"), v2.where)
            scalar = attrs.get(LEGACY_DTYPE) == "scalar"
            if not (scalar or read_while_building(path, attrs, meta.shape)) or _ignored(path, self.ignore):
                continue
            if 0 in meta.shape or math.prod(meta.chunks) > MAX_ELEMENTS:
                continue
            keys.append(join_key(path, meta.chunk_key((0,) * len(meta.shape))))
        v2.prefetch(keys)

    def read_root(self) -> GroupBuilder:
        """The builder tree of the whole file.

        Returns
        -------
        GroupBuilder
            The root builder.
        """
        self.read_ahead()
        builder = self.group(self.root, "root", "/")
        assert isinstance(builder, GroupBuilder)
        return builder

    def _is_group(self, node: Any) -> bool:
        return isinstance(node, LegacyGroup)

    def _group_links(self, attrs: dict[str, Any], path: str) -> list[dict[str, Any]]:
        return _links(attrs.get(LEGACY_LINK, []), path, str(self.location))

    def dataset(self, array: Any, name: str, path: str) -> Builder:
        """The builder of the dataset ``array`` (read once, then cached by ``path``).

        Parameters
        ----------
        array : V2Array
            The legacy array.
        name : str
            The dataset's name.
        path : str
            Its absolute path in the file.

        Returns
        -------
        Builder
            The dataset builder (or the builder of a link).
        """
        if path in self.built:
            return self.built[path]
        assert isinstance(array, V2Array)
        kind = array.attrs.get(LEGACY_DTYPE)
        kwargs: dict[str, Any] = {"source": self.source, "maxshape": array.shape}
        if kind == "scalar":
            kwargs.update(self._scalar(array, path))
        elif kind == "object":
            if array.dtype != np.dtype(object):
                raise self._corrupt(path, f"zarr_dtype 'object' on a {array.dtype} array")
            kwargs["dtype"] = "object"
            kwargs["data"] = LegacyBuilderReferenceDataset(
                ReferencePathView(array), self._resolver(path), self.to_container
            )
        elif isinstance(kind, list):
            kwargs.update(self._compound(array, kind, path))
        elif array.dtype.hasobject:
            kwargs["dtype"] = (
                _TEXT.get(kind, "ascii" if "vlen-bytes" in array.meta.filter_ids else "text")
                if isinstance(kind, str)
                else "text"
            )
            kwargs["data"] = array
        else:
            kwargs["dtype"] = array.dtype
            kwargs["data"] = array
        builder = DatasetBuilder(name, **kwargs)
        set_attributes(builder, self._attributes(dict(array.attrs), path))
        builder.location = posixpath.dirname(path)
        self.built[path] = builder
        self.written.set_written(builder)
        return builder

    def _scalar(self, array: V2Array, path: str) -> dict[str, Any]:
        if array.shape not in ((1,), ()):
            raise self._corrupt(path, f"zarr_dtype 'scalar' on an array of shape {list(array.shape)}")
        value = array[0] if array.shape else array[()]
        if isinstance(value, dict):  # a scalar reference record
            return {
                "dtype": "object",
                "data": ReferenceBuilder(
                    self.read_path(reference_target(value, path, str(self.location)), path)
                ),
            }
        if array.dtype.hasobject:
            return {"dtype": "ascii" if "vlen-bytes" in array.meta.filter_ids else "text", "data": value}
        return {"dtype": array.dtype, "data": value}

    def _compound(self, array: V2Array, fields: list[Any], path: str) -> dict[str, Any]:
        np_fields: list[tuple[str, Any]] = []
        ref_fields: list[str] = []
        ascii_fields: set[str] = set()
        for field in fields:
            if not isinstance(field, dict) or not isinstance(field.get("name"), str) or "dtype" not in field:
                raise self._corrupt(path, f"malformed compound field {field!r} in zarr_dtype")
            name, dtype = field["name"], field["dtype"]
            if dtype == "object" or (isinstance(dtype, dict) and "reftype" in dtype):
                ref_fields.append(name)
                np_fields.append((name, object))
            elif isinstance(dtype, str) and dtype in _TEXT:
                if _TEXT[dtype] == "ascii":
                    ascii_fields.add(name)
                np_fields.append((name, object))
            else:
                try:
                    np_fields.append((name, np.dtype(dtype)))
                except TypeError as exc:
                    raise self._corrupt(path, f"unknown compound field dtype {dtype!r}") from exc
        view = RecordView(array, np.dtype(np_fields), ref_fields)
        table = LegacyBuilderTableDataset(view, ref_fields, self._resolver(path), self.to_container)
        # HDF5IO's form (references 'object', text 'utf', ascii 'ascii', numeric type names)
        spec = [
            {"name": f["name"], "dtype": "ascii" if f["name"] in ascii_fields else f["dtype"]}
            for f in table.builder_dtype()
        ]
        return {"dtype": spec, "data": table}

    def _corrupt(self, path: str, reason: str) -> CorruptMetadataError:
        return CorruptMetadataError(f"{path}/.zattrs", reason, str(self.location))

    # ------------------------------------------------------------------------------------------ values
    def _resolver(self, referrer: str) -> Callable[[str], Builder]:
        return lambda p: self.read_path(p, referrer)

    def _attributes(self, attrs: dict[str, Any], path: str) -> dict[str, Any]:
        return {
            key: self._attribute(value, f"attribute {key!r} of {path!r}")
            for key, value in attrs.items()
            if key not in RESERVED
        }

    def _attribute(self, value: Any, referrer: str) -> Any:
        if _is_reference(value):
            return self._reference(value, referrer)
        if isinstance(value, list) and value and all(_is_reference(v) for v in value):
            return [self._reference(v, referrer) for v in value]
        if isinstance(value, dict) and LEGACY_DTYPE in value:
            raise CorruptMetadataError(referrer, f"unsupported typed attribute {value!r}", str(self.location))
        return from_json_value(value)

    def _reference(self, ref: Any, referrer: str) -> Builder:
        value = ref.get("value")
        return self.read_path(reference_target(value, referrer, str(self.location)), referrer)

    def _link_target(self, link: dict[str, Any], path: str) -> Builder:
        referrer = f"link {link['name']!r} in {path!r}"
        return self.read_path(reference_target(link, referrer, str(self.location)), referrer)

    # ------------------------------------------------------------------------------------------ other files
    def _external(self, source: str, target: str, referrer: str) -> Builder:
        relative = self._parent_relative(source)
        if relative is None:
            return self.read_path(target, referrer)
        return self.open_external(relative).read_path(target, referrer)

    def _parent_relative(self, source: str) -> str | None:
        """A legacy ``source`` (relative to this store) as the parent-relative form ZarrIO resolves.

        ``None`` when it names this file. Old files wrote it relative to the store's parent: used when
        only that reading finds a zarr hierarchy.
        """
        if source in self._sources:
            return self._sources[source]
        if "://" in source or source.startswith("/") or self.location.kind == "store":
            resolved: str | None = source
        else:
            candidate = posixpath.normpath(posixpath.join(self.location.name, source.replace("\\", "/")))
            if candidate == self.location.name:
                resolved = None
            elif (
                self.location.resolve(candidate).holds_zarr()
                or not self.location.resolve(source).holds_zarr()
            ):
                resolved = candidate
            else:
                resolved = source
        self._sources[source] = resolved
        return resolved


def _ignored(path: str, ignore: set[str]) -> bool:
    key = path.strip("/")
    return key in ignore or any(key.startswith(f"{ig}/") for ig in ignore)


def _is_reference(value: Any) -> bool:
    return isinstance(value, dict) and value.get(LEGACY_DTYPE) == "object" and "value" in value


def _links(value: Any, path: str, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(
        isinstance(v, dict) and isinstance(v.get("name"), str) and isinstance(v.get("path"), str)
        for v in value
    ):
        raise CorruptMetadataError(
            f"{path}/.zattrs {LEGACY_LINK}", "expected a list of {name, source, path} objects", where
        )
    for link in value:
        check_name(link["name"], what=f"name of a link in {path!r} of {where}")
    return value
