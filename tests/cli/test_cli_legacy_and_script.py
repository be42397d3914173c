"""The command on legacy hdmf-zarr files (committed fixtures), and the installed ``zarrbridge`` script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cli_helpers import Run

ROOT = Path(__file__).resolve().parents[2]
LEGACY = ROOT / "tests" / "fixtures" / "legacy"
MANIFEST = json.loads((LEGACY / "manifest.json").read_text())


def test_tree_on_legacy_file_lists_every_object_the_writer_wrote(cli: Run) -> None:
    path = LEGACY / "ecephys.nwb.zarr"
    result = cli("tree", path, "--json")
    assert result.code == 0, result.err
    nodes = {n["path"]: n for n in json.loads(result.out)["nodes"]}
    expected = MANIFEST["files"]["ecephys.nwb.zarr"]["containers"]["objects"]
    assert len(expected) > 20
    for obj in expected:  # every container hdmf-zarr 0.13 wrote, with its type
        assert nodes[obj["path"]]["neurodata_type"] == obj["neurodata_type"], obj
    blosc = nodes["/acquisition/ElectricalSeriesBlosc/data"]
    assert blosc["shape"] == [64, 2] and blosc["chunks"] == [16, 2] and blosc["dtype"] == "float32"
    assert blosc["codecs"] and blosc["codecs"][0].startswith("blosc(") and blosc["stored_bytes"] > 0
    assert nodes["/acquisition/ElectricalSeriesGzip/data"]["codecs"] == ["gzip(level=4)"]
    assert (
        nodes["/acquisition/SharedTimestamps/timestamps"]["target"]
        == "/acquisition/ElectricalSeriesBlosc/timestamps"
    )
    text = cli("tree", path).out
    assert "ElectricalSeries (core)" in text and "blosc(" in text


def test_info_and_validate_on_legacy_file(cli: Run) -> None:
    path = LEGACY / "ecephys.nwb.zarr"
    doc = json.loads(cli("info", path, "--json").out)
    assert doc["convention"] == {"name": "hdmf-zarr-legacy", "zarr_format": 2, "version": None}
    assert doc["nwb_version"] == "2.9.0"
    assert doc["namespaces"]["core"] == ["2.9.0"] and "hdmf-common" in doc["namespaces"]
    assert doc["counts"]["links"] >= 1 and doc["counts"]["references"] >= 1
    result = cli("validate", path)
    assert result.code == 0, result.out
    assert result.out.startswith(f"{path}: valid (checked against core 2.9.0)")


def test_crafted_pickle_is_never_run(cli: Run) -> None:
    path = LEGACY / "crafted_pickle.nwb.zarr"
    marker = Path(MANIFEST["files"]["crafted_pickle.nwb.zarr"]["crafted"]["marker"])
    assert not marker.exists()
    for command in ("tree", "info", "validate"):
        result = cli(command, path)
        assert result.code in (0, 1)
        assert not result.err or result.err_lines[-1].startswith("zarrbridge: error: ")
        assert not marker.exists(), command


def _script() -> str:
    candidate = Path(sys.executable).with_name("zarrbridge")
    assert candidate.exists(), "the console script is missing: pip install -e . (it comes with the package)"
    return str(candidate)


def test_installed_script_help_and_one_line_failure(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "100"}
    shown = subprocess.run([_script(), "--help"], capture_output=True, text=True, env=env, timeout=120)
    assert shown.returncode == 0 and shown.stderr == ""
    assert shown.stdout.startswith("usage: zarrbridge ")
    for command in ("tree", "info", "validate", "convert", "example"):
        assert f"    {command} " in shown.stdout
    assert "examples:" in shown.stdout and "Exit status:" in shown.stdout
    missing = tmp_path / "missing.nwb.zarr"
    failed = subprocess.run(
        [_script(), "tree", str(missing)], capture_output=True, text=True, env=env, timeout=120
    )
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.splitlines() == [
        f"zarrbridge: error: cannot use location {str(missing)!r}: no such file or directory; check the path"
    ]
    usage = subprocess.run([_script(), "tree"], capture_output=True, text=True, env=env, timeout=120)
    assert usage.returncode == 2 and len(usage.stderr.splitlines()) == 1
