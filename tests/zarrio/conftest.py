from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hdmf.build import GroupBuilder

from zarrbridge import ZarrIO


def roundtrip_builder(path: Any, builder: GroupBuilder, **open_kw: Any) -> tuple[ZarrIO, GroupBuilder]:
    """Write ``builder`` with ZarrIO and read it back; the returned io is open (close it)."""
    with ZarrIO(path, mode="w", **open_kw) as io:
        io.write_builder(builder)
    io = ZarrIO(path, mode="r", **open_kw)
    return io, io.read_builder()


@pytest.fixture(name="roundtrip")
def roundtrip_fixture() -> Any:
    return roundtrip_builder


@pytest.fixture()
def zpath(tmp_path: Path) -> Path:
    return tmp_path / "f.zarr"
