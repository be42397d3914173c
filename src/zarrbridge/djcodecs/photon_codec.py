"""``<photon@store>``: photon-limited movies stored through anscombe-transform's ``anscombe-v1`` zarr codec.

See :mod:`zarrbridge.djcodecs.anscombe_v1` for how the codec is set up (format 2, written now) and
:mod:`zarrbridge.djcodecs.anscombe` for zarrbridge's earlier transform (format 1, still read), and
``docs/djcodecs.md`` for measurements on simulated Poisson movies.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import zarr
import zarr.codecs
from zarr.abc.store import Store
from zarr.core.metadata.v3 import ArrayV3Metadata

from ..core.arrays import DEFAULT_CHUNK_BYTES, ArrayPolicy, create_array
from ..daskwrite import write_dask_array
from ..errors import CorruptMetadataError
from .anscombe import AnscombeParams, estimate_sensitivity, inverse
from .anscombe_v1 import BETA, CODEC_NAME, CodecSettings, choose_settings, codec_module, to_readings
from .base import ATTRIBUTE_KEY, ArrayCodecBase
from .errors import as_datajoint_errors
from .movie import PhotonMovie
from .options import PhotonValue
from .registration import register

__all__ = ["PhotonCodec"]

_SAMPLE_BYTES = 64 * 1024 * 1024  # float64 working memory for estimation and for each written block
# uint8 codes: zstd alone was measured smaller than blosc + shuffle on them; uint16 codes (a small gain or a
# large zero level: the code table does not fit 8 bits) need the byte shuffle for their mostly-zero high bytes
_COMPRESSORS = {
    "uint8": (zarr.codecs.ZstdCodec(level=5),),
    "uint16": (zarr.codecs.BloscCodec(cname="zstd", clevel=5, shuffle="shuffle"),),
}


def _frames_block(shape: tuple[int, ...], chunk_frames: int) -> int:
    """Frames per written block: whole chunks, about ``_SAMPLE_BYTES`` of float64."""
    per_frame = max(1, shape[1] * shape[2] * 8)
    chunks = max(1, _SAMPLE_BYTES // (per_frame * chunk_frames))
    return chunks * chunk_frames


def _decoded_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """The array's data type: the movie's own integer type, ``int16`` for floats (readings are <= 32767)."""
    if dtype.kind in "iu":
        return dtype.newbyteorder("=")
    return np.dtype("uint8") if dtype.kind == "b" else np.dtype("int16")


def _codec_entries(array: zarr.Array[Any]) -> list[Any]:
    codecs: Any = array.metadata.to_dict().get("codecs")
    return list(codecs) if isinstance(codecs, (list, tuple)) else []


def _raw_codes(array: zarr.Array[Any], settings: CodecSettings) -> zarr.Array[Any]:
    """The same stored chunks read without the ``anscombe-v1`` step: the codes as ``encoded_dtype``."""
    doc: dict[str, Any] = dict(array.metadata.to_dict())
    doc["codecs"] = [
        c for c in _codec_entries(array) if not (isinstance(c, dict) and c.get("name") == CODEC_NAME)
    ]
    doc["data_type"] = settings.encoded_dtype
    doc["fill_value"] = 0
    return zarr.Array(zarr.AsyncArray(metadata=ArrayV3Metadata.from_dict(doc), store_path=array.store_path))


class PhotonCodec(ArrayCodecBase, register=False):  # type: ignore[call-arg]
    """Store photon-limited movies (frames, height, width) compactly; fetch returns a lazy
    :class:`~zarrbridge.djcodecs.PhotonMovie` in the original detector units.

    The array holds the readings (whole numbers from 0 to 32767) through anscombe-transform's
    ``anscombe-v1`` codec, which stores each chunk as Anscombe codes in steps of half the photon noise;
    ``sensitivity`` (units per photon) and ``zero_level`` are estimated from the movie unless given in a
    :class:`~zarrbridge.djcodecs.PhotonValue`. Chunks are whole frames, compressed with zstd. Any zarr
    reader with anscombe-transform installed decodes the stored array. Rows written by zarrbridge's earlier
    transform (format 1) are still read.
    """

    name = "photon"
    format_version = 2
    read_versions: ClassVar[tuple[int, ...]] = (1, 2)

    def validate(self, value: Any) -> None:
        """Accept a 3-D numeric numpy/zarr/dask movie or a :class:`PhotonValue`;
        raise a clear error otherwise.

        Parameters
        ----------
        value : object
            The value given for the column at insert.
        """
        with as_datajoint_errors():
            if not isinstance(value, PhotonValue):
                PhotonValue(value)  # runs every check

    def write_value(self, value: Any, store: Store) -> dict[str, Any]:
        """Estimate or take the detector parameters, set up ``anscombe-v1`` and write the movie in blocks.

        Parameters
        ----------
        value : array-like or PhotonValue
            The validated movie (frames, y, x) and, in a :class:`PhotonValue`, its detector parameters.
        store : zarr store
            The empty store the encoded movie is written to, as one array at its root.

        Returns
        -------
        dict
            The row's metadata: shape, decoded dtype and chunks of the array, the movie's original dtype,
            and the ``transform`` (Anscombe settings, sensitivity and zero level) it was encoded with.
        """
        opts = value if isinstance(value, PhotonValue) else PhotonValue(value)
        data = opts.data
        shape = tuple(int(s) for s in data.shape)
        if opts.sensitivity is not None and opts.zero_level is not None:
            sensitivity, zero_level = opts.sensitivity, opts.zero_level
        else:
            n = max(2, min(shape[0], _SAMPLE_BYTES // max(1, shape[1] * shape[2] * 8)))
            sample = data[:n]
            sensitivity, zero_level = estimate_sensitivity(
                sample.compute() if hasattr(sample, "compute") else np.asarray(sample)
            )
        decoded = _decoded_dtype(np.dtype(data.dtype))
        settings = choose_settings(sensitivity=sensitivity, zero_level=zero_level, decoded_dtype=decoded.name)
        itemsize = np.dtype(settings.encoded_dtype).itemsize
        frames = opts.frames_per_chunk or max(
            1, DEFAULT_CHUNK_BYTES // max(1, shape[1] * shape[2] * itemsize)
        )
        policy = ArrayPolicy(
            chunks=(min(frames, max(1, shape[0])), max(1, shape[1]), max(1, shape[2])),
            compressors=_COMPRESSORS[settings.encoded_dtype],
            filters=(settings.codec(),),
        )
        transform = {
            **settings.to_dict(),
            "sensitivity": float(sensitivity),
            "zero_level_fit": float(zero_level),
        }
        original = np.dtype(data.dtype).str
        dest = create_array(
            store,
            "",
            shape=shape,
            dtype=decoded,
            policy=policy,
            dimension_names=("time", "y", "x"),
            attributes=self.array_attributes(transform=transform, original_dtype=original),
        )
        if isinstance(data, (np.ndarray, zarr.Array)):
            step = _frames_block(shape, dest.chunks[0])
            for t in range(0, shape[0], step):
                dest[t : t + step] = to_readings(data[t : t + step], decoded)
        else:
            write_dask_array(data.map_blocks(to_readings, decoded, dtype=decoded), dest)
        return {
            "shape": list(shape),
            "dtype": decoded.str,
            "chunks": list(dest.chunks),
            "original_dtype": original,
            "transform": transform,
        }

    def decode(
        self, stored: Any, *, key: dict[str, Any] | None = None, context: dict[str, Any] | None = None
    ) -> Any:
        """Fetch a row of either format; format 2 needs anscombe-transform (its codec decodes the chunks).

        Parameters
        ----------
        stored : dict
            The JSON metadata DataJoint keeps in the row.
        key : dict, optional
            The row's primary key (from DataJoint).
        context : dict, optional
            DataJoint's decoding context (store configuration).

        Returns
        -------
        PhotonMovie
            The lazy, read-only movie.
        """
        with as_datajoint_errors():
            row = self.parse_row(stored)
            if row.get("format_version") == 2:
                codec_module()  # registers anscombe-v1 with zarr before zarr.json is parsed
        return super().decode(row, key=key, context=context)

    def wrap_fetched(self, array: zarr.Array[Any], stored: dict[str, Any]) -> PhotonMovie:
        """A lazy movie that decodes what is sliced; parameters come from ``zarr.json``.

        Parameters
        ----------
        array : zarr.Array
            The stored (encoded) array, opened read-only.
        stored : dict
            The JSON metadata DataJoint keeps in the row.

        Returns
        -------
        PhotonMovie
            The lazy, read-only movie.
        """
        attrs = array.attrs[ATTRIBUTE_KEY]
        assert isinstance(attrs, dict)
        where = f"{stored['path']}/zarr.json"
        try:
            original = np.dtype(str(attrs.get("original_dtype")))
        except TypeError as exc:
            raise CorruptMetadataError(
                where, f"original_dtype {attrs.get('original_dtype')!r} is not a dtype"
            ) from exc
        if attrs.get("format_version") == 1:
            params = AnscombeParams.from_dict(attrs.get("transform"))
            return PhotonMovie(array, params, original, inverse=lambda q: inverse(q, params))
        entries = [c for c in _codec_entries(array) if isinstance(c, dict) and c.get("name") == CODEC_NAME]
        if len(entries) != 1:
            raise CorruptMetadataError(
                where, f"a <photon> array of format 2 has one {CODEC_NAME} codec, found {len(entries)}"
            )
        settings = CodecSettings.from_codec_entry(entries[0], where=where)
        if np.dtype(settings.decoded_dtype) != array.dtype:
            raise CorruptMetadataError(
                where,
                f"the {CODEC_NAME} codec decodes to {settings.decoded_dtype}, the array is {array.dtype}",
            )
        params = AnscombeParams(
            sensitivity=settings.conversion_gain, zero_level=settings.zero_level, beta=BETA
        )
        return PhotonMovie(array, params, original, quantised=_raw_codes(array, settings))


register(PhotonCodec)
