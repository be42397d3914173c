"""NWBZarrIO.export from a Zarr file copies every dataset (as NWBHDF5IO's export does);
links only on request."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import zarr
from hdmf.backends.errors import UnsupportedOperation
from nwb_compare import compare_builders, compare_nwbfiles
from nwb_content import forget_source, rich_file
from pynwb import NWBHDF5IO
from pynwb.testing.mock.base import mock_TimeSeries
from pynwb.testing.mock.file import mock_NWBFile

from zarrbridge import NWBZarrIO, ZarrDataIO
from zarrbridge.errors import BrokenLinkError, CodecNotMappedWarning
from zarrbridge.zarrio.convert import convert


def _links(store: Path) -> list[Any]:
    """Every ``_LINKS`` entry in the consolidated metadata of ``store`` (and its root's own)."""
    root = json.loads((store / "zarr.json").read_text())
    found = list(root["attributes"].get("_LINKS", []))
    for meta in root["consolidated_metadata"]["metadata"].values():
        found += meta.get("attributes", {}).get("_LINKS", [])
    return found


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The rich file written as HDF5 (the reference) and as Zarr (the export source)."""
    base = tmp_path_factory.mktemp("export")
    (base / "movie.avi").write_bytes(b"\0" * 16)
    nwb = rich_file(str(base / "movie.avi"))
    with NWBHDF5IO(base / "rich.nwb", mode="w") as io:
        io.write(nwb)
    forget_source(nwb)
    with NWBZarrIO(base / "rich.nwb.zarr", mode="w") as zio:
        zio.write(nwb)
    return base / "rich.nwb", base / "rich.nwb.zarr"


def _differences(h5_path: Path, zarr_path: Path) -> list[str]:
    with NWBHDF5IO(h5_path, mode="r") as h5_io, NWBZarrIO(zarr_path, mode="r") as zarr_io:
        containers = compare_nwbfiles(h5_io.read(), zarr_io.read())
        builders = compare_builders(h5_io.read_builder(), zarr_io.read_builder())
        assert containers.objects > 5 and builders.objects > 20
        return [*containers.differences, *builders.differences]


@pytest.mark.parametrize("pass_nwbfile", [False, True], ids=["no-nwbfile", "nwbfile"])
def test_export_survives_deleting_the_source(
    sources: tuple[Path, Path], tmp_path: Path, pass_nwbfile: bool
) -> None:
    h5_path, zarr_path = sources
    src, dst = tmp_path / "src.nwb.zarr", tmp_path / "dst.nwb.zarr"
    shutil.copytree(zarr_path, src)
    with NWBZarrIO(src, mode="r") as read_io, NWBZarrIO(dst, mode="w") as export_io:
        if pass_nwbfile:
            export_io.export(src_io=read_io, nwbfile=read_io.read())
        else:
            export_io.export(src_io=read_io)
    assert _links(dst) == _links(src)  # the source's own links only: no dataset became a link
    shutil.rmtree(src)
    assert _differences(h5_path, dst) == []


def test_convert_of_an_exported_file(sources: tuple[Path, Path], tmp_path: Path) -> None:
    h5_path, zarr_path = sources
    exported, back = tmp_path / "exported.nwb.zarr", tmp_path / "back.nwb"
    with NWBZarrIO(zarr_path, mode="r") as read_io, NWBZarrIO(exported, mode="w") as export_io:
        export_io.export(src_io=read_io)
    report = convert(exported, back)  # zarr's own zstd default: no warning, written uncompressed
    assert report.datasets > 20
    with NWBHDF5IO(h5_path, mode="r") as a, NWBHDF5IO(back, mode="r") as b:
        assert compare_nwbfiles(a.read(), b.read()).differences == []


def test_link_data_false_copies_too(sources: tuple[Path, Path], tmp_path: Path) -> None:
    h5_path, zarr_path = sources
    src, dst = tmp_path / "src.nwb.zarr", tmp_path / "dst.nwb.zarr"
    shutil.copytree(zarr_path, src)
    with NWBZarrIO(src, mode="r") as read_io, NWBZarrIO(dst, mode="w") as export_io:
        export_io.export(src_io=read_io, write_args=dict(link_data=False))
    shutil.rmtree(src)
    assert _differences(h5_path, dst) == []


def _linked_file(tmp_path: Path) -> tuple[Path, Path]:
    """``dst`` whose series data links, on request (ZarrDataIO(link_data=True)), to the array in ``src``."""
    src, dst = tmp_path / "src.nwb.zarr", tmp_path / "dst.nwb.zarr"
    nwb = mock_NWBFile()
    nwb.add_acquisition(mock_TimeSeries(name="ts", data=np.arange(60.0).reshape(20, 3)))
    with NWBZarrIO(src, mode="w") as io:
        io.write(nwb)
    array = zarr.open_group(src, mode="r")["acquisition/ts/data"]
    other = mock_NWBFile()
    other.add_acquisition(mock_TimeSeries(name="ts", data=ZarrDataIO(array, link_data=True)))
    with NWBZarrIO(dst, mode="w") as io:
        io.write(other)
    return src, dst


def test_linking_on_request_and_broken_link_names_both_files(tmp_path: Path) -> None:
    src, dst = _linked_file(tmp_path)
    links = json.loads((dst / "acquisition" / "ts" / "zarr.json").read_text())["attributes"]["_LINKS"]
    assert [ln["name"] for ln in links] == ["data"] and links[0]["source"] != "."
    assert "data" not in zarr.open_group(dst, mode="r")["acquisition/ts"]
    with NWBZarrIO(dst, mode="r") as io:  # the link resolves while its target is there
        np.testing.assert_array_equal(io.read().acquisition["ts"].data[:], np.arange(60.0).reshape(20, 3))
    shutil.rmtree(src)
    with pytest.raises(BrokenLinkError) as info, NWBZarrIO(dst, mode="r") as io:
        io.read()
    assert str(dst) in str(info.value) and str(src) in str(info.value)
    assert "/acquisition/ts/data" in str(info.value)


def test_export_from_hdf5_without_write_args_copies(sources: tuple[Path, Path], tmp_path: Path) -> None:
    h5_path, _ = sources
    src, dst = tmp_path / "src.nwb", tmp_path / "dst.nwb.zarr"
    shutil.copy(h5_path, src)
    with NWBHDF5IO(src, mode="r") as read_io, NWBZarrIO(dst, mode="w") as export_io:
        export_io.export(src_io=read_io)
    src.unlink()
    assert _differences(h5_path, dst) == []


def test_export_from_hdf5_refuses_explicit_link_data(sources: tuple[Path, Path], tmp_path: Path) -> None:
    with (
        NWBHDF5IO(sources[0], mode="r") as read_io,
        NWBZarrIO(tmp_path / "d.nwb.zarr", mode="w") as export_io,
    ):
        with pytest.raises(UnsupportedOperation, match="link_data=False"):
            export_io.export(src_io=read_io, write_args=dict(link_data=True))


# pynwb 4 deprecates Device.manufacturer, which the pynwb 3 that wrote the legacy fixtures set
@pytest.mark.filterwarnings("ignore:The 'manufacturer' field is deprecated:DeprecationWarning")
def test_export_from_a_legacy_file_survives_deleting_it(tmp_path: Path) -> None:
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "legacy" / "ecephys.nwb.zarr"
    src, dst = tmp_path / "legacy.nwb.zarr", tmp_path / "dst.nwb.zarr"
    shutil.copytree(fixture, src)
    with NWBZarrIO(src, mode="r") as read_io, NWBZarrIO(dst, mode="w") as export_io:
        export_io.export(src_io=read_io)
    shutil.rmtree(src)
    with NWBZarrIO(fixture, mode="r") as a_io, NWBZarrIO(dst, mode="r") as b_io:
        cmp = compare_nwbfiles(a_io.read(), b_io.read())
        assert cmp.objects > 5 and cmp.differences == []


def test_round_trip_through_zarr_keeps_uncompressed_datasets_uncompressed(
    sources: tuple[Path, Path], tmp_path: Path
) -> None:
    h5_path, zarr_path = sources
    mid, back = tmp_path / "mid.nwb.zarr", tmp_path / "back.nwb"
    with warnings.catch_warnings():
        warnings.simplefilter("error", CodecNotMappedWarning)  # no warning about codecs zarrbridge chose
        convert(h5_path, mid)
        convert(mid, back)
        convert(zarr_path, tmp_path / "plain.nwb")  # zarr's own default (zstd) from a plain write

    def compressed(path: Path) -> set[str]:
        found: set[str] = set()
        with h5py.File(path, "r") as f:
            f.visititems(lambda name, obj: found.add(name) if getattr(obj, "compression", None) else None)
        return found

    assert compressed(h5_path) == set()  # NWBHDF5IO writes uncompressed by default
    assert compressed(back) == set() and compressed(tmp_path / "plain.nwb") == set()
    with NWBHDF5IO(h5_path, mode="r") as a, NWBHDF5IO(back, mode="r") as b:
        assert compare_nwbfiles(a.read(), b.read()).differences == []
