"""Compound datasets read at the builder level as HDF5IO reads their HDF5 twins.

HDF5IO (``BuilderH5TableDataset``) returns a compound row as a ``np.void`` record and a slice as a structured
array (indexed like tuples), with each reference field resolved to a builder in an ``object`` field and text
fields as ``str``; the builder's dtype is a list of ``{"name", "dtype"}`` with ``'object'`` for a reference
field, ``'utf'`` for text and numpy type names for numbers. zarrbridge gives the same for the current
convention (files it writes, on zarr 3.1 and 3.4), hdmf-zarr 0.14 files and legacy hdmf-zarr 0.13 files.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hdmf.backends.hdf5 import HDF5IO
from hdmf.build import Builder, DatasetBuilder, GroupBuilder
from pynwb import get_manager

from zarrbridge import ZarrIO
from zarrbridge.zarrio.convert import convert

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TWINS = FIXTURES / "hdmf_zarr_014" / "hdf5"
# (Zarr file, its HDF5 twin); the legacy files were written by hdmf-zarr 0.13 from the builders of the 0.14
# fixtures, whose twins they share (legacy ecephys holds ElectricalSeriesBlosc where 0.14 has a sharded one)
PAIRS = [
    *[(f"hdmf_zarr_014/{n}.nwb.zarr", n) for n in ("ecephys", "icephys", "kinds")],
    *[
        (f"zarrbridge_written/{z}/{n}.nwb.zarr", n)
        for z in ("zarr-3.1.6", "zarr-3.4.2")
        for n in ("ecephys", "icephys", "kinds")
    ],
    ("legacy/ecephys.nwb.zarr", "ecephys"),
    ("legacy/kinds.nwb.zarr", "kinds"),
]
RENAMED = {"/acquisition/ElectricalSeriesBlosc": "/acquisition/ElectricalSeriesSharded"}

pytestmark = [
    pytest.mark.filterwarnings("ignore:AnnotationSeries is deprecated:UserWarning"),
    pytest.mark.filterwarnings("ignore:The 'manufacturer' field is deprecated:DeprecationWarning"),
]


def _compounds(builder: GroupBuilder, path: str = "") -> Iterator[tuple[str, DatasetBuilder]]:
    for name, group in builder.groups.items():
        yield from _compounds(group, f"{path}/{name}")
    for name, dataset in builder.datasets.items():
        if isinstance(dataset.dtype, list):
            yield f"{path}/{name}", dataset


def _path(builder: Builder) -> str:
    parts = []
    while builder.parent is not None:
        parts.append(builder.name)
        builder = builder.parent
    return "/" + "/".join(reversed(parts))


def _plain(row: Any, legacy: bool) -> list[Any]:
    """A row with its builders as paths, and the value types kept (np.int32 stays np.int32)."""
    out = []
    for value in row:
        if isinstance(value, Builder):
            value = _path(value)
            value = RENAMED.get(value, value) if legacy else value
        out.append((type(value).__name__, value))
    return out


def _check_same(zarr_builder: DatasetBuilder, h5_builder: DatasetBuilder, *, legacy: bool) -> int:
    assert zarr_builder.dtype == h5_builder.dtype
    z, h = zarr_builder.data, h5_builder.data
    if not h.shape:
        return 0
    assert len(z) == len(h) > 0
    assert type(z[0]) is type(h[0]) is np.void
    assert _plain(z[0], legacy) == _plain(h[0], legacy)
    rows_z, rows_h = z[0 : len(z)], h[0 : len(h)]
    assert type(rows_z) is type(rows_h) is np.ndarray and rows_z.shape == rows_h.shape
    assert [_plain(r, legacy) for r in rows_z] == [_plain(r, legacy) for r in rows_h]
    assert [_plain(r, legacy) for r in z] == [_plain(r, legacy) for r in h]  # iteration
    fields = [f["name"] for f in h5_builder.dtype]
    for i, field in enumerate(fields):  # field access by name, as on h5py's records
        assert _plain([rows_z[0][field]], legacy) == _plain([rows_h[0][i]], legacy)
    return len(z)


def _compare(zarr_path: Path, twin: Path, *, legacy: bool = False) -> dict[str, int]:
    with (
        HDF5IO(str(twin), mode="r", manager=get_manager()) as h5_io,
        ZarrIO(zarr_path, mode="r", manager=get_manager()) as zarr_io,
    ):
        h5 = dict(_compounds(h5_io.read_builder()))
        ours = dict(_compounds(zarr_io.read_builder()))
        assert set(ours) == set(h5)
        return {path: _check_same(ours[path], h5[path], legacy=legacy) for path in h5}


@pytest.mark.parametrize(("zarr_file", "twin"), PAIRS, ids=[p[0] for p in PAIRS])
def test_compound_rows_and_dtypes_as_hdf5io_reads_the_twin(zarr_file: str, twin: str) -> None:
    rows = _compare(FIXTURES / zarr_file, TWINS / f"{twin}.nwb", legacy=zarr_file.startswith("legacy/"))
    assert rows and all(n > 0 for n in rows.values())
    if twin == "ecephys":  # TimeSeriesReferenceVectorData: a reference field in every row
        assert set(rows) == {"/intervals/trials/timeseries", "/intervals/epochs/timeseries"}
    if twin == "icephys":
        assert "/general/intracellular_ephys/intracellular_recordings/responses/response" in rows


@pytest.mark.parametrize("twin", ["ecephys", "icephys", "kinds"])
def test_files_converted_now_read_as_their_source(twin: str, tmp_path: Path) -> None:
    """The current writer: HDF5 -> Zarr with ``convert``, then the same builders as the source's."""
    dest = tmp_path / f"{twin}.nwb.zarr"
    convert(TWINS / f"{twin}.nwb", dest)
    assert sum(_compare(dest, TWINS / f"{twin}.nwb").values()) > 0


def test_a_reference_field_holds_the_target_builder_itself() -> None:
    with ZarrIO(FIXTURES / "hdmf_zarr_014" / "ecephys.nwb.zarr", mode="r", manager=get_manager()) as io:
        root = io.read_builder()
        row = root["intervals/trials/timeseries"].data[0]
        assert row["timeseries"] is root["acquisition/ElectricalSeriesGzip"]
        idx_start, count, target = row  # unpacks like a tuple
        assert (idx_start, count, target) == tuple(row)
        assert isinstance(idx_start, np.int32) and target is root["acquisition/ElectricalSeriesGzip"]
