"""``zarrbridge convert`` Zarr -> HDF5 onto a disk that fills up (a real tmpfs): a clear error naming the
file, no crash (in the conversion or at interpreter exit), nothing partial left, an existing destination
untouched."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
from trust_helpers import Dest, noisy_nwbfile, nwbfile_with_data, write_nwb

from zarrbridge.hdf5files import GuardedFile
from zarrbridge.zarrio.h5export import ZarrBlockIterator


@pytest.fixture(scope="module")
def big_zarr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An NWB Zarr file holding 6.4 MB of incompressible numbers (twice the small disk)."""
    path = tmp_path_factory.mktemp("src") / "big.nwb.zarr"
    write_nwb(Dest("dir", str(path)), noisy_nwbfile("big", 200_000))
    return path


@pytest.fixture(scope="module")
def small_zarr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("src") / "small.nwb.zarr"
    f = nwbfile_with_data(100)
    f.fields["identifier"] = "small"
    write_nwb(Dest("dir", str(path)), f)
    return path


def _convert(*args: str) -> subprocess.CompletedProcess[str]:
    """The command in a fresh interpreter, so that a crash (also one at exit) shows as its return code."""
    code = "import sys; from zarrbridge.cli.main import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, "convert", *args], capture_output=True, text=True, timeout=300
    )


def _identifier(path: Path) -> str:
    with h5py.File(path, "r") as f:
        value = f["identifier"][()]
    return value.decode() if isinstance(value, bytes) else str(value)


@pytest.mark.parametrize("existing", [False, True], ids=["fresh", "overwrite"])
def test_convert_to_hdf5_on_a_full_disk(
    small_disk: Path, big_zarr: Path, small_zarr: Path, existing: bool
) -> None:
    dest = small_disk / "out.nwb"
    if existing:
        assert _convert(str(small_zarr), str(dest)).returncode == 0
        before = dest.read_bytes()
    done = _convert(str(big_zarr), str(dest), *(["--overwrite"] if existing else []))
    assert done.returncode == 1, (done.returncode, done.stderr[-3000:])  # SIGSEGV would be -11
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr[-3000:]  # one line: no h5py tracebacks from a file left open
    assert lines[0].startswith("zarrbridge: error: no space left for the HDF5 file"), lines
    assert str(dest) in lines[0]
    assert sorted(os.listdir(small_disk)) == (["out.nwb"] if existing else [])  # no .partial, no lock file
    if existing:
        assert dest.read_bytes() == before and _identifier(dest) == "small"
    # the disk is usable again at once: the failed file's space was given back
    assert _convert(str(small_zarr), str(dest), "--overwrite").returncode == 0
    assert _identifier(dest) == "small"


def test_full_disk_then_more_work_in_the_same_process(
    small_disk: Path, big_zarr: Path, tmp_path: Path
) -> None:
    """After the error the process keeps working with HDF5 and exits cleanly (the crash came at exit)."""
    code = textwrap.dedent(
        f"""
        import h5py
        from zarrbridge.errors import StorageFullError
        from zarrbridge.zarrio.convert import convert, ConvertOptions
        try:
            convert({str(big_zarr)!r}, {str(small_disk / "a.nwb")!r})
        except StorageFullError as exc:
            print("full", exc.errno)
        convert({str(big_zarr)!r}, {str(tmp_path / "b.nwb")!r})
        with h5py.File({str(tmp_path / "b.nwb")!r}, "r") as f:
            print(f["acquisition/noise/data"].shape)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["full", "28", "(200000,", "4)"]


def test_guarded_file_stops_the_block_copy() -> None:
    """After the first failed write, the next block read raises it: the export stops instead of reading the
    whole source for a file that is discarded anyway."""
    import zarr

    class FullDisk:
        def write(self, data: bytes) -> int:
            raise OSError(28, "No space left on device")

    guarded = GuardedFile(FullDisk())
    source = zarr.create_array(zarr.storage.MemoryStore(), shape=(8,), chunks=(2,), dtype="f8")
    source[:] = np.arange(8.0)
    blocks = ZarrBlockIterator(source, buffer_bytes=16, stop=guarded.raise_failure)
    first = next(blocks)
    np.testing.assert_array_equal(first.data, [0.0, 1.0])
    assert guarded.write(b"abc") == 3 and guarded.failure is not None  # HDF5 is told it worked
    with pytest.raises(OSError, match="No space left"):
        next(blocks)


# ------------------------------------------------------------------------------- other faults, same entry
def test_convert_to_hdf5_from_a_damaged_source_keeps_the_old_file(
    tmp_path: Path, big_zarr: Path, small_zarr: Path
) -> None:
    import shutil

    source = tmp_path / "damaged.nwb.zarr"
    shutil.copytree(big_zarr, source)
    dest = tmp_path / "out.nwb"
    assert _convert(str(small_zarr), str(dest)).returncode == 0
    before = dest.read_bytes()
    for damage, expected in (
        (lambda chunk: chunk.write_bytes(b"garbled"), "is corrupt"),
        (lambda chunk: chunk.unlink(), "is missing"),
    ):
        damage(source / "acquisition" / "noise" / "data" / "c" / "3" / "0")
        done = _convert(str(source), str(dest), "--overwrite")
        assert done.returncode == 1, done.stderr[-3000:]
        assert "acquisition/noise/data/c/3/0" in done.stderr and expected in done.stderr, done.stderr
        assert dest.read_bytes() == before and sorted(os.listdir(tmp_path)) == [
            "damaged.nwb.zarr",
            "out.nwb",
        ]


def test_convert_to_hdf5_killed_mid_write_keeps_the_old_file(
    tmp_path: Path, big_zarr: Path, small_zarr: Path
) -> None:
    import signal
    import time

    dest = tmp_path / "out.nwb"
    assert _convert(str(small_zarr), str(dest)).returncode == 0
    before = dest.read_bytes()
    code = "import sys; from zarrbridge.cli.main import main; sys.exit(main(sys.argv[1:]))"
    args = [sys.executable, "-c", code, "convert", str(big_zarr), str(dest), "--overwrite"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = tmp_path / "out.nwb.partial"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if partial.exists() and partial.stat().st_size > 0:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the conversion finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert dest.read_bytes() == before and _identifier(dest) == "small"  # the partial file never replaced it
    assert _convert(str(big_zarr), str(dest), "--overwrite").returncode == 0  # the next one cleans up
    assert _identifier(dest) == "big" and not partial.exists()
