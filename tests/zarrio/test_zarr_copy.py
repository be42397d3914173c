"""Zarr -> Zarr export moves the stored objects of arrays it keeps as they are, and still checks each one."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
import zarr.codecs
from hdmf.backends.hdf5 import HDF5IO, H5DataIO
from hdmf.common import DynamicTable, VectorData, get_manager

from zarrbridge import ZarrIO
from zarrbridge.errors import CorruptChunkError, MissingChunkError
from zarrbridge.zarrio.convert import ConvertOptions, convert
from zarrbridge.zarrio.zarrcopy import same_encoding

# band-limited int16 noise, 2.4 MB: above the size that export reads whole, so its chunks are copied
BIG = np.cumsum(np.random.default_rng(3).integers(-8, 9, size=(150_000, 8)), axis=0).astype("<i2")


def _zarr_source(tmp_path: Path, **h5_options: Any) -> Path:
    src, mid = tmp_path / "s.h5", tmp_path / "m.zarr"
    table = DynamicTable(
        name="table",
        description="zarr copy test",
        columns=[
            VectorData(name="col", description="col", data=H5DataIO(BIG, chunks=(10_000, 8), **h5_options))
        ],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with HDF5IO(str(src), mode="w", manager=get_manager()) as io:
            io.write(table)
    convert(src, mid)
    return mid


def _export(src: Path, dst: Path, **kwargs: Any) -> None:
    with ZarrIO(src, mode="r", manager=get_manager()) as read_io, ZarrIO(dst, mode="w") as export_io:
        export_io.export(src_io=read_io, write_args=dict(link_data=False), **kwargs)


def _objects(root: Path) -> dict[str, bytes]:
    folder = root / "col" / "c"
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("jobs", [1, 2])
def test_kept_layout_copies_the_stored_objects_byte_for_byte(tmp_path: Path, jobs: int) -> None:
    mid, dst = _zarr_source(tmp_path, compression="gzip", compression_opts=4), tmp_path / "d.zarr"
    _export(mid, dst, number_of_jobs=jobs)
    src_arr, dst_arr = zarr.open_group(mid, mode="r")["col"], zarr.open_group(dst, mode="r")["col"]
    assert same_encoding(src_arr, dst_arr)
    assert isinstance(dst_arr.compressors[0], zarr.codecs.GzipCodec) and dst_arr.chunks == (10_000, 8)
    assert len(_objects(dst)) == 15 and _objects(dst) == _objects(mid)
    np.testing.assert_array_equal(dst_arr[:], BIG)


def test_another_layout_is_encoded_again(tmp_path: Path) -> None:
    mid, dst = _zarr_source(tmp_path, compression="gzip"), tmp_path / "d.zarr"
    convert(mid, dst, options=ConvertOptions(compressor="zstd", level=3))
    src_arr, dst_arr = zarr.open_group(mid, mode="r")["col"], zarr.open_group(dst, mode="r")["col"]
    assert not same_encoding(src_arr, dst_arr)
    assert isinstance(dst_arr.compressors[0], zarr.codecs.ZstdCodec)
    assert _objects(dst).keys() == _objects(mid).keys() and _objects(dst) != _objects(mid)
    np.testing.assert_array_equal(dst_arr[:], BIG)


def test_a_garbled_object_is_an_error_not_a_copy(tmp_path: Path) -> None:
    mid, dst = _zarr_source(tmp_path, compression="gzip"), tmp_path / "d.zarr"
    (mid / "col" / "c" / "3" / "0").write_bytes(b"garbled")
    with pytest.raises(CorruptChunkError, match="col/c/3/0"):
        _export(mid, dst)
    assert not (dst / "zarr.json").exists()  # a failed export leaves no file behind


def test_a_missing_object_of_a_complete_array_is_an_error(tmp_path: Path) -> None:
    mid, dst = _zarr_source(tmp_path), tmp_path / "d.zarr"
    (mid / "col" / "c" / "5" / "0").unlink()
    with pytest.raises(MissingChunkError, match="col/c/5/0"):
        _export(mid, dst)


def test_same_encoding_ignores_names_and_attributes_only(tmp_path: Path) -> None:
    store = zarr.storage.LocalStore(tmp_path / "a.zarr")
    base = dict(shape=(100,), chunks=(10,), dtype="i2", compressors=zarr.codecs.GzipCodec(level=4))
    a = zarr.create_array(store, name="a", attributes={"x": 1}, **base)  # type: ignore[arg-type]
    named = {"attributes": {"y": 2}, "dimension_names": ["t"]}
    b = zarr.create_array(store, name="b", **named, **base)  # type: ignore[arg-type]
    assert same_encoding(a, b)
    other_level = zarr.create_array(
        store, name="c", **{**base, "compressors": zarr.codecs.GzipCodec(level=5)}
    )  # type: ignore[arg-type]
    other_chunks = zarr.create_array(store, name="d", **{**base, "chunks": (20,)})  # type: ignore[arg-type]
    other_fill = zarr.create_array(store, name="e", fill_value=3, **base)  # type: ignore[arg-type]
    assert not any(same_encoding(a, x) for x in (other_level, other_chunks, other_fill))
