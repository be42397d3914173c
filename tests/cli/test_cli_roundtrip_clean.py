"""``scripts/demo.sh``'s flow with the installed command: no warning about codecs zarrbridge chose itself.

HDF5 -> Zarr stores datasets that were uncompressed in the source with zarrbridge's own codec choice; the way
back must write them uncompressed again and say nothing about it (a warning there is about a choice the user
never made). Each command runs in its own process with Python's warnings turned into errors
(``PYTHONWARNINGS=error``), and its stderr, where the command reports the warnings it caught, must be empty.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import pytest

pytestmark = pytest.mark.slow


def _zarrbridge(*args: Any) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("zarrbridge")
    assert script.exists(), "the console script is missing: pip install -e . (it comes with the package)"
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    return subprocess.run(
        [str(script), *map(str, args)], capture_output=True, text=True, env=env, timeout=600, check=False
    )


def _ok(*args: Any) -> str:
    done = _zarrbridge(*args)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", f"zarrbridge {' '.join(map(str, args))} wrote to stderr:\n{done.stderr}"
    return done.stdout


def _filters(path: Path) -> dict[str, tuple[Any, ...]]:
    """Each dataset's HDF5 filters (compression, its options, shuffle, fletcher32) by path."""
    found: dict[str, tuple[Any, ...]] = {}

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset) and not name.startswith("specifications/"):
            found[name] = (obj.compression, obj.compression_opts, obj.shuffle, obj.fletcher32)

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return found


def test_demo_round_trip_is_silent_and_keeps_uncompressed_datasets(tmp_path: Path) -> None:
    source, mid, back = tmp_path / "recording.nwb", tmp_path / "recording.nwb.zarr", tmp_path / "back.nwb"
    again, back2 = tmp_path / "again.nwb.zarr", tmp_path / "back2.nwb"
    _ok("example", source, "--overwrite")
    assert "converted" in _ok("convert", source, mid, "--overwrite", "--jobs", "2")
    assert "blosc(" in _ok("tree", mid)  # zarrbridge's own codec for the plain datasets...
    _ok("validate", mid)
    _ok("convert", mid, back, "--overwrite")  # ... goes back to HDF5 unwarned
    _ok("validate", back)
    _ok("convert", mid, again)  # Zarr -> Zarr -> HDF5: the same
    _ok("convert", again, back2)

    before = _filters(source)
    plain = {name for name, f in before.items() if f == (None, None, False, False)}
    assert len(plain) > 10 and len(before) > len(plain)  # the example has a gzip dataset too
    for result in (back, back2):
        after = _filters(result)
        assert set(after) == set(before)
        assert {name for name, f in after.items() if f == (None, None, False, False)} == plain
        assert all(after[name] == before[name] for name in before)  # gzip level and shuffle kept


def test_a_codec_the_user_chose_is_still_reported(tmp_path: Path) -> None:
    """The check above is not blind: a zstd level the user asked for has no HDF5 filter and is reported."""
    source, mid, back = tmp_path / "recording.nwb", tmp_path / "recording.nwb.zarr", tmp_path / "back.nwb"
    _ok("example", source)
    _ok("convert", source, mid, "--compressor", "zstd", "--level", "5")
    done = _zarrbridge("convert", mid, back)
    assert done.returncode == 0, done.stderr
    assert "zarrbridge: warning: codec 'zstd' has no hdf5 counterpart" in done.stderr
