"""NWBZarrIO and read_nwb with wrong arguments, missing or damaged files,
non-NWB files and unknown versions."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import zarr
from hdmf.backends.errors import UnsupportedOperation
from hdmf.common import DynamicTable, get_manager
from nwb_content import new_file

from zarrbridge import NWBZarrIO, ZarrIO, read_nwb
from zarrbridge.errors import (
    CorruptMetadataError,
    InvalidOptionError,
    LocationError,
    NotAnNWBFileError,
    NotAZarrStoreError,
    ReadOnlyError,
    UnsupportedFormatVersionError,
    UnsupportedValueTypeError,
    WriteInterruptedError,
)


@pytest.fixture()
def nwb_path(tmp_path: Path) -> Path:
    path = tmp_path / "f.nwb.zarr"
    with NWBZarrIO(path, mode="w") as io:
        io.write(new_file("errors"))
    return path


def _set_root_attr(path: Path, key: str, value: object) -> None:
    """Change one root attribute in zarr.json (and in nothing else: the consolidated copy is per child)."""
    doc = json.loads((path / "zarr.json").read_text())
    if value is None:
        doc["attributes"].pop(key)
    else:
        doc["attributes"][key] = value
    (path / "zarr.json").write_text(json.dumps(doc))


def test_wrong_argument_types(nwb_path: Path) -> None:
    with pytest.raises(LocationError, match="int"):
        NWBZarrIO(42, mode="r", load_namespaces=False)
    with pytest.raises(InvalidOptionError, match="mode"):
        NWBZarrIO(nwb_path, mode="rw")  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError, match="load_namespaces"):
        NWBZarrIO(nwb_path, load_namespaces="yes")  # type: ignore[arg-type]
    with pytest.raises(UnsupportedValueTypeError, match="BuildManager"):
        NWBZarrIO(nwb_path, manager="manager")  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError, match="zarr_format"):
        NWBZarrIO(nwb_path, mode="w", zarr_format=4)  # type: ignore[arg-type]
    with NWBZarrIO(nwb_path, mode="r") as io, pytest.raises(TypeError):
        io.read(skip_version_check="no", unknown=1)
    with NWBZarrIO(nwb_path, mode="r") as io, pytest.raises(InvalidOptionError, match="nwbfile or container"):
        io.export(src_io=io, nwbfile=io.read(), container=io.read())


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(NotAZarrStoreError, match="missing.nwb.zarr"):
        NWBZarrIO(tmp_path / "missing.nwb.zarr", mode="r")
    with pytest.raises(FileNotFoundError):
        read_nwb(tmp_path / "missing.nwb.zarr")
    os.mkdir(tmp_path / "empty.nwb.zarr")
    with pytest.raises(NotAZarrStoreError, match="empty.nwb.zarr"):
        read_nwb(tmp_path / "empty.nwb.zarr")


def test_zarr_file_that_is_not_nwb(tmp_path: Path) -> None:
    path = tmp_path / "table.zarr"
    with ZarrIO(path, mode="w", manager=get_manager()) as io:
        io.write(DynamicTable(name="t", description="plain hdmf"))
    with pytest.raises(NotAnNWBFileError, match="no 'nwb_version'") as info:
        read_nwb(path)
    assert isinstance(info.value, TypeError)  # as pynwb's NWBHDF5IO.read raises
    with NWBZarrIO(path, mode="r") as io:
        assert io.nwb_version == (None, None)


def test_skip_version_check(nwb_path: Path) -> None:
    _set_root_attr(nwb_path, "nwb_version", "1.0.5")
    with NWBZarrIO(nwb_path, mode="r") as io:
        assert io.read(skip_version_check=True).identifier == "errors"  # the escape hatch pynwb has too


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        ("1.0.5", UnsupportedFormatVersionError, "2.x"),
        ("3.0.0", UnsupportedFormatVersionError, "2.x"),
        ("beta", NotAnNWBFileError, "does not start with a number"),
        ("", NotAnNWBFileError, "not a version string"),
        (2.5, NotAnNWBFileError, "not a version string"),
    ],
)
def test_unknown_nwb_version(nwb_path: Path, value: object, error: type[Exception], match: str) -> None:
    _set_root_attr(nwb_path, "nwb_version", value)
    with NWBZarrIO(nwb_path, mode="r") as io, pytest.raises(error, match=match):
        io.read()


def test_old_style_version_strings_parse(nwb_path: Path) -> None:
    _set_root_attr(nwb_path, "nwb_version", "NWB-2.0.1_beta")
    with NWBZarrIO(nwb_path, mode="r") as io:
        assert io.nwb_version == ("NWB-2.0.1_beta", (2, 0, 1, "beta"))


def test_corrupt_metadata(nwb_path: Path) -> None:
    (nwb_path / "zarr.json").write_text("{not json")
    with pytest.raises(CorruptMetadataError, match="zarr.json"):
        NWBZarrIO(nwb_path, mode="r")


def test_corrupt_cached_namespace(nwb_path: Path) -> None:
    spec = zarr.open_group(nwb_path / "specifications", mode="r")
    version = next(iter(spec["core"].group_keys()))
    arr = zarr.open_array(nwb_path / "specifications" / "core" / version / "namespace", mode="r+")
    arr[()] = "{broken"
    with pytest.raises(CorruptMetadataError, match="not JSON"):
        NWBZarrIO(nwb_path, mode="r")
    with NWBZarrIO(nwb_path, mode="r", load_namespaces=False) as io:  # pynwb's own schema still reads it
        assert io.read().identifier == "errors"


def test_interrupted_write_is_not_a_file(tmp_path: Path) -> None:
    path = tmp_path / "half.nwb.zarr"
    zarr.create_group(path, attributes={"_ZARRBRIDGE": {"version": 1, "incomplete": True}})
    with pytest.raises(WriteInterruptedError):
        NWBZarrIO(path, mode="r", load_namespaces=False)


def test_mode_errors(nwb_path: Path, tmp_path: Path) -> None:
    with NWBZarrIO(nwb_path, mode="r") as io, pytest.raises(ReadOnlyError, match="mode 'r'"):
        io.write(new_file("again"))
    with (
        NWBZarrIO(tmp_path / "new.nwb.zarr", mode="w") as io,
        pytest.raises(UnsupportedOperation, match="mode"),
    ):
        io.read()
    with pytest.raises(FileExistsError):
        NWBZarrIO(nwb_path, mode="w-")
    with (
        NWBZarrIO(nwb_path, mode="r") as src,
        NWBZarrIO(tmp_path / "x.nwb.zarr", mode="a") as dst,
        pytest.raises(UnsupportedOperation, match="mode 'w'"),
    ):
        dst.export(src_io=src)
