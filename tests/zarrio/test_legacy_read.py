"""ZarrIO reads the committed hdmf-zarr 0.13.0 (zarr v2) fixtures as hdmf-zarr itself read them (manifest)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pynwb
import pytest
from hdmf.build import DatasetBuilder, GroupBuilder, LinkBuilder
from legacy_helpers import (
    CRAFTED,
    FILES,
    FIXTURES,
    READ_BACK,
    builder_path,
    copy_fixture,
    decode_dataset,
    jsonable,
    manager_for,
    open_legacy,
    sha256_of,
)

from zarrbridge import ZarrIO
from zarrbridge.errors import NotAZarrStoreError, ReadOnlyError, UnsafePickleError
from zarrbridge.zarrio.legacy import Convention, LegacyGroup, V2Array

# pynwb 4 deprecates Device.manufacturer, which the pynwb 3 that wrote the fixtures set: reading warns
pytestmark = pytest.mark.filterwarnings("ignore:The 'manufacturer' field is deprecated:DeprecationWarning")

# ------------------------------------------------------------------------------------------ builders


@pytest.mark.parametrize("name", READ_BACK)
def test_every_group_dataset_and_link_reads_as_hdmf_zarr_read_it(name: str) -> None:
    with open_legacy(FIXTURES / name) as io:
        root = io.read_builder()
        assert isinstance(root, GroupBuilder)
        for record in FILES[name]["objects"]:
            where = f"{name}{record['path']}"
            if record["kind"] == "link":
                parent, _, link_name = record["path"].rpartition("/")
                link = io.get_builder(parent or "/").links[link_name]
                assert isinstance(link, LinkBuilder), where
                assert builder_path(link.builder) == record["target_path"], where
                kind = GroupBuilder if record["target_kind"] == "group" else DatasetBuilder
                assert isinstance(link.builder, kind), where
                external = record["source"] != "."
                assert (Path(link.builder.source).name != name) == external, where
                continue
            builder = io.get_builder(record["path"])
            assert {k: jsonable(v, name) for k, v in builder.attributes.items()} == record["attributes"], (
                where
            )
            if record["kind"] == "dataset" and "anchor_read_error" not in record:
                _check_dataset(builder, record, name)


def _check_dataset(builder: DatasetBuilder, record: dict[str, Any], home: str) -> None:
    where = f"{home}{record['path']}"
    if record["value_kind"] != "scalar":  # lazy: nothing but scalars is loaded by reading
        assert not isinstance(builder.data, (np.ndarray, list)), where
        assert hasattr(builder.data, "shape") and list(builder.data.shape) == record["zarr_shape"], where
    values, array = decode_dataset(builder.data, record, home)
    assert sha256_of(values, array) == record["sha256"], where
    if "values" in record:
        assert values == record["values"], where
    else:
        assert values[: len(record["head"])] == record["head"], where


def test_json_codec_compound_references_that_hdmf_zarr_could_not_read_match_the_pickle_twin() -> None:
    twin = {o["path"]: o for o in FILES["ecephys.nwb.zarr"]["objects"]}
    failed = [o for o in FILES["json_codec.nwb.zarr"]["objects"] if "anchor_read_error" in o]
    assert len(failed) == 2
    with open_legacy(FIXTURES / "json_codec.nwb.zarr") as io:
        for record in failed:
            builder = io.get_builder(record["path"])
            values, _ = decode_dataset(builder.data, twin[record["path"]], "json_codec.nwb.zarr")
            assert values == twin[record["path"]]["values"], record["path"]


def test_numeric_arrays_are_lazy_arrays_with_their_stored_chunks() -> None:
    with open_legacy(FIXTURES / "ecephys.nwb.zarr") as io:
        data = io.get_builder("/acquisition/ElectricalSeriesGzip/data").data
        assert isinstance(data, V2Array)
        assert (data.shape, data.chunks, data.dtype) == ((200, 4), (50, 4), np.dtype("int16"))
        on_disk = FIXTURES / "ecephys.nwb.zarr" / "acquisition/ElectricalSeriesGzip/data"
        assert data.nbytes_stored() == sum(p.stat().st_size for p in on_disk.iterdir())
        np.testing.assert_array_equal(data[10:60:7, 1::2], np.asarray(data)[10:60:7, 1::2])
        refs = io.get_builder("/general/extracellular_ephys/electrodes/group").data
        assert refs.dataset.chunks == (6,) and refs.dataset.nbytes_stored() > 0


def test_reading_touches_no_chunk_but_those_of_scalars(tmp_path: Path) -> None:
    from zarr.storage import LocalStore

    fetched: list[str] = []

    class CountingStore(LocalStore):
        async def get(self, key: str, *args: Any, **kwargs: Any) -> Any:
            fetched.append(key)
            return await super().get(key, *args, **kwargs)

    store = CountingStore(FIXTURES / "kinds.nwb.zarr", read_only=True)
    with ZarrIO(store, "r", manager=manager_for(FIXTURES / "kinds.nwb.zarr")) as io:
        io.read_builder()
    chunks = {k for k in fetched if not k.rsplit("/", 1)[-1].startswith(".") and k != "zarr.json"}
    scalars = {
        o["path"].strip("/") + "/0"
        for o in FILES["kinds.nwb.zarr"]["objects"]
        if o["kind"] == "dataset" and o["zarr_dtype"] == "scalar"
    }
    assert chunks and chunks <= scalars, sorted(chunks - scalars)
    assert {k for k in fetched if k.endswith(".zarray")} == set()  # all metadata came from .zmetadata


# ------------------------------------------------------------------------------------------ containers


@pytest.mark.parametrize("name", READ_BACK)
def test_read_builds_the_containers_hdmf_zarr_built(name: str) -> None:
    with open_legacy(FIXTURES / name) as io:
        nwbfile = io.read()
        by_id = {obj.object_id: obj for obj in nwbfile.objects.values()}
        for record in FILES[name]["containers"]["objects"]:
            obj = by_id[record["object_id"]]
            # (the manifest's container namespaces depend on the generator's type map; builders carry the
            # stored namespace, compared above)
            assert (obj.name, getattr(type(obj), "neurodata_type", obj.data_type)) == (
                record["name"],
                record["neurodata_type"],
            ), record["path"]


def test_container_values_resolve_references_and_links() -> None:
    with open_legacy(FIXTURES / "ecephys.nwb.zarr") as io:
        nwbfile = io.read()
        groups = nwbfile.electrodes["group"][:]
        assert [g.name for g in groups] == ["shank0"] * 3 + ["shank1"] * 3
        assert nwbfile.session_start_time.year >= 2000  # isodatetime parsed from vlen-bytes
        shared = nwbfile.acquisition["SharedTimestamps"]
        assert shared.timestamps is not None and len(shared.timestamps) == len(shared.data)
        df = nwbfile.units.to_dataframe()
        assert len(df) == 5 and df["spike_times"].map(len).tolist() == [6, 4, 7, 7, 6]
        trials = nwbfile.trials["timeseries"][0]
        assert trials[0][2].name.startswith("ElectricalSeries")


def test_external_links_resolve_into_the_other_legacy_file() -> None:
    with open_legacy(FIXTURES / "external_link.nwb.zarr") as io:
        nwbfile = io.read()
        linked = nwbfile.acquisition["target_series"]
        assert Path(linked.container_source).name == "link_target.nwb.zarr"
        assert len(linked.data) > 0


def test_nwbzarrio_reads_legacy_files() -> None:
    from zarrbridge.zarrio.nwb import NWBZarrIO

    with NWBZarrIO(FIXTURES / "kinds.nwb.zarr", "r") as io:
        nwbfile = io.read()
        kinds = nwbfile.processing["kinds_module"]["kinds"]
        assert kinds.data_type == "LegacyKinds"
        assert list(kinds.text_data[:]) == ["alpha", "βeta", "", "line\nbreak"]
        assert io.convention == Convention("hdmf-zarr-legacy", 2)


def test_load_namespaces_finds_the_cached_extension() -> None:
    type_map = pynwb.get_type_map()
    loaded = ZarrIO.load_namespaces(type_map, FIXTURES / "kinds.nwb.zarr")
    assert "ndx-legacy-kinds" in loaded
    assert (
        "LegacyKinds" in type_map.namespace_catalog.get_namespace("ndx-legacy-kinds").get_registered_types()
    )
    with ZarrIO(FIXTURES / "kinds.nwb.zarr", "r", manager=manager_for(FIXTURES / "kinds.nwb.zarr")) as io:
        again = io.load_namespaces_io(pynwb.get_type_map())
        assert "ndx-legacy-kinds" in again


# ------------------------------------------------------------------------------------------ the file


@pytest.mark.parametrize("name", sorted(FILES))
def test_convention_and_can_read(name: str) -> None:
    assert ZarrIO.can_read(FIXTURES / name)
    with ZarrIO(FIXTURES / name, "r") as io:
        assert io.convention == Convention("hdmf-zarr-legacy", 2, None)
        assert io.convention.legacy


def test_convention_of_current_files(tmp_path: Path) -> None:
    with ZarrIO(tmp_path / "new.zarr", "w") as io:
        assert io.convention == Convention("zarrbridge", 3, "2")
    with pytest.raises(ValueError, match="unknown convention"):
        Convention("hdf5", 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="zarr_format"):
        Convention("zarrbridge", 4)


def test_can_read_is_false_for_what_is_not_a_zarr_hierarchy(tmp_path: Path) -> None:
    assert not ZarrIO.can_read(tmp_path / "missing.zarr")
    assert not ZarrIO.can_read(tmp_path)
    assert not ZarrIO.can_read(12)
    with pytest.raises(NotAZarrStoreError):
        ZarrIO(tmp_path / "missing.zarr", "r")


@pytest.mark.parametrize("mode", ["r+", "a"])
def test_legacy_files_are_never_modified(tmp_path: Path, mode: str) -> None:
    path = copy_fixture("link_target.nwb.zarr", tmp_path)
    before = {p: p.read_bytes() for p in path.rglob("*") if p.is_file()}
    with pytest.raises(ReadOnlyError, match="legacy hdmf-zarr.*export.*zarrbridge convert"):
        ZarrIO(path, mode)  # type: ignore[arg-type]
    assert {p: p.read_bytes() for p in path.rglob("*") if p.is_file()} == before
    with ZarrIO(path, "r") as io:
        with pytest.raises(ReadOnlyError):
            io.write_builder(GroupBuilder("root"))
        root = (
            io.file
        )  # zarr-python 3 cannot open it: a read-only LegacyGroup with the zarr.Group reading API
        assert isinstance(root, LegacyGroup) and root.attrs["nwb_version"] == "2.9.0"
        assert "general/extracellular_ephys/electrodes/group" in root
        assert not hasattr(root, "create_group")


# ------------------------------------------------------------------------------------------ pickle safety


@pytest.fixture
def marker() -> Path:
    path = Path(CRAFTED["marker"])
    if path.exists():  # left behind by an unsafe reader: start clean so this run proves something
        path.rmdir()
    return path


def test_crafted_pickle_is_refused_and_never_runs(marker: Path) -> None:
    with open_legacy(FIXTURES / "crafted_pickle.nwb.zarr") as io:
        data = io.get_builder(CRAFTED["dataset"]).data  # reading the tree stays lazy: nothing unpickled yet
        with pytest.raises(UnsafePickleError) as info:
            data[:]
        with pytest.raises(UnsafePickleError):
            io.read().electrodes["group"][:]
    assert "posix.mkdir" == info.value.global_name
    assert CRAFTED["dataset"] in str(info.value) and "never runs other pickle code" in str(info.value)
    assert not marker.exists()


class _Runs:
    """Unpickling this would create ``path``: the payload of the side-effect tests."""

    def __init__(self, function: Any, path: str) -> None:
        self.function, self.path = function, path

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.function, (self.path,))


@pytest.mark.parametrize("function", ["mkdir", "eval", "system"])
def test_any_other_global_is_refused_before_it_is_called(tmp_path: Path, function: str) -> None:
    import builtins
    import os

    path = copy_fixture("link_target.nwb.zarr", tmp_path)
    sentinel = tmp_path / "RAN"
    call: Any = {"mkdir": os.mkdir, "eval": builtins.eval, "system": os.system}[function]
    argument = {
        "mkdir": str(sentinel),
        "eval": f"__import__('os').mkdir({str(sentinel)!r})",
        "system": f"mkdir {sentinel}",
    }[function]
    payload = np.empty(6, dtype=object)
    for i in range(6):
        payload[i] = _Runs(call, argument)
    chunk = path / CRAFTED["dataset"].strip("/") / "0"
    chunk.write_bytes(numcodecs.Blosc(cname="lz4", clevel=5).encode(pickle.dumps(payload, protocol=5)))
    with open_legacy(path) as io, pytest.raises(UnsafePickleError, match="not on the allow-list"):
        io.get_builder(CRAFTED["dataset"]).data[:]
    assert not sentinel.exists()
