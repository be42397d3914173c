"""The built-in example (``python -m zarrbridge.examples.demo``): what it prints and what it writes."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pynwb
import pytest
import zarr

from zarrbridge import ZarrIO
from zarrbridge.errors import MissingDependencyError, UnsupportedDtypeError
from zarrbridge.examples import demo

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, list[str]]:
    outdir = tmp_path_factory.mktemp("demo")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        status = demo.main([str(outdir)])
    return outdir, status, buf.getvalue().splitlines()


def _line(lines: list[str], path: str) -> list[str]:
    found = [line.split() for line in lines if line.split() and line.split()[0] == path]
    assert len(found) == 1, f"{path} printed {len(found)} times in:\n" + "\n".join(lines)
    return found[0]


def test_main_succeeds_and_prints_every_object(demo_run: tuple[Path, int, list[str]]) -> None:
    outdir, status, lines = demo_run
    assert status == 0
    target = outdir / demo.FILE_NAME
    assert lines[0] == f"wrote {target}"
    assert _line(lines, "/") == ["/", "NWBFile"]
    assert _line(lines, "/acquisition/ElectricalSeries/") == [
        "/acquisition/ElectricalSeries/",
        "ElectricalSeries",
    ]
    assert _line(lines, "/acquisition/ElectricalSeries/data") == [
        "/acquisition/ElectricalSeries/data",
        f"({demo.N_SAMPLES},",
        f"{demo.N_CHANNELS})",
        "int16",
        "chunks",
        f"10000x{demo.N_CHANNELS}",
    ]
    assert _line(lines, "/general/devices/probe/")[1] == "Device"
    assert _line(lines, "/general/extracellular_ephys/electrodes/")[1] == "ElectrodesTable"
    assert _line(lines, "/general/extracellular_ephys/electrodes/group")[1:5] == [
        "VectorData",
        "(8,)",
        "string",
        "(object",
    ]
    assert _line(lines, "/units/")[1] == "Units"
    spike_times = _line(lines, "/units/spike_times")
    assert spike_times[1] == "VectorData" and spike_times[3] == "float64"
    assert _line(lines, "/units/spike_times_index")[1] == "VectorIndex"
    assert _line(lines, "/intervals/trials/")[1] == "TimeIntervals"
    assert _line(lines, "/intervals/trials/start_time")[1:3] == ["VectorData", "(4,)"]
    assert _line(lines, "/processing/behavior/")[1] == "ProcessingModule"
    assert _line(lines, "/processing/behavior/speed/")[1] == "TimeSeries"
    assert _line(lines, "/processing/behavior/speed/data")[1:] == ["(500,)", "float64", "chunks", "500"]
    assert _line(lines, "/identifier")[1:] == ["()", "string", "chunks", "-"]
    # cached specifications are summarised, one line per namespace version
    core = [line for line in lines if line.startswith("/specifications/core/")]
    assert len(core) == 1 and "(cached spec)" in core[0] and "documents" in core[0]
    assert lines[-1] == f"read back NWBFile {demo.IDENTIFIER!r} with 21 objects from {target}"


def test_tree_lists_every_node_on_disk(demo_run: tuple[Path, int, list[str]]) -> None:
    outdir, _, lines = demo_run
    root = zarr.open_group(outdir / demo.FILE_NAME, mode="r")
    printed = {line.split()[0] for line in lines[1:-1]}
    for path, node in root.members(max_depth=None):
        if path.startswith("specifications/") and path.count("/") != 2:
            continue
        suffix = "/" if isinstance(node, zarr.Group) else ""
        assert f"/{path}{suffix}" in printed, path


def test_written_file_holds_the_recording(demo_run: tuple[Path, int, list[str]]) -> None:
    outdir, _, _ = demo_run
    target = outdir / demo.FILE_NAME
    expected = demo.build_recording()
    root = zarr.open_group(target, mode="r")
    assert root.attrs["neurodata_type"] == "NWBFile"
    data = root["acquisition/ElectricalSeries/data"]
    assert isinstance(data, zarr.Array)
    assert data.chunks == (10_000, demo.N_CHANNELS)
    np.testing.assert_array_equal(data[...], expected.acquisition["ElectricalSeries"].data.data)
    with ZarrIO(target, mode="r", manager=pynwb.get_manager()) as zio:
        read = zio.read()
        assert read.identifier == demo.IDENTIFIER
        series = read.acquisition["ElectricalSeries"]
        assert series.rate == 30_000.0 and series.conversion == pytest.approx(1e-6)
        assert list(series.electrodes.data[:]) == list(range(demo.N_CHANNELS))
        assert series.electrodes.table.name == "electrodes"
        assert len(read.electrodes) == demo.N_CHANNELS
        assert read.electrodes["group"][0].name == "shank0"
        np.testing.assert_array_equal(read.units["spike_times"][2], expected.units["spike_times"][2])
        assert list(read.trials["start_time"][:]) == [0.0, 0.25, 0.5, 0.75]
        speed = read.processing["behavior"]["speed"]
        np.testing.assert_array_equal(speed.data[:], expected.processing["behavior"]["speed"].data)
        assert read.devices["probe"].name == "probe"


def test_rerun_replaces_the_file(
    demo_run: tuple[Path, int, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    outdir, _, first = demo_run
    (outdir / demo.FILE_NAME / "stray_leftover").mkdir()
    assert demo.main([str(outdir)]) == 0
    second = capsys.readouterr().out.splitlines()
    assert second == first
    assert not (outdir / demo.FILE_NAME / "stray_leftover").exists()


def test_accepts_a_path_object_and_creates_missing_dirs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outdir = tmp_path / "a" / "b"
    assert demo.main([outdir]) == 0
    assert (outdir / demo.FILE_NAME / "zarr.json").is_file()
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"read back NWBFile {demo.IDENTIFIER!r}")


def test_outdir_that_is_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    assert demo.main([str(blocker)]) == 2
    err = capsys.readouterr().err
    assert str(blocker) in err and "give a directory" in err
    assert blocker.read_text() == "x"


@pytest.mark.parametrize("argv", [[], ["a", "b"]])
def test_wrong_number_of_arguments_is_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        demo.main(argv)
    assert exc.value.code == 2
    assert "outdir" in capsys.readouterr().err


def test_argument_of_wrong_type_is_refused() -> None:
    with pytest.raises(TypeError):
        demo.main([42])  # type: ignore[list-item]


def test_tree_of_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        demo.tree_lines(tmp_path / "missing.nwb.zarr")


def test_tree_of_corrupt_metadata_raises(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zarr"
    bad.mkdir()
    (bad / "zarr.json").write_text("{not json")
    with pytest.raises(ValueError):  # json.JSONDecodeError is a ValueError
        demo.tree_lines(bad)


def test_tree_of_plain_zarr_group(tmp_path: Path) -> None:
    root = zarr.open_group(tmp_path / "plain.zarr", mode="w")
    root.create_array("x", shape=(10, 4), chunks=(5, 4), dtype="float32")
    root.create_group("g").attrs["neurodata_type"] = "Thing"
    lines = [line.split() for line in demo.tree_lines(tmp_path / "plain.zarr")]
    assert lines == [["/"], ["/g/", "Thing"], ["/x", "(10,", "4)", "float32", "chunks", "5x4"]]


def test_module_runs_as_a_script(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "zarrbridge.examples.demo", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1].startswith(f"read back NWBFile {demo.IDENTIFIER!r} with 21 objects")
    meta = json.loads((tmp_path / "out" / demo.FILE_NAME / "zarr.json").read_text())
    assert meta["attributes"]["neurodata_type"] == "NWBFile"


def test_missing_pynwb_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynwb", None)  # makes `import pynwb` fail as if it were not installed
    with pytest.raises(MissingDependencyError, match=r"zarrbridge\[nwb\]"):
        demo.main([str(tmp_path)])
    assert not (tmp_path / demo.FILE_NAME).exists()


def test_failed_write_leaves_no_readable_file(tmp_path: Path) -> None:
    nwbfile = demo.build_recording()
    bad = np.array([object(), object()], dtype=object)  # arbitrary Python objects cannot be stored
    nwbfile.add_acquisition(pynwb.TimeSeries(name="bad", data=bad, rate=1.0, unit="a.u."))
    target = tmp_path / demo.FILE_NAME
    with pytest.raises(UnsupportedDtypeError, match="bad"):
        demo.write_and_read(nwbfile, target)
    assert not ZarrIO.can_read(target)
