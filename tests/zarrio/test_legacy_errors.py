"""Damaged legacy files: every problem is an error that names the key/array and says what to do."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from legacy_helpers import FIXTURES, copy_fixture, open_legacy

from zarrbridge import ZarrIO
from zarrbridge.errors import (
    BrokenLinkError,
    CorruptChunkError,
    CorruptMetadataError,
    InvalidOptionError,
    MissingChunkError,
    NotAZarrStoreError,
    UnknownCodecError,
    UnsupportedFormatVersionError,
)

pytestmark = pytest.mark.filterwarnings("ignore:The 'manufacturer' field is deprecated:DeprecationWarning")

SERIES = "acquisition/ElectricalSeriesGzip/data"  # int16 (200, 4), chunks (50, 4), gzip, fill_value 0
GROUP_REFS = "general/extracellular_ephys/electrodes/group"  # Pickle object array


@pytest.fixture
def ecephys(tmp_path: Path) -> Path:
    return copy_fixture("ecephys.nwb.zarr", tmp_path)


def edit_metadata(root: Path, key: str, change: Callable[[dict[str, Any]], None]) -> None:
    """Change the document ``key`` both in its file and in the consolidated ``.zmetadata``."""
    doc = json.loads((root / key).read_text())
    change(doc)
    (root / key).write_text(json.dumps(doc))
    consolidated = json.loads((root / ".zmetadata").read_text())
    change(consolidated["metadata"][key])
    (root / ".zmetadata").write_text(json.dumps(consolidated))


def data_of(root: Path, path: str) -> Any:
    with open_legacy(root) as io:
        return np.asarray(io.get_builder(path).data[...])


# ------------------------------------------------------------------------------------------ metadata


def test_corrupt_consolidated_metadata_names_it(ecephys: Path) -> None:
    (ecephys / ".zmetadata").write_text('{"metadata": {')
    with pytest.raises(CorruptMetadataError, match=r"'\.zmetadata'.*not valid JSON"):
        ZarrIO(ecephys, "r")


def test_unknown_consolidated_format_version(ecephys: Path) -> None:
    doc = json.loads((ecephys / ".zmetadata").read_text())
    doc["zarr_consolidated_format"] = 7
    (ecephys / ".zmetadata").write_text(json.dumps(doc))
    with pytest.raises(UnsupportedFormatVersionError, match="7"):
        ZarrIO(ecephys, "r")


@pytest.mark.parametrize("found", [1, 3, 99])
def test_unknown_zarr_format_at_the_root(ecephys: Path, found: int) -> None:
    (ecephys / ".zgroup").write_text(json.dumps({"zarr_format": found}))
    with pytest.raises(UnsupportedFormatVersionError) as info:
        ZarrIO(ecephys, "r")
    assert info.value.found == found and ".zgroup" in str(info.value)


def test_unknown_zarr_format_of_one_array(ecephys: Path) -> None:
    edit_metadata(ecephys, f"{SERIES}/.zarray", lambda d: d.update(zarr_format=4))
    with open_legacy(ecephys) as io, pytest.raises(UnsupportedFormatVersionError, match=SERIES):
        io.read_builder()


def test_corrupt_zarray_without_consolidated_metadata(ecephys: Path) -> None:
    (ecephys / ".zmetadata").unlink()
    (ecephys / SERIES / ".zarray").write_text("{not json")
    with open_legacy(ecephys) as io, pytest.raises(CorruptMetadataError, match=f"{SERIES}/.zarray"):
        io.read_builder()


def test_corrupt_zattrs_without_consolidated_metadata(ecephys: Path) -> None:
    (ecephys / ".zmetadata").unlink()
    (ecephys / "acquisition" / ".zattrs").write_text("[1, 2")
    with open_legacy(ecephys) as io, pytest.raises(CorruptMetadataError, match="acquisition/.zattrs"):
        io.read_builder()


def test_without_consolidated_metadata_the_tree_is_listed(ecephys: Path) -> None:
    expected = data_of(ecephys, SERIES)
    (ecephys / ".zmetadata").unlink()
    np.testing.assert_array_equal(data_of(ecephys, SERIES), expected)
    with open_legacy(ecephys) as io:
        assert len(io.read().electrodes) == 6


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("shape", [200], "chunks .* do not match shape"),
        ("chunks", [0, 4], "non-positive"),
        ("dtype", "<x9", "unknown dtype"),
        ("order", "Z", "'order'"),
        ("fill_value", "not a number", "fill_value"),
        ("filters", {"id": "x"}, "'filters'"),
    ],
)
def test_invalid_zarray_fields(ecephys: Path, field: str, value: Any, message: str) -> None:
    edit_metadata(ecephys, f"{SERIES}/.zarray", lambda d: d.update({field: value}))
    with open_legacy(ecephys) as io, pytest.raises(CorruptMetadataError, match=message):
        io.read_builder()


def test_malformed_zarr_link_and_reference_attribute(ecephys: Path) -> None:
    key = "general/extracellular_ephys/shank0/.zattrs"
    edit_metadata(ecephys, key, lambda d: d.update(zarr_link=[{"name": "device"}]))
    with open_legacy(ecephys) as io, pytest.raises(CorruptMetadataError, match="zarr_link"):
        io.read_builder()


def test_reference_to_a_missing_object(ecephys: Path) -> None:
    shutil.rmtree(ecephys / "general" / "extracellular_ephys" / "shank1")
    consolidated = json.loads((ecephys / ".zmetadata").read_text())
    consolidated["metadata"] = {
        k: v
        for k, v in consolidated["metadata"].items()
        if not k.startswith("general/extracellular_ephys/shank1/")
    }
    (ecephys / ".zmetadata").write_text(json.dumps(consolidated))
    with open_legacy(ecephys) as io:
        refs = io.get_builder(f"/{GROUP_REFS}").data
        with pytest.raises(BrokenLinkError, match="shank1"):
            refs[:]


# ------------------------------------------------------------------------------------------ chunks


def test_missing_chunk_is_an_error_naming_array_and_key(ecephys: Path) -> None:
    (ecephys / SERIES / "1.0").unlink()
    with open_legacy(ecephys) as io:
        data = io.get_builder(SERIES).data
        np.testing.assert_array_equal(data[:50].shape, (50, 4))  # the stored chunks still read
        with pytest.raises(
            MissingChunkError, match=r"'1\.0'.*ElectricalSeriesGzip/data.*missing_chunks_as_fill"
        ):
            data[...]


def test_missing_chunk_reads_as_the_fill_value_only_when_asked(ecephys: Path) -> None:
    from zarr.storage import LocalStore

    from zarrbridge.zarrio.legacy import missing_chunks_as_fill, open_legacy_root

    expected = data_of(ecephys, SERIES)
    (ecephys / SERIES / "1.0").unlink()
    expected[50:100] = 0  # fill_value 0, as hdmf-zarr (zarr 2) reads it
    with missing_chunks_as_fill():
        np.testing.assert_array_equal(data_of(ecephys, SERIES), expected)
    with pytest.raises(MissingChunkError):
        data_of(ecephys, SERIES)  # the opt-in ends with the block
    root = open_legacy_root(LocalStore(ecephys, read_only=True), where=str(ecephys), missing_chunks="fill")
    np.testing.assert_array_equal(root[SERIES][...], expected)
    with pytest.raises(InvalidOptionError, match="missing_chunks"):
        open_legacy_root(LocalStore(ecephys, read_only=True), where=str(ecephys), missing_chunks="zeros")  # type: ignore[arg-type]


def test_missing_chunk_without_a_fill_value_is_an_error_even_when_asked(ecephys: Path) -> None:
    from zarrbridge.zarrio.legacy import missing_chunks_as_fill

    edit_metadata(ecephys, f"{SERIES}/.zarray", lambda d: d.update(fill_value=None))
    (ecephys / SERIES / "2.0").unlink()
    with open_legacy(ecephys) as io, missing_chunks_as_fill():
        data = io.get_builder(SERIES).data
        np.testing.assert_array_equal(data[:100].shape, (100, 4))  # other chunks still read
        with pytest.raises(MissingChunkError, match=r"'2\.0'.*ElectricalSeriesGzip/data.*fill_value: null"):
            data[...]


def test_missing_chunk_of_an_object_array_is_an_error_even_when_asked(ecephys: Path) -> None:
    from zarrbridge.zarrio.legacy import missing_chunks_as_fill

    (ecephys / GROUP_REFS / "0").unlink()
    with (
        open_legacy(ecephys) as io,
        missing_chunks_as_fill(),
        pytest.raises(MissingChunkError, match="object array"),
    ):
        io.get_builder(GROUP_REFS).data[:]


def test_unknown_compressor_is_named(ecephys: Path) -> None:
    edit_metadata(ecephys, f"{SERIES}/.zarray", lambda d: d.update(compressor={"id": "zarrbridge-nope"}))
    with open_legacy(ecephys) as io:
        data = io.get_builder(SERIES).data  # lazy: the codec is resolved on first access
        with pytest.raises(UnknownCodecError) as info:
            data[0]
    assert info.value.codec_id == "zarrbridge-nope" and SERIES in str(info.value)
    assert "numcodecs plug-in" in str(info.value)


def test_pickle_is_never_a_compressor_or_a_numeric_filter(ecephys: Path) -> None:
    edit_metadata(ecephys, f"{SERIES}/.zarray", lambda d: d.update(compressor={"id": "pickle"}))
    with open_legacy(ecephys) as io, pytest.raises(UnknownCodecError, match="restricted unpickler"):
        io.get_builder(SERIES).data[0]
    edit_metadata(
        ecephys, f"{SERIES}/.zarray", lambda d: d.update(compressor=None, filters=[{"id": "pickle"}])
    )
    with (
        open_legacy(ecephys) as io,
        pytest.raises(CorruptMetadataError, match="object codec 'pickle' on a int16"),
    ):
        io.get_builder(SERIES).data[0]


def test_corrupt_chunk_bytes(ecephys: Path) -> None:
    (ecephys / SERIES / "0.0").write_bytes(b"definitely not gzip")
    with (
        open_legacy(ecephys) as io,
        pytest.raises(CorruptChunkError, match=r"chunk '0\.0' of .*ElectricalSeriesGzip/data.*is corrupt"),
    ):
        io.get_builder(SERIES).data[:10]


def test_chunk_of_the_wrong_size(ecephys: Path) -> None:
    import numcodecs

    (ecephys / SERIES / "0.0").write_bytes(numcodecs.GZip(level=4).encode(b"\0" * 10))
    with (
        open_legacy(ecephys) as io,
        pytest.raises(CorruptChunkError, match="holds 10 bytes, expected 400"),
    ):
        io.get_builder(SERIES).data[:10]


def test_pickle_chunk_that_is_not_an_array(ecephys: Path) -> None:
    import pickle

    import numcodecs

    (ecephys / GROUP_REFS / "0").write_bytes(
        numcodecs.Blosc().encode(pickle.dumps({"path": "/x"}, protocol=5))
    )
    with open_legacy(ecephys) as io, pytest.raises(CorruptChunkError, match="holds a dict, not an array"):
        io.get_builder(GROUP_REFS).data[:]


# ------------------------------------------------------------------------------------------ files


def test_missing_external_link_target(tmp_path: Path) -> None:
    path = copy_fixture("external_link.nwb.zarr", tmp_path)  # without link_target.nwb.zarr next to it
    with open_legacy(path) as io, pytest.raises(NotAZarrStoreError, match="link_target.nwb.zarr"):
        io.read_builder()


def test_external_source_relative_to_the_parent_in_old_files(tmp_path: Path) -> None:
    path = copy_fixture("external_link.nwb.zarr", tmp_path)
    copy_fixture("link_target.nwb.zarr", tmp_path)
    edit_metadata(
        path,
        "acquisition/.zattrs",
        lambda d: [link.update(source="link_target.nwb.zarr") for link in d["zarr_link"]],
    )
    with open_legacy(path) as io:
        linked = io.get_builder("/acquisition").links["target_series"].builder
        assert Path(linked.source).name == "link_target.nwb.zarr"


def test_root_that_is_an_array_is_not_a_file(tmp_path: Path) -> None:
    root = tmp_path / "array.zarr"
    root.mkdir()
    shutil.copy(FIXTURES / "ecephys.nwb.zarr" / SERIES / ".zarray", root / ".zarray")
    with pytest.raises(NotAZarrStoreError, match="root is an array"):
        ZarrIO(root, "r")
