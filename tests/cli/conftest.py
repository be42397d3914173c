"""Fixtures for the ``zarrbridge`` command tests: example files written once per session, broken files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Result, Run

from zarrbridge.cli.main import main


@pytest.fixture(name="cli")
def cli_fixture(capsys: pytest.CaptureFixture[str]) -> Run:
    """``cli("tree", path)`` runs ``main`` in-process and returns (exit code, stdout, stderr)."""

    def run(*args: Any) -> Result:
        capsys.readouterr()  # drop anything printed before
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def example_h5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in example recording as HDF5 (written by ``zarrbridge example``)."""
    path = tmp_path_factory.mktemp("example") / "rec.nwb"
    assert main(["example", str(path), "-q"]) == 0
    return path


@pytest.fixture(scope="session")
def example_zarr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in example recording as Zarr (current convention)."""
    path = tmp_path_factory.mktemp("example") / "rec.nwb.zarr"
    assert main(["example", str(path), "-q"]) == 0
    return path


@pytest.fixture()
def zarr_copy(example_zarr: Path, tmp_path: Path) -> Path:
    """A private copy of the Zarr example that a test may damage."""
    target = tmp_path / "copy.nwb.zarr"
    shutil.copytree(example_zarr, target)
    return target


@pytest.fixture()
def marker_999(zarr_copy: Path) -> Path:
    """A Zarr file whose ``_ZARRBRIDGE`` marker says format version 999."""
    document = json.loads((zarr_copy / "zarr.json").read_text())
    document["attributes"]["_ZARRBRIDGE"]["version"] = 999
    (zarr_copy / "zarr.json").write_text(json.dumps(document))
    return zarr_copy


@pytest.fixture()
def corrupt_zarr_json(zarr_copy: Path) -> Path:
    """A Zarr file whose root zarr.json is cut off in the middle."""
    text = (zarr_copy / "zarr.json").read_text()
    (zarr_copy / "zarr.json").write_text(text[: len(text) // 3])
    return zarr_copy


@pytest.fixture()
def not_a_file(tmp_path: Path) -> Path:
    """A plain text file (neither zarr nor HDF5)."""
    path = tmp_path / "notes.nwb"
    path.write_text("this is not an NWB file\n")
    return path


@pytest.fixture()
def empty_dir(tmp_path: Path) -> Path:
    """A directory that holds no zarr hierarchy."""
    path = tmp_path / "empty.zarr"
    path.mkdir()
    return path
