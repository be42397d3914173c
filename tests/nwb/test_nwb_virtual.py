"""Virtual views of the pynwb.testing.mock round-trip corpus: each file read through its view as from HDF5."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zarr
from hdmf.backends.hdf5 import H5DataIO
from nwb_compare import compare_builders, compare_nwbfiles
from nwb_content import files_from_mocks, new_file, rich_file
from pynwb import NWBHDF5IO, TimeSeries

from zarrbridge import NWBZarrIO, read_nwb
from zarrbridge.zarrio.virtual import write_virtual


def _differences(h5_path: Path, view: Path, *, objects: int = 5) -> list[str]:
    with NWBHDF5IO(h5_path, mode="r") as h5_io, NWBZarrIO(view, mode="r") as zarr_io:
        containers = compare_nwbfiles(h5_io.read(), zarr_io.read())
        builders = compare_builders(h5_io.read_builder(), zarr_io.read_builder())
        assert containers.objects > objects and builders.objects > 4 * objects  # they walked the files
        return [f"container {d}" for d in containers.differences] + [
            f"builder {d}" for d in builders.differences
        ]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    base = tmp_path_factory.mktemp("virtual-corpus")
    files, _ = files_from_mocks()
    (base / "movie.avi").write_bytes(b"\0" * 16)
    files.append(rich_file(str(base / "movie.avi")))
    paths = []
    for i, nwbfile in enumerate(files):
        path = base / f"f{i}.nwb"
        with NWBHDF5IO(path, mode="w") as io:
            io.write(nwbfile)
        paths.append(path)
    return paths


def test_every_file_of_the_mock_corpus_reads_through_its_view_as_from_hdf5(corpus: list[Path]) -> None:
    assert len(corpus) >= 3
    for h5_path in corpus:
        view = h5_path.with_suffix(".nwb.zarr")
        report = write_virtual(h5_path, view)
        assert report.view_bytes == view.stat().st_size
        assert _differences(h5_path, view) == [], h5_path.name


def test_the_view_lists_what_the_export_writes(corpus: list[Path], tmp_path: Path) -> None:
    """Same nodes, attributes, shapes and data types as the normal export: readers see the same file."""
    h5_path = corpus[-1]
    view, exported = tmp_path / "v.nwb.zarr", tmp_path / "e.nwb.zarr"
    write_virtual(h5_path, view)
    with NWBHDF5IO(h5_path, "r") as src, NWBZarrIO(exported, "w") as dst:
        dst.export(src_io=src, write_args={"link_data": False})
    view_root = json.loads(json.loads(view.read_text())["refs"]["zarr.json"])
    export_root = json.loads((exported / "zarr.json").read_text())

    def summary(root: dict[str, object]) -> dict[str, object]:
        meta = root["consolidated_metadata"]["metadata"]  # type: ignore[index]
        return {
            k: (v.get("attributes"), v.get("shape"), v.get("data_type"))  # type: ignore[union-attr]
            for k, v in meta.items()  # type: ignore[union-attr]
        }

    assert summary(view_root) == summary(export_root)
    assert view_root["attributes"] == export_root["attributes"]


def test_large_datasets_of_a_mock_file_are_referenced_and_read_equal(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    nwbfile = new_file("virtual-large")
    chunked = rng.integers(-1000, 1000, size=(200_000, 4), dtype=np.int16)
    contiguous = rng.standard_normal((65_536, 4))
    nwbfile.add_acquisition(
        TimeSeries(
            name="chunked",
            data=H5DataIO(chunked, chunks=(8192, 4), compression="gzip", shuffle=True, fletcher32=True),
            unit="uV",
            rate=30000.0,
        )
    )
    nwbfile.add_acquisition(TimeSeries(name="contiguous", data=contiguous, unit="m", rate=10.0))
    h5_path, view = tmp_path / "large.nwb", tmp_path / "large.nwb.zarr"
    with NWBHDF5IO(h5_path, mode="w") as io:
        io.write(nwbfile)
    report = write_virtual(h5_path, view)
    assert set(report.referenced) == {"/acquisition/chunked/data", "/acquisition/contiguous/data"}
    assert report.chunks == 25 + 1 and report.copied == () and report.unmapped == ()
    assert report.view_bytes < 200_000  # the chunks are referenced, not copied
    refs = json.loads(view.read_text())["refs"]
    assert refs["acquisition/chunked/data/c/0/0"][0] == "{{u}}"
    assert _differences(h5_path, view, objects=2) == []
    nwb = read_nwb(view)
    data = nwb.acquisition["chunked"].data
    assert isinstance(data, zarr.Array) and data.chunks == (8192, 4)
    np.testing.assert_array_equal(data[:], chunked)
    np.testing.assert_array_equal(nwb.acquisition["contiguous"].data[100:40_000], contiguous[100:40_000])


def test_with_every_dataset_referenced_the_corpus_still_reads_as_from_hdf5(corpus: list[Path]) -> None:
    referenced = 0
    for h5_path in corpus:
        view = h5_path.with_suffix(".all.json")
        report = write_virtual(h5_path, view, inline_bytes=0)
        referenced += len(report.referenced)
        assert _differences(h5_path, view) == [], h5_path.name
    assert referenced > 50  # the numeric datasets of the mocks really went through references
