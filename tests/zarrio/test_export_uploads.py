"""Export into an object store uploads the chunks of a copy task concurrently, not one request at a time."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from hdmf.backends.hdf5 import HDF5IO, H5DataIO
from hdmf.common import DynamicTable, VectorData, get_manager
from zarr.core.buffer import Buffer
from zarr.storage import FsspecStore, MemoryStore

from zarrbridge import ZarrIO

# 2.4 MB of int16 in 15 gzip chunks: above the size export reads whole, so its stored chunks are copied
BIG = np.cumsum(np.random.default_rng(5).integers(-8, 9, size=(150_000, 8)), axis=0).astype("<i2")
CHUNK_KEYS = {f"col/c/{i}/0" for i in range(15)}


class _Uploads:
    """What a store saw: every key set, and the most ``set`` calls in progress at one time."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.in_flight = 0
        self.peak = 0

    async def around(self, key: str, run: Any) -> None:
        self.keys.add(key)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(0.002)  # a request's latency: concurrent requests overlap here
            await run
        finally:
            self.in_flight -= 1


class CountingMemoryStore(MemoryStore):
    uploads: _Uploads

    async def set(self, key: str, value: Buffer, byte_range: tuple[int, int] | None = None) -> None:
        await self.uploads.around(key, super().set(key, value))


class CountingFsspecStore(FsspecStore):
    uploads: _Uploads

    async def set(self, key: str, value: Buffer, byte_range: tuple[int, int] | None = None) -> None:
        await self.uploads.around(key, super().set(key, value))


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "s.h5"
    column = VectorData(
        name="col", description="col", data=H5DataIO(BIG, chunks=(10_000, 8), compression="gzip")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with HDF5IO(str(src), mode="w", manager=get_manager()) as io:
            io.write(DynamicTable(name="table", description="uploads", columns=[column]))
    return src


def _export(src: Path, store: Any) -> None:
    with HDF5IO(str(src), mode="r", manager=get_manager()) as read_io, ZarrIO(store, mode="w") as export_io:
        export_io.export(src_io=read_io, write_args=dict(link_data=False))


def test_chunks_of_a_copy_go_out_concurrently(tmp_path: Path) -> None:
    store = CountingMemoryStore()
    store.uploads = _Uploads()
    _export(_source(tmp_path), store)
    assert CHUNK_KEYS <= store.uploads.keys and store.uploads.peak > 4
    np.testing.assert_array_equal(zarr.open_group(store, mode="r")["col"][:], BIG)


@pytest.mark.s3
def test_chunks_go_out_concurrently_to_s3(
    tmp_path: Path, s3_bucket: str, s3_storage_options: dict[str, Any]
) -> None:
    url = f"s3://{s3_bucket}/uploads.zarr"
    store = CountingFsspecStore.from_url(url, storage_options=s3_storage_options)
    store.uploads = _Uploads()
    _export(_source(tmp_path), store)
    assert CHUNK_KEYS <= store.uploads.keys and store.uploads.peak > 4
    with ZarrIO(url, mode="r", manager=get_manager(), storage_options=s3_storage_options) as io:
        np.testing.assert_array_equal(io.read()["col"].data[:], BIG)
