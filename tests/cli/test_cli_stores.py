"""The reading commands on other stores (.zip, S3 via --storage-option) and an interrupted conversion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pynwb
import pytest
from cli_helpers import Run, assert_one_line_error

from zarrbridge import ZarrIO
from zarrbridge.examples import demo
from zarrbridge.progress import ByteProgress

ES_DATA = "/acquisition/ElectricalSeries/data"


def _options(storage_options: dict[str, Any]) -> list[str]:
    out = []
    for key, value in storage_options.items():
        out += ["--storage-option", f"{key}={value if isinstance(value, str) else json.dumps(value)}"]
    return out


def test_zip_file(cli: Run, tmp_path: Path) -> None:
    path = tmp_path / "rec.nwb.zarr.zip"
    with ZarrIO(path, mode="w", manager=pynwb.get_manager()) as io:
        io.write(demo.build_recording())
    nodes = {n["path"]: n for n in json.loads(cli("tree", path, "--json").out)["nodes"]}
    assert nodes[ES_DATA]["chunks"] == [10_000, demo.N_CHANNELS] and nodes[ES_DATA]["stored_bytes"] > 0
    info = json.loads(cli("info", path, "--json").out)
    assert info["stored_bytes"] == path.stat().st_size and info["format"] == "zarr"
    assert cli("validate", path, "-q").code == 0


@pytest.mark.s3
def test_tree_info_validate_on_s3(cli: Run, s3_storage_options: dict[str, Any], s3_bucket: str) -> None:
    url = f"s3://{s3_bucket}/rec.nwb.zarr"
    with ZarrIO(url, mode="w", manager=pynwb.get_manager(), storage_options=s3_storage_options) as io:
        io.write(demo.build_recording())
    options = _options(s3_storage_options)
    tree = cli("tree", url, "--json", *options)
    assert tree.code == 0, tree.err
    nodes = {n["path"]: n for n in json.loads(tree.out)["nodes"]}
    assert nodes[ES_DATA]["shape"] == [demo.N_SAMPLES, demo.N_CHANNELS] and nodes[ES_DATA]["stored_bytes"] > 0
    info = json.loads(cli("info", url, "--json", *options).out)
    assert (
        info["stored_bytes"] > nodes[ES_DATA]["stored_bytes"] and info["convention"]["name"] == "zarrbridge"
    )
    assert cli("validate", url, *options).code == 0
    # without the options the server cannot be reached: one line, exit 1
    missing = cli("info", f"s3://{s3_bucket}/nothing-here.zarr", *options)
    assert_one_line_error(missing, "nothing-here.zarr")


def test_storage_options_on_a_local_path_are_refused(cli: Run, example_zarr: Path) -> None:
    assert_one_line_error(cli("info", example_zarr, "--storage-option", "anon=true"), "URLs only")


def test_interrupted_convert_leaves_no_complete_destination(
    cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hdmf.backends.hdf5 import HDF5IO, H5DataIO
    from hdmf.common import DynamicTable, VectorData, get_manager

    source = tmp_path / "t.h5"
    import numpy as np

    column = VectorData(
        name="x", description="x", data=H5DataIO(np.arange(4000.0), chunks=(500,), compression="gzip")
    )
    with HDF5IO(str(source), mode="w", manager=get_manager()) as h5io:
        h5io.write(DynamicTable(name="t", description="interrupt test", columns=[column]))

    def interrupt(self: ByteProgress, increment: int) -> None:  # Ctrl-C during the copy
        raise KeyboardInterrupt

    monkeypatch.setattr(ByteProgress, "__call__", interrupt)
    dest = tmp_path / "t.zarr"
    result = cli("convert", source, dest)
    assert result.code == 130
    assert result.err_lines[-1] == "zarrbridge: error: interrupted" and result.out == ""
    monkeypatch.undo()
    after = cli("info", dest)  # whatever is left is not a complete file
    assert after.code == 1 and after.err_lines[-1].startswith("zarrbridge: error: ")
    assert cli("convert", source, dest, "--overwrite", "-q").code == 0
    assert cli("validate", dest, "-q").code == 0
