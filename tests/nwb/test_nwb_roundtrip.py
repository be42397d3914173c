"""Every neurodata type pynwb ships, written with NWBHDF5IO and NWBZarrIO and compared after reading back."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pynwb
import pynwb.testing.mock as mock_pkg
import pytest
from nwb_compare import compare_builders, compare_nwbfiles
from nwb_content import files_from_mocks, mock_functions, rich_file
from nwb_reads import ReadPair, Reads
from pynwb import NWBHDF5IO

from zarrbridge import NWBZarrIO, read_nwb

# differences allowed between the HDF5 and the Zarr read (none today; keep the mechanism for new pynwb types)
KNOWN: list[re.Pattern[str]] = []

# core types no test file holds, and why
NOT_COVERED = {
    "BaseImage": "abstract base of Image/GrayscaleImage/RGBImage/RGBAImage/ExternalImage (all covered)",
    "Container": "hdmf base type",
    "Data": "hdmf base type",
    "NWBContainer": "abstract base type",
    "NWBData": "abstract base type",
    "SimpleMultiContainer": "hdmf-common type that no NWBFile slot accepts (covered in tests/zarrio)",
    "HERD": "stored next to the file (herd_path zip), not inside it",
    "CSRMatrix": "hdmf needs scipy to create one; scipy is not a dependency here",
    "ClusterWaveforms": "pynwb refuses to create new ones (deprecated)",
    "Clustering": "pynwb refuses to create new ones (deprecated)",
    "EventWaveform": "pynwb refuses to create new ones (deprecated)",
    "ImageMaskSeries": "pynwb refuses to create new ones (deprecated)",
    "ImagingRetinotopy": "pynwb refuses to create new ones (deprecated)",
    "SweepTable": "pynwb refuses to create new ones (deprecated)",
}


def _unexpected(differences: list[str]) -> list[str]:
    return [d for d in differences if not any(k.search(d) for k in KNOWN)]


def _types(builder: Any, found: set[str]) -> set[str]:
    nd = builder.attributes.get("neurodata_type")
    if nd:
        found.add(str(nd))
    for sub in [*getattr(builder, "groups", {}).values(), *getattr(builder, "datasets", {}).values()]:
        _types(sub, found)
    return found


@pytest.fixture(scope="module")
def mock_reads(read_pair: ReadPair) -> list[Reads]:
    files, called = files_from_mocks()
    assert len(called) == len(mock_functions())
    return [read_pair(f, f"mocks{i}") for i, f in enumerate(files)]


@pytest.fixture(scope="module")
def rich_reads(read_pair: ReadPair) -> Reads:
    (read_pair.base / "movie.avi").write_bytes(b"\0" * 16)
    return read_pair(rich_file(str(read_pair.base / "movie.avi")), "rich")


def test_mock_enumeration_finds_every_mock_module() -> None:
    mocks = mock_functions()
    # 33 mocks take an nwbfile in pynwb 4.2 (all but mock_NWBFile); fewer means the enumeration broke,
    # more is a new pynwb (fine)
    assert len(mocks) >= 33
    modules = {name.split(".")[0] for name, _ in mocks}
    with_mocks = {
        info.name
        for info in pkgutil.iter_modules(mock_pkg.__path__)
        if any(
            n.startswith("mock_") for n in dir(importlib.import_module(f"{mock_pkg.__name__}.{info.name}"))
        )
    }
    assert (
        modules == with_mocks
        and {"ecephys", "icephys", "ophys", "ogen", "behavior", "file", "device"} <= modules
    )


def test_every_mock_round_trips(mock_reads: list[Reads]) -> None:
    assert len(mock_reads) >= 2  # the electrodes-table mocks clash, so they need files of their own
    for i, reads in enumerate(mock_reads):
        assert _unexpected(reads.differences()) == [], f"mock file {i}"
    # the types the mocks make are in the Zarr reads
    types = set().union(*(_types(r.zarr_io.read_builder(), set()) for r in mock_reads))
    for name, _ in mock_functions():
        expected = (
            name.split(".mock_")[1]
            .replace("ElectrodeTable", "ElectrodesTable")
            .replace("electrodes", "DynamicTableRegion")
        )
        assert expected in types, name


def test_rich_file_round_trips(rich_reads: Reads) -> None:
    assert _unexpected(rich_reads.differences()) == []
    # integer attributes keep their spec width although JSON stores only "an integer"
    assert rich_reads.zarr.acquisition["vc"].sweep_number.dtype == np.uint32


def test_every_core_type_is_covered(mock_reads: list[Reads], rich_reads: Reads) -> None:
    found: set[str] = set()
    for reads in [*mock_reads, rich_reads]:
        _types(reads.zarr_io.read_builder(), found)
    core = set(pynwb.get_type_map().namespace_catalog.get_namespace("core").get_registered_types())
    assert sorted(core - found) == sorted(NOT_COVERED)


def test_rich_file_details(rich_reads: Reads) -> None:
    """Spot checks through the pynwb API on the Zarr read (the comparison checks equality with HDF5)."""
    nwb = rich_reads.zarr
    units = nwb.units
    assert list(units["spike_times"][0]) == [0.1, 0.2, 0.3] and list(units["spike_times"][1]) == [0.5]
    assert np.array_equal(units["obs_intervals"][0], [[0.0, 1.0], [2.0, 3.0]])
    assert [np.asarray(w).tolist() for w in units["waveforms"][0]] == [[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0]]]
    assert list(units.electrodes.data[:]) == [0, 1, 2] and list(units["electrodes"][1].index) == [2]
    assert units.electrodes.table is nwb.electrodes
    assert nwb.epochs["timeseries"][0][0].timeseries is nwb.acquisition["es"]
    assert list(nwb.epochs["tags"][0]) == ["a", "b"]
    assert nwb.stimulus["index"].indexed_images is nwb.stimulus_template["stim_images"]
    assert [i.name for i in nwb.stimulus_template["stim_images"].order_of_images.data[:]] == [
        "rgb",
        "gray",
        "rgba",
        "ext_png",
        "plain",
    ]
    movie = nwb.acquisition["movie_ext"]
    assert list(movie.external_file[:])[1] == "other.avi" and list(movie.starting_frame[:]) == [0, 5]
    rec = nwb.intracellular_recordings
    assert rec["responses"]["response"][1].timeseries is nwb.acquisition["vc"]
    assert nwb.icephys_experimental_conditions["repetitions"].target.table is nwb.icephys_repetitions
    assert nwb.subject.age__reference == "birth" and nwb.keywords[:].tolist() == ["a", "b"]
    assert nwb.timestamps_reference_time == rich_reads.h5.timestamps_reference_time
    assert nwb.acquisition["empty"].data.shape == (0, 2)
    assert list(nwb.acquisition["strings_ts"].data[:]) == ["α", "b"]
    assert np.isnan(nwb.processing["behavior"]["BehavioralTimeSeries"]["speed"].data[2])
    es = nwb.acquisition["es"]
    assert es.data.dtype == np.int16 and es.electrodes.table is nwb.electrodes


@pytest.fixture()
def h5_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "in.nwb"
    with NWBHDF5IO(path, mode="w") as io:
        io.write(rich_file(str(tmp_path / "movie.avi")))
    yield path


def test_export_hdf5_to_zarr_seed_example(h5_file: Path, tmp_path: Path, read_pair: ReadPair) -> None:
    outfile = tmp_path / "out.nwb.zarr"
    with NWBHDF5IO(h5_file, "r") as read_io, NWBZarrIO(outfile, mode="w") as export_io:
        export_io.export(src_io=read_io, write_args=dict(link_data=False))
    reads = read_pair.open(h5_file, outfile)
    assert _unexpected(reads.differences()) == []


def test_export_modified_file_with_nwbfile_argument(h5_file: Path, tmp_path: Path) -> None:
    outfile = tmp_path / "mod.nwb.zarr"
    with NWBHDF5IO(h5_file, "r") as read_io:
        nwb = read_io.read()
        nwb.add_acquisition(pynwb.TimeSeries(name="added", data=[1.0, 2.0], unit="u", rate=1.0))
        with NWBZarrIO(outfile, mode="w") as export_io:
            export_io.export(src_io=read_io, nwbfile=nwb, write_args=dict(link_data=False))
        with NWBZarrIO(outfile, mode="r") as back_io:
            back = back_io.read()
            assert list(back.acquisition["added"].data[:]) == [1.0, 2.0]
            cmp = compare_nwbfiles(nwb, back)
            # the added object and everything above it are new containers in both, so only compare the rest
            assert _unexpected([d for d in cmp.differences if "added" not in d]) == []


def test_export_copies_builders_only_when_the_cached_specs_match(h5_file: Path, tmp_path: Path) -> None:
    """A whole-file export of a file written with this pynwb's specs copies its builders as read; the
    result is the same as hdmf's export, which constructs every container and builds it again."""
    from zarrbridge.zarrio.specs import same_cached_namespaces

    fast, rebuilt = tmp_path / "fast.nwb.zarr", tmp_path / "rebuilt.nwb.zarr"
    with NWBHDF5IO(h5_file, "r") as read_io, NWBZarrIO(fast, mode="w") as export_io:
        assert same_cached_namespaces(read_io, export_io.manager)
        assert (
            _constructions(
                read_io, lambda: export_io.export(src_io=read_io, write_args=dict(link_data=False))
            )
            == 0
        )
    with NWBHDF5IO(h5_file, "r") as read_io, NWBZarrIO(rebuilt, mode="w") as export_io:
        export_io.export(src_io=read_io, nwbfile=read_io.read(), write_args=dict(link_data=False))
    with NWBZarrIO(fast, "r") as a, NWBZarrIO(rebuilt, "r") as b:
        assert compare_builders(a.read_builder(), b.read_builder()).differences == []
        assert _unexpected(compare_nwbfiles(a.read(), b.read()).differences) == []

    again = tmp_path / "again.nwb.zarr"  # Zarr -> Zarr takes the same route
    with NWBZarrIO(fast, "r") as read_io, NWBZarrIO(again, mode="w") as export_io:
        assert same_cached_namespaces(read_io, export_io.manager)
        assert (
            _constructions(
                read_io, lambda: export_io.export(src_io=read_io, write_args=dict(link_data=False))
            )
            == 0
        )
    with NWBZarrIO(again, "r") as a, NWBZarrIO(rebuilt, "r") as b:
        assert compare_builders(a.read_builder(), b.read_builder()).differences == []

    # cached specs of another version: the builders are built again from containers, as hdmf does
    import h5py

    older = tmp_path / "older.nwb"
    older.write_bytes(h5_file.read_bytes())
    with h5py.File(older, "r+") as f:
        (version,) = f["specifications/core"].keys()
        f.move(f"specifications/core/{version}", "specifications/core/2.0.0")  # hdmf reads versions from here
    with (
        NWBHDF5IO(older, "r", load_namespaces=False) as read_io,
        NWBZarrIO(tmp_path / "older.nwb.zarr", mode="w") as export_io,
    ):
        assert not same_cached_namespaces(read_io, export_io.manager)
        assert (
            _constructions(
                read_io, lambda: export_io.export(src_io=read_io, write_args=dict(link_data=False))
            )
            > 0
        )
    with NWBZarrIO(tmp_path / "older.nwb.zarr", "r") as back, NWBZarrIO(rebuilt, "r") as again:
        assert _unexpected(compare_nwbfiles(back.read(), again.read()).differences) == []


