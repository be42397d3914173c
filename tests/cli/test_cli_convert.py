"""``zarrbridge convert``: HDF5 -> Zarr, Zarr -> HDF5, Zarr -> Zarr, options, progress bar and summaries."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import zarr
from cli_helpers import Run, assert_one_line_error
from hdmf.backends.hdf5 import HDF5IO, H5DataIO
from hdmf.common import DynamicTable, VectorData, get_manager

from zarrbridge.progress import ByteProgress, progress_wanted

ES_DATA = "/acquisition/ElectricalSeries/data"
RNG = np.random.default_rng(3)
COLUMN = (RNG.standard_normal((400, 6)) * 100).astype(np.int32)


@pytest.fixture(scope="module")
def table_h5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small HDMF (not NWB) HDF5 file: a DynamicTable with a gzip column and an lzf column."""
    path = tmp_path_factory.mktemp("table") / "table.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # hdmf: "lzf compression may not be available ..."
        lzf = H5DataIO(COLUMN, chunks=(100, 6), compression="lzf")
    columns = [
        VectorData(name="gz", description="gzip", data=H5DataIO(COLUMN, chunks=(100, 6), compression="gzip")),
        VectorData(name="lz", description="lzf", data=lzf),
    ]
    table = DynamicTable(name="table", description="cli convert test", columns=columns)
    with HDF5IO(str(path), mode="w", manager=get_manager()) as h5io:
        h5io.write(table)
    return path


def _nodes(cli: Run, path: Path) -> dict[str, dict[str, object]]:
    result = cli("tree", path, "--json")
    assert result.code == 0, result.err
    return {n["path"]: n for n in json.loads(result.out)["nodes"]}


