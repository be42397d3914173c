"""Shared helpers of the legacy (hdmf-zarr <= 0.13, zarr v2) reading tests:
manifest access and value encoding."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pynwb
from hdmf.build import Builder, BuildManager, LinkBuilder, ReferenceBuilder

from zarrbridge import ZarrIO

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "legacy"
MANIFEST: dict[str, Any] = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))
FILES: dict[str, Any] = MANIFEST["files"]
READ_BACK = sorted(name for name, entry in FILES.items() if "objects" in entry)
CRAFTED: dict[str, Any] = FILES["crafted_pickle.nwb.zarr"]["crafted"]


def manager_for(path: Any) -> BuildManager:
    """pynwb's type map plus the namespaces cached in ``path`` (the extension of kinds.nwb.zarr)."""
    type_map = pynwb.get_type_map()
    ZarrIO.load_namespaces(type_map, path)
    return BuildManager(type_map)


def open_legacy(path: Any, **kwargs: Any) -> ZarrIO:
    return ZarrIO(path, "r", manager=manager_for(path), **kwargs)


def copy_fixture(name: str, dest: Path) -> Path:
    target = dest / name
    shutil.copytree(FIXTURES / name, target)
    return target


def builder_path(builder: Builder) -> str:
    """The absolute in-file path; builders read on demand (link targets in other files) hang below an orphan
    whose ``location`` says where it is."""
    names: list[str] = []
    cur = builder
    while cur.parent is not None:
        names.append(cur.name)
        cur = cur.parent
    base = "" if cur.location is None else f"{cur.location.rstrip('/')}/{cur.name}"
    return (base + "/" + "/".join(reversed(names))).rstrip("/") or "/"


def _ref(builder: Any, home: str) -> dict[str, str]:
    target = builder.builder if isinstance(builder, (ReferenceBuilder, LinkBuilder)) else builder
    ref = {"path": builder_path(target)}
    name = Path(target.source).name if target.source else ""
    if name != home:
        ref["file"] = name
    return ref


def jsonable(value: Any, home: str) -> Any:
    """A value in the manifest's encoding (as scripts/legacy/manifest.py encodes what hdmf-zarr read)."""
    if isinstance(value, (Builder, ReferenceBuilder)):
        return {"$ref": _ref(value, home)}
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        return [jsonable(v, home) for v in value.tolist()] if value.ndim else jsonable(value.item(), home)
    if isinstance(value, (list, tuple)):
        return [jsonable(v, home) for v in value]
    if isinstance(value, np.void):
        return [jsonable(v, home) for v in value.tolist()]
    if isinstance(value, np.generic):
        return jsonable(value.item(), home)
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value


def sha256_of(values: Any, array: np.ndarray[Any, Any] | None) -> str:
    if array is not None and array.dtype.kind in "biuf":
        little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        return hashlib.sha256(little.tobytes()).hexdigest()
    text = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def decode_dataset(data: Any, record: dict[str, Any], home: str) -> tuple[Any, np.ndarray[Any, Any] | None]:
    """What a builder's data holds, encoded as the manifest records it, and the numeric array to checksum."""
    kind = record["value_kind"]
    if kind == "scalar":
        scalar = data.reshape(-1)[0] if isinstance(data, np.ndarray) and data.size == 1 else data
        numeric = isinstance(scalar, np.generic) and scalar.dtype.kind in "biuf"
        return jsonable(scalar, home), np.asarray(scalar) if numeric else None
    if kind == "references":
        return [{"$ref": _ref(b, home)} for b in data], None
    if kind == "compound":
        return [jsonable(list(row), home) for row in data], None
    array = np.asarray(data[...])
    if array.dtype.kind in "biuf":
        return jsonable(array, home), array
    return jsonable(array, home), None
