"""core.names: the one check for names that become paths."""

from __future__ import annotations

import pytest

from zarrbridge.core.names import check_absolute_path, check_name, check_relative_path
from zarrbridge.errors import LocationError, UnsafeNameError

HOSTILE_NAMES = ["..", ".", "", "a/b", "a\\b", "nul\x00", "line\nbreak", "/abs", "tab\t"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_check_name_refuses_hostile_components(name: str) -> None:
    with pytest.raises(UnsafeNameError) as info:
        check_name(name, what="group name")
    assert "group name" in str(info.value)
    assert isinstance(info.value, LocationError) and isinstance(info.value, ValueError)
    assert info.value.name == name


@pytest.mark.parametrize("name", ["ElectricalSeries", "a.b", "...x", "with space", "ünïcode", "x..y"])
def test_check_name_accepts_ordinary_names(name: str) -> None:
    assert check_name(name) == name


def test_check_name_refuses_non_strings() -> None:
    with pytest.raises(UnsafeNameError, match="not a string"):
        check_name(b"bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["../x", "a/../b", "/etc/passwd", "C:/x", "a//b", "a/", "a/\x00"])
def test_check_relative_path_refuses_escapes(path: str) -> None:
    with pytest.raises(UnsafeNameError):
        check_relative_path(path)


def test_check_relative_path_accepts_nested() -> None:
    assert check_relative_path("acquisition/ts/data") == "acquisition/ts/data"


@pytest.mark.parametrize("path", ["relative", "/a/../b", "//a", "/a/"])
def test_check_absolute_path_refuses(path: str) -> None:
    with pytest.raises(UnsafeNameError):
        check_absolute_path(path)


def test_check_absolute_path_accepts_root_and_nested() -> None:
    assert check_absolute_path("/") == "/"
    assert check_absolute_path("/general/devices/array") == "/general/devices/array"
