"""Host-agnostic core: locations and stores, array writing, JSON attributes, restricted unpickling.

The core imports only zarr, numpy, numcodecs and fsspec (``tests/core/test_core_imports.py`` checks it).
What two hosts share beyond zarr lives beside it: ``zarrbridge.daskwrite`` (dask -> zarr block writes) and
``zarrbridge.h5chunks`` (HDF5 chunk locations).
"""

from __future__ import annotations

from .arrays import ArrayPolicy, auto_chunks, copy_array, create_array, iter_blocks, to_zarr_codecs
from .jsonattrs import from_json_value, to_json_value
from .location import AccessMode, Location, filesystem_store, open_store
from .refview import open_view  # (also registers the opener of virtual views with open_store)
from .structdtype import register_struct_reader

# zarr 3.1 cannot read the "struct" compound data type that zarr >= 3.2 (and hdmf-zarr 0.14) write
register_struct_reader()

__all__ = [
    "AccessMode",
    "ArrayPolicy",
    "Location",
    "auto_chunks",
    "copy_array",
    "create_array",
    "filesystem_store",
    "from_json_value",
    "iter_blocks",
    "open_store",
    "open_view",
    "to_json_value",
    "to_zarr_codecs",
]
