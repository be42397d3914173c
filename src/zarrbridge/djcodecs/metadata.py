"""The parsed ``zarr.json`` of the arrays rows point at, cached per distinct document."""

from __future__ import annotations

import json
from typing import Any

from ..core.cache import BoundedCache
from ..errors import CorruptMetadataError

__all__ = ["parse_metadata"]

_parsed: BoundedCache[bytes, Any] = BoundedCache(256)  # zarr.json bytes -> ArrayV3Metadata (immutable)


def parse_metadata(raw: bytes, *, where: str, store_label: str) -> Any:
    """zarr's ``ArrayV3Metadata`` for the ``zarr.json`` bytes ``raw``, cached per distinct document.

    Decision: fetch reads ``zarr.json`` itself (one plain read) and builds the array from the parsed metadata,
    instead of ``zarr.open_array``, which costs a round trip through zarr's event-loop thread per row. Parsing
    is a noticeable part of a small row's fetch; rows of one table usually share the document, so it is
    parsed once.

    Raises
    ------
    CorruptMetadataError
        ``raw`` is not the JSON metadata document of a zarr v3 array.
    """
    from zarr.core.metadata.v3 import ArrayV3Metadata

    hit = _parsed.get(raw)
    if hit is not None:
        return hit
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict) or doc.get("zarr_format") != 3 or doc.get("node_type") != "array":
            raise ValueError(f"not the metadata of a zarr v3 array: {str(doc)[:200]}")
        metadata = ArrayV3Metadata.from_dict(dict(doc))
    except (ValueError, TypeError, KeyError) as exc:
        raise CorruptMetadataError(where, f"{type(exc).__name__}: {exc}", store_label) from exc
    _parsed.put(raw, metadata)
    return metadata
