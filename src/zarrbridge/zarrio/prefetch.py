"""Reading ahead, in one round of concurrent requests, the small objects a read is going to fetch one by one.

Opening a file from an object store costs a round trip per request made one after another. Building the
builder tree and then the containers reads a few things in turn: every scalar (with its ``zarr.json``, which
the strict reader compares with the consolidated metadata), the first chunk of each table's ``id`` (hdmf
checks the first element), every ``DynamicTableRegion`` (hdmf checks its indices against the table), the
datasets of ``NWBFile`` and ``Subject`` (pynwb converts them; ``file_create_date`` twice). Their keys are all
known from the consolidated metadata, so they are requested together when the file is opened, and answered
from memory afterwards. Nothing else is read: the objects read ahead are those the read reads anyway.

Only stores of URLs read ahead (:class:`zarrbridge.core.location.RemoteStore`, read only; the legacy reader's
:class:`~zarrbridge.zarrio.legacy.store.V2Store` on one): local files need no round trips.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Iterable, Iterator
from typing import Any

from zarr.codecs import ShardingCodec
from zarr.core.metadata import ArrayV3Metadata
from zarr.core.sync import sync

__all__ = ["READ_WHILE_BUILDING", "current_keys", "prefetch_keys", "read_while_building", "reads_ahead"]

#: Types whose data hdmf reads while it builds their containers (the first id, the region's indices, the
#: references of ``ImageReferences``).
READ_WHILE_BUILDING = frozenset({"ElementIdentifiers", "DynamicTableRegion", "ImageReferences"})
#: Groups whose datasets pynwb reads while building them (``NWBFile`` and ``Subject`` fields:
#: ``file_create_date``, ``experimenter``, ``related_publications``, ``keywords``...).
_GROUPS_READ = frozenset({"", "general", "general/subject"})
#: Arrays with more first-chunk elements than this are not read ahead (hdmf reads their first element only).
MAX_ELEMENTS = 1 << 20


def read_while_building(path: str, attributes: dict[str, Any], shape: tuple[int, ...]) -> bool:
    """Whether a read of the file reads (part of) the array at ``path`` anyway (scalars, the types above)."""
    if len(shape) == 0:
        return True
    if attributes.get("neurodata_type") in READ_WHILE_BUILDING or attributes.get("data_type") in (
        READ_WHILE_BUILDING
    ):
        return True
    return posixpath.dirname(path.strip("/")) in _GROUPS_READ


def _ignored(path: str, ignore: set[str]) -> bool:
    key = path.strip("/")
    return key in ignore or any(key.startswith(f"{ig}/") for ig in ignore)


def current_keys(consolidated: Any, ignore: set[str]) -> Iterator[str]:
    """Keys (``zarr.json``, first chunk) of the arrays of a consolidated zarr v3 hierarchy to read ahead."""
    for path, meta in consolidated.flattened_metadata.items():
        if not isinstance(meta, ArrayV3Metadata) or _ignored(path, ignore):
            continue
        shape = tuple(meta.shape)
        if not read_while_building(path, dict(meta.attributes), shape):
            continue
        if any(isinstance(codec, ShardingCodec) for codec in meta.codecs):
            continue  # (shards are read by byte ranges)
        chunks = tuple(getattr(meta.chunk_grid, "chunk_shape", shape))
        if 0 in shape or math.prod(chunks) > MAX_ELEMENTS:
            continue
        prefix = path.strip("/")
        yield f"{prefix}/zarr.json"
        yield f"{prefix}/{meta.encode_chunk_key((0,) * len(shape))}"


def reads_ahead(store: Any) -> bool:
    """Whether reading ahead pays for ``store``: a read-only store of a URL (round trips), not local files."""
    return callable(getattr(store, "prefetch", None)) and bool(getattr(store, "read_only", False))


def prefetch_keys(store: Any, keys: Iterable[str]) -> None:
    """Have ``store`` read ``keys`` ahead, concurrently, when :func:`reads_ahead` (else nothing happens)."""
    if not reads_ahead(store):
        return
    keys = list(keys)
    if keys:
        sync(store.prefetch(keys))
