"""Helpers shared by the ``zarrbridge`` command tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import zarr


class Result(NamedTuple):
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


Run = Callable[..., Result]


def assert_one_line_error(result: Result, *fragments: str, code: int = 1) -> None:
    """Exit ``code`` and exactly one stderr line, ``zarrbridge: error: ...`` holding every fragment."""
    assert result.code == code, result
    assert len(result.err_lines) == 1, result.err
    line = result.err_lines[0]
    assert line.startswith("zarrbridge: error: "), line
    for fragment in fragments:
        assert fragment in line, (fragment, line)


def rewrite_zarr(path: Path, edit: Callable[[zarr.Group], None]) -> None:
    """Change a zarr file directly (bypassing zarrbridge) and re-consolidate its metadata."""
    group = zarr.open_group(path, mode="r+", use_consolidated=False)
    edit(group)
    zarr.consolidate_metadata(path)
