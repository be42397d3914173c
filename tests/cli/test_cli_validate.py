"""``zarrbridge validate``: valid files exit 0; broken ones list ``<path>: <problem>`` lines and exit 1."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import zarr
from cli_helpers import Run, rewrite_zarr

from zarrbridge.cli.validate import find_problems


def test_valid_zarr_and_hdf5(cli: Run, example_zarr: Path, example_h5: Path) -> None:
    for path in (example_zarr, example_h5):
        result = cli("validate", path)
        assert result.code == 0, result
        [line] = result.out.splitlines()
        assert line.startswith(f"{path}: valid (checked against core 2.")
        assert result.err == ""
        quiet = cli("validate", path, "-q")
        assert (quiet.code, quiet.out, quiet.err) == (0, "", "")


def _remove_required(group: zarr.Group) -> None:
    del group["session_description"]  # a required dataset of NWBFile
    data = group["acquisition/ElectricalSeries/data"]
    attrs = dict(data.attrs)
    del attrs["unit"]  # a required attribute of TimeSeries.data
    data.attrs.put(attrs)


def test_broken_zarr_reports_each_problem_with_its_path(cli: Run, zarr_copy: Path) -> None:
    rewrite_zarr(zarr_copy, _remove_required)
    result = cli("validate", zarr_copy)
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[:-1] == [
        "/: session_description: argument missing",
        "/acquisition/ElectricalSeries/data: unit: argument missing",
    ]
    assert lines[-1].startswith(f"{zarr_copy}: 2 problem(s) (checked against core ")
    quiet = cli("validate", zarr_copy, "--quiet")
    assert quiet.code == 1 and quiet.out.splitlines() == lines[:-1]


def test_wrong_dtype_in_zarr(cli: Run, zarr_copy: Path) -> None:
    def replace_rate(group: zarr.Group) -> None:
        # a text 'starting_time' where the spec wants a float
        old = group["acquisition/ElectricalSeries/starting_time"]
        attrs = dict(old.attrs)
        del group["acquisition/ElectricalSeries/starting_time"]
        new = group.create_array("acquisition/ElectricalSeries/starting_time", shape=(), dtype=str)
        new[()] = "soon"
        new.attrs.put(attrs)

    rewrite_zarr(zarr_copy, replace_rate)
    problems = find_problems(str(zarr_copy))[1]
    assert [p.path for p in problems] == ["/acquisition/ElectricalSeries/starting_time"]
    assert "incorrect type" in problems[0].message and "float" in problems[0].message
    assert cli("validate", zarr_copy).code == 1


def test_broken_hdf5_uses_pynwb_and_reports_paths(cli: Run, example_h5: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.nwb"
    shutil.copy(example_h5, broken)
    with h5py.File(broken, "r+") as f:
        del f["session_description"]
        del f["acquisition/ElectricalSeries/data"].attrs["unit"]
    result = cli("validate", broken)
    assert result.code == 1
    assert result.out.splitlines()[:-1] == [
        "/: session_description: argument missing",
        "/acquisition/ElectricalSeries/data: unit: argument missing",
    ]


def test_file_without_cached_spec_is_checked_against_installed_core(cli: Run, zarr_copy: Path) -> None:
    def drop_spec(group: zarr.Group) -> None:
        del group["specifications"]
        attrs = dict(group.attrs)
        del attrs[".specloc"]
        group.attrs.put(attrs)

    rewrite_zarr(zarr_copy, drop_spec)
    result = cli("validate", zarr_copy)
    assert result.code == 0, result
    assert "caches no specification" in result.err and result.err.startswith("zarrbridge: warning: ")
    assert "valid (checked against core " in result.out


def test_plain_hdmf_file_is_checked_against_hdmf_common(cli: Run, tmp_path: Path) -> None:
    from hdmf.backends.hdf5 import HDF5IO
    from hdmf.common import DynamicTable, VectorData, get_manager

    path = tmp_path / "table.h5"
    table = DynamicTable(
        name="t",
        description="plain hdmf",
        columns=[VectorData(name="x", description="x", data=[1.0, 2.0, 3.0])],
    )
    with HDF5IO(str(path), mode="w", manager=get_manager()) as io:
        io.write(table)
    good = cli("validate", path)
    assert good.code == 0, good
    assert good.out.startswith(f"{path}: valid (checked against hdmf-common ")
    with h5py.File(path, "r+") as f:
        del f["id"]  # DynamicTable's required ElementIdentifiers
    bad = cli("validate", path)
    assert bad.code == 1
    assert bad.out.splitlines()[0] == "/: DynamicTable: missing data type ElementIdentifiers (id)"
