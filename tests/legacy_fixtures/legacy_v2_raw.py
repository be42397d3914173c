"""Raw, store-level reading of the committed legacy (zarr v2, hdmf-zarr 0.13) fixtures, for the tests.

zarr-python 3 cannot open several legacy arrays at all (object arrays with the ``pickle`` or ``json2``
filter, ``vlen-bytes`` arrays with ``fill_value: 0``, and therefore the consolidated ``.zmetadata``), so
these helpers read metadata documents and chunk bytes through a zarr ``LocalStore`` and decode them
with numcodecs, and Pickle payloads only with zarrbridge's restricted unpickler.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import LocalStore

from zarrbridge.core.safe_pickle import NUMPY_ARRAY_GLOBALS, PLAIN_DATA_GLOBALS, restricted_loads

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "legacy"
ZARR_REFERENCE = ("hdmf_zarr.utils", "ZarrReference")


class ReferenceRecord(dict[str, Any]):
    """Stands in for ``hdmf_zarr.utils.ZarrReference`` (a dict subclass) when unpickling."""


def unpickle_payload(data: bytes, *, what: str) -> Any:
    """Decode a legacy Pickle payload allowing only numpy containers, plain data and reference records."""
    return restricted_loads(
        data,
        allowed=NUMPY_ARRAY_GLOBALS | PLAIN_DATA_GLOBALS,
        substitutes={ZARR_REFERENCE: ReferenceRecord},
        what=what,
    )


@dataclass(frozen=True)
class RawV2:
    """One legacy fixture directory, read key by key through a read-only ``LocalStore``."""

    root: Path

    @property
    def store(self) -> LocalStore:
        return LocalStore(self.root, read_only=True)

    def get(self, key: str) -> bytes | None:
        buf = sync(self.store.get(key, prototype=default_buffer_prototype()))
        return None if buf is None else buf.to_bytes()

    def doc(self, key: str) -> dict[str, Any]:
        data = self.get(key)
        if data is None:
            raise FileNotFoundError(f"{self.root.name}: no {key}")
        loaded: dict[str, Any] = json.loads(data)
        return loaded

    def exists(self, key: str) -> bool:
        return bool(sync(self.store.exists(key)))

    def attrs(self, path: str) -> dict[str, Any]:
        key = _join(path, ".zattrs")
        return self.doc(key) if self.exists(key) else {}

    def zarray(self, path: str) -> dict[str, Any]:
        return self.doc(_join(path, ".zarray"))

    def chunk_keys(self, path: str) -> list[str]:
        prefix = path.strip("/")
        listed = sync(_collect(self.store.list_dir(prefix)))
        return sorted(key for key in listed if not key.startswith("."))

    def chunk_payload(self, path: str, chunk_key: str) -> bytes:
        """The chunk's bytes after the compressor, before any filter (e.g. the pickle itself)."""
        meta = self.zarray(path)
        data = self.get(_join(path, chunk_key))
        if data is None:
            raise FileNotFoundError(f"{self.root.name}: no chunk {chunk_key} in {path}")
        if meta["compressor"] is not None:
            data = bytes(numcodecs.get_codec(meta["compressor"]).decode(data))
        return data

    def object_values(self, path: str) -> list[Any]:
        """All elements of a 1-D (or shape-(1,)) object array, chunk by chunk, decoded without pickle code."""
        meta = self.zarray(path)
        if len(meta["shape"]) != 1:
            raise ValueError(f"{path}: only 1-D object arrays are decoded here")
        filters = meta["filters"] or []
        if len(filters) != 1:
            raise ValueError(f"{path}: expected exactly one object codec filter, got {filters}")
        codec_id = filters[0]["id"]
        n_chunks = -(-meta["shape"][0] // meta["chunks"][0])
        out: list[Any] = []
        for index in range(n_chunks):
            if not self.exists(_join(path, str(index))):
                out.extend([None] * min(meta["chunks"][0], meta["shape"][0] - index * meta["chunks"][0]))
                continue
            payload = self.chunk_payload(path, str(index))
            if codec_id == "pickle":
                decoded = unpickle_payload(payload, what=f"{self.root.name}{path} chunk {index}")
                out.extend(np.asarray(decoded).reshape(-1).tolist())
            elif codec_id == "json2":
                items = json.loads(payload)  # numcodecs JSON layout: [*items, dtype, shape]
                out.extend(items[:-2])
            else:
                decoded = numcodecs.get_codec(filters[0]).decode(payload)
                out.extend(np.asarray(decoded, dtype=object).reshape(-1).tolist())
        return out[: meta["shape"][0]]


async def _collect(iterator: Any) -> list[str]:
    return [key async for key in iterator]


def _join(path: str, name: str) -> str:
    stripped = path.strip("/")
    return f"{stripped}/{name}" if stripped else name


def fixture(name: str) -> RawV2:
    return RawV2(FIXTURES / name)


def load_manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))
    return loaded


def reference_path(value: Any) -> str:
    """The target path of one decoded reference (a ZarrReference record or a JSON dict)."""
    if not isinstance(value, dict) or "path" not in value:
        raise TypeError(f"not a legacy reference: {value!r}")
    path: str = value["path"]
    return path
