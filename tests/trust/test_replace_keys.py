"""A failed write loses nothing on stores of keys too (issue 11, data lost): mode 'w' and ``convert
--overwrite`` over an existing file on S3 (the moto server), an fsspec ``memory://`` URL or a zarr
``MemoryStore`` write the new file under a hidden sibling prefix and replace the old one only when
complete."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pytest
import zarr
from trust_helpers import Dest, make_dest, noisy_nwbfile, nwbfile_with_data

import zarrbridge.core.replace as replace
from zarrbridge import NWBZarrIO
from zarrbridge.errors import NotAZarrStoreError, UnsupportedDtypeError, WriteInterruptedError

HERE = Path(__file__).parent


class Target:
    """One destination of a keyed kind: what to give NWBZarrIO, and its keys and siblings as stored."""

    def __init__(self, kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.kind = kind
        self.s3: Dest | None = None
        self.storage_options: dict[str, Any] | None = None
        if kind == "s3":
            self.s3 = make_dest("s3", tmp_path, request)
            self.where: Any = self.s3.url
            self.storage_options = self.s3.storage_options
        elif kind == "memory-url":
            self.where = f"memory://trust-{uuid.uuid4().hex[:8]}/f.nwb.zarr"
        else:
            self.store = zarr.storage.MemoryStore()
            self.where = self.store

    def items(self) -> dict[str, bytes]:
        if self.s3 is not None:
            return {k: self.s3.read(k) for k in self.s3.keys()}
        if self.kind == "memory-url":
            fs = fsspec.filesystem("memory")
            root = self.where.split("://", 1)[1]
            return {p[len(root) + 2 :]: fs.cat_file(p) for p in fs.find(root)}
        return {k: v.to_bytes() for k, v in self.store._store_dict.items()}

    def siblings(self) -> list[str]:
        """Keys beside the file (a staging prefix left behind would show here)."""
        if self.s3 is not None:
            listing = self.s3.client.list_objects_v2(Bucket=self.s3.bucket)
            return sorted(
                o["Key"] for o in listing.get("Contents", []) if not o["Key"].startswith("f.nwb.zarr/")
            )
        if self.kind == "memory-url":
            parent = self.where.split("://", 1)[1].rsplit("/", 1)[0]
            return sorted(
                p for p in fsspec.filesystem("memory").ls(f"/{parent}", detail=False) if ".zarrbridge" in p
            )
        return []  # a store object has no siblings: it is staged in memory

    def write(self, nwbfile: Any) -> None:
        with NWBZarrIO(self.where, mode="w", storage_options=self.storage_options) as io:
            io.write(nwbfile)

    def identifier(self) -> str:
        with NWBZarrIO(self.where, mode="r", storage_options=self.storage_options) as io:
            f = io.read()
            np.testing.assert_array_equal(f.acquisition["small"].data[:], np.arange(10.0))
            return str(f.identifier)


@pytest.fixture(params=["s3", "memory-url", "memorystore"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    yield Target(request.param, tmp_path, request)


def _file(identifier: str, rows: int = 2000) -> Any:
    f = nwbfile_with_data(rows)
    f.fields["identifier"] = identifier
    return f


def _failing(identifier: str) -> Any:
    from pynwb import TimeSeries

    f = _file(identifier, 3000)  # its arrays are written before the bad one is reached
    f.add_acquisition(TimeSeries(name="zbad", data=np.array([object(), object()]), unit="V", rate=1.0))
    return f


def test_overwrite_replaces_every_key(target: Target) -> None:
    target.write(_file("old", 4000))  # 8 chunks; the new file has 2: the old ones must go
    target.write(_file("new", 1000))
    assert target.identifier() == "new" and target.siblings() == []
    keys = sorted(target.items())
    assert [k for k in keys if k.startswith("acquisition/ts/data/c/")] == [
        "acquisition/ts/data/c/0/0",
        "acquisition/ts/data/c/1/0",
    ]
    fresh = Target("memorystore", Path("."), None)  # type: ignore[arg-type]
    fresh.write(_file("new", 1000))
    assert keys == sorted(fresh.items())  # exactly the keys of a new file, nothing stale


def test_failed_overwrite_keeps_the_old_file(target: Target) -> None:
    target.write(_file("old"))
    before = target.items()
    with pytest.raises(UnsupportedDtypeError):
        target.write(_failing("new"))
    assert target.items() == before  # every key and every byte as it was
    assert target.identifier() == "old" and target.siblings() == []


def test_failure_while_replacing_names_the_new_copy(target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fault in the store during the final copy (injected: moto cannot be made to fail on one request):
    the error names the complete new copy, which reads; the destination never opens as the old root over
    new chunks."""
    target.write(_file("old"))
    real, calls = replace._copy, [0]

    async def failing(source: Any, dest: Any, key: str) -> None:
        calls[0] += 1
        if calls[0] > 5:
            raise OSError("the connection was reset")
        await real(source, dest, key)

    monkeypatch.setattr(replace, "_copy", failing)
    with pytest.raises(WriteInterruptedError, match="the complete new file is at") as info:
        target.write(_file("new"))
    monkeypatch.undo()
    message = str(info.value)
    assert "connection was reset" in message
    with pytest.raises(NotAZarrStoreError):  # the old root went first: no mix of old and new is a file
        target.identifier()
    if target.kind == "memorystore":
        assert "MemoryStore of this process" in message
        return
    staged = message.split("the complete new file is at ")[1].split(": copy it")[0]
    parent = target.where.rsplit("/", 1)[0]
    assert staged.startswith(f"{parent}/.f.nwb.zarr.") and staged.endswith(".zarrbridge-new"), staged
    with NWBZarrIO(staged, mode="r", storage_options=target.storage_options) as io:
        assert io.read().identifier == "new"


