"""Files zarrbridge wrote on zarr 3.1 and on the newest zarr read on the zarr of this run,
and in hdmf-zarr 0.14.

``scripts/hdmf_zarr_014/check_ours.sh`` wrote the hdmf-zarr 0.14 fixture files again with zarrbridge, once per
zarr release, into ``tests/fixtures/zarrbridge_written/zarr-<version>/``, then read each with the real
hdmf-zarr 0.14 and recorded the outcome in ``hdmf_zarr_014_read.json``. Same builders, same object ids: the
HDF5 twins of ``tests/fixtures/hdmf_zarr_014/hdf5/`` are their expected content.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hdmf.build import BuildManager
from nwb_compare import compare_nwbfiles
from pynwb import NWBHDF5IO

from zarrbridge import NWBZarrIO

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
WRITTEN = FIXTURES / "zarrbridge_written"
TWINS = FIXTURES / "hdmf_zarr_014" / "hdf5"
READ_BY_ANCHOR = json.loads((WRITTEN / "hdmf_zarr_014_read.json").read_text(encoding="utf-8"))
VERSIONS = sorted(p.name for p in WRITTEN.iterdir() if p.is_dir())
FILES = sorted(f"{v}/{p.name}" for v in VERSIONS for p in (WRITTEN / v).glob("*.nwb.zarr"))

pytestmark = [
    pytest.mark.filterwarnings("ignore:AnnotationSeries is deprecated:UserWarning"),
    pytest.mark.filterwarnings("ignore:The 'manufacturer' field is deprecated:DeprecationWarning"),
]


def _compound_documents(root: Path) -> list[dict[str, Any]]:
    docs = (json.loads(p.read_text()) for p in root.rglob("zarr.json"))
    return [d for d in docs if d.get("node_type") == "array" and isinstance(d["data_type"], dict)]


def test_written_on_zarr_3_1_and_on_the_newest() -> None:
    majors = [tuple(int(x) for x in v.removeprefix("zarr-").split(".")[:2]) for v in VERSIONS]
    assert (3, 1) in majors and max(majors) >= (3, 4), VERSIONS


@pytest.mark.parametrize("version", VERSIONS)
def test_compounds_are_in_the_form_every_zarr_reads(version: str) -> None:
    compounds = _compound_documents(WRITTEN / version)
    assert len(compounds) >= 5  # trials/epochs timeseries, icephys tables, kinds compounds
    assert {d["data_type"]["name"] for d in compounds} == {"structured"}
    assert all(isinstance(d["fill_value"], str) for d in compounds)


@pytest.mark.parametrize("name", FILES)
def test_every_container_reads_as_the_hdf5_twin_on_this_zarr(name: str) -> None:
    twin = TWINS / Path(name).name.replace(".nwb.zarr", ".nwb")
    with NWBZarrIO(WRITTEN / name, mode="r") as zio:
        with NWBHDF5IO(str(twin), mode="r", manager=BuildManager(zio.manager.type_map)) as hio:
            cmp = compare_nwbfiles(zio.read(), hio.read())
    # JSON attributes keep no integer width (values are checked in test_hdmf_zarr_014_fixtures.py)
    width_only = re.compile(r"\.attr_\w+: dtype u?int\d+ != u?int\d+$")
    assert [d for d in cmp.differences if not width_only.search(d)] == []
    assert cmp.objects == READ_BY_ANCHOR["baseline"][Path(name).name]["containers"]  # all were compared


def test_hdmf_zarr_0_14_read_every_committed_file_as_its_own() -> None:
    """The recorded run of scripts/hdmf_zarr_014/read_ours.py: real hdmf-zarr 0.14 over these very files."""
    assert READ_BY_ANCHOR["read_by"]["hdmf-zarr"] == "0.14.0"
    outcome = READ_BY_ANCHOR["files"]
    assert set(FILES) <= set(outcome)
    for name in FILES:
        entry = outcome[name]
        assert entry["ok"] and entry["not_in_baseline"] == [], (name, entry)
        assert entry["containers"] == READ_BY_ANCHOR["baseline"][Path(name).name]["containers"], name
