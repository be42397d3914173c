"""Reading legacy hdmf-zarr files (hdmf-zarr <= 0.13, zarr v2) without zarr-python 2 and without pickle code.

- :mod:`.metadata`: ``.zgroup``/``.zarray``/``.zattrs``/``.zmetadata`` parsed and validated;
- :mod:`.store`: documents and chunk bytes from any zarr store, consolidated metadata first;
- :mod:`.codecs`: chunk decoding; Pickle only through the restricted unpickler;
- :mod:`.indexing`, :mod:`.chunks`: :class:`V2Array`, a lazy array read chunk by chunk;
- :mod:`.nodes`: :class:`LegacyGroup`, the zarr.Group-like groups;
- :mod:`.views`, :mod:`.reader`: :class:`LegacyTreeReader`, builders like the current-convention reader;
- :mod:`.detect`: :class:`Convention` and opening any file's root.
"""

from __future__ import annotations

from .chunks import V2Array, missing_chunks_as_fill
from .codecs import LEGACY_PICKLE_GLOBALS, LegacyReference, unpickle_legacy
from .detect import LEGACY, Convention, open_any_root
from .nodes import LegacyGroup, open_legacy_root
from .reader import LegacyTreeReader

__all__ = [
    "LEGACY",
    "LEGACY_PICKLE_GLOBALS",
    "Convention",
    "LegacyGroup",
    "LegacyReference",
    "LegacyTreeReader",
    "V2Array",
    "missing_chunks_as_fill",
    "open_any_root",
    "open_legacy_root",
    "unpickle_legacy",
]
