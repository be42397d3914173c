"""What a dataset's storage looks like (chunks, shards, codecs, stored bytes), without reading its data.

Works on the objects HDMF builders hold as data: ``zarr.Array``, ``h5py.Dataset``, lazy legacy arrays
(anything with ``shape``/``dtype``/``chunks``/``nbytes_stored()``) and the lazy wrappers (``ZarrStrDataset``,
reference and table datasets, hdmf's ``HDMFDataset`` and ``DataIO``), which are unwrapped to the array they
hold. Stored bytes count chunks only, except for legacy arrays, where they include the array's small metadata
documents.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..h5chunks import DEFLATE, FILTER_NAMES

__all__ = ["StorageDetails", "codec_label", "storage_details", "underlying_array"]

_TEXT = {
    "text": "string",
    "utf": "string",
    "utf8": "string",
    "utf-8": "string",
    "ascii": "ascii",
    "bytes": "ascii",
    "isodatetime": "string",
}
_QUIET_KEYS = frozenset({"typesize", "blocksize", "checksum", "endian", "id", "name"})


@dataclass(frozen=True)
class StorageDetails:
    """Shape, dtype and storage of one dataset; ``None`` where the backend does not tell."""

    shape: tuple[int, ...] | None
    dtype: str | None
    chunks: tuple[int, ...] | None = None
    shards: tuple[int, ...] | None = None
    codecs: tuple[str, ...] = ()
    nbytes: int | None = None
    stored_bytes: int | None = None

    @property
    def ratio(self) -> float | None:
        """``nbytes / stored_bytes`` (the compression ratio), or ``None`` if either is unknown."""
        if self.nbytes is None or not self.stored_bytes:
            return None
        return self.nbytes / self.stored_bytes

    def to_dict(self) -> dict[str, Any]:
        ratio = self.ratio
        return {
            "shape": list(self.shape) if self.shape is not None else None,
            "dtype": self.dtype,
            "chunks": list(self.chunks) if self.chunks is not None else None,
            "shards": list(self.shards) if self.shards is not None else None,
            "codecs": list(self.codecs),
            "nbytes": self.nbytes,
            "stored_bytes": self.stored_bytes,
            "ratio": round(ratio, 3) if ratio is not None else None,
        }


def underlying_array(data: Any) -> Any:
    """Strip lazy wrappers (``DataIO.data``, ``HDMFDataset.dataset``) down to the stored array."""
    from hdmf.data_utils import DataIO
    from hdmf.query import HDMFDataset

    for _ in range(8):  # wrappers nest at most a few levels deep
        if isinstance(data, DataIO):
            data = data.data
        elif isinstance(data, HDMFDataset) and data.dataset is not data:
            data = data.dataset
        elif hasattr(data, "array") and hasattr(data.array, "nbytes_stored"):  # legacy views over an array
            data = data.array
        else:
            break
    return data


def codec_label(codec: Any) -> str:
    """A short label for a zarr v3 codec or a numcodecs codec: ``zstd(level=0)``,
    ``blosc(cname=lz4,clevel=5)``."""
    config: dict[str, Any]
    if isinstance(codec, dict):  # a numcodecs configuration (legacy .zarray documents)
        config = dict(codec)
        name = str(config.get("id", "?"))
    elif hasattr(codec, "get_config"):  # numcodecs
        config = dict(codec.get_config())
        name = str(config.get("id", type(codec).__name__))
    elif hasattr(codec, "to_dict"):  # zarr v3
        as_dict = codec.to_dict()
        name = str(as_dict.get("name", type(codec).__name__))
        config = dict(as_dict.get("configuration", {}) or {})
    else:
        return type(codec).__name__
    shown = [f"{k}={_plain(v)}" for k, v in config.items() if k not in _QUIET_KEYS and v is not None]
    return f"{name}({','.join(shown)})" if shown else name


def _plain(value: Any) -> str:
    return str(getattr(value, "value", value))


def _tuple(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        return tuple(int(v) for v in value)
    except TypeError:
        return None


def _dtype_text(dtype: Any) -> str | None:
    if dtype is None:
        return None
    if isinstance(dtype, np.dtype):
        if dtype.names is not None:
            return "compound(" + ", ".join(str(n) for n in dtype.names) + ")"
        if dtype.kind in "TU":
            return "string"
        if dtype.kind == "O":
            return _h5_string_kind(dtype) or "object"
        return str(dtype)
    if isinstance(dtype, list):
        return (
            "compound("
            + ", ".join(
                str(f.get("name", "?")) if isinstance(f, dict) else str(getattr(f, "name", f)) for f in dtype
            )
            + ")"
        )
    return str(dtype)


def _h5_string_kind(dtype: np.dtype[Any]) -> str | None:
    try:
        import h5py
    except ImportError:
        return None
    info = h5py.check_string_dtype(dtype)
    if info is None:
        return None
    return "string" if info.encoding == "utf-8" else "ascii"


def _zarr_chunk_bytes(array: Any) -> int:
    """Stored bytes of an array's chunks (its metadata documents left out, as HDF5 counts them)."""
    from zarr.core.sync import sync

    total = int(array.nbytes_stored())
    store, prefix = array.store_path.store, array.store_path.path
    for name in ("zarr.json", ".zarray", ".zattrs"):
        key = f"{prefix}/{name}" if prefix else name
        if sync(store.exists(key)):
            total -= int(sync(store.getsize(key)))
    return max(total, 0)


