"""xarray opens converted NWB files: dimension names from the specification's ``dims``."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
import zarr
from nwb_content import rich_file
from pynwb import NWBHDF5IO

from zarrbridge import NWBZarrIO
from zarrbridge.errors import CodecNotMappedWarning
from zarrbridge.zarrio.convert import ConvertOptions, convert
from zarrbridge.zarrio.dims import _declared, _unique

LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "legacy" / "ecephys.nwb.zarr"


@pytest.fixture(scope="module")
def h5_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("xarray")
    (base / "movie.avi").write_bytes(b"\0" * 16)
    with NWBHDF5IO(base / "rich.nwb", mode="w") as io:
        io.write(rich_file(str(base / "movie.avi")))
    return base / "rich.nwb"


@pytest.fixture(scope="module")
def converted(h5_file: Path) -> Path:
    dest = h5_file.with_suffix(".nwb.zarr")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CodecNotMappedWarning)
        convert(h5_file, dest)
    return dest


def _arrays(path: Path) -> dict[str, Any]:
    meta = json.loads((path / "zarr.json").read_text())["consolidated_metadata"]["metadata"]
    return {k: v for k, v in meta.items() if v["node_type"] == "array" and not k.startswith("specifications")}


def test_every_array_has_distinct_names_per_axis(converted: Path) -> None:
    arrays = _arrays(converted)
    assert len(arrays) > 50
    for key, meta in arrays.items():
        names = meta.get("dimension_names") or []
        assert len(names) == len(meta["shape"]), key
        assert len(set(names)) == len(names), key
        if names:  # also as the attribute hdmf-zarr writes
            assert meta["attributes"]["_ARRAY_DIMENSIONS"] == names, key
    # the specification's names where the shape matches a declared shape
    assert arrays["acquisition/es/data"]["dimension_names"] == ["num_times", "num_channels"]
    assert arrays["acquisition/es/timestamps"]["dimension_names"] == ["num_times"]


def test_open_zarr_on_a_series(converted: Path, h5_file: Path) -> None:
    ds = xr.open_zarr(converted, group="acquisition/es")
    assert ds["data"].dims == ("num_times", "num_channels")
    assert ds.sizes["num_times"] == ds["timestamps"].size
    with NWBHDF5IO(h5_file, mode="r") as io:
        series = io.read().acquisition["es"]
        np.testing.assert_array_equal(ds["data"].values, series.data[:])
        np.testing.assert_array_equal(ds["timestamps"].values, series.timestamps[:])


def test_open_datatree_on_the_whole_file(converted: Path) -> None:
    tree = xr.open_datatree(converted, engine="zarr")
    groups = {node.path for node in tree.subtree}
    assert {"/acquisition/es", "/units", "/general/extracellular_ephys/electrodes"} <= groups
    assert tree["acquisition/es"]["data"].dims == ("num_times", "num_channels")


def test_names_are_not_hdmf_attributes(converted: Path) -> None:
    with NWBZarrIO(converted, mode="r") as io:
        builder = io.read_builder()
        assert "_ARRAY_DIMENSIONS" not in builder["acquisition/es/data"].attributes
        assert io.read().acquisition["es"].data.shape == (10, 3)


def test_zarr_format_2_gets_the_attribute(h5_file: Path, tmp_path: Path) -> None:
    dest = tmp_path / "v2.nwb.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CodecNotMappedWarning)
        convert(h5_file, dest, options=ConvertOptions(zarr_format=2))
    attrs = zarr.open_group(dest, mode="r", zarr_format=2)["acquisition/es/data"].attrs
    assert attrs["_ARRAY_DIMENSIONS"] == ["num_times", "num_channels"]
    ds = xr.open_zarr(dest, group="acquisition/es", zarr_format=2, consolidated=False)
    assert ds["data"].dims == ("num_times", "num_channels")


def test_export_carries_the_names(converted: Path, tmp_path: Path) -> None:
    dest = tmp_path / "exported.nwb.zarr"
    with NWBZarrIO(converted, mode="r") as src, NWBZarrIO(dest, mode="w") as dst:
        dst.export(src_io=src)
    before, after = _arrays(converted), _arrays(dest)
    assert {k: v.get("dimension_names") for k, v in after.items()} == {
        k: v.get("dimension_names") for k, v in before.items()
    }
    assert xr.open_zarr(dest, group="acquisition/es")["data"].dims == ("num_times", "num_channels")


# pynwb 4 deprecates Device.manufacturer, which the pynwb 3 that wrote the legacy fixtures set
@pytest.mark.filterwarnings("ignore:The 'manufacturer' field is deprecated:DeprecationWarning")
def test_legacy_conversion_carries_the_names(tmp_path: Path) -> None:
    src, dest = tmp_path / "legacy.nwb.zarr", tmp_path / "current.nwb.zarr"
    shutil.copytree(LEGACY, src)
    convert(src, dest)
    tree = xr.open_datatree(dest, engine="zarr")
    electrodes = tree["general/extracellular_ephys/electrodes"]
    assert electrodes["id"].dims == ("num_rows",) and electrodes["id"].size == 6
    arrays = _arrays(dest)
    assert all(len(v.get("dimension_names") or []) == len(v["shape"]) for v in arrays.values())


def test_unique_and_declared_helpers() -> None:
    assert _unique(["x", "x", "y", "x"]) == ["x", "x_1", "y", "x_2"]

    class Spec:  # a DatasetSpec's shape/dims as hdmf stores them
        shape = [[None], [None, 3], [None, None]]
        dims = [["t"], ["t", "xyz"], ["t", "c"]]

    assert _declared(Spec, (10, 3)) == ["t", "xyz"]  # the fewest open axes win, as in hdmf
    assert _declared(Spec, (10, 4)) == ["t", "c"]
    assert _declared(Spec, (10, 4, 2)) is None
