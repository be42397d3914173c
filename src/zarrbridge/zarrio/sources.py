"""What the writer learns from a dataset's source: text or references, chunking,
another backend's settings."""

from __future__ import annotations

from typing import Any

import numpy as np
from hdmf.build import ReferenceBuilder
from hdmf.container import Container
from hdmf.data_utils import DataIO

from ..core.arrays import ArrayPolicy
from ..core.location import Location
from .convention import string_kind
from .values import STRING_DTYPE, text_array

__all__ = [
    "TextSource",
    "Typed",
    "dtype_label",
    "holds_references",
    "is_text",
    "keep_chunks",
    "policy_from_dataio",
    "store_location",
]


class Typed:
    def __init__(self, dtype: Any) -> None:
        self.dtype = np.dtype(dtype) if dtype is not None else None


class TextSource:
    """Reads text from an on-disk string dataset as StringDType blocks.

    h5py returns bytes, which ``text_array`` decodes (strict UTF-8); ``asstr()`` is not used because hdmf's
    ``StrDataset`` (what HDF5IO hands out for text) is an h5py Dataset that already returns ``str``.
    """

    def __init__(self, data: Any, what: str) -> None:
        self.data = data
        self.shape = data.shape
        self.what = what

    def __getitem__(self, sel: Any) -> np.ndarray[Any, Any]:
        return text_array(self.data[sel], self.what)


def holds_references(data: Any) -> bool:
    if isinstance(data, (ReferenceBuilder, Container)):
        return True
    if isinstance(data, (list, tuple)) and data:
        return isinstance(data[0], (ReferenceBuilder, Container))
    return False


def is_text(data: Any) -> bool:
    if isinstance(data, (str, bytes)):
        return True
    dt = getattr(data, "dtype", None)
    if isinstance(dt, np.dtype):
        if dt.kind in "SUT":
            return True
        if dt.kind == "O" and hasattr(data, "shape") and data.size and not isinstance(data, np.ndarray):
            return True
        if isinstance(data, np.ndarray) and dt.kind == "O" and data.size:
            return isinstance(data.reshape(-1)[0], (str, bytes))
        return False
    if isinstance(data, (list, tuple)):
        first: Any = data
        while isinstance(first, (list, tuple)) and first:
            first = first[0]
        return isinstance(first, (str, bytes))
    return False


def dtype_label(spec: Any, np_dtype: Any) -> str:
    kind = string_kind(spec)
    if kind:
        return kind
    return str(np.dtype(np_dtype).name) if np_dtype is not STRING_DTYPE else "str"


def keep_chunks(policy: ArrayPolicy, data: Any) -> ArrayPolicy:
    """Keep the source's chunking when copying an on-disk dataset and none was asked for."""
    if policy.chunks is not None:
        return policy
    chunks = getattr(data, "chunks", None)
    if (
        isinstance(chunks, tuple)
        and chunks
        and all(isinstance(c, int) and c > 0 for c in chunks)
        and len(chunks) == len(data.shape)
    ):
        return ArrayPolicy(
            chunks=chunks,
            shards=policy.shards,
            compressors=policy.compressors,
            filters=policy.filters,
            fill_value=policy.fill_value,
        )
    return policy


def store_location(store: Any) -> Location | None:
    root = getattr(store, "root", None)
    if root is not None:
        return Location.parse(str(root))
    path = getattr(store, "path", None)
    if isinstance(path, str) and path and type(store).__name__ == "ZipStore":
        return Location.parse(path)
    return None


def policy_from_dataio(dataio: DataIO) -> ArrayPolicy:
    """Read chunking/compression from another backend's DataIO (H5DataIO) where it maps to zarr."""
    settings = getattr(dataio, "io_settings", None) or {}
    chunks = settings.get("chunks")
    comp: Any = "default"
    name = settings.get("compression")
    if name in ("gzip", True):
        import numcodecs

        comp = (numcodecs.GZip(level=int(settings.get("compression_opts") or 4)),)
    return ArrayPolicy(
        chunks=tuple(chunks) if isinstance(chunks, tuple) else None,
        compressors=comp,
        fill_value=settings.get("fillvalue"),
    )
