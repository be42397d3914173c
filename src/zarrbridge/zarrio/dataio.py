"""``ZarrDataIO``: wrap data to choose its chunking, compression, filters, sharding and linking."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from hdmf.data_utils import DataIO

from ..core.arrays import ArrayPolicy
from ..errors import InvalidOptionError

__all__ = ["ZarrDataIO"]


class ZarrDataIO(DataIO):  # type: ignore[misc]
    """Wrap a dataset's data to configure how :class:`~zarrbridge.ZarrIO` stores it.

    Parameters
    ----------
    data
        The data: an array, list, :class:`hdmf.data_utils.AbstractDataChunkIterator`, a ``zarr.Array`` or an
        ``h5py.Dataset``; ``None`` with ``shape`` and ``dtype`` creates an unwritten dataset.
    chunks
        Chunk shape; ``None`` chooses one (about 4 MiB per chunk).
    fillvalue
        Value of elements never written.
    compressor, compressors
        One codec, or several (zarr v3 bytes-to-bytes codecs or numcodecs codecs such as
        ``numcodecs.Blosc(cname="zstd", clevel=5)``). ``None`` keeps zarr's default (zstd).
    filters
        Array-to-array codecs or numcodecs filters (``Delta``, ``FixedScaleOffset``, ``Shuffle``...).
    shards
        Shard shape (a multiple of ``chunks``) so that a big dataset is not thousands of small files.
    link_data
        For ``zarr.Array`` data: link to it (``True``) instead of copying it.
    shape, dtype
        For ``data=None`` only.

    Examples
    --------
    >>> import numcodecs, numpy as np
    >>> ZarrDataIO(np.zeros((1000, 64)), chunks=(100, 64), compressor=numcodecs.Blosc()).policy.chunks
    (100, 64)
    """

    def __init__(
        self,
        data: Any = None,
        *,
        chunks: Sequence[int] | None = None,
        fillvalue: Any = None,
        compressor: Any = None,
        compressors: Sequence[Any] | bool | Any = None,
        filters: Sequence[Any] | None = None,
        shards: Sequence[int] | None = None,
        link_data: bool = False,
        shape: Sequence[int] | None = None,
        dtype: Any = None,
    ) -> None:
        if compressor is not None and compressors is not None:
            raise InvalidOptionError("give either compressor or compressors, not both")
        if data is None and (shape is None or dtype is None):
            raise InvalidOptionError("ZarrDataIO(data=None) needs shape and dtype")
        if link_data and not _is_zarr_array(data):
            raise InvalidOptionError(
                f"link_data=True needs a zarr.Array as data, got {type(data).__name__}; use link_data=False"
            )
        comp: Any = "default"
        if isinstance(compressors, bool):  # hdmf-zarr: True for zarr's default, False for none
            comp = "default" if compressors else None
        elif compressors is not None and not isinstance(compressors, (list, tuple)):
            comp = (compressors,)  # hdmf-zarr also takes a single codec
        elif compressors is not None:
            comp = tuple(compressors)
        elif compressor is not None:
            comp = compressor if compressor is not False else None
        self.policy = ArrayPolicy(
            chunks=tuple(chunks) if chunks is not None else None,
            shards=tuple(shards) if shards is not None else None,
            compressors=comp,
            filters=tuple(filters or ()),
            fill_value=fillvalue,
        )
        self.link_data = link_data
        kwargs: dict[str, Any] = {"data": data}
        if data is None:
            kwargs.update(shape=tuple(shape or ()), dtype=dtype)
        super().__init__(**kwargs)

    @staticmethod
    def is_h5py_dataset(obj: Any) -> bool:
        """Whether ``obj`` is an ``h5py.Dataset`` (hdmf-zarr's helper).

        Parameters
        ----------
        obj : object
            Any object.

        Returns
        -------
        bool
            Whether it is one.
        """
        from .h5layout import is_hdf5_dataset

        return is_hdf5_dataset(obj)

    @staticmethod
    def hdf5_to_zarr_filters(h5dataset: Any) -> list[Any]:
        """The zarr v3 codecs (filters, then compressors) matching ``h5dataset``'s HDF5 filter pipeline.

        HDF5 filters without a zarr counterpart (lzf, szip, scaleoffset...) are reported with a
        :class:`~zarrbridge.errors.CodecNotMappedWarning` and left out,
        as hdmf-zarr warns and leaves them out.

        Parameters
        ----------
        h5dataset : h5py.Dataset
            The source dataset.

        Returns
        -------
        list
            The zarr v3 codecs, filters first.
        """
        import warnings

        from ..errors import CodecNotMappedWarning
        from .h5layout import hdf5_layout

        layout = hdf5_layout(h5dataset, zarr_format=3)
        for name in layout.unmapped:
            warnings.warn(CodecNotMappedWarning(str(h5dataset.name), name), stacklevel=2)
        compressors = layout.compressors if isinstance(layout.compressors, (list, tuple)) else ()
        return [*layout.filters, *compressors]

    @staticmethod
    def from_h5py_dataset(h5dataset: Any, **kwargs: Any) -> ZarrDataIO:
        """Wrap an ``h5py.Dataset`` with the chunks, fill value and codecs its HDF5 layout maps to.

        ``chunks``, ``fillvalue``, ``compressors`` and ``filters`` in ``kwargs`` override the inferred ones;
        the other ``kwargs`` are ZarrDataIO's.

        Parameters
        ----------
        h5dataset : h5py.Dataset
            The source dataset.
        **kwargs
            ZarrDataIO's keyword arguments (see the class).

        Returns
        -------
        ZarrDataIO
            The wrapped dataset.
        """
        import warnings

        from ..errors import CodecNotMappedWarning
        from .h5layout import hdf5_layout

        layout = hdf5_layout(h5dataset, zarr_format=3)
        for name in layout.unmapped:
            warnings.warn(CodecNotMappedWarning(str(h5dataset.name), name), stacklevel=2)
        fill = kwargs.pop("fillvalue", h5dataset.fillvalue)
        if isinstance(fill, bytes):
            fill = fill.decode("utf-8")
        compressors = layout.compressors if isinstance(layout.compressors, (list, tuple)) else None
        return ZarrDataIO(
            h5dataset,
            chunks=kwargs.pop("chunks", h5dataset.chunks),
            fillvalue=fill,
            compressors=kwargs.pop("compressors", compressors),
            filters=kwargs.pop("filters", layout.filters or None),
            **kwargs,
        )

    def get_io_params(self) -> dict[str, Any]:
        """The I/O settings and ``link_data`` (hdmf-zarr's ``get_io_params``).

        Returns
        -------
        dict
            The settings.
        """
        return {**self.io_settings, "link_data": self.link_data}

    def __iter__(self) -> Iterator[Any]:
        # zarr 3 arrays are not iterable; hdmf peeks at the first element to detect references
        if _is_zarr_array(self.data):
            return (self.data[i] for i in range(self.data.shape[0] if self.data.ndim else 0))
        return iter(self.data)

    @property
    def io_settings(self) -> dict[str, Any]:
        """The settings as a plain dict (for display)."""
        p = self.policy
        return {
            "chunks": p.chunks,
            "shards": p.shards,
            "compressors": p.compressors,
            "filters": p.filters,
            "fillvalue": p.fill_value,
        }


def _is_zarr_array(data: Any) -> bool:
    import zarr

    return isinstance(data, zarr.Array)
