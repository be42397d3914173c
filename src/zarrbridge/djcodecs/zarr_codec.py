"""``<zarr@store>``: numeric arrays in DataJoint tables, stored as schema-addressed Zarr v3 arrays.

Examples
--------
>>> import datajoint as dj, numpy as np                                   # doctest: +SKIP
>>> @schema                                                              # doctest: +SKIP
... class Recording(dj.Manual):
...     definition = '''
...     recording_id : int
...     ---
...     waveform : <zarr@mystore>
...     '''
>>> Recording.insert1({"recording_id": 1, "waveform": np.random.randn(1000, 32)})   # doctest: +SKIP
>>> z = (Recording & {"recording_id": 1}).fetch1("waveform")             # doctest: +SKIP
>>> z.shape, z.dtype                                                     # doctest: +SKIP
((1000, 32), dtype('float64'))
"""

from __future__ import annotations

from typing import Any

import numpy as np
import zarr
import zarr.codecs
from zarr.abc.store import Store

from ..core.arrays import DEFAULT_CHUNK_BYTES, ArrayPolicy, copy_array, create_array
from ..core.chunkio import read_selection
from ..daskwrite import write_dask_array
from .base import ArrayCodecBase
from .errors import as_datajoint_errors
from .foreign import DJ_ZARR_CODECS, is_dj_zarr_codecs_row
from .onechunk import encode_one_chunk
from .options import ZarrValue, check_array_input
from .registration import register

__all__ = ["ZarrCodec", "default_policy"]

#: Arrays up to this size fit one default chunk. Per-row latency matters more than bytes for them, so they get
#: Blosc-lz4, which compresses and decompresses a (1000, 32) float64 row several times faster than Blosc-zstd
#: level 1 for almost the same size on random data (1.05x vs 1.07x smaller). Larger arrays get Blosc-zstd
#: level 3 with byte shuffle: on the compressible float32 signal of ``benchmarks/bench_djcodecs.py`` it is
#: nearly as small as level 5 (4.02x vs 4.07x) at about three times its speed, and clearly smaller than
#: level 1 (3.75x).
SMALL_ARRAY_BYTES = DEFAULT_CHUNK_BYTES


_SMALL_POLICY = ArrayPolicy(compressors=(zarr.codecs.BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),))
_LARGE_POLICY = ArrayPolicy(compressors=(zarr.codecs.BloscCodec(cname="zstd", clevel=3, shuffle="shuffle"),))


def default_policy(nbytes: int) -> ArrayPolicy:
    """Chunks of about 4 MB with byte shuffle: Blosc-lz4 when the array fits one chunk, Blosc-zstd above."""
    return _SMALL_POLICY if nbytes <= SMALL_ARRAY_BYTES else _LARGE_POLICY


#: Largest block of a zarr source held in memory while copying it (whole destination chunks, at least one).
COPY_BLOCK_BYTES = 4 * DEFAULT_CHUNK_BYTES


def write_any(data: Any, dest: zarr.Array[Any]) -> None:
    """Fill ``dest`` from a numpy, zarr or dask array, never holding more than one block of a lazy source."""
    if isinstance(data, np.ndarray):
        dest[...] = data
    elif isinstance(data, zarr.Array):
        copy_array(data, dest, max_block_bytes=COPY_BLOCK_BYTES)
    else:
        write_dask_array(data, dest)


