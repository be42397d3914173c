"""Persistent serializers: large arrays out of pickled results, into HDF5 or Zarr array files.

A result storage (:func:`storage_factory`) pickles named results; registered persistent serializers write the
objects of their class (dask arrays, large numpy arrays) to array files and leave a small, versioned id in
the pickle. Needs the ``dask`` extra (``pip install "zarrbridge[dask]"``); S3 storages need ``s3``.

Examples
--------
>>> import tempfile, dask.array as da
>>> from zarrbridge import DaskArraySerializer, storage_factory
>>> storage = storage_factory({"kind": "file", "options": {"path": tempfile.mkdtemp()}})
>>> storage.register_persistent_serializers(DaskArraySerializer)
>>> storage.save("mean", {"values": da.ones((100, 10), chunks=(50, 10))})
>>> storage.load("mean")["values"].sum().compute()
np.float64(1000.0)

Unpickling runs code: use ``storage.load(name, restricted=True)`` for results from others.
"""

from __future__ import annotations

from .._optional import import_optional

import_optional("dask.array", extra="dask", feature="persistent serializers")
import_optional("h5py", extra="dask", feature="persistent serializers (HDF5 array files)")

from .base import PersistentSerializer  # noqa: E402
from .dask_array import DaskArraySerializer  # noqa: E402
from .dask_hdf5 import DaskHDF5Serializer, HDF5Options  # noqa: E402
from .dask_zarr import DaskZarrSerializer  # noqa: E402
from .memoize import memoize  # noqa: E402
from .numpy_array import NumpyArraySerializer  # noqa: E402
from .protocols import FILE_PROTOCOL, S3_PROTOCOL, FileProtocol, LocalFiles  # noqa: E402
from .result_storage import ResultStorage  # noqa: E402
from .storage import FileStorage, FileStorageOptions, S3Storage, S3StorageOptions, storage_factory  # noqa: E402

__all__ = [
    "FILE_PROTOCOL",
    "S3_PROTOCOL",
    "DaskArraySerializer",
    "DaskHDF5Serializer",
    "DaskZarrSerializer",
    "FileProtocol",
    "FileStorage",
    "FileStorageOptions",
    "HDF5Options",
    "LocalFiles",
    "NumpyArraySerializer",
    "PersistentSerializer",
    "ResultStorage",
    "S3Storage",
    "S3StorageOptions",
    "memoize",
    "storage_factory",
]
