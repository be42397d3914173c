"""A failed write loses nothing: mode 'w' and ``convert --overwrite`` replace the old file only when the new
one is complete; a killed writer leaves the old file or the new complete one; one writer per destination."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from trust_helpers import Dest, noisy_nwbfile, nwbfile_with_data, write_nwb

from zarrbridge import NWBZarrIO, read_nwb
from zarrbridge.errors import (
    CorruptChunkError,
    NotAZarrStoreError,
    StoreInUseError,
    UnsupportedDtypeError,
    WriteInterruptedError,
)

HERE = Path(__file__).parent


def _identifier(d: Dest) -> str:
    f = read_nwb(d.url, storage_options=d.storage_options)
    try:
        return str(f.identifier)
    finally:
        f.read_io.close()


def _new_file(identifier: str, n: int = 100) -> Any:
    f = nwbfile_with_data(n)
    f.fields["identifier"] = identifier
    return f


def _failing_file() -> Any:
    from pynwb import TimeSeries

    f = _new_file("new")
    f.add_acquisition(TimeSeries(name="bad", data=np.array([object(), object()]), unit="V", rate=1.0))
    return f


def _siblings(d: Dest) -> list[str]:
    parent = Path(d.url).parent
    return sorted(p.name for p in parent.iterdir() if p.name != Path(d.url).name)


@pytest.mark.parametrize("kind", ["dir", "zip"])
def test_overwrite_replaces_when_complete(tmp_path: Path, kind: str) -> None:
    d = Dest(kind, str(tmp_path / ("f.nwb.zarr" + (".zip" if kind == "zip" else ""))))
    write_nwb(d, _new_file("old"))
    write_nwb(d, _new_file("new"))
    assert _identifier(d) == "new" and _siblings(d) == []


@pytest.mark.parametrize("kind", ["dir", "zip"])
def test_failed_overwrite_keeps_old(tmp_path: Path, kind: str) -> None:
    d = Dest(kind, str(tmp_path / ("f.nwb.zarr" + (".zip" if kind == "zip" else ""))))
    write_nwb(d, _new_file("old"))
    before = sorted(d.keys())
    with pytest.raises(UnsupportedDtypeError):
        write_nwb(d, _failing_file())
    assert _identifier(d) == "old" and sorted(d.keys()) == before and _siblings(d) == []


def test_opened_for_writing_but_not_written_keeps_old(tmp_path: Path) -> None:
    d = Dest("dir", str(tmp_path / "f.nwb.zarr"))
    write_nwb(d, _new_file("old"))
    NWBZarrIO(d.url, mode="w").close()
    assert _identifier(d) == "old"


def test_second_writer_gets_store_in_use(tmp_path: Path) -> None:
    d = Dest("dir", str(tmp_path / "f.nwb.zarr"))
    write_nwb(d, _new_file("old"))
    first = NWBZarrIO(d.url, mode="w")
    try:
        with pytest.raises(StoreInUseError, match="is being written by another process"):
            NWBZarrIO(d.url, mode="a")
        script = f"from zarrbridge import NWBZarrIO\nNWBZarrIO({d.url!r}, mode='w')"
        other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert other.returncode == 1 and "StoreInUseError" in other.stderr
        assert "Traceback" in other.stderr and "zarrbridge.errors.StoreInUseError" in other.stderr
    finally:
        first.close()
    with NWBZarrIO(d.url, mode="a"):  # released on close
        pass


def test_cli_second_writer(tmp_path: Path, cli: Any) -> None:
    src = Dest("dir", str(tmp_path / "src.nwb.zarr"))
    write_nwb(src, _new_file("src"))
    held = NWBZarrIO(str(tmp_path / "dst.nwb.zarr"), mode="w")
    try:
        result = cli("convert", src.url, tmp_path / "dst.nwb.zarr", "--overwrite")
    finally:
        held.close()
    assert (
        result.code == 1 and "zarrbridge: error:" in result.err and "being written by another" in result.err
    )


def test_convert_overwrite_with_corrupt_source_keeps_old(tmp_path: Path, cli: Any) -> None:
    src = Dest("dir", str(tmp_path / "src.nwb.zarr"))
    write_nwb(src, _new_file("src", 2000))
    dst = Dest("dir", str(tmp_path / "dst.nwb.zarr"))
    write_nwb(dst, _new_file("old"))
    before = sorted(dst.keys())
    src.write("acquisition/ts/data/c/2/0", b"garbled")
    result = cli("convert", src.url, dst.url, "--overwrite")
    assert result.code == 1 and "acquisition/ts/data/c/2/0" in result.err and "is corrupt" in result.err
    assert _identifier(dst) == "old" and sorted(dst.keys()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dst.nwb.zarr", "src.nwb.zarr"]
    with pytest.raises(CorruptChunkError):  # the library says the same
        from zarrbridge.zarrio.convert import ConvertOptions, convert

        convert(src.url, dst.url, options=ConvertOptions(overwrite=True))
    assert _identifier(dst) == "old"


def test_zarr_format_2_keeps_every_attribute(tmp_path: Path) -> None:
    v2, v3 = Dest("dir", str(tmp_path / "v2.nwb.zarr")), Dest("dir", str(tmp_path / "v3.nwb.zarr"))
    write_nwb(v2, nwbfile_with_data(3000), zarr_format=2)  # large enough for zarr's own array path
    write_nwb(v3, nwbfile_with_data(3000))
    a, b = read_nwb(v2.url), read_nwb(v3.url)
    try:
        for name in ("ts", "small"):
            x, y = a.acquisition[name], b.acquisition[name]
            assert (x.unit, x.rate, x.conversion, x.description) == (
                y.unit,
                y.rate,
                y.conversion,
                y.description,
            )
            np.testing.assert_array_equal(x.data[:], y.data[:])
        assert a.identifier == b.identifier and a.session_description == b.session_description
    finally:
        a.read_io.close()
        b.read_io.close()


# ------------------------------------------------------------------------------------------------ SIGKILL
WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {here!r})
    from trust_helpers import nwbfile_with_data, Dest, write_nwb
    f = nwbfile_with_data({rows})
    f.fields["identifier"] = "new"
    print("writing", flush=True)
    write_nwb(Dest("dir", {url!r}), f)
    print("done", flush=True)
    """
)


