"""Fixtures of the adversarial suite (helpers live in trust_helpers)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from trust_helpers import KINDS, Dest, make_dest


@pytest.fixture(params=KINDS)
def dest(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Dest]:
    """A destination of each kind: a directory, a .zip file, a moto S3 prefix."""
    d = make_dest(request.param, tmp_path, request)
    yield d
    if d.kind == "dir":
        shutil.rmtree(d.url, ignore_errors=True)
