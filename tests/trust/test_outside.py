"""Nothing is written or read outside the store: unsafe names, link targets, symbolic links,
external links."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from hdmf.build import DatasetBuilder, GroupBuilder
from trust_helpers import START, Dest, nwbfile_with_data, write_nwb

from zarrbridge import NWBZarrIO, ZarrIO, read_nwb
from zarrbridge.core.location import open_store
from zarrbridge.errors import LocationError, UnsafeNameError, ZarrBridgeError

UNSAFE = ["..", ".", "a/b", "a\\b", "x\x00y", "tab\there"]


def _snapshot(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


def _s3_keys(d: Dest) -> list[str]:
    pages = d.client.get_paginator("list_objects_v2").paginate(Bucket=d.bucket)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


@pytest.mark.parametrize("name", UNSAFE, ids=["dotdot", "dot", "slash", "backslash", "nul", "control"])
def test_builder_names_refused_before_writing(dest: Dest, tmp_path: Path, name: str) -> None:
    root = GroupBuilder(
        "root", groups={"ok": GroupBuilder("ok", datasets={name: DatasetBuilder(name, [1, 2])})}
    )
    before = _snapshot(tmp_path)
    with pytest.raises(UnsafeNameError, match="dataset name"):
        with ZarrIO(dest.url, mode="w", storage_options=dest.storage_options) as io:
            io.write_builder(root)
    created = _snapshot(tmp_path) - before
    assert all(p == Path(dest.url).name or p.startswith(Path(dest.url).name + "/") for p in created), created
    if dest.kind == "s3":
        assert all(k.startswith(dest.prefix + "/") for k in _s3_keys(dest))


def test_container_named_dotdot(dest: Dest, tmp_path: Path) -> None:
    from pynwb import TimeSeries

    f = nwbfile_with_data(100)
    f.add_acquisition(TimeSeries(name="..", data=np.arange(3.0), unit="V", rate=1.0))
    before = _snapshot(tmp_path)
    with pytest.raises(UnsafeNameError, match=r"group name in '/acquisition'"):
        write_nwb(dest, f)
    assert {p for p in _snapshot(tmp_path) - before if not p.startswith(Path(dest.url).name)} == set()
    assert not (tmp_path / "data").exists() and not (tmp_path / "zarr.json").exists()


def test_export_from_hdf5_with_dotdot_group(tmp_path: Path) -> None:
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    f = NWBFile(session_description="h", identifier="h", session_start_time=START, file_create_date=[START])
    f.add_acquisition(TimeSeries(name="..", data=np.arange(3.0), unit="V", rate=1.0))
    with NWBHDF5IO(str(tmp_path / "src.nwb"), "w") as io:
        io.write(f)
    dst = tmp_path / "out" / "dst.nwb.zarr"
    dst.parent.mkdir()
    with NWBHDF5IO(str(tmp_path / "src.nwb"), "r") as src, NWBZarrIO(str(dst), mode="w") as out:
        with pytest.raises(UnsafeNameError, match=r"'\.\.'"):
            out.export(src_io=src, write_args={"link_data": False})
    assert sorted(os.listdir(tmp_path / "out")) in ([], ["dst.nwb.zarr"])
    assert not (tmp_path / "out" / "zarr.json").exists()


# ---------------------------------------------------------------------------------------------- reading
def _edit_root(d: Dest, change: Any) -> None:
    root = json.loads(d.read("zarr.json"))
    change(root)
    d.write("zarr.json", json.dumps(root).encode())


@pytest.mark.parametrize("target", ["/acquisition/../../x", "/../outside", "/a//b", "relative/path"])
def test_link_target_outside_refused(dest: Dest, target: str) -> None:
    write_nwb(dest)
    _edit_root(
        dest, lambda r: r["attributes"].update(_LINKS=[{"name": "lnk", "source": ".", "path": target}])
    )
    with pytest.raises(UnsafeNameError, match="target of link 'lnk'"):
        read_nwb(dest.url, storage_options=dest.storage_options)


def test_reference_path_outside_refused(tmp_path: Path) -> None:
    d = Dest("dir", str(tmp_path / "f.nwb.zarr"))
    write_nwb(d)
    ref = {"_REFERENCE": {"source": ".", "path": "/../../etc"}}
    _edit_root(d, lambda r: r["attributes"].update(bad=ref))
    with ZarrIO(d.url, mode="r") as io, pytest.raises(UnsafeNameError, match="target of attribute 'bad'"):
        io.read_builder()


def test_consolidated_member_name_refused(tmp_path: Path) -> None:
    d = Dest("dir", str(tmp_path / "f.nwb.zarr"))
    write_nwb(d)

    def add(r: dict[str, Any]) -> None:
        listing = r["consolidated_metadata"]["metadata"]
        listing["../victim"] = listing["acquisition"]

    _edit_root(d, add)
    # zarr itself refuses such a listing when it opens the root (the message is zarr's "no group found")
    with pytest.raises(ZarrBridgeError):
        read_nwb(d.url)


# ---------------------------------------------------------------------------------------------- symlinks
def test_symlinked_chunk_outside_refused(tmp_path: Path) -> None:
    d = Dest("dir", str(tmp_path / "f.nwb.zarr"))
    write_nwb(d)
    secret = tmp_path / "secret.bin"
    secret.write_bytes((Path(d.url) / "acquisition/ts/data/c/0/0").read_bytes())
    chunk = Path(d.url) / "acquisition/ts/data/c/1/0"
    chunk.unlink()
    chunk.symlink_to(secret)
    nwbfile = read_nwb(d.url)
    try:
        with pytest.raises(UnsafeNameError, match=r"symbolic link '.*c/1/0'.*outside the store"):
            nwbfile.acquisition["ts"].data[:]
    finally:
        nwbfile.read_io.close()


def test_symlinked_folder_outside_refused_on_read_and_append(tmp_path: Path) -> None:
    d = Dest("dir", str(tmp_path / "f.nwb.zarr"))
    write_nwb(d)
    outside = tmp_path / "elsewhere"
    (Path(d.url) / "acquisition" / "ts").rename(outside)
    (Path(d.url) / "acquisition" / "ts").symlink_to(outside, target_is_directory=True)
    before = {p: p.read_bytes() for p in outside.rglob("*") if p.is_file()}
    with pytest.raises(UnsafeNameError, match=r"symbolic link '.*acquisition/ts'"):
        f = read_nwb(d.url)
        try:
            f.acquisition["ts"].data[:]
        finally:
            f.read_io.close()
    with pytest.raises(UnsafeNameError, match="symbolic link"):  # append: refused as well
        with NWBZarrIO(d.url, mode="a") as io:
            io.read()
    store = open_store(d.url, mode="a")  # any writer that goes through zarrbridge's local store
    with pytest.raises(UnsafeNameError, match="outside the store"):
        zarr.open_array(store, path="acquisition/ts/data", mode="r+")[:] = 0
    assert {p: p.read_bytes() for p in outside.rglob("*") if p.is_file()} == before


def test_symlink_inside_store_is_followed(tmp_path: Path) -> None:
    d = Dest("dir", str(tmp_path / "f.nwb.zarr"))
    write_nwb(d)
    chunk = Path(d.url) / "acquisition/ts/data/c/1/0"
    copy = Path(d.url) / "acquisition/ts/data/spare"
    chunk.rename(copy)
    chunk.symlink_to(copy)
    f = read_nwb(d.url)
    try:
        assert f.acquisition["ts"].data[:].shape == (2000, 4)
    finally:
        f.read_io.close()


# ---------------------------------------------------------------------------------------------- external
def _add_external(d: Dest, source: str) -> None:
    entry = {"name": "ext", "source": source, "path": "/acquisition/ts"}
    _edit_root(d, lambda r: r["attributes"].update(_LINKS=[entry]))


@pytest.mark.parametrize("form", ["absolute", "file-url"])
def test_remote_file_never_opens_local_path(
    request: pytest.FixtureRequest, tmp_path: Path, form: str
) -> None:
    from trust_helpers import make_dest

    local = Dest("dir", str(tmp_path / "local.nwb.zarr"))
    write_nwb(local)
    remote = make_dest("s3", tmp_path, request)
    write_nwb(remote)
    _add_external(remote, local.url if form == "absolute" else "file://" + local.url)
    with pytest.raises(LocationError, match="a remote file may not open local files"):
        read_nwb(remote.url, storage_options=remote.storage_options)
    with NWBZarrIO(remote.url, storage_options=remote.storage_options, allow_external_links=True) as io:
        linked = io.read_builder().links["ext"].builder  # the user allowed it: the local file is opened
        assert linked.name == "ts" and linked.source == local.url


def test_local_file_never_opens_url(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    from trust_helpers import make_dest

    remote = make_dest("s3", tmp_path, request)
    write_nwb(remote)
    local = Dest("dir", str(tmp_path / "local.nwb.zarr"))
    write_nwb(local)
    _add_external(local, remote.url)
    with pytest.raises(LocationError, match="a local file may not open remote ones"):
        read_nwb(local.url)