def _nbytes(dtype: Any, nbytes: Any) -> int | None:
    """In-memory size, or ``None`` for dtypes whose elements live outside the array (strings, objects)."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject or dtype.kind in "OT":
        return None
    return int(nbytes) if isinstance(nbytes, (int, np.integer)) else None


def _zarr_details(array: Any) -> StorageDetails:
    zarr_codecs = [*getattr(array, "filters", ()), *getattr(array, "compressors", ())]
    shards = _tuple(getattr(array, "shards", None))
    return StorageDetails(
        shape=_tuple(array.shape),
        dtype=_dtype_text(array.dtype),
        chunks=_tuple(array.chunks),
        shards=shards,
        codecs=tuple(codec_label(c) for c in zarr_codecs),
        nbytes=_nbytes(array.dtype, array.nbytes),
        stored_bytes=_zarr_chunk_bytes(array),
    )


def _h5_details(dataset: Any) -> StorageDetails:
    dcpl = dataset.id.get_create_plist()
    codecs = []
    for index in range(dcpl.get_nfilters()):
        code, _flags, values, name = dcpl.get_filter(index)
        label = FILTER_NAMES.get(int(code), name.decode() if isinstance(name, bytes) else str(name))
        if int(code) == DEFLATE and values:
            label = f"gzip(level={values[0]})"
        codecs.append(label)
    return StorageDetails(
        shape=_tuple(dataset.shape),
        dtype=_dtype_text(dataset.dtype),
        chunks=_tuple(dataset.chunks),
        codecs=tuple(codecs),
        nbytes=_nbytes(dataset.dtype, dataset.size * dataset.dtype.itemsize),
        stored_bytes=int(dataset.id.get_storage_size()),
    )


def _generic_details(array: Any) -> StorageDetails:
    nbytes_stored = getattr(array, "nbytes_stored", None)
    stored = int(nbytes_stored()) if callable(nbytes_stored) else None
    nbytes = getattr(array, "nbytes", None)
    meta = getattr(array, "meta", None)  # legacy zarr v2 arrays: the .zarray document's codec configurations
    if meta is not None and hasattr(meta, "filters"):
        codecs = [*(meta.filters or ()), *([meta.compressor] if getattr(meta, "compressor", None) else [])]
    else:
        codecs = [*(getattr(array, "filters", None) or ()), *(getattr(array, "compressors", None) or ())]
    return StorageDetails(
        shape=_tuple(getattr(array, "shape", None)),
        dtype=_dtype_text(getattr(array, "dtype", None)),
        chunks=_tuple(getattr(array, "chunks", None)),
        codecs=tuple(codec_label(c) for c in codecs),
        nbytes=_nbytes(getattr(array, "dtype", None), nbytes),
        stored_bytes=stored,
    )


def storage_details(data: Any, builder_dtype: Any = None) -> StorageDetails:
    """Storage of a dataset builder's ``data`` (never reads array data; scalars were read by the backend)."""
    import zarr

    array = underlying_array(data)
    if isinstance(array, zarr.Array):
        details = _zarr_details(array)
    elif type(array).__module__.startswith("h5py"):
        details = _h5_details(array)
    elif isinstance(array, (np.ndarray, np.generic)):
        details = StorageDetails(shape=tuple(array.shape), dtype=_dtype_text(array.dtype))
    elif isinstance(array, (str, bytes)):
        details = StorageDetails(shape=(), dtype="string" if isinstance(array, str) else "bytes")
    elif np.isscalar(array):
        details = StorageDetails(shape=(), dtype=_dtype_text(np.asarray(array).dtype))
    elif isinstance(array, (list, tuple)):
        details = StorageDetails(shape=(len(array),), dtype=_dtype_text(builder_dtype))
    elif hasattr(array, "shape"):
        details = _generic_details(array)
    else:  # a resolved reference (a builder) or an object the backend built eagerly
        details = StorageDetails(shape=(), dtype=_dtype_text(builder_dtype) or "object")
    if _is_reference_dtype(builder_dtype):
        details = dataclasses.replace(details, dtype="object reference")
    elif details.dtype == "object" and isinstance(builder_dtype, str) and builder_dtype in _TEXT:
        details = dataclasses.replace(details, dtype=_TEXT[builder_dtype])
    return details


def _is_reference_dtype(dtype: Any) -> bool:
    return (isinstance(dtype, str) and dtype in ("object", "region")) or hasattr(dtype, "reftype")
