"""Array writing with a chunk/codec policy, shared by every integration.

:class:`ArrayPolicy` says how an array is laid out (chunks, shards, compressors, filters, fill value);
:func:`create_array` applies it; :func:`copy_array` fills an array from any sliceable source block by block,
so memory is bounded by one block, never by the array.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numcodecs
import numpy as np
import zarr
import zarr.codecs
from zarr.abc.codec import ArrayArrayCodec, ArrayBytesCodec, BytesBytesCodec
from zarr.abc.store import Store
from zarr.core.common import ZarrFormat

from ..errors import InvalidOptionError, ShapeMismatchError, UnsupportedDtypeError
from .integrity import mark_complete, strict_array
from .parallel import TaskClient, map_bounded
from .structdtype import portable_dtype

__all__ = [
    "ArrayPolicy",
    "auto_chunks",
    "chunk_containing",
    "copy_array",
    "copy_block",
    "create_array",
    "iter_blocks",
    "to_zarr_codecs",
]

DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024
AnyCodec = Any
Selection = tuple[slice, ...]


@dataclass(frozen=True)
class ArrayPolicy:
    """How to lay out one array.

    Parameters
    ----------
    chunks
        Chunk shape; ``None`` picks one automatically (about ``target_chunk_bytes`` per chunk).
    shards
        Shard shape (zarr format 3 only), a multiple of ``chunks``; ``None`` for no sharding.
    compressors
        zarr v3 bytes-to-bytes codecs or numcodecs codecs; ``"default"`` keeps zarr's default (zstd),
        ``None`` or ``()`` stores uncompressed.
    filters
        zarr v3 array-to-array codecs or numcodecs filters (``Delta``, ``FixedScaleOffset``, ``Shuffle``...).
    fill_value
        Value of chunks never written; ``None`` keeps zarr's default for the dtype.
    target_chunk_bytes
        Size aimed at by automatic chunking.
    extra : dict[str, Any]
        More keyword arguments for :func:`zarr.create_array` (not compared
        between policies).

    Examples
    --------
    >>> ArrayPolicy(chunks=(1000, 32), compressors=(numcodecs.Blosc(cname="zstd", clevel=5),)).chunks
    (1000, 32)
    """

    chunks: tuple[int, ...] | None = None
    shards: tuple[int, ...] | None = None
    compressors: Any = "default"
    filters: tuple[Any, ...] = ()
    fill_value: Any = None
    target_chunk_bytes: int = DEFAULT_CHUNK_BYTES
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for name in ("chunks", "shards"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, int):
                value = (value,)
            if not isinstance(value, (tuple, list)) or not all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in value
            ):
                raise InvalidOptionError(f"{name} must be a tuple of positive integers, got {value!r}")
            object.__setattr__(self, name, tuple(int(v) for v in value))
        if self.shards is not None and self.chunks is not None:
            if len(self.shards) != len(self.chunks) or any(s % c for s, c in zip(self.shards, self.chunks)):
                raise InvalidOptionError(f"shards {self.shards} must be a multiple of chunks {self.chunks}")
        if self.compressors not in ("default", None) and not isinstance(self.compressors, (tuple, list)):
            object.__setattr__(self, "compressors", (self.compressors,))
        filters: object = self.filters  # untyped callers pass a list, or None for none
        if filters is None:
            object.__setattr__(self, "filters", ())
        elif not isinstance(filters, tuple):
            object.__setattr__(self, "filters", tuple(cast("Iterable[Any]", filters)))
        if self.target_chunk_bytes <= 0:
            raise InvalidOptionError("target_chunk_bytes must be positive")

    @functools.cached_property
    def codec_key(self) -> str:
        """Identifies everything but the chunk shape (codec objects need not be hashable; their reprs show
        their settings). Computed once per policy object."""
        return repr(dataclasses.replace(self, chunks=None))

    def resolve_chunks(self, shape: Sequence[int], itemsize: int) -> tuple[int, ...]:
        """The chunk shape to use for an array of ``shape``.

        Parameters
        ----------
        shape : Sequence[int]
            The shape of the array to be created; the policy's own chunks must have as many axes.
        itemsize : int
            Bytes per element, from which automatic chunks (:func:`auto_chunks`) are sized.

        Returns
        -------
        tuple of int
            The policy's chunks, else automatic ones within its shards or the whole shape.
        """
        if self.chunks is not None:
            if len(self.chunks) != len(shape):
                raise ShapeMismatchError("chunks", f"{len(shape)} dimensions", self.chunks)
            return self.chunks
        if self.shards is not None:
            return auto_chunks(self.shards, itemsize, self.target_chunk_bytes)
        return auto_chunks(shape, itemsize, self.target_chunk_bytes)


def auto_chunks(
    shape: Sequence[int], itemsize: int, target_bytes: int = DEFAULT_CHUNK_BYTES
) -> tuple[int, ...]:
    """A chunk shape of about ``target_bytes``, halving the longest axis (relative) until it fits.

    Leading axes (time in most recordings) are split first when axes are equally long; an empty axis gets a
    chunk length of 1.

    Parameters
    ----------
    shape : Sequence[int]
        The array's shape.
    itemsize : int
        Bytes per element.
    target_bytes : int
        The chunk size aimed at, in bytes.

    Returns
    -------
    tuple of int
        The chunk shape, one length per axis.

    Examples
    --------
    >>> auto_chunks((1_000_000, 64), 4)
    (15625, 64)
    """
    if not shape:
        return ()
    chunks = [max(1, int(s)) for s in shape]
    itemsize = max(1, int(itemsize))
    while math.prod(chunks) * itemsize > target_bytes and max(chunks) > 1:
        axis = max(range(len(chunks)), key=lambda i: (chunks[i], -i))
        chunks[axis] = math.ceil(chunks[axis] / 2)
    return tuple(chunks)


_BLOSC_SHUFFLE: dict[int, Literal["noshuffle", "shuffle", "bitshuffle"]] = {
    0: "noshuffle",
    1: "shuffle",
    2: "bitshuffle",
    -1: "shuffle",
}
_V3_FOR_NUMCODECS: dict[str, Callable[[dict[str, Any]], AnyCodec]] = {
    "zstd": lambda c: zarr.codecs.ZstdCodec(level=c.get("level", 0), checksum=c.get("checksum", False)),
    "gzip": lambda c: zarr.codecs.GzipCodec(level=c.get("level", 5)),
    "blosc": lambda c: zarr.codecs.BloscCodec(
        cname=c.get("cname", "zstd"),
        clevel=c.get("clevel", 5),
        shuffle=_BLOSC_SHUFFLE[c.get("shuffle", 1)],
        blocksize=c.get("blocksize", 0),
    ),
}


def _wrap_numcodec(codec: numcodecs.abc.Codec) -> AnyCodec:
    config = {k: v for k, v in codec.get_config().items() if k != "id"}
    native = _V3_FOR_NUMCODECS.get(codec.codec_id)
    if native is not None:
        return native(config)
    wrapper = getattr(zarr.codecs, type(codec).__name__, None)
    if wrapper is None:
        raise InvalidOptionError(f"numcodecs codec {codec.codec_id!r} has no zarr format 3 counterpart")
    return wrapper(**config)


def to_zarr_codecs(codecs: Any, *, zarr_format: int = 3) -> Any:
    """Normalise compressors or filters for :func:`zarr.create_array`.

    numcodecs codecs are mapped to native zarr v3 codecs where one exists (zstd, gzip, blosc) and wrapped
    otherwise; zarr v3 codecs pass through. For zarr format 2 numcodecs codecs pass through unchanged.

    Parameters
    ----------
    codecs : object
        One codec, a sequence of codecs, ``None`` or ``"default"``.
    zarr_format : int
        The zarr format of the array they are for (2 or 3).

    Returns
    -------
    object
        The codecs in the form :func:`zarr.create_array` takes.
    """
    if codecs == "default" or codecs == "auto":
        return "auto"
    if codecs is None:
        return ()
    out = []
    for codec in codecs:
        if zarr_format == 2:
            if not isinstance(codec, numcodecs.abc.Codec):
                raise InvalidOptionError(f"zarr format 2 takes numcodecs codecs, got {codec!r}")
            out.append(codec)
        elif isinstance(codec, (ArrayArrayCodec, ArrayBytesCodec, BytesBytesCodec)):
            out.append(codec)
        elif isinstance(codec, numcodecs.abc.Codec):
            out.append(_wrap_numcodec(codec))
        else:
            raise InvalidOptionError(f"{codec!r} is not a zarr codec or a numcodecs codec")
    return tuple(out)


def check_storable_dtype(
    dtype: np.dtype[Any],
    what: str,
    *,
    object_hint: str = "convert them to str, numbers or a structured dtype.",
) -> None:
    """Raise :class:`UnsupportedDtypeError` for dtypes zarr cannot hold faithfully (objects, complex...).

    ``object_hint`` ends the message for object arrays: what the caller should store instead.
    """
    if dtype.kind == "O":
        raise UnsupportedDtypeError(
            what, dtype, f"Object arrays of arbitrary Python objects cannot be stored; {object_hint}"
        )
    if dtype.kind in "cmMV" and dtype.names is None:
        raise UnsupportedDtypeError(what, dtype)


def create_array(
    store: Store | zarr.Group,
    path: str,
    *,
    shape: Sequence[int],
    dtype: Any,
    policy: ArrayPolicy = ArrayPolicy(),
    attributes: dict[str, Any] | None = None,
    zarr_format: ZarrFormat = 3,
    overwrite: bool = False,
    dimension_names: Sequence[str] | None = None,
) -> zarr.Array[Any]:
    """Create an empty array at ``path`` laid out by ``policy``; its metadata document is written once.

    The array stores every chunk, also one that holds only the fill value (``write_empty_chunks``), and says
    so with the :data:`~zarrbridge.core.integrity.COMPLETE_ATTRIBUTE` attribute; the returned handle is strict
    (:func:`~zarrbridge.core.integrity.strict_array`), so a chunk found missing later is an error, not fill
    values. Writers that leave chunks unwritten call :func:`~zarrbridge.core.integrity.fill_missing_chunks`
    before they finish.

    Parameters
    ----------
    store : zarr store or zarr.Group
        Where to create the array.
    path : str
        The array's path inside ``store``.
    shape : Sequence[int]
        The array's shape.
    dtype : numpy dtype or str
        The array's dtype.
    policy : ArrayPolicy
        Chunks, shards, codecs and fill value.
    attributes : dict, optional
        Attributes written with the metadata (JSON values).
    zarr_format : int
        2 or 3.
    overwrite : bool
        Replace an existing node at ``path``.
    dimension_names : Sequence[str], optional
        Names of the axes (zarr format 3 only).

    Returns
    -------
    zarr.Array
        The new array, strict about missing chunks.
    """
    shape = tuple(int(s) for s in shape)
    zdtype = np.dtype(dtype) if not isinstance(dtype, str) or dtype != "str" else dtype
    itemsize = 16 if isinstance(zdtype, str) or zdtype.kind in "OT" else max(1, zdtype.itemsize)
    chunks = policy.resolve_chunks(shape, itemsize)
    zdtype = portable_dtype(zdtype, zarr_format=zarr_format)  # compounds as "structured": every zarr reads it
    kwargs: dict[str, Any] = {}
    if policy.fill_value is not None:
        kwargs["fill_value"] = policy.fill_value
    if policy.shards is not None:
        if zarr_format != 3:
            raise InvalidOptionError("sharding needs zarr format 3")
        kwargs["shards"] = policy.shards
    if dimension_names is not None and zarr_format == 3:
        kwargs["dimension_names"] = list(dimension_names)
    compressors = to_zarr_codecs(policy.compressors, zarr_format=zarr_format)
    filters = to_zarr_codecs(policy.filters, zarr_format=zarr_format) if policy.filters else "auto"
    if zarr_format == 3 and filters != "auto":
        # numcodecs.Shuffle is bytes-to-bytes in zarr v3: it belongs in front of the compressors
        bb = tuple(f for f in filters if isinstance(f, BytesBytesCodec))
        filters = tuple(f for f in filters if not isinstance(f, BytesBytesCodec)) or "auto"
        if bb:
            base = () if compressors == "auto" else compressors
            if compressors == "auto":
                base = (zarr.codecs.ZstdCodec(level=0),)
            compressors = bb + tuple(base)
    if zarr_format == 2 and compressors != "auto":
        kwargs["compressor"] = compressors[0] if compressors else None
        if len(compressors) > 1:
            raise InvalidOptionError("zarr format 2 takes a single compressor")
    else:
        kwargs["compressors"] = compressors
    if filters != "auto":
        kwargs["filters"] = filters
    kwargs["config"] = {"write_empty_chunks": True}
    kwargs.update(shape=shape, dtype=zdtype, chunks=chunks, attributes=mark_complete(attributes))
    if isinstance(store, zarr.Group):
        return strict_array(store.create_array(path, overwrite=overwrite, **kwargs))
    if zarr_format == 2 and "compressor" in kwargs:
        kwargs["compressors"] = kwargs.pop("compressor")
    return strict_array(
        zarr.create_array(store, name=path, zarr_format=zarr_format, overwrite=overwrite, **kwargs)
    )


def iter_blocks(shape: Sequence[int], block: Sequence[int]) -> Iterator[Selection]:
    """Selections that tile ``shape`` with blocks of ``block`` (the last ones clipped).

    Parameters
    ----------
    shape : Sequence[int]
        The shape to tile.
    block : Sequence[int]
        The block shape.
    """
    if not shape:
        yield ()
        return
    if any(s == 0 for s in shape):
        return
    ranges = [range(0, s, b) for s, b in zip(shape, block)]
    for starts in itertools.product(*ranges):
        yield tuple(slice(a, min(a + b, s)) for a, b, s in zip(starts, block, shape))


def chunk_containing(
    sel: tuple[Any, ...], shape: Sequence[int], chunk_shape: Sequence[int]
) -> tuple[tuple[int, ...], Selection] | None:
    """``(chunk grid position, selection inside that chunk)`` when the basic
    selection ``sel`` lies in one chunk.

    ``None`` when it does not: another number of axes than ``shape``, an integer or stepped index, an empty
    range, or a range that crosses a chunk boundary. Used by the readers that take a whole block from one
    stored chunk file (HDF5 and zarr) without going through h5py or zarr.
    """
    if len(sel) != len(shape):
        return None
    grid: list[int] = []
    inner: list[slice] = []
    for s, chunk, size in zip(sel, chunk_shape, shape):
        if not isinstance(s, slice) or s.step not in (None, 1):
            return None
        start, stop, _ = s.indices(size)
        position = start // chunk
        if stop <= start or stop > (position + 1) * chunk:
            return None
        grid.append(position)
        inner.append(slice(start - position * chunk, stop - position * chunk))
    return tuple(grid), tuple(inner)


def write_block_shape(dest: zarr.Array[Any], max_block_bytes: int) -> tuple[int, ...]:
    """Blocks aligned to the destination's shards (or chunks),
    grown along leading axes up to a byte budget."""
    if dest.ndim == 0:
        return ()
    unit = list(dest.shards or dest.chunks)
    itemsize = max(1, dest.dtype.itemsize if hasattr(dest.dtype, "itemsize") else 16)
    block = list(unit)
    for axis in range(dest.ndim):
        while block[axis] < dest.shape[axis] and math.prod(block) * itemsize * 2 <= max_block_bytes:
            block[axis] = min(block[axis] * 2, math.ceil(dest.shape[axis] / unit[axis]) * unit[axis])
        if block[axis] < dest.shape[axis]:
            break
    return tuple(block)


def copy_array(
    source: Any,
    dest: zarr.Array[Any],
    *,
    max_block_bytes: int = 64 * 1024 * 1024,
    workers: int = 1,
    client: TaskClient | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Copy ``source`` (anything sliceable with the same shape: h5py, zarr, numpy) into ``dest``.

    Blocks are aligned to ``dest``'s shards or chunks, so each stored object is written once; at most
    ``2 x workers`` blocks are in flight at a time. With a ``dask.distributed`` ``client`` the blocks are
    copied by the cluster's workers (``source`` and ``dest`` must then pickle, e.g. zarr arrays on a shared
    store). ``progress`` is called with the bytes of each block written. Returns the number of bytes copied.

    Parameters
    ----------
    source : array-like
        h5py dataset, zarr array, numpy array... of ``dest``'s shape.
    dest : zarr.Array
        The destination array, already created.
    max_block_bytes : int
        Upper bound of one block read into memory (a whole shard is read when larger).
    workers : int
        Threads copying blocks in parallel.
    client : distributed.Client, optional
        Copy on this cluster's workers instead of local threads.
    progress : callable, optional
        Called with the number of bytes of each block once it is written.

    Returns
    -------
    int
        The number of bytes copied.
    """
    src_shape = tuple(getattr(source, "shape", np.shape(source)))
    if src_shape != tuple(dest.shape):
        raise ShapeMismatchError("copy_array source", tuple(dest.shape), src_shape)
    if dest.ndim == 0:
        value = np.asarray(source[()])
        dest[()] = value
        return int(value.nbytes)
    parallel = max(1, workers) if client is None else max(2, workers)
    block = write_block_shape(dest, max(1, max_block_bytes // (2 * parallel)))
    total = 0
    task = functools.partial(copy_block, source, dest)
    for nbytes in map_bounded(task, iter_blocks(dest.shape, block), workers=max(1, workers), client=client):
        total += nbytes
        if progress is not None:
            progress(nbytes)
    return total


def copy_block(source: Any, dest: zarr.Array[Any], sel: Selection) -> int:
    """Copy one block ``source[sel]`` into ``dest[sel]``; return its size in bytes."""
    data = np.asarray(source[sel])
    dest[sel] = data
    return int(data.nbytes)
