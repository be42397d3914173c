"""Builder-level round trips: every data kind the convention stores, written and read by ZarrIO."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hdmf.build import DatasetBuilder, GroupBuilder, LinkBuilder, ReferenceBuilder
from hdmf.spec import RefSpec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

NUMERIC = [
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float32",
    "float64",
    "bool",
]


def _meta(path: Path, key: str) -> dict:
    return json.loads((path / key / "zarr.json").read_text())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dtype=st.sampled_from(NUMERIC), data=st.data())
def test_numeric_roundtrip(tmp_path: Path, dtype: str, data: st.DataObject, roundtrip: Any) -> None:
    arr = data.draw(
        hnp.arrays(np.dtype(dtype), hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
    )
    path = tmp_path / f"n{data.draw(st.integers(0, 10**9))}.zarr"
    root = GroupBuilder("root", datasets={"d": DatasetBuilder("d", arr, dtype=dtype)})
    io, back = roundtrip(path, root)
    with io:
        got = back["d"].data
        np.testing.assert_array_equal(np.asarray(got[()] if arr.ndim == 0 else got[...]), arr)
        assert np.asarray(got[...] if arr.ndim else got).dtype == arr.dtype
        meta = _meta(path, "d")
        assert meta["shape"] == list(arr.shape)
        assert meta["attributes"]["_DTYPE"] == np.dtype(dtype).name


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.text(max_size=8), min_size=0, max_size=6), kind=st.sampled_from(["text", "ascii"]))
def test_string_roundtrip(tmp_path: Path, values: list[str], kind: str, roundtrip: Any) -> None:
    path = tmp_path / f"s{abs(hash((tuple(values), kind)))}.zarr"
    root = GroupBuilder("root", datasets={"s": DatasetBuilder("s", values, dtype=kind)})
    io, back = roundtrip(path, root)
    with io:
        # ascii reads back as bytes, text as str (as HDF5IO returns them)
        expected = [v.encode("utf-8") for v in values] if kind == "ascii" else values
        assert list(back["s"].data[:]) == expected
        assert back["s"].dtype == kind
        assert _meta(path, "s")["data_type"] == "string"


def test_strings_multidim_bytes_scalar_and_datetime(zpath: Path, roundtrip: Any) -> None:
    import datetime as dt

    when = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    root = GroupBuilder(
        "root",
        datasets={
            "m": DatasetBuilder("m", [["a", "bb"], ["ccc", "é"]], dtype="text"),
            "b": DatasetBuilder("b", [b"x", b"yz"], dtype="ascii"),
            "sc": DatasetBuilder("sc", "hello", dtype="text"),
            "t": DatasetBuilder("t", [when, when], dtype="isodatetime"),
            "t0": DatasetBuilder("t0", when, dtype="isodatetime"),
        },
    )
    io, back = roundtrip(zpath, root)
    with io:
        assert back["m"].data[:].tolist() == [["a", "bb"], ["ccc", "é"]]
        assert list(back["b"].data[:]) == [b"x", b"yz"] and back["b"].dtype == "ascii"
        assert back["sc"].data == "hello"
        assert list(back["t"].data[:]) == [when.isoformat()] * 2 and back["t"].dtype == "isodatetime"
        assert back["t0"].data == when.isoformat()
        assert _meta(zpath, "sc")["shape"] == []


def test_empty_and_scalar_numeric(zpath: Path, roundtrip: Any) -> None:
    root = GroupBuilder(
        "root",
        datasets={
            "e": DatasetBuilder("e", np.zeros((0,), "f4"), dtype="float32"),
            "e2": DatasetBuilder("e2", [], dtype="int32"),
            "z": DatasetBuilder("z", 3.5, dtype="float64"),
        },
    )
    io, back = roundtrip(zpath, root)
    with io:
        assert back["e"].data.shape == (0,)
        assert back["e2"].data.shape == (0,)
        assert _meta(zpath, "e")["chunk_grid"]["configuration"]["chunk_shape"] == [1]
        assert not (zpath / "e" / "c").exists()
        assert back["z"].data == 3.5


def test_attributes_of_every_kind(zpath: Path, roundtrip: Any) -> None:
    target = DatasetBuilder("target", np.arange(3), dtype="int64")
    g = GroupBuilder(
        "g",
        attributes={
            "i": 3,
            "f": np.float32(2.5),
            "s": "text",
            "b": True,
            "arr": np.arange(4, dtype="i2"),
            "farr": np.array([1.5, np.nan, np.inf, -np.inf]),
            "sarr": np.array(["a", "b"]),
            "l2": [[1, 2], [3, 4]],
            "nan": float("nan"),
            "bytes": b"raw",
            "ref": ReferenceBuilder(target),
            "refs": [ReferenceBuilder(target), ReferenceBuilder(target)],
        },
    )
    root = GroupBuilder("root", groups={"g": g}, datasets={"target": target})
    io, back = roundtrip(zpath, root)
    with io:
        a = back["g"].attributes
        assert a["i"] == 3 and a["f"] == 2.5 and a["s"] == "text" and a["b"] is True and a["bytes"] == "raw"
        np.testing.assert_array_equal(a["arr"], np.arange(4))
        assert math.isnan(a["farr"][1]) and a["farr"][2] == np.inf and a["farr"][3] == -np.inf
        assert list(a["sarr"]) == ["a", "b"]
        assert a["l2"].shape == (2, 2)
        assert math.isnan(a["nan"])
        assert a["ref"] is back["target"]
        assert [r.name for r in a["refs"]] == ["target", "target"] and a["refs"][0] is back["target"]
    raw = (zpath / "g" / "zarr.json").read_text()
    assert '"_REFERENCE": {\n' in raw or '"_REFERENCE":{' in raw or "_REFERENCE" in raw
    assert "NaN" in raw and "Infinity" in raw


def test_reference_datasets(zpath: Path, roundtrip: Any) -> None:
    t1 = DatasetBuilder("t1", np.arange(2), dtype="int64")
    t2 = GroupBuilder("t2")
    refs = DatasetBuilder("refs", [ReferenceBuilder(t1), ReferenceBuilder(t2)], dtype="object")
    ref0 = DatasetBuilder("ref0", ReferenceBuilder(t2), dtype="object")
    root = GroupBuilder("root", groups={"t2": t2}, datasets={"t1": t1, "refs": refs, "ref0": ref0})
    io, back = roundtrip(zpath, root)
    with io:
        got = back["refs"].data
        assert got[0] is back["t1"] and got[1] is back["t2"]
        assert [b.name for b in got] == ["t1", "t2"]
        assert back["ref0"].data.builder is back["t2"]
        meta = _meta(zpath, "refs")
        assert meta["attributes"]["_DTYPE"] == "object_reference" and meta["data_type"] == "string"


def _compound_spec(with_ref: bool) -> list[dict]:
    spec = [
        {"name": "a", "dtype": "int32"},
        {"name": "x", "dtype": "float64"},
        {"name": "s", "dtype": "text"},
    ]
    if with_ref:
        spec.append({"name": "r", "dtype": RefSpec("Data", "object")})
    return spec


@pytest.mark.parametrize("with_ref", [False, True])
def test_compound_datasets(zpath: Path, with_ref: bool, roundtrip: Any) -> None:
    target = DatasetBuilder("target", np.arange(2), dtype="int64")
    rows = [(1, 0.5, "one"), (2, 1.5, "two")]
    if with_ref:
        rows = [r + (ReferenceBuilder(target),) for r in rows]
    c = DatasetBuilder("c", rows, dtype=_compound_spec(with_ref))
    root = GroupBuilder("root", datasets={"c": c, "target": target})
    io, back = roundtrip(zpath, root)
    with io:
        got = back["c"].data
        assert [tuple(r)[:3] for r in got[:]] == [(1, 0.5, "one"), (2, 1.5, "two")]
        if with_ref:
            assert got[0][3] is back["target"]
            assert _meta(zpath, "c")["attributes"]["_REFERENCE_FIELDS"] == ["r"]
        names = [f["name"] for f in back["c"].dtype]
        assert names == [f["name"] for f in _compound_spec(with_ref)]
        assert _meta(zpath, "c")["data_type"]["name"] == "structured"


def test_scalar_compound_with_reference(zpath: Path, roundtrip: Any) -> None:
    """The anchor raises NotImplementedError here; zarrbridge stores a zero-dimensional compound."""
    target = GroupBuilder("target")
    c = DatasetBuilder("c", (7, 2.5, "s", ReferenceBuilder(target)), dtype=_compound_spec(True))
    root = GroupBuilder("root", groups={"target": target}, datasets={"c": c})
    io, back = roundtrip(zpath, root)
    with io:
        row = back["c"].data
        assert row[0] == 7 and row[1] == 2.5 and row[2] == "s" and row[3] is back["target"]
        assert _meta(zpath, "c")["shape"] == []


def test_soft_and_external_links(tmp_path: Path, roundtrip: Any) -> None:
    other = tmp_path / "sub" / "other.zarr"
    ext_target = DatasetBuilder("data", np.arange(5), dtype="int64")
    io, ext_root = roundtrip(other, GroupBuilder("root", datasets={"data": ext_target}))
    with io:
        target = DatasetBuilder("d", np.arange(3), dtype="int64")
        g = GroupBuilder(
            "g", links={"soft": LinkBuilder(target, "soft"), "ext": LinkBuilder(ext_root["data"], "ext")}
        )
        main = tmp_path / "main.zarr"
        io2, back = roundtrip(main, GroupBuilder("root", groups={"g": g}, datasets={"d": target}))
    with io2:
        assert back["g"].links["soft"].builder is back["d"]
        np.testing.assert_array_equal(back["g"].links["ext"].builder.data[:], np.arange(5))
    links = json.loads((main / "g" / "zarr.json").read_text())["attributes"]["_LINKS"]
    assert {"name": "soft", "source": ".", "path": "/d"} in links
    # relative to the linking store itself, as the convention (and hdmf-zarr 0.14) writes it
    assert {"name": "ext", "source": "../sub/other.zarr", "path": "/data"} in links


def test_scalars_are_fetched_together(zpath: Path, roundtrip: Any) -> None:
    """All 0-d datasets are read in one concurrent pass when the file is opened (consolidated metadata)."""
    root = GroupBuilder(
        "root",
        groups={
            f"g{i}": GroupBuilder(
                f"g{i}",
                datasets={
                    "x": DatasetBuilder("x", float(i)),
                    "s": DatasetBuilder("s", f"v{i}", dtype="text"),
                },
            )
            for i in range(40)
        },
    )
    io, back = roundtrip(zpath, root)
    with io:
        assert [back[f"g{i}"]["x"].data for i in range(40)] == [float(i) for i in range(40)]
        assert [back[f"g{i}"]["s"].data for i in range(40)] == [f"v{i}" for i in range(40)]
        reader = io._tree_reader()
        assert reader.scalars == {}  # every prefetched value was used
        reader.prefetch_scalars()  # the pass finds every scalar from the consolidated metadata alone
        assert reader.scalars["/g7/x"] == 7.0 and str(reader.scalars["/g7/s"]) == "v7"
        assert len(reader.scalars) == 80


def test_read_builders_equal_builders_made_through_set_attribute(zpath: Path, roundtrip: Any) -> None:
    """The reader sets attributes in bulk; the builders must be the ones hdmf's own set_attribute makes."""
    attrs = {"a": 1, "b": "text", "c": [1.5, 2.5]}
    root = GroupBuilder(
        "root",
        attributes=dict(attrs),
        groups={"g": GroupBuilder("g", attributes={"x": "y"})},
        datasets={"d": DatasetBuilder("d", np.arange(3), attributes={"unit": "m"})},
    )
    io, back = roundtrip(zpath, root)
    with io:
        expected = GroupBuilder("root")
        for key, value in back.attributes.items():
            expected.set_attribute(key, value)
        assert back.obj_type == {**expected.obj_type, "g": "groups", "d": "datasets"}
        assert back.attributes["a"] == 1 and back.attributes["b"] == "text"
        np.testing.assert_array_equal(back.attributes["c"], attrs["c"])
        assert back["g"].attributes["x"] == "y" and back["d"].attributes["unit"] == "m"
        with pytest.raises(ValueError, match="already exists"):  # attribute/child name clash still refused
            back.set_group(GroupBuilder("a"))
