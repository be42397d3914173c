"""The committed legacy fixtures are what their manifest says, at the raw zarr v2 level.

Runs in the main venv (zarr 3, numcodecs 0.16, no hdmf-zarr). The manifest was written by
``scripts/legacy/write_fixtures.py`` from what the real hdmf-zarr 0.13.0 read back; these tests check the
files against it without hdmf-zarr, so that every later reader test can trust both.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from legacy_v2_raw import FIXTURES, RawV2, fixture, load_manifest, reference_path, unpickle_payload

from zarrbridge.errors import UnsafePickleError

MANIFEST = load_manifest()
FILES = MANIFEST["files"]
READ_BACK = sorted(name for name, entry in FILES.items() if "objects" in entry)
PICKLE_FILES = sorted(name for name in READ_BACK if FILES[name]["object_codec"] == "Pickle")
CRAFTED = FILES["crafted_pickle.nwb.zarr"]["crafted"]


def _datasets(name: str) -> list[dict[str, Any]]:
    return [o for o in FILES[name]["objects"] if o["kind"] == "dataset"]


def _object_filter(record: dict[str, Any]) -> str | None:
    ids = [f["id"] for f in record["filters"]]
    return ids[0] if ids and ids[0] in ("pickle", "json2") else None


def _sha(values: Any, array: np.ndarray | None = None) -> str:
    if array is not None:
        little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        return hashlib.sha256(little.tobytes()).hexdigest()
    text = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _as_text(value: Any) -> Any:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _manifest_refs(values: list[Any]) -> list[Any]:
    """Manifest values with every ``{"$ref": {"path": p}}`` replaced by ``p``."""

    def one(value: Any) -> Any:
        if isinstance(value, dict) and "$ref" in value:
            return value["$ref"]["path"]
        if isinstance(value, list):
            return [one(v) for v in value]
        return value

    return [one(v) for v in values]


def _decoded_refs(values: list[Any]) -> list[Any]:
    def one(value: Any) -> Any:
        if isinstance(value, dict):
            return reference_path(value)
        if isinstance(value, (tuple, list, np.void)):
            return [one(v) for v in (value.tolist() if isinstance(value, np.void) else value)]
        if isinstance(value, np.generic):
            return value.item()
        return value

    return [one(v) for v in values]


# ---------------------------------------------------------------------------------------------- manifest


def test_manifest_names_the_anchor_versions_and_every_file_exists() -> None:
    assert MANIFEST["manifest_format_version"] == 1
    written_by = MANIFEST["written_by"]
    assert written_by["hdmf-zarr"] == "0.13.0"
    assert written_by["zarr"].startswith("2.")
    assert int(written_by["numcodecs"].split(".")[1]) < 16
    for name in FILES:
        assert (FIXTURES / name / ".zgroup").is_file(), name
    assert (FIXTURES / "README.md").is_file()


def test_fixtures_stay_small() -> None:
    total = 0
    for name in FILES:
        size = sum(p.stat().st_size for p in (FIXTURES / name).rglob("*") if p.is_file())
        assert size < 1_000_000, f"{name} is {size} bytes"
        total += size
    assert total < 5_000_000


# ------------------------------------------------------------------------------------------ structure


@pytest.mark.parametrize("name", READ_BACK)
def test_groups_and_attributes_match(name: str) -> None:
    raw = fixture(name)
    root_attrs = raw.attrs("/")
    assert root_attrs[".specloc"] == "specifications"
    assert raw.doc(".zgroup")["zarr_format"] == 2
    assert ".zmetadata" in os.listdir(raw.root)
    for record in FILES[name]["objects"]:
        if record["kind"] == "link":
            continue
        key = ".zgroup" if record["kind"] == "group" else ".zarray"
        assert raw.exists(f"{record['path'].strip('/')}/{key}".lstrip("/")), record["path"]
        attrs = raw.attrs(record["path"])
        for field in ("neurodata_type", "namespace", "object_id"):
            if field in record:
                assert attrs[field] == record[field], (record["path"], field)
        for attr_name, expected in record["attributes"].items():
            _check_attribute(attrs[attr_name], expected, where=f"{record['path']}@{attr_name}")


def _check_attribute(stored: Any, expected: Any, *, where: str) -> None:
    if isinstance(expected, dict) and "$ref" in expected:
        # FORMAT.md section 2: {"zarr_dtype": "object", "value": {"source", "path", "object_id", ...}}
        assert stored["zarr_dtype"] == "object", where
        assert set(stored["value"]) >= {"source", "path", "object_id", "source_object_id"}, where
        assert stored["value"]["path"] == expected["$ref"]["path"], where
    else:
        assert stored == expected, where


@pytest.mark.parametrize("name", READ_BACK)
def test_every_dataset_has_zarr_dtype_and_the_recorded_storage(name: str) -> None:
    raw = fixture(name)
    for record in _datasets(name):
        meta = raw.zarray(record["path"])
        attrs = raw.attrs(record["path"])
        where = f"{name}{record['path']}"
        assert "zarr_dtype" in attrs, where
        assert attrs["zarr_dtype"] == record["zarr_dtype"], where
        assert meta["shape"] == record["zarr_shape"], where
        assert meta["chunks"] == record["chunks"], where
        assert meta["compressor"] == record["compressor"], where
        assert (meta["filters"] or []) == record["filters"], where
        stored = meta["dtype"] if isinstance(meta["dtype"], str) else [list(f) for f in meta["dtype"]]
        expected = record["storage_dtype"]
        assert stored == (expected if isinstance(expected, str) else [list(f) for f in expected]), where
        assert len(raw.chunk_keys(record["path"])) == record["n_chunk_files"], where
        _check_zarr_dtype_convention(attrs["zarr_dtype"], meta, where=where)


def _check_zarr_dtype_convention(zarr_dtype: Any, meta: dict[str, Any], *, where: str) -> None:
    """FORMAT.md section 2: what each ``zarr_dtype`` value says about the array."""
    filters = [f["id"] for f in meta["filters"] or []]
    if isinstance(zarr_dtype, list):
        assert all(set(field) == {"name", "dtype"} for field in zarr_dtype), where
        assert filters in (["pickle"], ["json2"]), where
    elif zarr_dtype == "scalar":
        assert meta["shape"] == [1], where
    elif zarr_dtype == "str":
        assert (meta["dtype"], filters) == ("|O", ["vlen-utf8"]), where
    elif zarr_dtype == "bytes":
        assert (meta["dtype"], filters) == ("|O", ["vlen-bytes"]), where
    elif zarr_dtype == "object":
        assert (meta["dtype"], len(filters)) == ("|O", 1) and filters[0] in ("pickle", "json2"), where
    else:
        assert np.dtype(zarr_dtype) == np.dtype(meta["dtype"]), where


def test_every_legacy_data_kind_is_covered() -> None:
    seen: set[str] = set()
    for name in READ_BACK:
        for record in _datasets(name):
            zd = record["zarr_dtype"]
            if isinstance(zd, list):
                has_ref = any(field["dtype"] == "object" for field in zd)
                seen.add("compound_with_refs" if has_ref else "compound_plain")
            else:
                seen.add(str(zd))
            if record["zarr_shape"] and record["zarr_shape"][0] == 0:
                seen.add("empty")
            if record["compressor"] and record["compressor"]["id"] in ("blosc", "gzip"):
                seen.add(record["compressor"]["id"])
            if _object_filter(record):
                seen.add(f"filter:{_object_filter(record)}")
    expected = {
        "int8",
        "uint8",
        "int16",
        "uint16",
        "int32",
        "int64",
        "uint64",
        "float32",
        "float64",
        "bool",
        "str",
        "bytes",
        "scalar",
        "object",
        "compound_with_refs",
        "compound_plain",
        "empty",
        "blosc",
        "gzip",
        "filter:pickle",
        "filter:json2",
    }
    assert expected <= seen, sorted(expected - seen)
    links = {
        (o["target_kind"], o["source"] == ".")
        for n in READ_BACK
        for o in FILES[n]["objects"]
        if o["kind"] == "link"
    }
    assert links == {("group", True), ("dataset", True), ("group", False), ("dataset", False)}


# ----------------------------------------------------------------------------------------------- values


@pytest.mark.parametrize("name", READ_BACK)
def test_numeric_and_string_values_match_what_hdmf_zarr_read(name: str) -> None:
    raw = fixture(name)
    group = zarr.open_group(raw.root, mode="r", zarr_format=2, use_consolidated=False)
    checked = 0
    for record in _datasets(name):
        if _object_filter(record) or "anchor_read_error" in record:
            continue
        where = f"{name}{record['path']}"
        if record["filters"]:  # vlen-utf8 / vlen-bytes: decode the raw chunks (zarr 3 rejects vlen-bytes)
            values = [_as_text(v) for v in raw.object_values(record["path"])]
            value: Any = values[0] if record["value_kind"] == "scalar" else values
            assert _sha(value) == record["sha256"], where
        else:
            array = np.asarray(group[record["path"].strip("/")][...])
            if record["value_kind"] == "scalar":
                array = array.reshape(-1)[:1]
            assert _sha(None, array) == record["sha256"], where
            value = array.tolist()[0] if record["value_kind"] == "scalar" else array.tolist()
        if "values" in record:
            assert _json_equal(value, record["values"]), where
        checked += 1
    assert checked > 10


def _json_equal(actual: Any, expected: Any) -> bool:
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(_json_equal(a, e) for a, e in zip(actual, expected))
        )
    if isinstance(expected, str) and isinstance(actual, float):
        return repr(actual) == expected or (expected == "nan" and math.isnan(actual))
    return bool(actual == expected)


@pytest.mark.parametrize("name", READ_BACK)
def test_reference_payloads_decode_to_the_recorded_targets_without_pickle_code(name: str) -> None:
    raw = fixture(name)
    twin = FILES.get(FILES[name].get("same_content_as", ""), None)
    checked = 0
    for record in _datasets(name):
        codec = _object_filter(record)
        if codec is None or record["path"].startswith("/specifications/"):
            continue
        assert codec == ("pickle" if FILES[name]["object_codec"] == "Pickle" else "json2"), record["path"]
        decoded = _decoded_refs(raw.object_values(record["path"]))
        if "values" in record:
            expected = _manifest_refs(record["values"])
        else:  # hdmf-zarr could not read it back; its Pickle twin holds the same content
            assert "anchor_read_error" in record and twin is not None, record["path"]
            twin_record = next(o for o in twin["objects"] if o["path"] == record["path"])
            expected = _manifest_refs(twin_record["values"])
        assert decoded == expected, f"{name}{record['path']}"
        checked += 1
    # external_link.nwb.zarr holds links only; every other file has reference columns
    assert checked >= (0 if name == "external_link.nwb.zarr" else 1)


@pytest.mark.parametrize("name", READ_BACK)
def test_links_are_zarr_link_entries_that_resolve(name: str) -> None:
    raw = fixture(name)
    for record in FILES[name]["objects"]:
        if record["kind"] != "link":
            continue
        parent, _, link_name = record["path"].rpartition("/")
        entries = [e for e in raw.attrs(parent or "/").get("zarr_link", []) if e["name"] == link_name]
        assert len(entries) == 1, record["path"]
        entry = entries[0]
        assert (entry["source"], entry["path"]) == (record["source"], record["target_path"])
        target = raw if entry["source"] == "." else RawV2((raw.root / entry["source"]).resolve())
        key = ".zarray" if record["target_kind"] == "dataset" else ".zgroup"
        assert target.exists(f"{entry['path'].strip('/')}/{key}"), record["path"]


@pytest.mark.parametrize("name", READ_BACK)
def test_cached_specifications_are_json_not_pickle(name: str) -> None:
    raw = fixture(name)
    namespaces = sorted(p.name for p in (raw.root / "specifications").iterdir() if not p.name.startswith("."))
    assert {"core", "hdmf-common"} <= set(namespaces)
    assert ("ndx-legacy-kinds" in namespaces) == ("extension" in FILES[name])
    for ns in namespaces:
        for version_dir in (raw.root / "specifications" / ns).iterdir():
            if version_dir.name.startswith("."):
                continue
            path = f"/specifications/{ns}/{version_dir.name}/namespace"
            assert raw.attrs(path)["zarr_dtype"] == "scalar"
            assert [f["id"] for f in raw.zarray(path)["filters"]] == ["json2"]
            (document,) = raw.object_values(path)
            assert [n["name"] for n in json.loads(document)["namespaces"]] == [ns]


# ---------------------------------------------------------------------------------------- crafted file


@pytest.fixture
def marker() -> Path:
    path = Path(CRAFTED["marker"])
    if path.exists():  # left behind by an earlier, unsafe reader: start clean so this run proves something
        path.rmdir()
    return path


def test_crafted_pickle_is_refused_and_never_runs(marker: Path) -> None:
    raw = fixture("crafted_pickle.nwb.zarr")
    dataset = CRAFTED["dataset"]
    assert raw.attrs(dataset)["zarr_dtype"] == "object"
    assert [f["id"] for f in raw.zarray(dataset)["filters"]] == ["pickle"]
    payload = raw.chunk_payload(dataset, CRAFTED["chunk_key"])
    with pytest.raises(UnsafePickleError) as info:
        unpickle_payload(payload, what="crafted")
    assert "mkdir" in info.value.global_name
    with pytest.raises(UnsafePickleError):
        raw.object_values(dataset)
    assert not marker.exists()


def test_crafted_file_differs_from_its_source_only_in_that_chunk() -> None:
    crafted = FIXTURES / "crafted_pickle.nwb.zarr"
    source = FIXTURES / CRAFTED["source_file"]
    changed = [
        str(p.relative_to(crafted))
        for p in crafted.rglob("*")
        if p.is_file() and p.read_bytes() != (source / p.relative_to(crafted)).read_bytes()
    ]
    assert changed == [f"{CRAFTED['dataset'].strip('/')}/{CRAFTED['chunk_key']}"]
    genuine = fixture(CRAFTED["source_file"]).object_values(CRAFTED["dataset"])
    assert all(reference_path(v).startswith("/general/extracellular_ephys/") for v in genuine)
