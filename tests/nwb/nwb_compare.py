"""Recursive comparison of two reads of the same NWB file (containers and builders), reporting paths."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np
from hdmf.build import Builder, DatasetBuilder, GroupBuilder, LinkBuilder, ReferenceBuilder
from hdmf.container import AbstractContainer
from hdmf.data_utils import DataIO

_MISSING = object()


def _is_array_like(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "__getitem__") and not isinstance(value, (str, bytes))


def _materialize(value: Any) -> Any:
    """Load a lazy dataset (h5py, zarr, hdmf reference/table/str datasets) into lists or numpy arrays."""
    if isinstance(value, DataIO):
        value = value.data
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.names:
        return value[()]
    if not _is_array_like(value) or isinstance(value, np.ndarray):
        return value
    shape = tuple(value.shape)
    if len(shape) == 0:
        return (
            _materialize(np.asarray(value[()]))
            if getattr(value, "dtype", None) is not None and getattr(value.dtype, "names", None)
            else value[()]
        )
    out = value[:] if shape[0] else value[0:0]
    if hasattr(out, "asstr"):
        out = out[()]
    return out


def _contains_objects(values: Any) -> bool:
    if isinstance(values, np.ndarray):
        fields = values.dtype.fields
        if fields is not None:  # compound rows (both readers): objects in a reference or text field
            return values.size > 0 and any(sub[0].kind == "O" for sub in fields.values())
        if values.dtype.kind != "O" or values.size == 0:
            return False
        values = values.reshape(-1).tolist()
    if isinstance(values, (list, tuple)):
        return any(
            isinstance(v, (AbstractContainer, Builder, list, tuple, np.void, np.ndarray))
            or _contains_objects(v)
            for v in values
        )
    return False


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.str_):
        return str(value)
    return value


def _as_array(value: Any) -> np.ndarray[Any, Any]:
    arr = np.asarray(value)
    if arr.dtype.kind in "SOUT":
        flat = [_text(v) for v in arr.reshape(-1).tolist()]
        arr = np.array(flat, dtype=object).reshape(arr.shape) if flat else np.empty(arr.shape, dtype=object)
    return arr


def _kind(dtype: np.dtype[Any]) -> str:
    return "int" if dtype.kind in "iu" else dtype.kind


class Comparer:
    """Compare two objects recursively; ``differences`` lists ``path: what`` strings."""

    def __init__(self, *, ref_key: Any, scalar_widths: bool = True) -> None:
        self.scalar_widths = scalar_widths
        self.differences: list[str] = []
        self.seen: set[Any] = set()
        self.ref_key = ref_key
        self.objects = 0
        self.arrays = 0

    def diff(self, path: str, what: str) -> None:
        self.differences.append(f"{path}: {what}")

    # ------------------------------------------------------------------ values
    def value(self, a: Any, b: Any, path: str) -> None:
        if a is _MISSING or b is _MISSING:
            self.diff(path, f"only in {'second' if a is _MISSING else 'first'} read")
            return
        if isinstance(a, AbstractContainer) or isinstance(b, AbstractContainer):
            self.container(a, b, path)
            return
        if isinstance(a, Builder) or isinstance(b, Builder) or isinstance(a, ReferenceBuilder):
            self.reference(a, b, path)
            return
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            if set(a) != set(b):
                self.diff(path, f"keys {sorted(set(a) ^ set(b))} differ")
            for k in sorted(set(a) & set(b), key=str):
                self.value(a[k], b[k], f"{path}/{k}")
            return
        a, b = _materialize(a), _materialize(b)
        if isinstance(a, np.void) or isinstance(b, np.void):  # one compound row (np.void), or a row as a list
            a, b = (list(a) if isinstance(a, np.void) else a), (list(b) if isinstance(b, np.void) else b)
        if (
            isinstance(a, (list, tuple, np.ndarray))
            and _contains_objects(a)
            or isinstance(b, (list, tuple, np.ndarray))
            and _contains_objects(b)
        ):
            self.sequence(a, b, path)
            return
        if (
            _is_array_like(a)
            or _is_array_like(b)
            or isinstance(a, (list, tuple))
            or isinstance(b, (list, tuple))
        ):
            self.array(a, b, path)
            return
        self.scalar(a, b, path)

    def sequence(self, a: Any, b: Any, path: str) -> None:
        la = list(a.tolist() if isinstance(a, np.ndarray) and a.dtype.kind != "O" else a)
        lb = list(b.tolist() if isinstance(b, np.ndarray) and b.dtype.kind != "O" else b)
        if len(la) != len(lb):
            self.diff(path, f"length {len(la)} != {len(lb)}")
            return
        for i, (x, y) in enumerate(zip(la, lb)):
            self.value(x, y, f"{path}[{i}]")

    def array(self, a: Any, b: Any, path: str) -> None:
        self.arrays += 1
        x, y = _as_array(a), _as_array(b)
        if x.shape != y.shape:
            self.diff(path, f"shape {x.shape} != {y.shape}")
            return
        if x.dtype.kind in "biuf" or y.dtype.kind in "biuf":
            loose = not self.scalar_widths and x.ndim == 0 and _kind(x.dtype) == _kind(y.dtype)
            if x.dtype != y.dtype and x.size + y.size and not loose:
                self.diff(path, f"dtype {x.dtype} != {y.dtype}")
                return
            equal = np.array_equal(x, y, equal_nan=x.dtype.kind == "f")
        else:
            equal = x.shape == y.shape and all(
                _text(p) == _text(q) for p, q in zip(x.reshape(-1), y.reshape(-1))
            )
        if not equal:
            self.diff(path, f"values differ: {x.reshape(-1)[:6]!r} vs {y.reshape(-1)[:6]!r}")

    def scalar(self, a: Any, b: Any, path: str) -> None:
        a, b = _text(a), _text(b)
        if isinstance(a, dt.datetime) or isinstance(b, dt.datetime):
            if a != b:
                self.diff(path, f"datetime {a!r} != {b!r}")
            return
        if isinstance(a, (str, bool, type(None))) or isinstance(b, (str, bool, type(None))):
            if (
                a != b
                or type(a) is not type(b)
                and not isinstance(a, np.bool_)
                and not isinstance(b, np.bool_)
            ):
                self.diff(path, f"{a!r} != {b!r}")
            return
        if isinstance(a, (int, float, np.number)) and isinstance(b, (int, float, np.number)):
            if (
                isinstance(a, float) != isinstance(b, float)
                and np.asarray(a).dtype.kind != np.asarray(b).dtype.kind
            ):
                self.diff(path, f"kind {type(a).__name__} != {type(b).__name__}")
            elif not (a == b or (np.isnan(a) and np.isnan(b))):
                self.diff(path, f"{a!r} != {b!r}")
            return
        if a != b:
            self.diff(path, f"{a!r} != {b!r}")

    # ------------------------------------------------------------------ containers
    def container(self, a: Any, b: Any, path: str) -> None:
        if type(a) is not type(b):
            self.diff(path, f"type {type(a).__name__} != {type(b).__name__}")
            return
        if a.object_id != b.object_id:
            self.diff(path, f"object_id {a.object_id} != {b.object_id}")
            return
        if a.object_id in self.seen:
            return
        self.seen.add(a.object_id)
        self.objects += 1
        if a.name != b.name:
            self.diff(path, f"name {a.name!r} != {b.name!r}")
        pa, pb = getattr(a.parent, "object_id", None), getattr(b.parent, "object_id", None)
        if pa != pb:
            self.diff(path, f"parent {pa} != {pb}")
        # an empty child dict (created on first access by MultiContainerInterface) is the same as none
        fa = {k: v for k, v in a.fields.items() if not (isinstance(v, Mapping) and not v)}
        fb = {k: v for k, v in b.fields.items() if not (isinstance(v, Mapping) and not v)}
        for key in sorted(set(fa) | set(fb)):
            self.value(fa.get(key, _MISSING), fb.get(key, _MISSING), f"{path}/{a.name}.{key}")
        if hasattr(a, "colnames") and hasattr(a, "__len__") and hasattr(a, "columns"):
            self.table(a, b, f"{path}/{a.name}")

    def table(self, a: Any, b: Any, path: str) -> None:
        """Rows of every column through the table API (exercises ragged and region resolution)."""
        if len(a) != len(b):
            self.diff(path, f"{len(a)} rows != {len(b)} rows")
            return
        for col_a, col_b in zip(a.columns, b.columns):
            if type(col_a).__name__ == "VectorIndex" and type(col_a.target).__name__ != "DynamicTableRegion":
                for i in range(len(col_a)):
                    self.value(col_a[i], col_b[i], f"{path}[{col_a.name}][{i}]")

    def reference(self, a: Any, b: Any, path: str) -> None:
        ka, kb = self.ref_key(a), self.ref_key(b)
        if ka != kb:
            self.diff(path, f"reference {ka!r} != {kb!r}")

    # ------------------------------------------------------------------ builders
    def builder(self, a: Any, b: Any, path: str) -> None:
        if type(a) is not type(b):
            self.diff(path, f"builder type {type(a).__name__} != {type(b).__name__}")
            return
        self.objects += 1
        if isinstance(a, LinkBuilder):
            self.reference(a.builder, b.builder, path)
            return
        self.value(dict(a.attributes), dict(b.attributes), f"{path}@")
        if isinstance(a, GroupBuilder):
            for kind in ("groups", "datasets", "links"):
                da, db = getattr(a, kind), getattr(b, kind)
                if set(da) != set(db):
                    self.diff(path, f"{kind} {sorted(set(da) ^ set(db))} only in one read")
                for name in sorted(set(da) & set(db)):
                    self.builder(da[name], db[name], f"{path}/{name}")
        elif isinstance(a, DatasetBuilder):
            self.value(a.data, b.data, path)


def builder_path(builder: Any) -> str:
    if isinstance(builder, ReferenceBuilder):
        builder = builder.builder
    names = []
    while builder is not None and builder.parent is not None:
        names.append(builder.name)
        builder = builder.parent
    return "/" + "/".join(reversed(names))


def compare_nwbfiles(a: Any, b: Any) -> Comparer:
    cmp = Comparer(ref_key=lambda c: getattr(c, "object_id", c))
    cmp.container(a, b, "")
    return cmp


def compare_builders(a: GroupBuilder, b: GroupBuilder) -> Comparer:
    # hdmf's h5py builder-level compound rows hold Python ints (containers get numpy scalars): widths of
    # single values are not compared at this level, only their kind and value
    cmp = Comparer(ref_key=builder_path, scalar_widths=False)
    cmp.builder(a, b, "")
    return cmp
