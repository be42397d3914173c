"""zarrbridge: a first-class Zarr storage layer for HDMF/NWB, DataJoint and workflow result stores.

``import zarrbridge`` needs only the core dependencies (zarr, numpy, numcodecs, fsspec). The integrations load
on first use of their names and say which extra to install when their host package is missing.

Logging goes through ``logging.getLogger("zarrbridge")``, one logger per subpackage under it
(``zarrbridge.zarrio``, ``zarrbridge.serializers``, ``zarrbridge.djcodecs``, ``zarrbridge.core``...): what was
chosen (codecs, chunk shapes, number of workers, raw chunk copy or recompression) at INFO. Nothing is
printed; long operations report progress through their ``progress=`` argument (:mod:`zarrbridge.progress`).
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from . import errors
from .core import ArrayPolicy, Location, open_store
from .errors import ZarrBridgeError

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(
    logging.NullHandler()
)  # silent unless the application configures logging

# public name -> (module, extra that provides its dependencies)
_LAZY: dict[str, tuple[str, str]] = {
    "ZarrIO": ("zarrbridge.zarrio", "hdmf"),
    "ZarrDataIO": ("zarrbridge.zarrio", "hdmf"),
    "NWBZarrIO": ("zarrbridge.zarrio.nwb", "nwb"),
    "read_nwb": ("zarrbridge.zarrio.nwb", "nwb"),
    "DaskArraySerializer": ("zarrbridge.serializers", "dask"),
    "NumpyArraySerializer": ("zarrbridge.serializers", "dask"),
    "FILE_PROTOCOL": ("zarrbridge.serializers", "dask"),
    "S3_PROTOCOL": ("zarrbridge.serializers", "dask"),
    "storage_factory": ("zarrbridge.serializers", "dask"),
    "ZarrCodec": ("zarrbridge.djcodecs", "datajoint"),
    "PhotonCodec": ("zarrbridge.djcodecs", "datajoint"),
}

__all__ = ["ArrayPolicy", "Location", "ZarrBridgeError", "__version__", "errors", "open_store", *_LAZY]


def __getattr__(name: str) -> Any:
    try:
        module_name, _extra = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'zarrbridge' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
