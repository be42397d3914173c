"""Bad input, interrupted writes, metadata write counts and cached specifications."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from hdmf.backends.errors import UnsupportedOperation
from hdmf.build import DatasetBuilder, GroupBuilder, LinkBuilder
from hdmf.common import DynamicTable, SimpleMultiContainer, VectorData, get_manager
from hdmf.spec import NamespaceCatalog

from zarrbridge import ZarrIO
from zarrbridge.errors import (
    BrokenLinkError,
    CorruptMetadataError,
    NotAZarrStoreError,
    ReadOnlyError,
    StoreExistsError,
    UnsupportedDtypeError,
    UnsupportedFormatVersionError,
    WriteInterruptedError,
)
from zarrbridge.zarrio.specs import newest_version


def _table(name: str, n: int = 2) -> DynamicTable:
    return DynamicTable(
        name=name, description="d", columns=[VectorData(name="v", description="v", data=list(range(n)))]
    )


def _write_ok(path: Path) -> None:
    with ZarrIO(path, mode="w", manager=get_manager()) as io:
        io.write(SimpleMultiContainer(name="root", containers=[_table("t")]))


def test_write_in_read_mode_refused(zpath: Path) -> None:
    _write_ok(zpath)
    with ZarrIO(zpath, mode="r", manager=get_manager()) as io:
        with pytest.raises(ReadOnlyError, match="mode 'r'") as info:
            io.write(SimpleMultiContainer(name="root", containers=[_table("u")]))
        assert isinstance(info.value, UnsupportedOperation)
    with ZarrIO(zpath, mode="r", manager=get_manager()) as io:
        assert list(io.read().containers) == ["t"]


def test_open_errors(tmp_path: Path, zpath: Path) -> None:
    with pytest.raises(NotAZarrStoreError, match="not a zarr store"):
        ZarrIO(tmp_path / "missing.zarr", mode="r")
    (tmp_path / "plain").mkdir()
    with pytest.raises(NotAZarrStoreError):
        ZarrIO(tmp_path / "plain", mode="r+")
    assert not ZarrIO.can_read(tmp_path / "plain") and not ZarrIO.can_read(12)
    _write_ok(zpath)
    assert ZarrIO.can_read(zpath)
    with pytest.raises(StoreExistsError, match="already exists"):
        ZarrIO(zpath, mode="w-")
    with ZarrIO(zpath, mode="w") as io, pytest.raises(UnsupportedOperation, match="cannot read"):
        io.read()


def test_corrupt_and_unknown_metadata(zpath: Path) -> None:
    _write_ok(zpath)
    root_json = zpath / "zarr.json"
    good = root_json.read_text()
    meta = json.loads(good)
    meta["attributes"]["_ZARRBRIDGE"] = {"version": 99}
    root_json.write_text(json.dumps(meta))
    with pytest.raises(UnsupportedFormatVersionError, match="99"):
        ZarrIO(zpath, mode="r")
    root_json.write_text("{ not json")
    with pytest.raises(CorruptMetadataError, match="corrupt"):
        ZarrIO(zpath, mode="r")
    root_json.write_text(good)
    links = json.loads(good)
    links["attributes"]["_LINKS"] = "nonsense"
    links.pop("consolidated_metadata", None)
    root_json.write_text(json.dumps(links))
    with ZarrIO(zpath, mode="r") as io, pytest.raises(CorruptMetadataError, match="_LINKS"):
        io.read_builder()


def test_broken_link_target(zpath: Path) -> None:
    target = DatasetBuilder("d", np.arange(3), dtype="int64")
    root = GroupBuilder("root", datasets={"d": target}, links={"l": LinkBuilder(target, "l")})
    with ZarrIO(zpath, mode="w") as io:
        io.write_builder(root)
    meta = json.loads((zpath / "zarr.json").read_text())
    meta["attributes"]["_LINKS"][0]["path"] = "/gone"
    meta.pop("consolidated_metadata")
    (zpath / "zarr.json").write_text(json.dumps(meta))
    with ZarrIO(zpath, mode="r") as io, pytest.raises(BrokenLinkError, match="/gone"):
        io.read_builder()


@pytest.mark.parametrize(
    "bad", [np.array([object(), object()], dtype=object), np.array([1 + 2j]), [{"a": 1}, {"b": 2}]]
)
def test_unsupported_data_leaves_no_file(zpath: Path, bad: Any) -> None:
    ok = DatasetBuilder("ok", np.arange(3), dtype="int64")
    root = GroupBuilder("root", datasets={"ok": ok, "bad": DatasetBuilder("bad", bad)})
    with ZarrIO(zpath, mode="w") as io, pytest.raises(UnsupportedDtypeError, match="'/bad'"):
        io.write_builder(root)
    assert not ZarrIO.can_read(zpath)
    with pytest.raises(NotAZarrStoreError):
        ZarrIO(zpath, mode="r")


def test_interrupted_write_is_marked_incomplete(zpath: Path) -> None:
    class Boom(Exception):
        pass

    def gen() -> Any:
        yield np.arange(3)
        raise Boom("source died")

    from hdmf.data_utils import DataChunkIterator

    root = GroupBuilder(
        "root", datasets={"it": DatasetBuilder("it", DataChunkIterator(gen()), dtype="int64")}
    )
    with ZarrIO(zpath, mode="w") as io, pytest.raises(Boom):
        io.write_builder(root)
    assert not ZarrIO.can_read(zpath)
    # a process killed mid-write leaves the placeholder root: it is refused, not read as a valid file
    zarr.create_group(str(zpath), attributes={"_ZARRBRIDGE": {"version": 1, "incomplete": True}})
    with pytest.raises(WriteInterruptedError, match="interrupted"):
        ZarrIO(zpath, mode="r")


def test_each_metadata_document_written_once(tmp_path: Path) -> None:
    """500 small objects: every zarr.json is written once (the root twice: placeholder, then final)."""
    writes: list[str] = []

    class Counting(zarr.storage.LocalStore):
        async def set(self, key: str, value: Any, *a: Any, **k: Any) -> None:
            writes.append(key)
            await super().set(key, value, *a, **k)

        async def set_if_not_exists(self, key: str, value: Any) -> None:
            if not await self.exists(key):  # zarr calls this for every parent; count real writes only
                writes.append(key)
            await super().set_if_not_exists(key, value)

    tables = [_table(f"t{i}", 3) for i in range(170)]  # each: group + v + id = 3 nodes
    store = Counting(str(tmp_path / "many.zarr"))
    with ZarrIO(store, mode="w", manager=get_manager()) as io:
        io.write(SimpleMultiContainer(name="root", containers=tables))
    docs = [k for k in writes if k.endswith("zarr.json")]
    assert len(docs) >= 500
    counts: dict[str, int] = {}
    for k in docs:
        counts[k] = counts.get(k, 0) + 1
    assert counts.pop("zarr.json") == 2
    assert max(counts.values()) == 1, {k: v for k, v in counts.items() if v > 1}


def test_cached_specs_and_newest_version(zpath: Path) -> None:
    _write_ok(zpath)
    root = zarr.open_group(str(zpath), mode="r")
    assert root.attrs[".specloc"] == "specifications"
    ns_doc = root["specifications/hdmf-common"]
    versions = [n for n, _ in ns_doc.groups()]
    assert len(versions) == 1 and json.loads(str(ns_doc[f"{versions[0]}/namespace"][()]))["namespaces"]
    catalog = NamespaceCatalog()
    loaded = ZarrIO.load_namespaces(catalog, path=zpath)
    assert "hdmf-common" in loaded and "hdmf-common" in catalog.namespaces
    assert newest_version(["2.9.0", "2.11.0", "2.10.1"]) == "2.11.0"
    assert newest_version(["unversioned", "0.1.0"]) == "0.1.0"
    # a second, older cached version must not win by listing order
    g = zarr.open_group(str(zpath), mode="a")
    g.create_group("specifications/hdmf-common/0.0.1")
    catalog2 = NamespaceCatalog()
    ZarrIO.load_namespaces(catalog2, path=zpath)
    assert catalog2.get_namespace("hdmf-common").version == versions[0]