class ZarrCodec(ArrayCodecBase, register=False):  # type: ignore[call-arg]
    """Store numeric arrays as Zarr v3 arrays under schema-addressed paths; fetch returns a read-only
    :class:`zarr.Array`.

    Accepts a numpy array, a :class:`zarr.Array`, a :class:`dask.array.Array` (written block by block, so it
    may be larger than memory) or a :class:`~zarrbridge.djcodecs.ZarrValue` wrapping one of them with its own
    chunks and compressors. The row keeps ``{path, store, codec, format_version, shape, dtype, chunks}``;
    the array's ``zarr.json`` carries the codec name and format version too, and both are checked on fetch.
    Fetch reads only ``zarr.json``; chunks are read when sliced. Rows written by dj-zarr-codecs (plain zarr
    v3 or v2 arrays) fetch as the same read-only array.
    """

    name = "zarr"

    def validate(self, value: Any) -> None:
        """Accept numeric numpy/zarr/dask arrays and :class:`ZarrValue`; raise a clear error otherwise.

        Parameters
        ----------
        value : object
            The value given for the column at insert.
        """
        with as_datajoint_errors():
            if not isinstance(value, ZarrValue):
                check_array_input(value, what="<zarr>")

    def encode_in_memory(self, value: Any) -> tuple[dict[str, bytes], dict[str, Any]] | None:
        """A bare numpy array that fits one default chunk, encoded without zarr's I/O
        (see :mod:`.onechunk`).

        Parameters
        ----------
        value : object
            The validated value.

        Returns
        -------
        tuple of (dict, dict) or None
            The objects to store by key and the row's metadata, or ``None`` when the value
            is written by zarr instead.
        """
        if not isinstance(value, np.ndarray):
            return None
        objects = encode_one_chunk(value, default_policy(value.nbytes), self.array_attributes())
        if objects is None:
            return None
        shape = [int(s) for s in value.shape]
        return objects, {"shape": shape, "dtype": value.dtype.str, "chunks": shape}

    def write_value(self, value: Any, store: Store) -> dict[str, Any]:
        """Create the array (its metadata written once) and fill it.

        Parameters
        ----------
        value : array-like or ZarrValue
            The validated value (numpy, zarr or dask array), with its array policy in a :class:`ZarrValue`.
        store : zarr store
            The empty store the array is created in, at its root (the row's folder in the DataJoint store).

        Returns
        -------
        dict
            The row's metadata: the array's shape, dtype and chunks.
        """
        data = value.data if isinstance(value, ZarrValue) else value
        dtype = np.dtype(data.dtype)
        default = default_policy(int(np.prod(data.shape, dtype=np.int64)) * dtype.itemsize)
        if isinstance(value, ZarrValue):
            policy = value.policy
            if policy.compressors == "default":
                policy = ArrayPolicy(
                    chunks=policy.chunks,
                    shards=policy.shards,
                    compressors=default.compressors,
                    filters=policy.filters,
                    target_chunk_bytes=policy.target_chunk_bytes,
                )
        else:
            policy = default
        dest = create_array(
            store,
            "",
            shape=tuple(int(s) for s in data.shape),
            dtype=dtype,
            policy=policy,
            attributes=self.array_attributes(),
        )
        write_any(data, dest)
        return {"shape": list(dest.shape), "dtype": dtype.str, "chunks": list(dest.chunks)}

    def wrap_fetched(self, array: zarr.Array[Any], stored: dict[str, Any]) -> zarr.Array[Any]:
        """The read-only array (a :class:`FetchedArray`).

        Parameters
        ----------
        array : zarr.Array
            The stored array, opened read-only.
        stored : dict
            The JSON metadata DataJoint keeps in the row.

        Returns
        -------
        zarr.Array
            The read-only array.
        """
        return FetchedArray(array._async_array)

    def foreign_origin(self, row: dict[str, Any]) -> str | None:
        """``"dj-zarr-codecs"`` for the rows it writes (see :mod:`zarrbridge.djcodecs.foreign`), else None.

        Parameters
        ----------
        row : dict
            The JSON metadata DataJoint keeps in the row.

        Returns
        -------
        str or None
            The package that wrote the row, or ``None`` for zarrbridge's own rows.
        """
        return DJ_ZARR_CODECS if is_dj_zarr_codecs_row(row) else None

    def wrap_foreign(self, array: zarr.Array[Any], row: dict[str, Any], origin: str) -> zarr.Array[Any]:
        """The same read-only :class:`FetchedArray` as for zarrbridge's own rows (zarr v3 or v2 beneath).

        Parameters
        ----------
        array : zarr.Array
            The array another package wrote (dj-zarr-codecs), opened read-only.
        row : dict
            That package's JSON for the row.
        origin : str
            The package that wrote it, as :meth:`foreign_origin` returned.

        Returns
        -------
        zarr.Array
            What :meth:`wrap_fetched` returns for the array.
        """
        return self.wrap_fetched(array, row)


class FetchedArray(zarr.Array):  # type: ignore[type-arg]
    """The ``zarr.Array`` a fetch returns: a one-chunk array is read in the calling thread.

    Everything else is the plain ``zarr.Array`` (writes are refused by the read-only store beneath it).
    """

    def __getitem__(self, key: Any) -> Any:
        return read_selection(self, key)


register(ZarrCodec)
