"""Compound data types in both zarr v3 spellings, on whichever zarr release the suite runs with.

The ``"struct"`` documents here are written by hand (as zarr >= 3.2 and hdmf-zarr 0.14 write them, see
``tests/fixtures/hdmf_zarr_014/``), so the tests mean the same on zarr 3.1, which cannot read that form
without zarrbridge, and on zarr 3.4, which can.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

import zarrbridge.core  # noqa: F401  (registers the "struct" reader where zarr lacks one)
from zarrbridge.core.arrays import create_array
from zarrbridge.core.chunkio import read_whole, small_array
from zarrbridge.core.structdtype import ZarrStruct, register_struct_reader

DTYPE = np.dtype([("idx", "<i4"), ("weight", "<f8"), ("label", "<U4"), ("flag", "?")])
ROWS = np.array([(1, 0.5, "one", True), (2, -1.5, "two", False), (3, np.nan, "", True)], dtype=DTYPE)
FIELDS = [
    {"name": "idx", "data_type": "int32"},
    {"name": "weight", "data_type": "float64"},
    {"name": "label", "data_type": {"name": "fixed_length_utf32", "configuration": {"length_bytes": 16}}},
    {"name": "flag", "data_type": "bool"},
]


def _struct_document(shape: list[int], fill: Any) -> dict[str, Any]:
    return {
        "shape": shape,
        "data_type": {"name": "struct", "configuration": {"fields": FIELDS}},
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": shape or []}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": fill,
        "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
        "attributes": {"_REFERENCE_FIELDS": []},
        "zarr_format": 3,
        "node_type": "array",
    }


def _write_struct_file(root: Path, *, consolidated: bool) -> None:
    """A group holding ``rows`` (3 compound rows), ``empty`` (no chunks: fill value) and ``scalar`` (0-d)."""
    fill = {"idx": 7, "weight": "NaN", "label": "none", "flag": True}
    docs = {
        "rows": _struct_document([3], fill),
        "empty": _struct_document([2], fill),
        "scalar": _struct_document([], {"idx": 0, "weight": 0.0, "label": "", "flag": False}),
    }
    for name, doc in docs.items():
        (root / name).mkdir(parents=True)
        (root / name / "zarr.json").write_text(json.dumps(doc))
    (root / "rows" / "c").mkdir()
    (root / "rows" / "c" / "0").write_bytes(ROWS.tobytes())
    (root / "scalar" / "c").write_bytes(ROWS[1:2].tobytes())
    group: dict[str, Any] = {"zarr_format": 3, "node_type": "group", "attributes": {}}
    if consolidated:
        group["consolidated_metadata"] = {"kind": "inline", "must_understand": False, "metadata": docs}
    (root / "zarr.json").write_text(json.dumps(group))


@pytest.mark.parametrize("consolidated", [True, False])
def test_struct_form_reads_with_values_and_per_field_fill(tmp_path: Path, consolidated: bool) -> None:
    _write_struct_file(tmp_path / "f.zarr", consolidated=consolidated)
    group = zarr.open_group(tmp_path / "f.zarr", mode="r", use_consolidated=consolidated)
    rows = group["rows"]
    assert isinstance(rows, zarr.Array)
    assert rows.dtype == DTYPE
    got = rows[:]
    assert got[["idx", "label", "flag"]].tolist() == ROWS[["idx", "label", "flag"]].tolist()
    np.testing.assert_array_equal(got["weight"], ROWS["weight"])
    empty = group["empty"][:]
    assert empty[["idx", "label", "flag"]].tolist() == [(7, "none", True)] * 2
    assert np.isnan(empty["weight"]).all()
    assert group["scalar"][()].tolist() == ROWS[1].tolist()
    # zarrbridge's synchronous reader decodes the same bytes
    fast = read_whole(rows)
    assert fast is not None and fast.tolist()[:2] == ROWS.tolist()[:2]


def test_struct_form_survives_a_rewrite_of_its_metadata(tmp_path: Path) -> None:
    """A struct document read and written back (e.g. by zarr.consolidate_metadata) keeps its form."""
    _write_struct_file(tmp_path / "f.zarr", consolidated=False)
    zarr.consolidate_metadata(tmp_path / "f.zarr")
    doc = json.loads((tmp_path / "f.zarr" / "zarr.json").read_text())
    listed = doc["consolidated_metadata"]["metadata"]["rows"]
    assert listed["data_type"]["name"] == "struct"
    assert listed["data_type"]["configuration"]["fields"] == FIELDS
    assert listed["fill_value"]["idx"] == 7 and listed["fill_value"]["label"] == "none"
    group = zarr.open_group(tmp_path / "f.zarr", mode="r")
    assert group["rows"][:][["idx", "label"]].tolist() == ROWS[["idx", "label"]].tolist()


@pytest.mark.parametrize("path", ["big", "small"])
def test_compounds_are_written_in_the_structured_form(tmp_path: Path, path: str) -> None:
    store = zarr.storage.LocalStore(tmp_path / "w.zarr")
    if path == "big":
        array = create_array(store, "x", shape=(3,), dtype=DTYPE)
        array[:] = ROWS
    else:
        from zarrbridge.core.arrays import ArrayPolicy
        from zarrbridge.core.transfer import put_many

        small = small_array((3,), DTYPE, ArrayPolicy(), {})
        assert small is not None
        put_many(store, {f"x/{k}": v for k, v in small.encode(ROWS).items()})
    doc = json.loads((tmp_path / "w.zarr" / "x" / "zarr.json").read_text())
    assert doc["data_type"]["name"] == "structured"
    assert [f[0] for f in doc["data_type"]["configuration"]["fields"]] == list(DTYPE.names or ())
    assert isinstance(doc["fill_value"], str)  # base64 bytes: the only fill value zarr 3.1 reads
    if ZarrStruct is not None:  # zarr >= 3.2 reads multi-byte fields without a warning only with endian
        assert doc["codecs"][0] == {"name": "bytes", "configuration": {"endian": "little"}}
    back = zarr.open_array(tmp_path / "w.zarr" / "x", mode="r")[:]
    assert back[["idx", "label", "flag"]].tolist() == ROWS[["idx", "label", "flag"]].tolist()


def test_the_struct_reader_is_registered_only_where_zarr_lacks_one() -> None:
    from zarr.dtype import data_type_registry

    registered = data_type_registry.contents["struct"]
    if ZarrStruct is None:
        assert register_struct_reader() is True  # idempotent: ours stays
        assert registered.__module__ == "zarrbridge.core.structdtype"
    else:
        assert register_struct_reader() is False
        assert registered is ZarrStruct
    # numpy compound dtypes still resolve to exactly one zarr data type
    assert zarr.create_array(zarr.storage.MemoryStore(), shape=(1,), dtype=DTYPE).dtype == DTYPE
