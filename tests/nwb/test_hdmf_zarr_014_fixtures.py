"""zarrbridge reads the committed hdmf-zarr 0.14.0 fixtures (zarr v3,
``struct`` compounds) as their HDF5 twins.

``scripts/hdmf_zarr_014/make_fixtures.sh`` wrote each file twice from one deterministic builder (object ids
included): with the real hdmf-zarr 0.14.0 (zarr 3.4) to ``<name>.nwb.zarr`` and with pynwb's NWBHDF5IO to
``hdf5/<name>.nwb``. A correct reader returns for the Zarr file what NWBHDF5IO returns for its twin, on
whichever zarr the suite runs with (3.1, which lacks the ``struct`` data type, or the newest).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from hdmf.build import BuildManager
from nwb_compare import compare_nwbfiles
from pynwb import NWBHDF5IO

from zarrbridge import NWBZarrIO, read_nwb

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hdmf_zarr_014"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))
FILES: dict[str, Any] = MANIFEST["files"]
SELF_CONTAINED = sorted(name for name in FILES if name != "external_link.nwb.zarr")

# pynwb 4 warns on reading the AnnotationSeries the fixtures hold (written on purpose: a text TimeSeries)
pytestmark = [
    pytest.mark.filterwarnings("ignore:AnnotationSeries is deprecated:UserWarning"),
    # pynwb 4 deprecates Device.manufacturer, which the shared legacy builders set: reading warns
    pytest.mark.filterwarnings("ignore:The 'manufacturer' field is deprecated:DeprecationWarning"),
]


def _codec_names(codecs: list[dict[str, Any]]) -> list[str]:
    names = []
    for codec in codecs:
        names.append(codec["name"])
        names += _codec_names(codec.get("configuration", {}).get("codecs", []))
    return names


def _data_type_name(data_type: Any) -> str:
    return data_type if isinstance(data_type, str) else str(data_type["name"])


def _json_integer_width(difference: str) -> bool:
    """An attribute whose integers differ in width only: JSON attributes keep no width (the Zarr side gets
    the spec's width for scalars, int64 for lists; HDF5 keeps what was written). Values are checked apart."""
    return re.search(r"\.attr_\w+: dtype u?int\d+ != u?int\d+$", difference) is not None


# ---------------------------------------------------------------------------------------------- the files


def test_manifest_names_the_anchor_and_every_file_and_twin_exists() -> None:
    written_by = MANIFEST["written_by"]
    assert written_by["hdmf-zarr"] == "0.14.0"
    assert tuple(int(p) for p in written_by["zarr"].split(".")[:2]) >= (3, 4)
    total = 0
    for name, entry in FILES.items():
        assert json.loads((FIXTURES / name / "zarr.json").read_text())["node_type"] == "group", name
        assert (FIXTURES / entry["hdf5_twin"]).is_file(), name
        assert entry["anchor_read"]["ok"], (name, entry["anchor_read"])  # hdmf-zarr reads its own file
        total += sum(p.stat().st_size for p in (FIXTURES / name).rglob("*") if p.is_file())
    assert total < 4_000_000


def test_the_fixtures_hold_every_kind_0_14_writes() -> None:
    """What 0.14 writes that 0.13 did not is all here: struct compounds, shards, 0-d scalars, NaN/Infinity."""
    seen: set[str] = set()
    for name, entry in FILES.items():
        for path, array in entry["arrays"].items():
            kind = _data_type_name(array["data_type"])
            seen.add(f"type:{kind}")
            seen.update(f"codec:{c}" for c in _codec_names(array["codecs"]))
            if _codec_names(array["codecs"]) == ["bytes"]:
                seen.add("uncompressed")
            if array["shape"] == []:
                seen.add(f"scalar:{kind}")
            if 0 in array["shape"]:
                seen.add("empty")
            if array["_DTYPE"] == "object_reference":
                seen.add("references")
            if kind == "struct":
                assert isinstance(array["fill_value"], dict), (name, path)  # per-field fill value
        seen.update(
            f"link:{'soft' if ln['source'] == '.' else 'external'}"
            for v in entry["links"].values()
            for ln in v
        )
    expected = {
        *(f"type:{t}" for t in ("struct", "string", "bool", "int8", "uint16", "int32", "int64", "uint64")),
        *("type:float32", "type:float64", "scalar:string", "scalar:float64", "scalar:int32", "scalar:bool"),
        *("codec:sharding_indexed", "codec:blosc", "codec:gzip", "codec:zstd", "codec:vlen-utf8"),
        *("uncompressed", "empty", "references", "link:soft", "link:external"),
    }
    assert expected <= seen, sorted(expected - seen)
    kinds_doc = (FIXTURES / "kinds.nwb.zarr/processing/kinds_module/kinds/zarr.json").read_text()
    assert '"attr_float": NaN' in kinds_doc and "-Infinity" in kinds_doc  # as zarr-python writes them


def test_external_link_sources_are_relative_to_the_store() -> None:
    links = FILES["external_link.nwb.zarr"]["links"]
    assert {ln["source"] for v in links.values() for ln in v} == {"../link_target.nwb.zarr"}


# ---------------------------------------------------------------------------------------------- reading


@pytest.mark.parametrize("name", SELF_CONTAINED)
def test_every_container_reads_as_its_hdf5_twin(name: str) -> None:
    twin = FIXTURES / FILES[name]["hdf5_twin"]
    with NWBZarrIO(FIXTURES / name, mode="r") as zio:
        # the twin is read with the same classes (extension types are generated per type map)
        manager = BuildManager(zio.manager.type_map)
        with NWBHDF5IO(str(twin), mode="r", manager=manager) as hio:
            ours, expected = zio.read(), hio.read()
            cmp = compare_nwbfiles(ours, expected)
            assert [d for d in cmp.differences if not _json_integer_width(d)] == []
            assert cmp.objects == FILES[name]["anchor_read"]["containers"]  # every container was compared
            assert cmp.arrays > 3


def test_compound_columns_with_references_resolve_to_their_series() -> None:
    with NWBZarrIO(FIXTURES / "icephys.nwb.zarr", mode="r") as io:
        nwbfile = io.read()
        table = nwbfile.intracellular_recordings
        responses = table.category_tables["responses"]["response"]
        rows = [list(row) for row in responses.data[:]]
        assert [(r[0], r[1], r[2].name) for r in rows] == [(0, 20, f"response{i}") for i in range(3)]
        first = responses[0]
        assert (first.idx_start, first.count) == (0, 20)
        assert first.timeseries is nwbfile.acquisition["response0"]
        np.testing.assert_array_equal(first.data, nwbfile.acquisition["response0"].data[:])
        assert math.isnan(nwbfile.acquisition["response0"].resolution)  # a NaN attribute


def test_non_finite_attributes_and_scalars_of_the_kinds_file() -> None:
    nwbfile = read_nwb(FIXTURES / "kinds.nwb.zarr")  # the extension comes from the file's cached spec
    kinds = nwbfile.processing["kinds_module"]["kinds"]
    assert math.isnan(kinds.attr_float)
    floats = np.asarray(kinds.attr_float_list)
    assert math.isnan(floats[0]) and floats[1:].tolist() == [math.inf, -math.inf, 0.5]
    assert (kinds.scalar_int, kinds.scalar_float, kinds.scalar_bool, kinds.scalar_text) == (
        42,
        3.25,
        True,
        "a scalar string",
    )
    assert (kinds.attr_int, np.asarray(kinds.attr_int_2d).tolist()) == (-7, [[1, 2], [3, 4]])
    assert kinds.scalar_ascii is None  # not written: see build_kinds_014 in scripts/fixtures/nwb_fixtures.py
    assert [tuple(row) for row in kinds.compound_plain[:]] == [
        (1, 0.5, "one"),
        (2, -1.5, "two"),
        (3, 2.25, "three"),
    ]


def test_a_sharded_dataset_keeps_its_shards_and_values() -> None:
    with NWBZarrIO(FIXTURES / "ecephys.nwb.zarr", mode="r") as zio:
        data = zio.read().acquisition["ElectricalSeriesSharded"].data
        assert isinstance(data, zarr.Array)  # lazy: the stored array itself
        assert (data.shards, data.chunks) == ((32, 2), (8, 2))
        with NWBHDF5IO(str(FIXTURES / "hdf5" / "ecephys.nwb"), mode="r") as hio:
            expected = hio.read().acquisition["ElectricalSeriesSharded"].data[:]
        np.testing.assert_array_equal(data[:], expected)
        np.testing.assert_array_equal(data[5:37], expected[5:37])  # across a shard boundary


def test_external_links_resolve_against_the_store() -> None:
    twin = FIXTURES / FILES["external_link.nwb.zarr"]["hdf5_twin"]
    with (
        NWBZarrIO(FIXTURES / "external_link.nwb.zarr", mode="r") as zio,
        NWBHDF5IO(str(twin), mode="r", load_namespaces=True) as hio,
    ):
        ours, expected = zio.read(), hio.read()
        series = ours.acquisition["target_series"]
        np.testing.assert_array_equal(series.data[:], expected.acquisition["target_series"].data[:])
        linked = ours.acquisition["linked_data"].data
        np.testing.assert_array_equal(linked[:], np.linspace(0, 1, 5))
        assert compare_nwbfiles(ours, expected).differences == []
