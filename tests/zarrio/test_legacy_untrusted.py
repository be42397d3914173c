"""Hostile legacy files never make the reader touch anything outside the store (issue 11).

Every name that becomes a key is checked: consolidated listings, listed directories, link entries, reference
records and their paths. Symbolic links inside a local store are followed only while they stay inside it.
Each test puts a readable victim beside the store and checks that its content is never what comes back.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pytest
from legacy_helpers import copy_fixture, open_legacy
from zarr.storage import LocalStore

from zarrbridge import ZarrIO
from zarrbridge.errors import UnsafeNameError
from zarrbridge.zarrio.legacy import LegacyGroup, LegacyReference, open_legacy_root

pytestmark = pytest.mark.filterwarnings("ignore:The 'manufacturer' field is deprecated:DeprecationWarning")

SERIES = "acquisition/ElectricalSeriesGzip/data"  # int16 (200, 4), chunks (50, 4), gzip
GROUP_REFS = "general/extracellular_ephys/electrodes/group"  # Pickle object array of references
SHANK = "general/extracellular_ephys/shank0/.zattrs"  # has a zarr_link "device"
REGION = "acquisition/ElectricalSeriesGzip/electrodes/.zattrs"  # reference attribute "table"


@pytest.fixture
def ecephys(tmp_path: Path) -> Path:
    """The fixture copied into ``tmp_path/store``, with a victim array ``tmp_path/store/victim`` beside it."""
    root = copy_fixture("ecephys.nwb.zarr", tmp_path / "store")
    victim = tmp_path / "store" / "victim"
    shutil.copytree(root / SERIES, victim)
    (victim / "0.0").write_bytes(numcodecs.GZip(level=4).encode(np.full((50, 4), 7, dtype="<i2").tobytes()))
    return root


def edit_metadata(root: Path, key: str, change: Callable[[dict[str, Any]], None]) -> None:
    """Change the document ``key`` both in its file and in the consolidated ``.zmetadata``."""
    doc = json.loads((root / key).read_text())
    change(doc)
    (root / key).write_text(json.dumps(doc))
    consolidated = json.loads((root / ".zmetadata").read_text())
    change(consolidated["metadata"][key])
    (root / ".zmetadata").write_text(json.dumps(consolidated))


def add_listing(root: Path, entries: dict[str, Any]) -> None:
    consolidated = json.loads((root / ".zmetadata").read_text())
    consolidated["metadata"].update(entries)
    (root / ".zmetadata").write_text(json.dumps(consolidated))


# ------------------------------------------------------------------------------------------ listings
@pytest.mark.parametrize(
    "prefix",
    [
        "../victim",
        "acquisition/../../victim",
        "/abs",
        "acquisition/x\x00y",
        "acquisition\\..\\..\\victim",
        "a//b",
    ],
)
def test_consolidated_keys_that_leave_the_store_are_refused(ecephys: Path, prefix: str) -> None:
    zarray = json.loads((ecephys / SERIES / ".zarray").read_text())
    add_listing(ecephys, {f"{prefix}/.zarray": zarray, f"{prefix}/.zattrs": {"zarr_dtype": "int16"}})
    with pytest.raises(UnsafeNameError, match=".zmetadata") as info:
        ZarrIO(ecephys, "r").read_builder()
    assert isinstance(info.value, ValueError) and "inside the store" in str(info.value)


def test_a_parent_group_in_the_listing_is_refused(ecephys: Path) -> None:
    zarray = json.loads((ecephys / SERIES / ".zarray").read_text())
    add_listing(ecephys, {"../.zgroup": {"zarr_format": 2}, "../victim/.zarray": zarray})
    with pytest.raises(UnsafeNameError, match=r"'\.\.'"):
        ZarrIO(ecephys, "r")


def test_listed_directory_names_are_checked_without_consolidated_metadata(ecephys: Path) -> None:
    (ecephys / ".zmetadata").unlink()
    odd = ecephys / "acquisition" / "a\\b"
    odd.mkdir()
    (odd / ".zgroup").write_text('{"zarr_format": 2}')
    with open_legacy(ecephys) as io, pytest.raises(UnsafeNameError, match="separator"):
        io.read_builder()


def test_node_paths_cannot_climb_out(ecephys: Path) -> None:
    root = open_legacy_root(LocalStore(ecephys, read_only=True), where=str(ecephys))
    assert isinstance(root, LegacyGroup)
    assert root.get("acquisition/./ElectricalSeriesGzip") is not None
    for path in ["../victim", "acquisition/../../victim", "a\x00b"]:
        with pytest.raises(UnsafeNameError):
            root.get(path)


# ------------------------------------------------------------------------------------------ links, references
@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("path", "/../victim", "parent folder"),
        ("path", "general/devices/array", "absolute path"),
        ("path", "/general/devices/array\x00/victim", "control character"),
        ("name", "..", "parent folder"),
        ("name", "a/b", "separator"),
        ("source", "../x\x00", "not a file location"),
    ],
)
def test_hostile_link_entries(ecephys: Path, field: str, value: str, match: str) -> None:
    edit_metadata(ecephys, SHANK, lambda d: d["zarr_link"][0].update({field: value}))
    with open_legacy(ecephys) as io, pytest.raises(UnsafeNameError, match=match):
        io.read_builder()


def test_a_nul_in_a_link_path_cannot_forge_an_external_file(ecephys: Path, tmp_path: Path) -> None:
    """A NUL separates source and path internally: ``/x\\0/y`` must not open ``/x`` as another file."""
    shutil.copytree(ecephys, tmp_path / "other.nwb.zarr")
    forged = f"{tmp_path / 'other.nwb.zarr'}\x00/general/devices/array"
    edit_metadata(ecephys, SHANK, lambda d: d["zarr_link"][0].update(path="/x" + forged))
    with open_legacy(ecephys) as io, pytest.raises(UnsafeNameError, match="control character"):
        io.read_builder()


def test_hostile_reference_attribute(ecephys: Path) -> None:
    edit_metadata(ecephys, REGION, lambda d: d["table"]["value"].update(path="/general/../../victim"))
    with open_legacy(ecephys) as io, pytest.raises(UnsafeNameError, match="parent folder"):
        io.read_builder()


def test_hostile_reference_record_in_a_pickle_chunk(ecephys: Path) -> None:
    chunk = ecephys / GROUP_REFS / "0"
    records = np.empty(6, dtype=object)
    for i in range(6):
        records[i] = {"source": ".", "path": "/../victim", "object_id": None, "source_object_id": None}
    chunk.write_bytes(numcodecs.Blosc().encode(pickle.dumps(records, protocol=5)))
    with open_legacy(ecephys) as io:
        data = io.get_builder(GROUP_REFS).data
        with pytest.raises(UnsafeNameError, match="parent folder"):
            data[:]
    assert issubclass(LegacyReference, dict)


# ------------------------------------------------------------------------------------------ symbolic links
def test_a_chunk_that_links_outside_is_refused(ecephys: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside-chunk"
    shutil.copy(
        ecephys.parent / "victim" / "0.0", outside
    )  # valid gzip data of the right size: only the link is wrong
    chunk = ecephys / SERIES / "0.0"
    chunk.unlink()
    chunk.symlink_to(outside)
    with open_legacy(ecephys) as io:
        data = io.get_builder(SERIES).data
        np.testing.assert_array_equal(data[50:60].shape, (10, 4))  # the other chunks still read
        with pytest.raises(UnsafeNameError, match="symbolic link") as info:
            data[:10]
    assert str(outside) in str(info.value)


def test_a_folder_that_links_outside_is_refused(ecephys: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside-array"
    shutil.move(ecephys / SERIES, outside)
    (ecephys / SERIES).symlink_to(outside)
    with open_legacy(ecephys) as io, pytest.raises(UnsafeNameError, match="symbolic link"):
        io.get_builder(SERIES).data[:]


def test_consolidated_metadata_that_links_outside_is_refused(ecephys: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.zmetadata"
    shutil.move(ecephys / ".zmetadata", outside)
    (ecephys / ".zmetadata").symlink_to(outside)
    with pytest.raises(UnsafeNameError, match="symbolic link"):
        ZarrIO(ecephys, "r")


def test_links_that_stay_inside_the_store_are_followed(ecephys: Path) -> None:
    with open_legacy(ecephys) as io:
        expected = np.asarray(io.get_builder(SERIES).data[:])
    chunk = ecephys / SERIES / "0.0"
    shutil.move(chunk, ecephys / "moved-chunk")
    os.symlink(os.path.join("..", "..", "..", "moved-chunk"), chunk)
    with open_legacy(ecephys) as io:
        np.testing.assert_array_equal(io.get_builder(SERIES).data[:], expected)