def _constructions(read_io: Any, run: Any) -> int:
    """How many containers ``run()`` constructs through ``read_io``'s build manager (a spy, not a stub)."""
    calls = []
    construct = read_io.manager.construct

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return construct(*args, **kwargs)

    read_io.manager.construct = spy
    try:
        run()
    finally:
        del read_io.manager.construct
    return len(calls)


def test_zarr_to_zarr_export(rich_reads: Reads, tmp_path: Path) -> None:
    src = rich_reads.zarr_io.source
    zarr_out = tmp_path / "copy.nwb.zarr"
    with NWBZarrIO(src, mode="r") as read_io, NWBZarrIO(zarr_out, mode="w") as export_io:
        export_io.export(src_io=read_io, write_args=dict(link_data=False))
    with NWBZarrIO(zarr_out, "r") as z_io:
        b = z_io.read()
        assert _unexpected(compare_nwbfiles(rich_reads.h5, b).differences) == []
        assert compare_builders(rich_reads.h5_io.read_builder(), z_io.read_builder()).differences == []


def test_read_nwb_keeps_the_file_open(rich_reads: Reads) -> None:
    nwb = read_nwb(rich_reads.zarr_io.source)
    try:
        assert isinstance(nwb, pynwb.NWBFile) and isinstance(nwb.read_io, NWBZarrIO)
        assert nwb.read_io.is_open() and nwb.identifier == "rich-1"
        assert list(nwb.units["spike_times"][0]) == [0.1, 0.2, 0.3]  # lazy data still readable
        assert NWBZarrIO.read_nwb(rich_reads.zarr_io.source).identifier == "rich-1"
    finally:
        nwb.read_io.close()
    assert (
        rich_reads.zarr_io.nwb_version[0]
        == pynwb.get_type_map().namespace_catalog.get_namespace("core").version
    )