def test_convert_overwrite_with_corrupt_source_keeps_old_on_s3(
    tmp_path: Path, request: pytest.FixtureRequest, cli: Any
) -> None:
    src = Dest("dir", str(tmp_path / "src.nwb.zarr"))
    with NWBZarrIO(src.url, mode="w") as io:
        io.write(_file("src"))
    src.write("acquisition/ts/data/c/2/0", b"garbled")
    target = Target("s3", tmp_path, request)
    target.write(_file("old"))
    before = target.items()
    options = target.storage_options or {}
    result = cli(
        "convert",
        src.url,
        target.where,
        "--overwrite",
        *("--storage-option", f"endpoint_url={options['endpoint_url']}"),
        *("--storage-option", f"key={options['key']}", "--storage-option", f"secret={options['secret']}"),
    )
    assert result.code == 1 and "acquisition/ts/data/c/2/0" in result.err, result
    assert target.items() == before and target.siblings() == []


WRITER = textwrap.dedent(
    """
    import sys, json
    sys.path.insert(0, {here!r})
    from trust_helpers import noisy_nwbfile
    from zarrbridge import NWBZarrIO
    print("writing", flush=True)
    with NWBZarrIO({url!r}, mode="w", storage_options=json.loads({options!r})) as io:
        io.write(noisy_nwbfile("new", 400_000))
    print("done", flush=True)
    """
)


def test_sigkill_while_writing_to_s3_keeps_the_old_file(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    import json

    target = Target("s3", tmp_path, request)
    assert target.s3 is not None
    target.write(_file("old"))
    before = target.items()
    script = WRITER.format(here=str(HERE), url=target.where, options=json.dumps(target.storage_options))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        staged = [s for s in target.siblings() if "/acquisition/noise/data/c/" in s]
        if len(staged) >= 3:  # the new file is being written beside the old one
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the writer finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert target.items() == before and target.identifier() == "old"
    assert target.siblings() and all(s.startswith(".f.nwb.zarr.") for s in target.siblings())  # hidden
    target.write(noisy_nwbfile("after", 20_000))  # the next write works; the leftover is not the file
    assert target.identifier() == "after"
