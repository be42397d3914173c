"""Fixtures of the adversarial suite (helpers live in trust_helpers)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from trust_helpers import KINDS, Dest, Result, make_dest

from zarrbridge.cli.main import main


@pytest.fixture(params=KINDS)
def dest(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Dest]:
    """A destination of each kind: a directory, a .zip file, a moto S3 prefix."""
    d = make_dest(request.param, tmp_path, request)
    yield d
    if d.kind == "dir":
        shutil.rmtree(d.url, ignore_errors=True)


@pytest.fixture(name="cli")
def cli_fixture(capsys: pytest.CaptureFixture[str]) -> Any:
    """``cli("validate", path, "--data")`` runs the command in-process: (exit code, stdout, stderr)."""

    def run(*args: Any) -> Result:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 3 MiB filesystem (tmpfs), so that a write fills it up (needs the right to mount: root)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}); the mocked tests still run")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


@pytest.fixture(autouse=True)
def _chunk_files_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """These cases damage chunk files and expect the reader to notice. Files zarrbridge writes also carry
    their small chunks in the root document (core/inline.py), from which a read gets the stored bytes
    whatever happened to the files; that path has its own damage cases (tests/zarrio/test_inline_chunks.py).
    Here nothing is inlined, so every read goes through the chunk files."""
    from zarrbridge.core import inline

    monkeypatch.setattr(inline, "INLINE_CHUNK_BYTES", 0)
