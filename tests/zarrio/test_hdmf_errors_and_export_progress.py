"""What HDMF users catch (``UnsupportedOperation``) catches ZarrIO's failures; ``export(progress=)``."""

from __future__ import annotations

import warnings
from datetime import UTC
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from hdmf.backends.errors import UnsupportedOperation
from hdmf.backends.hdf5 import HDF5IO, H5DataIO
from hdmf.common import DynamicTable, VectorData, get_manager

from zarrbridge import ZarrIO, errors
from zarrbridge.zarrio import errors as zarrio_errors

DATA = np.random.default_rng(9).normal(size=(40000, 5))


def _table() -> DynamicTable:
    return DynamicTable(
        name="t",
        description="errors test",
        columns=[VectorData(name="x", description="x", data=DATA[:, 0].copy())],
    )


@pytest.fixture()
def zarr_file(tmp_path: Path) -> Path:
    path = tmp_path / "t.zarr"
    with ZarrIO(path, mode="w", manager=get_manager()) as io:
        io.write(_table())
    return path


@pytest.fixture()
def h5_file(tmp_path: Path) -> Path:
    path = tmp_path / "t.h5"
    table = DynamicTable(
        name="t",
        description="export progress",
        columns=[
            VectorData(name="gz", description="", data=H5DataIO(DATA, chunks=(5000, 5), compression="gzip")),
            VectorData(name="small", description="", data=np.arange(40000)),
        ],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with HDF5IO(str(path), mode="w", manager=get_manager()) as io:
            io.write(table)
    return path


def _caught(call: Any) -> BaseException:
    try:
        call()
    except UnsupportedOperation as exc:  # what HDMF users write around an IO call
        assert isinstance(exc, errors.ZarrBridgeError), type(exc)
        return exc
    raise AssertionError("no UnsupportedOperation")


def test_the_cases_hdf5io_reports_as_unsupported_operation(zarr_file: Path, tmp_path: Path) -> None:
    def write_read_only() -> None:
        with ZarrIO(zarr_file, mode="r", manager=get_manager()) as io:
            io.write(_table())

    def read_write_only() -> None:
        with ZarrIO(tmp_path / "new.zarr", mode="w", manager=get_manager()) as io:
            io.read()

    def open_missing() -> None:
        ZarrIO(tmp_path / "missing.zarr", mode="r", manager=get_manager()).open()

    def create_existing() -> None:
        ZarrIO(zarr_file, mode="w-", manager=get_manager()).open()

    def export_in_read_mode() -> None:
        with ZarrIO(zarr_file, mode="r") as src, ZarrIO(zarr_file, mode="r") as dst:
            dst.export(src_io=src)

    read_only = _caught(write_read_only)
    assert isinstance(read_only, errors.ReadOnlyError) and isinstance(read_only, PermissionError)
    assert isinstance(_caught(read_write_only), errors.InvalidOptionError)
    missing = _caught(open_missing)
    assert isinstance(missing, errors.NotAZarrStoreError) and isinstance(missing, FileNotFoundError)
    assert "missing.zarr" in str(missing) and "mode='w'" in str(missing)
    existing = _caught(create_existing)
    assert isinstance(existing, errors.StoreExistsError) and isinstance(existing, FileExistsError)
    assert isinstance(_caught(export_in_read_mode), zarrio_errors.UnsupportedZarrOperation)
    assert zarr.open_group(zarr_file, mode="r")["x"].shape == (40000,)  # nothing was changed


def test_link_data_across_backends_and_a_closed_file(h5_file: Path, tmp_path: Path) -> None:
    def linked_export() -> None:
        with (
            HDF5IO(str(h5_file), mode="r", manager=get_manager()) as src,
            ZarrIO(tmp_path / "l.zarr", mode="w") as dst,
        ):
            dst.export(src_io=src, write_args={"link_data": True})

    assert "link_data" in str(_caught(linked_export))
    io = ZarrIO(tmp_path / "c.zarr", mode="w", manager=get_manager())
    io.write(_table())
    io.close()
    assert "closed" in str(_caught(lambda: io.store))


def test_export_progress_callable_adds_up(h5_file: Path, tmp_path: Path) -> None:
    seen: list[int] = []
    with (
        HDF5IO(str(h5_file), mode="r", manager=get_manager()) as src,
        ZarrIO(tmp_path / "p.zarr", mode="w") as dst,
    ):
        dst.export(src_io=src, write_args={"link_data": False}, number_of_jobs=2, progress=seen.append)
    assert len(seen) >= 3  # the gzip column's chunk batches, then the rest
    assert sum(seen) >= DATA.nbytes + 40000 * 8
    np.testing.assert_array_equal(zarr.open_group(tmp_path / "p.zarr", mode="r")["gz"][:], DATA)
    with (
        HDF5IO(str(h5_file), mode="r", manager=get_manager()) as src,
        ZarrIO(tmp_path / "q.zarr", mode="w") as dst,
    ):
        with pytest.raises(errors.InvalidOptionError, match="progress"):
            dst.export(src_io=src, write_args={"link_data": False}, progress="yes")


def test_nwb_export_progress_true_shows_a_bar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pynwb = pytest.importorskip("pynwb")
    from datetime import datetime

    from zarrbridge import NWBZarrIO

    nwbfile = pynwb.NWBFile("progress", "id-1", datetime(2024, 1, 1, tzinfo=UTC))
    nwbfile.add_acquisition(
        pynwb.TimeSeries(name="ts", data=H5DataIO(DATA, chunks=(5000, 5)), unit="V", rate=10.0)
    )
    src = tmp_path / "rec.nwb"
    with pynwb.NWBHDF5IO(str(src), "w") as io:
        io.write(nwbfile)
    with pynwb.NWBHDF5IO(str(src), "r") as read_io, NWBZarrIO(tmp_path / "rec.nwb.zarr", mode="w") as out:
        out.export(src_io=read_io, write_args={"link_data": False}, progress=True)
    err = capsys.readouterr().err
    assert "rec.nwb.zarr:" in err and "B/s" in err
