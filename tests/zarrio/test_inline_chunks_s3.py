"""On S3 (moto): with small chunks in the root, reading a file of many small objects costs no request per
dataset; without them (the convention's files only), one or more per dataset."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import numpy as np
import pytest
from pynwb import NWBFile, TimeSeries
from zarr.abc.store import ByteRequest
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.storage import FsspecStore, WrapperStore

from zarrbridge import NWBZarrIO
from zarrbridge.core import inline

pytestmark = pytest.mark.s3
N_SERIES = 40


class Requests(WrapperStore[Any]):
    """Counts what is asked of the S3 store: each get, exists and listing is one request or more."""

    def __init__(self, store: Any) -> None:
        super().__init__(store)
        self.calls: Counter[str] = Counter()

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        self.calls["get"] += 1
        return await self._store.get(key, prototype, byte_range)

    async def get_partial_values(self, prototype: BufferPrototype, key_ranges: Any) -> list[Buffer | None]:
        key_ranges = list(key_ranges)
        self.calls["get"] += len(key_ranges)
        return await self._store.get_partial_values(prototype, key_ranges)  # type: ignore[no-any-return]

    async def exists(self, key: str) -> bool:
        self.calls["exists"] += 1
        return await self._store.exists(key)

    async def list_dir(self, prefix: str) -> Any:
        self.calls["list"] += 1
        async for key in self._store.list_dir(prefix):
            yield key

    def total(self) -> int:
        return sum(self.calls.values())


def _many_objects() -> NWBFile:
    nwbfile = NWBFile(
        session_description="many small objects",
        identifier="many",
        session_start_time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    )
    rng = np.random.default_rng(0)
    for i in range(N_SERIES):
        nwbfile.add_acquisition(
            TimeSeries(
                name=f"ts{i}", data=rng.standard_normal(100), unit="V", timestamps=np.arange(100) / 10 + i
            )
        )
    nwbfile.add_trial_column(name="label", description="a text column")
    for t in range(20):
        nwbfile.add_trial(start_time=float(t), stop_time=t + 0.5, label=f"trial{t}")
    return nwbfile


def _read_everything(url: str, storage_options: dict[str, Any]) -> tuple[int, int, list[float]]:
    """Requests to open and ``read()``, then to read the first element of every dataset; and the values."""
    store = Requests(FsspecStore.from_url(url, storage_options=storage_options, read_only=True))
    with NWBZarrIO(store, mode="r") as io:
        nwbfile = io.read()
        opened = store.total()
        firsts = []
        for series in nwbfile.acquisition.values():
            firsts += [float(series.data[0]), float(series.timestamps[0])]
        frame = nwbfile.trials.to_dataframe()
        assert list(frame["label"]) == [f"trial{t}" for t in range(20)]
    return opened, store.total() - opened, firsts


def test_remote_reads_of_small_datasets_cost_no_requests(
    s3_storage_options: dict[str, Any], s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_inline, without = f"s3://{s3_bucket}/inline.nwb.zarr", f"s3://{s3_bucket}/files.nwb.zarr"
    with NWBZarrIO(with_inline, mode="w", storage_options=s3_storage_options) as io:
        io.write(_many_objects())
    with monkeypatch.context() as patch:
        patch.setattr(inline, "INLINE_CHUNK_BYTES", 0)  # nothing small enough: the convention's files only
        with NWBZarrIO(without, mode="w", storage_options=s3_storage_options) as io:
            io.write(_many_objects())

    opened_inline, reads_inline, values_inline = _read_everything(with_inline, s3_storage_options)
    opened_files, reads_files, values_files = _read_everything(without, s3_storage_options)
    assert values_inline == values_files and len(values_inline) == 2 * N_SERIES
    # the first elements of 80 datasets and a table of 20 rows: none from the inline file ...
    assert reads_inline == 0, reads_inline
    # ... at least one request per dataset without (data, timestamps, every trials column)
    assert reads_files >= 2 * N_SERIES
    # opening (root, cached specifications, scalars): a handful, never one per small dataset
    print(f"requests: open+read {opened_inline} vs {opened_files}, elements {reads_inline} vs {reads_files}")
    assert opened_inline <= 8 and opened_inline < opened_files
