"""Legacy -> current convention through export, legacy files in zip and on S3, and V2Array selections."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st
from legacy_helpers import FILES, FIXTURES, copy_fixture, decode_dataset, manager_for, open_legacy

from zarrbridge import ZarrIO
from zarrbridge.zarrio.legacy import Convention, V2Array, open_legacy_root

pytestmark = pytest.mark.filterwarnings("ignore:The 'manufacturer' field is deprecated:DeprecationWarning")

CONVERTED = ["ecephys.nwb.zarr", "json_codec.nwb.zarr", "kinds.nwb.zarr", "link_target.nwb.zarr"]


def _records(name: str) -> list[dict[str, Any]]:
    return [
        o
        for o in FILES[name]["objects"]
        if o["kind"] == "dataset" and "values" in o and not o["path"].startswith("/specifications")
    ]


@pytest.mark.parametrize("name", CONVERTED)
def test_export_converts_to_the_current_convention(tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    with open_legacy(FIXTURES / name) as src, ZarrIO(out, "w", manager=manager_for(FIXTURES / name)) as dst:
        dst.export(src_io=src)
    assert not (out / ".zgroup").exists() and (out / "zarr.json").exists()
    with ZarrIO(out, "r", manager=manager_for(out)) as io:
        assert io.convention.name == "zarrbridge" and io.convention.zarr_format == 3
        io.read_builder()
        checked = 0
        for record in _records(name):
            builder = io.get_builder(record["path"])
            values, _ = decode_dataset(builder.data, record, name)
            assert values == record["values"], record["path"]
            if record["value_kind"] == "numeric" and record["zarr_shape"][0] > 0:
                assert tuple(builder.data.chunks) == tuple(record["chunks"]), record["path"]  # chunking kept
            checked += 1
        assert checked > 10
        # the current reader returns ascii scalars as str (an extension wants bytes)
        if name != "kinds.nwb.zarr":
            assert io.read().identifier


def test_export_of_external_links_keeps_them_resolvable(tmp_path: Path) -> None:
    source = copy_fixture("external_link.nwb.zarr", tmp_path)
    copy_fixture("link_target.nwb.zarr", tmp_path)
    out = tmp_path / "converted.nwb.zarr"
    with open_legacy(source) as src, ZarrIO(out, "w", manager=manager_for(source)) as dst:
        dst.export(src_io=src)
    with ZarrIO(out, "r", manager=manager_for(out)) as io:
        linked = io.read().acquisition["target_series"]
        assert len(linked.data[:]) == 5


def test_nwbzarrio_export_from_a_legacy_file(tmp_path: Path) -> None:
    from zarrbridge.zarrio.nwb import NWBZarrIO

    out = tmp_path / "converted.nwb.zarr"
    with NWBZarrIO(FIXTURES / "ecephys.nwb.zarr", "r") as src, NWBZarrIO(out, "w") as dst:
        dst.export(src_io=src)
    with NWBZarrIO(out, "r") as io:
        nwbfile = io.read()
        assert [g.name for g in nwbfile.electrodes["group"][:]] == ["shank0"] * 3 + ["shank1"] * 3
        assert io.convention == Convention("zarrbridge", 3, "2")


# ------------------------------------------------------------------------------------------ stores


def test_legacy_file_in_a_zip(tmp_path: Path) -> None:
    archive = tmp_path / "kinds.nwb.zarr.zip"
    root = FIXTURES / "kinds.nwb.zarr"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(root).as_posix())
    with ZarrIO(archive, "r", manager=manager_for(archive)) as io:
        assert io.convention.legacy
        kinds = io.read().processing["kinds_module"]["kinds"]
        assert list(kinds.int8_data[:]) == [-128, -1, 0, 127]
        assert [r.name for r in kinds.ref_data[:]] == ["ts", "ts2", "ts"]


@pytest.mark.s3
def test_legacy_files_on_s3(s3_storage_options: dict[str, Any], s3_bucket: str) -> None:
    import s3fs

    fs = s3fs.S3FileSystem(
        key=s3_storage_options["key"],
        secret=s3_storage_options["secret"],
        client_kwargs={
            "endpoint_url": s3_storage_options["endpoint_url"],
            **s3_storage_options["client_kwargs"],
        },
    )
    for name in ("external_link.nwb.zarr", "link_target.nwb.zarr"):
        fs.put(str(FIXTURES / name), f"{s3_bucket}/{name}", recursive=True)
    url = f"s3://{s3_bucket}/external_link.nwb.zarr"
    with ZarrIO(
        url, "r", manager=_s3_manager(url, s3_storage_options), storage_options=s3_storage_options
    ) as io:
        assert io.convention.legacy
        nwbfile = io.read()
        linked = nwbfile.acquisition["target_series"]
        assert len(linked.data[:]) == 5 and linked.container_source.endswith("link_target.nwb.zarr")


def _s3_manager(url: str, storage_options: dict[str, Any]) -> Any:
    import pynwb
    from hdmf.build import BuildManager

    type_map = pynwb.get_type_map()
    ZarrIO.load_namespaces(type_map, url, storage_options=storage_options)
    return BuildManager(type_map)


# ------------------------------------------------------------------------------------------ V2Array


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> tuple[V2Array, np.ndarray[Any, Any]]:
    """A (23, 17, 5) zarr v2 array in chunks (4, 5, 3), written by zarr-python, read by V2Array."""
    root = tmp_path_factory.mktemp("grid") / "grid.zarr"
    values = np.arange(23 * 17 * 5, dtype="<f8").reshape(23, 17, 5)
    group = zarr.open_group(root, mode="w", zarr_format=2)
    arr = group.create_array("a/b", shape=values.shape, chunks=(4, 5, 3), dtype="<f8", fill_value=-1.0)
    arr[...] = values
    arr[20:, :, :] = -1.0  # a chunk row that is all fill value
    values[20:] = -1.0
    # zarr 3 leaves the all-fill chunks out (write_empty_chunks=False): read them as the fill value on purpose
    legacy = open_legacy_root(
        zarr.storage.LocalStore(root, read_only=True), where=str(root), missing_chunks="fill"
    )
    array = legacy["a/b"]
    assert isinstance(array, V2Array)
    return array, values


def _axis_key(draw: Any, n: int) -> Any:
    kind = draw(st.sampled_from(["int", "slice", "array", "bool"]))
    if kind == "int":
        return draw(st.integers(-n, n - 1))
    if kind == "slice":
        start = draw(st.none() | st.integers(-n - 2, n + 2))
        stop = draw(st.none() | st.integers(-n - 2, n + 2))
        step = draw(st.none() | st.integers(1, 4) | st.integers(-4, -1))
        return slice(start, stop, step)
    if kind == "array":
        return np.asarray(draw(st.lists(st.integers(-n, n - 1), min_size=0, max_size=6)), dtype=np.int64)
    return np.asarray(draw(st.lists(st.booleans(), min_size=n, max_size=n)))


@st.composite
def selections(draw: Any) -> tuple[Any, ...]:
    return tuple(_axis_key(draw, n) for n in (23, 17, 5))


@settings(max_examples=150, deadline=None)
@given(key=selections())
def test_selections_match_numpy_orthogonal_indexing(
    grid: tuple[V2Array, np.ndarray[Any, Any]], key: tuple[Any, ...]
) -> None:
    array, values = grid
    expected = values
    for axis in reversed(range(3)):  # orthogonal: one axis at a time (numpy would broadcast array pairs)
        index = key[axis]
        expected = expected[(slice(None),) * axis + (index,)]
    np.testing.assert_array_equal(array[key], expected)


def test_array_basics(grid: tuple[V2Array, np.ndarray[Any, Any]]) -> None:
    array, values = grid
    assert (array.shape, array.chunks, array.dtype, array.ndim, array.size) == (
        (23, 17, 5),
        (4, 5, 3),
        np.dtype("<f8"),
        3,
        values.size,
    )
    assert len(array) == 23 and array[3, 4, 2] == values[3, 4, 2]
    np.testing.assert_array_equal(np.asarray(array), values)
    np.testing.assert_array_equal(np.stack(list(array)), values)
    np.testing.assert_array_equal(array[..., 1], values[..., 1])
    assert array.nbytes_stored() > 0 and array.fill_value == -1.0
    for bad in [(0, 0, 0, 0), (23,), (None,), (..., ...), ("x",)]:
        with pytest.raises(IndexError):
            array[bad]
