"""Preparing containers read from a legacy file for an export.

hdmf's object mapper converts data only when it is a numpy array, an h5py/zarr array, a list or a data
chunk iterator; a lazy legacy array is none of those. Before an export, text datasets (small) are read into
numpy arrays, and numeric ones are wrapped in a block iterator, so they are still copied chunk by chunk with
the legacy chunk shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hdmf.container import AbstractContainer, Container, Data

from ..h5export import ZarrBlockIterator
from .chunks import V2Array

__all__ = ["load_legacy_text"]


def _is_text(value: Any) -> bool:
    return isinstance(value, V2Array) and value.dtype.kind in "OSU" and value.dtype.names is None


def _is_numeric(value: Any) -> bool:
    return isinstance(value, V2Array) and value.dtype.kind in "biuf" and value.ndim > 0 and value.size > 0


def _replacement(value: Any) -> Any:
    if _is_text(value):
        return np.asarray(value[...], dtype=object)
    if _is_numeric(value):
        return ZarrBlockIterator(value)
    return None


def load_legacy_text(root: AbstractContainer) -> int:
    """Make the lazy legacy arrays held by ``root`` and its descendants exportable (see the module doc).

    Returns the number of arrays replaced.
    """
    loaded = 0
    objects = [root, *root.all_children()] if hasattr(root, "all_children") else [root]
    for obj in objects:
        if isinstance(obj, Data):
            new = _replacement(obj.data)
            if new is not None:
                obj._Data__data = new  # hdmf keeps Data.data name-mangled
                loaded += 1
        elif isinstance(obj, Container):
            for name, value in list(obj.fields.items()):
                new = _replacement(value)
                if new is not None:
                    obj.fields[name] = new
                    loaded += 1
    return loaded
