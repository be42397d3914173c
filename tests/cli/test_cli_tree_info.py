"""``zarrbridge tree`` and ``zarrbridge info`` on Zarr and HDF5 files: text and JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zarr
from cli_helpers import Run

from zarrbridge.examples import demo

ES_DATA = "/acquisition/ElectricalSeries/data"


def _line(out: str, name: str) -> str:
    found = [line for line in out.splitlines() if line.split() and line.split()[0] == name]
    assert len(found) == 1, f"{name!r} printed {len(found)} times in:\n{out}"
    return found[0]


@pytest.mark.parametrize("which", ["example_zarr", "example_h5"])
def test_tree_text_shows_types_shapes_chunks_and_compression(
    cli: Run, which: str, request: pytest.FixtureRequest
) -> None:
    path: Path = request.getfixturevalue(which)
    result = cli("tree", path)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["/", "NWBFile", "(core)"]
    assert _line(result.out, "ElectricalSeries/").split()[1:] == ["ElectricalSeries", "(core)"]
    es_line = next(line for line in lines if line.strip().startswith("data ") and "(30000, 8)" in line)
    assert "int16" in es_line and "chunks 10000x8" in es_line and "ratio " in es_line
    assert ("shuffle+gzip(level=4)" if which == "example_h5" else "zstd(") in es_line
    assert "device -> /general/devices/probe" in result.out and "(link)" in result.out
    assert "ElectrodesTable (core)" in result.out and "VectorIndex (hdmf-common)" in result.out
    assert "specifications" not in result.out  # the cached spec is not part of the data hierarchy
    # children are indented one level (two spaces) below their group
    assert _line(result.out, "acquisition/").startswith("  acquisition/")
    assert [ln for ln in lines if ln.strip().startswith("ElectricalSeries/")][0].startswith("    Elec")


def test_tree_json_is_machine_readable_and_reports_storage(cli: Run, example_zarr: Path) -> None:
    result = cli("tree", example_zarr, "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["format"] == "zarr"
    nodes = {n["path"]: n for n in doc["nodes"]}
    data = nodes[ES_DATA]
    array = zarr.open_array(example_zarr / ES_DATA.strip("/"), mode="r")
    assert data["kind"] == "dataset"
    assert data["shape"] == [demo.N_SAMPLES, demo.N_CHANNELS] and data["dtype"] == "int16"
    assert data["chunks"] == [10_000, demo.N_CHANNELS] and data["shards"] is None
    assert data["nbytes"] == demo.N_SAMPLES * demo.N_CHANNELS * 2
    assert 0 < data["stored_bytes"] < array.nbytes_stored()  # chunks only, not the metadata document
    assert data["ratio"] == pytest.approx(data["nbytes"] / data["stored_bytes"], rel=1e-3)
    assert data["codecs"] and data["codecs"][0].startswith("zstd")
    assert nodes["/"]["neurodata_type"] == "NWBFile" and nodes["/"]["namespace"] == "core"
    assert nodes["/general/extracellular_ephys/shank0/device"] == {
        "path": "/general/extracellular_ephys/shank0/device",
        "kind": "link",
        "neurodata_type": None,
        "namespace": None,
        "references": 0,
        "target": "/general/devices/probe",
    }
    group_col = nodes["/general/extracellular_ephys/electrodes/group"]
    assert group_col["dtype"] == "object reference" and group_col["references"] == 1
    assert not any(p.startswith("/specifications") for p in nodes)


def test_tree_json_hdf5_matches_zarr_hierarchy(cli: Run, example_zarr: Path, example_h5: Path) -> None:
    z = json.loads(cli("tree", example_zarr, "--json").out)
    h = json.loads(cli("tree", example_h5, "--json").out)
    assert h["format"] == "hdf5"
    assert [(n["path"], n["kind"], n["neurodata_type"]) for n in z["nodes"]] == [
        (n["path"], n["kind"], n["neurodata_type"]) for n in h["nodes"]
    ]
    data = {n["path"]: n for n in h["nodes"]}[ES_DATA]
    assert data["codecs"] == ["shuffle", "gzip(level=4)"] and data["chunks"] == [10_000, demo.N_CHANNELS]
    assert data["ratio"] > 1.2  # gzip on int16 noise does compress


def test_tree_depth_and_no_data_details(cli: Run, example_zarr: Path) -> None:
    shallow = json.loads(cli("tree", example_zarr, "--json", "--depth", "1").out)
    assert max(len(n["path"].strip("/").split("/")) for n in shallow["nodes"] if n["path"] != "/") == 1
    assert "/acquisition" in {n["path"] for n in shallow["nodes"]}
    root_only = cli("tree", example_zarr, "--depth", "0")
    assert root_only.out.splitlines() == ["/  NWBFile (core)"]
    bare = cli("tree", example_zarr, "--no-data-details")
    assert bare.code == 0
    assert "chunks" not in bare.out and "int16" not in bare.out and "ElectricalSeries (core)" in bare.out
    assert "shape" not in json.loads(cli("tree", example_zarr, "--no-data-details", "--json").out)["nodes"][3]


def test_tree_never_reads_array_data(cli: Run, zarr_copy: Path) -> None:
    # remove every chunk of the big dataset: tree/info must not notice (they read metadata only)
    chunk_dir = zarr_copy / ES_DATA.strip("/") / "c"
    assert chunk_dir.is_dir()
    for chunk in chunk_dir.rglob("*"):
        if chunk.is_file():
            chunk.unlink()
    result = cli("tree", zarr_copy, "--json")
    assert result.code == 0, result.err
    data = {n["path"]: n for n in json.loads(result.out)["nodes"]}[ES_DATA]
    assert data["stored_bytes"] == 0 and data["ratio"] is None
    assert cli("info", zarr_copy).code == 0


@pytest.mark.parametrize("which", ["example_zarr", "example_h5"])
def test_info_json_counts_versions_and_namespaces(
    cli: Run, which: str, request: pytest.FixtureRequest
) -> None:
    path: Path = request.getfixturevalue(which)
    result = cli("info", path, "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    tree = json.loads(cli("tree", path, "--json").out)["nodes"]
    kinds = [n["kind"] for n in tree]
    assert doc["counts"] == {
        "groups": kinds.count("group"),
        "datasets": kinds.count("dataset"),
        "links": kinds.count("link"),
        "references": sum(n["references"] for n in tree),
    }
    assert doc["counts"]["links"] == 1 and doc["counts"]["references"] >= 2
    assert doc["nwb_version"] == "2.11.0" or doc["nwb_version"].startswith("2.")
    assert doc["neurodata_types"]["VectorData"] >= 5 and doc["neurodata_types"]["NWBFile"] == 1
    assert len(doc["neurodata_types"]) <= 10 < doc["neurodata_types_total"] + 10
    assert list(doc["neurodata_types"].values()) == sorted(doc["neurodata_types"].values(), reverse=True)
    assert {"core", "hdmf-common"} <= set(doc["namespaces"])
    assert all(isinstance(v, list) and v for v in doc["namespaces"].values())
    if which == "example_zarr":
        assert doc["convention"] == {"name": "zarrbridge", "zarr_format": 3, "version": "2"}
        on_disk = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    else:
        assert doc["convention"]["name"] == "hdf5"
        on_disk = path.stat().st_size
    assert doc["stored_bytes"] == on_disk


def test_info_text(cli: Run, example_zarr: Path) -> None:
    result = cli("info", example_zarr)
    assert result.code == 0
    text = result.out
    assert "convention:   zarrbridge version 2" in text
    assert "format:       zarr (zarr format 3)" in text
    assert "NWB version:  2." in text
    assert "1 links" in text and "neurodata types (top 10 of" in text
    assert _line(text, "core").split()[1].startswith("2.")


def test_info_zarr_format_2(cli: Run, tmp_path: Path) -> None:
    from zarrbridge.cli.example import write_example

    path = tmp_path / "v2.nwb.zarr"
    import pynwb

    from zarrbridge import ZarrIO

    with ZarrIO(path, mode="w", manager=pynwb.get_manager(), zarr_format=2) as io:
        io.write(demo.build_recording())
    doc = json.loads(cli("info", path, "--json").out)
    assert doc["convention"] == {"name": "zarrbridge", "zarr_format": 2, "version": "2"}
    assert write_example  # the helper is importable for library users too
