"""Walk an HDMF builder tree (from ZarrIO or HDF5IO) into flat node records for ``tree`` and ``info``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from .storage import StorageDetails, storage_details

__all__ = ["Node", "builder_path", "walk"]

NodeKind = Literal["group", "dataset", "link"]


@dataclass(frozen=True)
class Node:
    """One group, dataset or link of a file.

    ``references`` counts the object references the node holds: reference-valued attributes, plus one for a
    dataset of references (its elements are not read).
    """

    path: str
    name: str
    kind: NodeKind
    depth: int
    neurodata_type: str | None = None
    namespace: str | None = None
    target: str | None = None
    storage: StorageDetails | None = None
    references: int = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "kind": self.kind,
            "neurodata_type": self.neurodata_type,
            "namespace": self.namespace,
            "references": self.references,
        }
        if self.kind == "link":
            out["target"] = self.target
        if self.storage is not None:
            out.update(self.storage.to_dict())
        return out


def builder_path(builder: Any) -> str:
    """The absolute path of a builder in its file (``/`` for the root)."""
    parts = []
    current = builder
    while current is not None and current.parent is not None:
        parts.append(current.name)
        current = current.parent
    return "/" + "/".join(reversed(parts))


def _is_reference(value: Any) -> bool:
    from hdmf.build import Builder, ReferenceBuilder

    return isinstance(value, (Builder, ReferenceBuilder))


def _count_references(attributes: dict[str, Any]) -> int:
    count = 0
    for value in attributes.values():
        if _is_reference(value):
            count += 1
        elif isinstance(value, (list, tuple)):
            count += sum(1 for v in value if _is_reference(v))
    return count


def _type_of(attributes: dict[str, Any]) -> tuple[str | None, str | None]:
    kind = attributes.get("neurodata_type", attributes.get("data_type"))
    namespace = attributes.get("namespace")
    return (str(kind) if kind is not None else None, str(namespace) if namespace is not None else None)


def _is_reference_dataset(builder: Any) -> bool:
    dtype = builder.dtype
    if (isinstance(dtype, str) and dtype in ("object", "region")) or hasattr(dtype, "reftype"):
        return True
    if isinstance(dtype, list):  # compound: any reference field
        return any(
            isinstance(f, dict)
            and (f.get("dtype") in ("object", "region") or hasattr(f.get("dtype"), "reftype"))
            for f in dtype
        )
    return _is_reference(builder.data)


def walk(root: Any, *, details: bool = True, max_depth: int | None = None) -> Iterator[Node]:
    """Yield the root group and everything below it, depth first, children sorted by name.

    Parameters
    ----------
    root
        The root :class:`hdmf.build.GroupBuilder` (``io.read_builder()``).
    details
        Collect shape, dtype, chunks, codecs and sizes of datasets (never reads array data).
    max_depth
        Stop below this depth (the root has depth 0); ``None`` walks everything.
    """
    yield from _walk_group(root, "/", 0, details, max_depth)


def _walk_group(group: Any, path: str, depth: int, details: bool, max_depth: int | None) -> Iterator[Node]:
    kind, namespace = _type_of(group.attributes)
    name = group.name if depth else "/"
    yield Node(path, name, "group", depth, kind, namespace, references=_count_references(group.attributes))
    if max_depth is not None and depth >= max_depth:
        return
    children: list[tuple[str, str, Any]] = [
        *(("group", n, b) for n, b in group.groups.items()),
        *(("dataset", n, b) for n, b in group.datasets.items()),
        *(("link", n, b) for n, b in group.links.items()),
    ]
    for child_kind, child_name, child in sorted(children, key=lambda item: item[1]):
        child_path = f"{path.rstrip('/')}/{child_name}"
        if child_kind == "group":
            yield from _walk_group(child, child_path, depth + 1, details, max_depth)
        elif child_kind == "dataset":
            yield _dataset_node(child, child_path, depth + 1, details)
        else:
            yield Node(child_path, child_name, "link", depth + 1, target=builder_path(child.builder))


def _dataset_node(builder: Any, path: str, depth: int, details: bool) -> Node:
    kind, namespace = _type_of(builder.attributes)
    references = _count_references(builder.attributes) + (1 if _is_reference_dataset(builder) else 0)
    storage = storage_details(builder.data, builder.dtype) if details else None
    return Node(path, builder.name, "dataset", depth, kind, namespace, storage=storage, references=references)
