"""Bad input for every command: one ``zarrbridge: error: ...`` line on stderr and a non-zero exit status."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import zarr
from cli_helpers import Run, assert_one_line_error

from zarrbridge.cli import info
from zarrbridge.cli.opening import OpenFile

READERS = ["tree", "info", "validate"]


def _commands(path: Path, tmp_path: Path) -> list[list[str]]:
    """Every command that reads ``path``."""
    return [[c, str(path)] for c in READERS] + [
        ["tree", str(path), "--json"],
        ["info", str(path), "--json"],
        ["convert", str(path), str(tmp_path / "out.nwb.zarr")],
        ["convert", str(path), str(tmp_path / "out.nwb")],
    ]


def _check_all(cli: Run, path: Path, tmp_path: Path, *fragments: str) -> None:
    for args in _commands(path, tmp_path):
        result = cli(*args)
        assert_one_line_error(result, *fragments)
        assert result.out == "", args  # nothing half-printed on stdout
    assert not (tmp_path / "out.nwb.zarr").exists() and not (tmp_path / "out.nwb").exists()


def test_missing_path(cli: Run, tmp_path: Path) -> None:
    missing = tmp_path / "nope.nwb.zarr"
    _check_all(cli, missing, tmp_path, str(missing), "no such file or directory")


def test_not_zarr_nor_hdf5(cli: Run, not_a_file: Path, tmp_path: Path) -> None:
    _check_all(cli, not_a_file, tmp_path, str(not_a_file), "neither a zarr hierarchy", "nor an HDF5 file")


def test_directory_without_zarr_hierarchy(cli: Run, empty_dir: Path, tmp_path: Path) -> None:
    for args in _commands(empty_dir, tmp_path)[:5]:
        assert_one_line_error(cli(*args), str(empty_dir), "not a zarr store")


def test_corrupt_zarr_json(cli: Run, corrupt_zarr_json: Path, tmp_path: Path) -> None:
    for args in _commands(corrupt_zarr_json, tmp_path)[:5]:
        assert_one_line_error(cli(*args), "zarr.json", "corrupt")


def test_unknown_marker_version(cli: Run, marker_999: Path, tmp_path: Path) -> None:
    for args in _commands(marker_999, tmp_path)[:5]:
        assert_one_line_error(cli(*args), "999", "Upgrade zarrbridge")


def test_debug_shows_the_traceback_then_the_error_line(cli: Run, marker_999: Path) -> None:
    result = cli("--debug", "info", marker_999)
    assert result.code == 1
    assert result.err.startswith("Traceback (most recent call last):")
    assert "UnsupportedFormatVersionError" in result.err
    assert result.err_lines[-1].startswith("zarrbridge: error: ") and "999" in result.err_lines[-1]
    after = cli("info", marker_999, "--debug")  # also accepted after the subcommand
    assert after.code == 1 and "Traceback" in after.err


@pytest.mark.parametrize(
    "args, fragment",
    [
        ([], "the following arguments are required: COMMAND"),
        (["frobnicate", "x"], "invalid choice: 'frobnicate'"),
        (["tree"], "the following arguments are required: path"),
        (["tree", "x", "--depth", "-1"], "argument --depth: expected 0 or more"),
        (["tree", "x", "--depth", "two"], "argument --depth: expected a whole number"),
        (["tree", "x", "--bogus"], "unrecognized arguments: --bogus"),
        (["convert", "a"], "the following arguments are required: DST"),
        (["convert", "a", "b", "--zarr-format", "4"], "invalid choice: 4"),
        (["convert", "a", "b", "--compressor", "lz77"], "invalid choice: 'lz77'"),
        (["convert", "a", "b", "--chunks", "big"], "invalid choice: 'big'"),
        (["convert", "a", "b", "--jobs", "0"], "argument --jobs: expected 1 or more"),
        (["convert", "a", "b", "--jobs", "2.5"], "argument --jobs: expected a whole number"),
        (["convert", "a", "b", "--level", "high"], "invalid int value: 'high'"),
        (["convert", "a", "b", "--shard-size-mb", "-5"], "expected 0.0 or more"),
        (["convert", "a", "b", "--shard-size-mb", "nan"], "expected 0.0 or more"),
        (["convert", "a", "b", "--shard-size-mb", "big"], "argument --shard-size-mb: expected a number"),
        (["info", "x", "--storage-option", "novalue"], "expected KEY=VALUE"),
    ],
)
def test_usage_errors_exit_2_with_one_line(cli: Run, args: list[str], fragment: str) -> None:
    result = cli(*args)
    assert_one_line_error(result, fragment, code=2)
    assert "--help" in result.err_lines[0]  # says where to look


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--level", "5"], "--level 5 needs --compressor zstd, blosc or gzip"),
        (["--compressor", "none", "--level", "5"], "--level 5 needs --compressor"),
        (["--compressor", "zstd", "--level", "23"], "out of range for zstd"),
        (["--compressor", "gzip", "--level", "10"], "out of range for gzip: use 0..9"),
        (["--compressor", "blosc", "--level", "-1"], "out of range for blosc"),
    ],
)
def test_convert_bad_option_values_exit_1(
    cli: Run, example_h5: Path, tmp_path: Path, extra: list[str], fragment: str
) -> None:
    dest = tmp_path / "out.nwb.zarr"
    assert_one_line_error(cli("convert", example_h5, dest, *extra), fragment)
    assert not dest.exists()


def test_convert_sharding_needs_a_zarr_destination(cli: Run, example_zarr: Path, tmp_path: Path) -> None:
    assert_one_line_error(
        cli("convert", example_zarr, tmp_path / "o.h5", "--shard-size-mb", "8"), "Zarr destinations only"
    )


def test_convert_dest_exists_without_overwrite(cli: Run, example_h5: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out.nwb.zarr"
    dest.mkdir()
    (dest / "keep.txt").write_text("precious")
    assert_one_line_error(cli("convert", example_h5, dest), str(dest), "already exists", "--overwrite")
    assert (dest / "keep.txt").read_text() == "precious"
    same = cli("convert", example_h5, example_h5, "--overwrite")
    assert_one_line_error(same, "SRC and DST are the same")
    assert example_h5.stat().st_size > 0


def test_example_refuses_to_overwrite(cli: Run, tmp_path: Path) -> None:
    target = tmp_path / "rec.nwb"
    target.write_text("mine")
    assert_one_line_error(cli("example", target), "already exists", "--overwrite")
    assert target.read_text() == "mine"
    assert_one_line_error(cli("example", tmp_path / "no" / "dir" / "rec.nwb"), "does not exist")


def test_info_convention_falls_back_to_root_attributes(example_zarr: Path, tmp_path: Path) -> None:
    # an io without the ``convention`` property (an older ZarrIO) is read from the root attributes
    root = zarr.open_group(example_zarr, mode="r")
    opened = OpenFile(str(example_zarr), "zarr", SimpleNamespace(file=root), {})
    assert info.convention(opened) == {"name": "zarrbridge", "zarr_format": 3, "version": "2"}
    plain = zarr.open_group(tmp_path / "plain.zarr", mode="w", zarr_format=2)
    plain_opened = OpenFile(str(tmp_path / "plain.zarr"), "zarr", SimpleNamespace(file=plain), {})
    assert info.convention(plain_opened) == {"name": "hdmf-zarr-legacy", "zarr_format": 2, "version": None}
    assert json.dumps(info.convention(plain_opened))  # JSON-serialisable


def test_help_and_version_exit_0(cli: Run) -> None:
    import zarrbridge

    shown = cli("--help")
    assert shown.code == 0 and shown.err == "" and "Exit status:" in shown.out
    for command in ("tree", "info", "validate", "convert", "example"):
        sub = cli(command, "--help")
        assert (
            sub.code == 0 and sub.out.startswith(f"usage: zarrbridge {command} ") and "examples:" in sub.out
        )
    version = cli("--version")
    assert (version.code, version.out.strip()) == (0, f"zarrbridge {zarrbridge.__version__}")
