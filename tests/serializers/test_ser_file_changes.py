"""A loaded array whose files change afterwards gives its saved values or a zarrbridge error, never a crash.

Each case runs in a child process, so that a crash (SIGBUS from a memory-mapped file cut short, SIGSEGV)
fails the test instead of killing the test run. The child prints what the compute gave.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest

_CHILD = textwrap.dedent("""
    import os, shutil, sys
    import dask
    import dask.array as da
    import numpy as np
    from zarrbridge.errors import ZarrBridgeError
    from zarrbridge.serializers import DaskHDF5Serializer, DaskZarrSerializer, FILE_PROTOCOL, LocalFiles

    root, fmt, change = sys.argv[1:4]
    serializer = DaskHDF5Serializer if fmt == "hdf5" else DaskZarrSerializer
    files = LocalFiles(root)
    protocols = {FILE_PROTOCOL: files}
    values = np.random.default_rng(0).random((256, 512))
    pid = serializer.pickle(da.from_array(values, chunks=(64, 512)), protocols)
    other = serializer.pickle(da.from_array(values + 1, chunks=(64, 512)), protocols)
    path, other_path = files.local_path(pid[1][3]), files.local_path(other[1][3])
    loaded = serializer.unpickle(pid, protocols)

    def data_files(top):
        if os.path.isfile(top):
            return [top]
        return sorted(os.path.join(d, f) for d, _, names in os.walk(top) for f in names if d != top)

    if change == "truncate":  # every data file cut to half its size
        for name in data_files(path):
            os.truncate(name, os.path.getsize(name) // 2)
    elif change == "garbage":  # rewritten in place with other bytes of the same size
        for name in data_files(path):
            with open(name, "r+b") as f:
                f.write(os.urandom(os.path.getsize(name)))
    elif change == "replace":  # another saved array moved into its place
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        os.replace(other_path, path)
    elif change == "remove":
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    try:
        with dask.config.set(scheduler="threads"):
            got = loaded.compute()
    except ZarrBridgeError as exc:
        print("error", type(exc).__name__, exc)
    except BaseException as exc:
        print("raw", type(exc).__module__, type(exc).__name__, exc)
    else:
        print("old" if np.array_equal(got, values) else "other values")
""")


@pytest.mark.parametrize("change", ["truncate", "garbage", "replace", "remove"])
@pytest.mark.parametrize("fmt", ["hdf5", "zarr"])
def test_changed_files_give_the_old_values_or_an_error(tmp_path: Any, fmt: str, change: str) -> None:
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path / "arrays"), fmt, change],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, f"the child died ({child.returncode}): {child.stderr[-2000:]}"
    outcome = child.stdout.strip()
    assert outcome.startswith("error "), outcome  # every change here loses or alters the saved values
    kind = outcome.split()[1]
    expected = {"remove": "BrokenLinkError"}.get(change, "CorruptChunkError")
    assert kind == expected, outcome