def test_hdmf_table_to_zarr_summary_and_unmapped_codec_warning(
    cli: Run, table_h5: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "table.zarr"
    result = cli("convert", table_h5, dest)
    assert result.code == 0, result.err
    [summary] = result.out.splitlines()
    assert summary.startswith(f"converted {table_h5} (hdf5) -> {dest} (zarr): ")
    assert " datasets, " in summary and summary.endswith(" MB/s)")
    warning_lines = [ln for ln in result.err_lines if ln.startswith("zarrbridge: warning: ")]
    assert any("'lzf'" in ln and "/lz" in ln for ln in warning_lines), result.err
    assert len(result.err_lines) == len(warning_lines)  # nothing else on stderr (no bar: not a terminal)
    np.testing.assert_array_equal(zarr.open_array(dest / "gz", mode="r")[...], COLUMN)
    np.testing.assert_array_equal(zarr.open_array(dest / "lz", mode="r")[...], COLUMN)
    nodes = _nodes(cli, dest)
    assert nodes["/gz"]["chunks"] == [100, 6] and nodes["/gz"]["neurodata_type"] == "VectorData"
    quiet = cli("convert", table_h5, dest, "--overwrite", "-q")
    assert (quiet.code, quiet.out, quiet.err) == (0, "", "")


def test_zarr_to_zarr_options_reach_the_destination(cli: Run, table_h5: Path, tmp_path: Path) -> None:
    mid, v2, sharded = tmp_path / "mid.zarr", tmp_path / "v2.zarr", tmp_path / "sharded.zarr"
    assert cli("convert", table_h5, mid, "-q").code == 0
    result = cli(
        "convert", mid, v2, "--zarr-format", "2", "--compressor", "zstd", "--level", "3", "--jobs", "2"
    )
    assert result.code == 0, result.err
    info = json.loads(cli("info", v2, "--json").out)
    assert info["convention"]["zarr_format"] == 2
    assert _nodes(cli, v2)["/gz"]["codecs"] == ["zstd(level=3)"]
    assert cli("convert", mid, sharded, "--shard-size-mb", "0.05", "--chunks", "keep").code == 0
    gz = _nodes(cli, sharded)["/gz"]
    assert gz["chunks"] == [100, 6] and gz["shards"] is not None and gz["shards"][0] > 100
    np.testing.assert_array_equal(zarr.open_array(sharded / "gz", mode="r")[...], COLUMN)


def test_zarr_to_hdf5(cli: Run, table_h5: Path, tmp_path: Path) -> None:
    mid, back = tmp_path / "mid.zarr", tmp_path / "back.h5"
    assert cli("convert", table_h5, mid, "-q").code == 0
    result = cli("convert", mid, back)
    assert result.code == 0, result.err
    assert "(zarr) -> " in result.out and "(hdf5)" in result.out
    with h5py.File(back, "r") as f:
        np.testing.assert_array_equal(f["gz"][...], COLUMN)
        assert f["gz"].chunks == (100, 6)


def test_progress_bar_only_when_asked_or_on_a_terminal(cli: Run, table_h5: Path, tmp_path: Path) -> None:
    forced = cli("convert", table_h5, tmp_path / "a.zarr", "--progress")
    assert forced.code == 0
    assert "a.zarr:" in forced.err and "%|" in forced.err  # tqdm's bar on stderr
    assert "%|" not in cli("convert", table_h5, tmp_path / "b.zarr").err

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert progress_wanted(forced=False, quiet=False, stream=Terminal())
    assert not progress_wanted(forced=False, quiet=True, stream=Terminal())
    assert not progress_wanted(forced=False, quiet=False, stream=io.StringIO())
    assert progress_wanted(forced=True, quiet=True, stream=io.StringIO())
    screen = Terminal()
    with ByteProgress(True, total=1000, description="copy", stream=screen) as progress:
        progress(300)
        progress(700)
    assert progress.done == 1000 and "copy:" in screen.getvalue() and "B/s" in screen.getvalue()
    with ByteProgress(False, total=10, description="copy", stream=screen) as silent:
        silent(5)
    assert silent.done == 5 and not silent.enabled


def test_example_to_zarr_and_back(cli: Run, example_h5: Path, tmp_path: Path) -> None:
    """The README's main-job flow: example -> convert -> tree/validate, then Zarr -> HDF5."""
    dest, back = tmp_path / "rec.nwb.zarr", tmp_path / "back.nwb"
    result = cli("convert", example_h5, dest)
    assert result.code == 0, result.err
    nodes = _nodes(cli, dest)
    data = nodes[ES_DATA]
    assert data["chunks"] == [10_000, 8] and data["shape"] == [30_000, 8]
    assert data["codecs"] and not any("zstd" in c for c in data["codecs"])  # gzip mapped, not recompressed
    assert cli("validate", dest).code == 0
    with h5py.File(example_h5, "r") as f:
        np.testing.assert_array_equal(
            zarr.open_array(dest / ES_DATA.strip("/"), mode="r")[...], f[ES_DATA][...]
        )
    assert cli("convert", dest, back).code == 0
    assert cli("validate", back).code == 0
    assert _nodes(cli, back)[ES_DATA]["chunks"] == [10_000, 8]


@pytest.mark.s3
def test_convert_to_s3_then_tree_and_info(
    cli: Run, table_h5: Path, s3_storage_options: dict[str, object], s3_bucket: str
) -> None:
    url = f"s3://{s3_bucket}/table.zarr"
    options = [
        arg
        for key, value in s3_storage_options.items()
        for arg in ("--storage-option", f"{key}={json.dumps(value) if not isinstance(value, str) else value}")
    ]
    result = cli("convert", table_h5, url, *options)
    assert result.code == 0, result.err
    tree = cli("tree", url, "--json", *options)
    assert tree.code == 0, tree.err
    nodes = {n["path"]: n for n in json.loads(tree.out)["nodes"]}
    assert nodes["/gz"]["chunks"] == [100, 6] and nodes["/gz"]["stored_bytes"] > 0
    info = json.loads(cli("info", url, "--json", *options).out)
    assert info["stored_bytes"] > nodes["/gz"]["stored_bytes"]
    again = cli("convert", table_h5, url, *options)
    assert_one_line_error(again, "exists")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cli("validate", url, *options).code == 0
