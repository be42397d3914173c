"""Dimension names for xarray and other generic zarr tools, from the specification's ``dims``.

Every dataset whose shape matches one of the shapes its specification declares gets that shape's ``dims``
(hdmf-zarr does the same since its pull request 207). xarray needs a name for every axis of every array of a
group it opens, and one size per name within a group, so:

- an axis without a declared name is called ``<dataset>_dim<i>``;
- a name that repeats within one array gets a suffix (``num_electrodes``, ``num_electrodes_1``): the zarr v3
  specification requires distinct names per array;
- a name another dataset of the same group (datasets taken by name) or of an ancestor group already uses
  with another length becomes ``<name>_<dataset>`` (a ragged column and its index in a table, for
  instance): xarray's DataTree needs one size per name along each path.

They are written as the v3 array's ``dimension_names`` and, as hdmf-zarr writes them, the attribute
``_ARRAY_DIMENSIONS`` (the only place for them in zarr format 2); readers strip the attribute before
attributes reach HDMF builders.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from hdmf.build import Builder, DatasetBuilder, GroupBuilder, ReferenceBuilder
from hdmf.container import Container
from hdmf.data_utils import AbstractDataChunkIterator, DataIO
from hdmf.spec import NamespaceCatalog
from hdmf.utils import get_data_shape

from .convention import ARRAY_DIMENSIONS

__all__ = ["ARRAY_DIMENSIONS", "dimension_names"]

Shape = tuple[int | None, ...]


def dimension_names(root: GroupBuilder, catalog: NamespaceCatalog) -> dict[int, tuple[str, ...]]:
    """The dimension names of every dataset builder below ``root`` with one or more axes,
    by ``id(builder)``."""
    type_key = catalog.group_spec_cls.type_key()
    out: dict[int, tuple[str, ...]] = {}
    inherited: dict[int, dict[str, int | None]] = {}  # sizes by name seen in a group and its ancestors
    for group, parent, specs in _groups_with_specs(root, catalog, type_key):
        sizes = dict(inherited.get(id(parent), {}))
        renamed: dict[tuple[str, int | None], str] = {}
        for name, builder in sorted(group.datasets.items()):  # by name: the same whatever the read order
            shape = _shape_of(builder)
            if not shape:
                continue
            spec = specs.get(name) or _type_spec(builder, catalog, type_key)
            declared = _declared(spec, shape) if spec is not None else None
            names = _unique([d or f"{name}_dim{i}" for i, d in enumerate(declared or [None] * len(shape))])
            final = [_fitting(dim, size, name, sizes, renamed) for dim, size in zip(names, shape)]
            out[id(builder)] = tuple(_unique(final))
        inherited[id(group)] = sizes
    return out


def _fitting(
    dim: str,
    size: int | None,
    dataset: str,
    sizes: dict[str, int | None],
    renamed: dict[tuple[str, int | None], str],
) -> str:
    """``dim``, or a new name when the group (or an ancestor) already has ``dim`` with another length."""
    if (dim, size) in renamed:
        return renamed[(dim, size)]
    candidate, n = dim, 0
    while candidate in sizes and None not in (sizes[candidate], size) and sizes[candidate] != size:
        n += 1
        candidate = f"{dim}_{dataset}" if n == 1 else f"{dim}_{dataset}_{n}"
    if candidate != dim:
        renamed[(dim, size)] = candidate
    sizes.setdefault(candidate, size)
    return candidate


def _groups_with_specs(
    root: GroupBuilder, catalog: NamespaceCatalog, type_key: str
) -> Iterator[tuple[GroupBuilder, GroupBuilder | None, dict[str, Any]]]:
    """Each group from ``root`` down (parents first), its parent, and the specs of its named datasets."""
    stack: list[tuple[GroupBuilder, GroupBuilder | None, Any]] = [(root, None, None)]
    while stack:
        node, parent, node_spec = stack.pop()
        own = _type_spec(node, catalog, type_key)
        node_spec = own if own is not None else node_spec
        datasets = {s.name: s for s in getattr(node_spec, "datasets", []) if s.name is not None}
        groups = {s.name: s for s in getattr(node_spec, "groups", []) if s.name is not None}
        yield node, parent, datasets
        for name, sub in node.groups.items():
            stack.append((sub, node, groups.get(name)))


def _type_spec(builder: Builder, catalog: NamespaceCatalog, type_key: str) -> Any:
    nd_type, namespace = builder.attributes.get(type_key), builder.attributes.get("namespace")
    if not isinstance(nd_type, str) or not isinstance(namespace, str):
        return None
    try:
        return catalog.get_spec(namespace, nd_type)
    except (KeyError, ValueError):  # a type of a namespace that is not loaded
        return None


def _declared(spec: Any, shape: Shape) -> Sequence[str | None] | None:
    """The ``dims`` of the first declared shape ``shape`` matches (fewest open axes first, as hdmf picks)."""
    shapes, dims = getattr(spec, "shape", None), getattr(spec, "dims", None)
    if shapes is None or dims is None:
        return None
    if shapes and not isinstance(shapes[0], (list, tuple)):
        shapes, dims = [shapes], [dims]
    matches = [
        (sum(s is None for s in declared), i)
        for i, declared in enumerate(shapes)
        if len(declared) == len(shape)
        and all(d is None or s is None or int(d) == s for d, s in zip(declared, shape))
    ]
    if not matches or len(dims) <= min(matches)[1]:
        return None
    chosen = dims[min(matches)[1]]
    return [str(d) if d else None for d in chosen] if len(chosen) == len(shape) else None


def _unique(names: list[str]) -> list[str]:
    """``names`` with repeats suffixed ``_1``, ``_2``... (distinct within one array)."""
    out: list[str] = []
    for name in names:
        candidate, n = name, 0
        while candidate in out:
            n += 1
            candidate = f"{name}_{n}"
        out.append(candidate)
    return out


def _shape_of(builder: DatasetBuilder) -> Shape | None:
    """The shape the dataset is written with (``None`` axes for iterators that may grow)."""
    data = builder.data
    if isinstance(data, DataIO):
        if data.data is None:
            shape = getattr(data, "shape", None)
            return tuple(int(s) for s in shape) if shape is not None else None
        data = data.data
    if isinstance(data, AbstractDataChunkIterator):
        return tuple(int(m) if m is not None else None for m in data.maxshape)
    if data is None or isinstance(data, (str, bytes, ReferenceBuilder, Container, Builder, np.generic)):
        return ()
    if isinstance(builder.dtype, list) or _is_references(data):
        return (len(data),) if not hasattr(data, "shape") else tuple(int(s) for s in data.shape)
    if hasattr(data, "shape"):
        return tuple(int(s) for s in data.shape)
    if isinstance(data, (list, tuple)):
        return tuple(int(s) for s in get_data_shape(data))
    return ()


def _is_references(data: Any) -> bool:
    if isinstance(data, (list, tuple)) and data:
        return isinstance(data[0], (ReferenceBuilder, Container, Builder))
    return False
