"""Describe a legacy fixture from what hdmf-zarr itself reads back (runs in the legacy venv only).

The description is the manifest entry the main test-suite checks: one record per group, dataset and link,
with paths, neurodata types, shapes, dtypes, the raw ``zarr_dtype``/storage settings, and exact values
(small arrays) or checksums (see ``tests/fixtures/legacy/README.md`` for the value encoding).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from hdmf.build import Builder, DatasetBuilder, GroupBuilder, LinkBuilder, ReferenceBuilder
from hdmf_zarr.nwb import NWBZarrIO
from hdmf_zarr.zarr_utils import BuilderZarrReferenceDataset, BuilderZarrTableDataset

MAX_VALUES = 256  # arrays with more elements are described by checksum and head only
HEAD = 8


def builder_path(builder: Builder) -> str:
    """HDMF builder path ``root/a/b`` as the absolute in-file path ``/a/b``."""
    parts = builder.path.split("/")
    return "/" + "/".join(parts[1:]) if len(parts) > 1 else "/"


def builder_file(builder: Builder) -> str:
    """The fixture file (directory name) a builder was read from."""
    return Path(builder.source).name if builder.source else ""


def _ref(builder: Builder, home: str) -> dict[str, str]:
    target = builder.builder if isinstance(builder, (ReferenceBuilder, LinkBuilder)) else builder
    ref = {"path": builder_path(target)}
    if builder_file(target) != home:
        ref["file"] = builder_file(target)
    return ref


def jsonable(value: Any, home: str) -> Any:
    """An attribute or element value as JSON: bytes as UTF-8 text, references as ``{"path": ...}``."""
    if isinstance(value, (Builder, ReferenceBuilder)):
        return {"$ref": _ref(value, home)}
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        return [jsonable(v, home) for v in value.tolist()] if value.ndim else jsonable(value.item(), home)
    if isinstance(value, (list, tuple)):
        return [jsonable(v, home) for v in value]
    if isinstance(value, np.generic):
        return jsonable(value.item(), home)
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # "nan", "inf", "-inf": strict JSON has no such numbers
    return value


def value_sha256(values: Any, array: np.ndarray | None) -> str:
    """Checksum of a dataset's values.

    Numeric and bool arrays: SHA-256 of the C-order, little-endian bytes of the stored dtype. Everything
    else (strings, bytes, references, compounds): SHA-256 of the compact, UTF-8 JSON of the value list.
    """
    if array is not None and array.dtype.kind in "biuf":
        little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        return hashlib.sha256(little.tobytes()).hexdigest()
    text = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _raw_meta(root: zarr.Group, path: str, directory: Path) -> dict[str, Any]:
    raw = root[path.lstrip("/")]
    stored = directory / path.lstrip("/")
    meta: dict[str, Any] = {
        "zarr_shape": list(raw.shape),
        "zarr_dtype": raw.attrs.get("zarr_dtype"),
        "storage_dtype": raw.dtype.descr if raw.dtype.names else raw.dtype.str,
        "chunks": list(raw.chunks),
        "compressor": raw.compressor.get_config() if raw.compressor is not None else None,
        "filters": [f.get_config() for f in raw.filters] if raw.filters else [],
        "n_chunk_files": sum(1 for key in os.listdir(stored) if not key.startswith(".")),
    }
    return meta


def _decode(data: Any, record: dict[str, Any], home: str) -> tuple[Any, np.ndarray | None]:
    """Values as hdmf-zarr returns them, and the numeric array to checksum (if any)."""
    array: np.ndarray | None = None
    if isinstance(data, BuilderZarrReferenceDataset):
        values = [{"$ref": _ref(b, home)} for b in data]
        record["value_kind"] = "references"
    elif isinstance(data, BuilderZarrTableDataset):
        values = [jsonable(list(row), home) for row in data]
        record["value_kind"] = "compound"
        record["fields"] = list(data.dataset.dtype.names or ())
    elif isinstance(data, zarr.Array):
        array = data[...]
        if array.dtype.names:
            values = [jsonable(list(row), home) for row in array.tolist()]
            record["value_kind"] = "compound"
            record["fields"] = list(array.dtype.names)
        elif array.dtype.kind == "O":
            values = jsonable(array, home)
            record["value_kind"] = "compound" if isinstance(record["zarr_dtype"], list) else "strings"
            array = None
        else:
            values = jsonable(array, home)
            record["value_kind"] = "numeric"
    else:  # hdmf-zarr returns scalars (zarr_dtype "scalar") as loaded values, often shape-(1,) arrays
        record["value_kind"] = "scalar"
        record["anchor_scalar_form"] = f"{type(data).__name__}{list(np.shape(data))}"
        scalar = data.reshape(-1)[0] if isinstance(data, np.ndarray) and data.size == 1 else data
        values = jsonable(scalar, home)
        if isinstance(scalar, np.generic) and scalar.dtype.kind in "biuf":
            array = np.asarray(scalar)
    return values, array


def describe_dataset(builder: DatasetBuilder, root: zarr.Group, directory: Path) -> dict[str, Any]:
    """One dataset: raw storage facts plus the values hdmf-zarr decoded."""
    home = directory.name
    path = builder_path(builder)
    record: dict[str, Any] = {"kind": "dataset", "path": path, **_raw_meta(root, path, directory)}
    try:
        values, array = _decode(builder.data, record, home)
    except ValueError as exc:  # hdmf-zarr itself cannot read it back: recorded, and tests know it
        record["anchor_read_error"] = f"{type(exc).__name__}: {exc}"
        record.update(_typed(builder.attributes, home))
        return record
    record["shape"] = (
        list(np.shape(values)) if record["value_kind"] not in ("compound", "references") else [len(values)]
    )
    if record["value_kind"] == "scalar":
        record["shape"] = []
    record["sha256"] = value_sha256(values, array)
    size = int(np.prod(record["zarr_shape"])) if record["zarr_shape"] else 1
    if size <= MAX_VALUES:
        record["values"] = values
    else:
        flat = values if not isinstance(values, list) else values[:HEAD]
        record["head"] = flat
    record.update(_typed(builder.attributes, home))
    return record


def _typed(attributes: dict[str, Any], home: str) -> dict[str, Any]:
    out: dict[str, Any] = {"attributes": {k: jsonable(v, home) for k, v in sorted(attributes.items())}}
    for key in ("neurodata_type", "namespace", "object_id"):
        if key in attributes:
            out[key] = attributes[key]
    return out


def describe(path: Path) -> dict[str, Any]:
    """Read ``path`` with hdmf-zarr and describe every group, dataset and link in it."""
    home = path.name
    root = zarr.open_consolidated(str(path), mode="r")
    records: list[dict[str, Any]] = []
    with NWBZarrIO(str(path), mode="r") as io:
        top = io.read_builder()

        def walk(group: GroupBuilder) -> None:
            gpath = builder_path(group)
            records.append({"kind": "group", "path": gpath, **_typed(group.attributes, home)})
            raw_links = {entry["name"]: entry for entry in root[gpath.lstrip("/")].attrs.get("zarr_link", [])}
            for name in sorted(group.links):
                target = group.links[name].builder
                raw = raw_links[name]
                records.append(
                    {
                        "kind": "link",
                        "path": f"{gpath.rstrip('/')}/{name}",
                        "source": raw["source"],
                        "target_path": raw["path"],
                        "target_kind": "dataset" if isinstance(target, DatasetBuilder) else "group",
                        "target_neurodata_type": target.attributes.get("neurodata_type"),
                    }
                )
            for name in sorted(group.datasets):
                records.append(describe_dataset(group.datasets[name], root, path))
            for name in sorted(group.groups):
                walk(group.groups[name])

        walk(top)
        containers = _containers(io)
    raw_links = {
        f"/{key.rstrip('/')}" if key else "/": value.get("zarr_link")
        for key, value in _raw_group_attrs(root).items()
        if value.get("zarr_link")
    }
    return {"objects": records, "containers": containers, "raw_zarr_link": raw_links}


def _containers(io: NWBZarrIO) -> dict[str, Any]:
    """What pynwb builds on top of the builders: neurodata objects by path (or the error it raised)."""
    try:
        nwbfile = io.read()
    except Exception as exc:  # recorded, not hidden: the manifest says the anchor could not build it
        return {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    found = []
    for obj in nwbfile.objects.values():
        builder = io.manager.get_builder(obj)
        found.append(
            {
                "path": builder_path(builder),
                "neurodata_type": obj.neurodata_type,
                "namespace": obj.namespace,
                "object_id": obj.object_id,
                "name": obj.name,
            }
        )
    return {"objects": sorted(found, key=lambda o: o["path"])}


def _raw_group_attrs(root: zarr.Group) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {"": dict(root.attrs)}

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, zarr.Group):
            out[name] = dict(obj.attrs)

    root.visititems(visit)
    return out