def test_sigkill_mid_write_leaves_old_or_new(tmp_path: Path) -> None:
    d = Dest("dir", str(tmp_path / "f.nwb.zarr"))
    rows = 400_000  # 800 chunks of 500 rows: the write takes a while
    outcomes = []
    for delay in (0.2, 0.5, 0.8, 1.1, 1.4, 60.0):
        write_nwb(d, _new_file("old"))
        script = WRITER.format(here=str(Path(__file__).parent), rows=rows, url=d.url)
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()
        ident = _identifier(d)
        outcomes.append((delay, proc.returncode, ident))
        if ident == "new":
            f = read_nwb(d.url)
            try:
                data = f.acquisition["ts"].data[:]  # every chunk there: a missing one would raise
                assert data.shape == (rows, 4) and data[-1, -1] == rows * 4 - 1
            finally:
                f.read_io.close()
        else:
            assert ident == "old"
        time.sleep(0.05)
    assert any(code == -signal.SIGKILL for _, code, _ in outcomes), outcomes  # some were killed mid-write
    assert outcomes[-1][1:] == (0, "new"), outcomes  # the unhurried one finished
    write_nwb(d, _new_file("after"))  # a killed writer never blocks the next one; its leftovers are removed
    assert _identifier(d) == "after" and _siblings(d) == []


# ---------------------------------------------------------------------------------------------- full disk
def test_full_disk_keeps_old_file(small_disk: Path) -> None:
    d = Dest("dir", str(small_disk / "f.nwb.zarr"))
    write_nwb(d, _new_file("old"))
    with pytest.raises(WriteInterruptedError, match="no space left on the device"):
        write_nwb(d, noisy_nwbfile("new", 200_000))  # 6 MB of incompressible numbers
    assert _identifier(d) == "old" and _siblings(d) == []


def test_full_disk_fresh_write_leaves_no_file(small_disk: Path) -> None:
    d = Dest("dir", str(small_disk / "f.nwb.zarr"))
    with pytest.raises(WriteInterruptedError, match="no space left"):
        write_nwb(d, noisy_nwbfile("new", 200_000))
    with pytest.raises(NotAZarrStoreError):
        read_nwb(d.url)


def test_full_disk_mocked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same on any machine: the fault injected into the store's file writes (ENOSPC after a few files)."""
    import errno

    import zarrbridge.core.transfer as transfer

    d = Dest("dir", str(tmp_path / "f.nwb.zarr"))
    write_nwb(d, _new_file("old"))
    real, calls = transfer.write_file, [0]

    def failing(path: Any, data: bytes) -> None:
        calls[0] += 1
        if calls[0] > 5:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(transfer, "write_file", failing)
    with pytest.raises(WriteInterruptedError, match="no space left"):
        write_nwb(d, _new_file("new"))
    monkeypatch.undo()
    assert calls[0] > 5 and _identifier(d) == "old" and _siblings(d) == []
