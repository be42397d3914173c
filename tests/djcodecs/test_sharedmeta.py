"""Identical ``zarr.json`` documents of one table's rows are one file, linked only while it is unchanged."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

pytest.importorskip("datajoint")

from zarrbridge.djcodecs.sharedmeta import write_document

DOC = b'{"zarr_format": 3, "node_type": "array"}'


def _new(tmp_path: Path, name: str) -> str:
    folder = tmp_path / "table" / name
    folder.mkdir(parents=True)
    return str(folder / "zarr.json")


def test_identical_documents_of_a_group_are_linked(tmp_path: Path) -> None:
    group = str(tmp_path / "table")
    first, second, third = (_new(tmp_path, n) for n in ("a", "b", "c"))
    assert write_document(first, DOC, group=group) is False
    assert write_document(second, DOC, group=group) is True
    assert write_document(third, DOC + b" ", group=group) is False  # another document
    assert os.path.samefile(first, second) and os.stat(first).st_nlink == 2
    assert Path(second).read_bytes() == DOC and Path(third).read_bytes() == DOC + b" "
    other = tmp_path / "other" / "x"
    other.mkdir(parents=True)
    # another group (table folder): not linked
    assert write_document(str(other / "zarr.json"), DOC, group=str(tmp_path / "other")) is False
    with pytest.raises(FileExistsError):
        write_document(second, DOC, group=group)
    if os.name == "posix":
        # writing into a shared file is refused (except for root)
        assert stat.S_IMODE(os.stat(first).st_mode) == 0o444


def test_a_removed_replaced_or_changed_source_is_not_linked(tmp_path: Path) -> None:
    group = str(tmp_path / "table")
    source = _new(tmp_path, "a")
    assert write_document(source, DOC, group=group) is False
    # removed (garbage collection): the next row writes its own file, which later rows share
    os.unlink(source)
    fresh = _new(tmp_path, "b")
    assert write_document(fresh, DOC, group=group) is False and Path(fresh).read_bytes() == DOC
    assert write_document(_new(tmp_path, "c"), DOC, group=group) is True

    replaced = tmp_path / "replaced.json"  # replaced by another file (how zarr rewrites metadata)
    replaced.write_bytes(b"{}")
    os.replace(replaced, fresh)
    d = _new(tmp_path, "d")
    assert write_document(d, DOC, group=group) is False and Path(d).read_bytes() == DOC
    assert not os.path.samefile(d, fresh)

    os.chmod(d, 0o644)  # changed in place (by root, or after a chmod): not linked any more
    with open(d, "r+b") as f:
        f.write(b"[")
    os.utime(d, ns=(0, 12345))
    e = _new(tmp_path, "e")
    assert write_document(e, DOC, group=group) is False and Path(e).read_bytes() == DOC


def test_no_hard_links_falls_back_to_a_new_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    group = str(tmp_path / "table")
    assert write_document(_new(tmp_path, "a"), DOC, group=group) is False

    def refuse(src: str, dst: str) -> None:
        raise PermissionError(1, "Operation not permitted")  # e.g. a file system without hard links

    monkeypatch.setattr(os, "link", refuse)
    b = _new(tmp_path, "b")
    assert write_document(b, DOC, group=group) is False and Path(b).read_bytes() == DOC
