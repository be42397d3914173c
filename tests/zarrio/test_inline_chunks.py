"""Small chunks carried in the root document (``zarrbridge.core.inline``): written, read, and checked."""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from hdmf.common import DynamicTable, VectorData, get_manager
from zarr.abc.store import ByteRequest
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.storage import LocalStore, WrapperStore

from zarrbridge import ZarrIO
from zarrbridge.cli.main import main
from zarrbridge.core import inline
from zarrbridge.errors import CorruptChunkError, CorruptMetadataError


class Counting(WrapperStore[Any]):
    """Counts the keys read from the wrapped store."""

    def __init__(self, store: Any) -> None:
        super().__init__(store)
        self.reads: Counter[str] = Counter()

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        self.reads[key] += 1
        return await self._store.get(key, prototype, byte_range)

    def get_sync(
        self, key: str, *, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        self.reads[key] += 1
        found: Buffer | None = self._store.get_sync(key, prototype=prototype, byte_range=byte_range)
        return found


def _table() -> DynamicTable:
    return DynamicTable(
        name="t",
        description="a table",
        columns=[
            VectorData(name="a", description="ints", data=np.arange(5)),
            VectorData(name="b", description="text", data=["x", "y", "z", "w", "v"]),
            VectorData(
                name="big", description="too big to inline", data=np.random.default_rng(0).random((5, 1000))
            ),
        ],
    )


@pytest.fixture()
def written(tmp_path: Path) -> Path:
    path = tmp_path / "t.zarr"
    with ZarrIO(path, mode="w", manager=get_manager()) as io:
        io.write(_table())
    return path


def _root(path: Path) -> dict[str, Any]:
    return json.loads((path / "zarr.json").read_text())


def _rewrite_root(path: Path, edit: Any) -> None:
    doc = _root(path)
    edit(doc["attributes"][inline.INLINE_ATTRIBUTE])
    (path / "zarr.json").write_text(json.dumps(doc))


def test_small_chunks_are_in_the_root_and_in_their_files(written: Path) -> None:
    table = _root(written)["attributes"][inline.INLINE_ATTRIBUTE]
    assert table["version"] == inline.INLINE_VERSION and table["checksum"] == "md5"
    assert {"a", "b", "id"} <= set(table["arrays"]) and "big" not in table["arrays"]  # 40 kB: over the limit
    for path, entry in table["arrays"].items():
        for key, (encoded, _digest) in entry["chunks"].items():
            assert (written / path / key).read_bytes() == base64.b64decode(encoded)  # the convention's copy
    group = zarr.open_group(written, mode="r")  # any zarr reader: the files, unchanged
    np.testing.assert_array_equal(group["a"][:], np.arange(5))
    assert list(group["b"][:]) == ["x", "y", "z", "w", "v"]


def test_zarrbridge_reads_them_from_the_root_without_touching_the_files(written: Path) -> None:
    store = Counting(LocalStore(written, read_only=True))
    with ZarrIO(store, mode="r", manager=get_manager()) as io:
        container = io.read()
        assert list(container["a"].data[:]) == list(range(5))
        assert list(container["b"].data[:]) == ["x", "y", "z", "w", "v"]
        assert container["big"].data[:].shape == (5, 1000)
        root = io.read_builder()
        assert inline.INLINE_ATTRIBUTE not in root.attributes  # reserved: not an HDMF attribute
    touched = {k for k in store.reads if k.startswith(("a/", "b/", "id/"))}
    assert touched == set(), touched  # neither chunks nor the arrays' own documents
    assert any(k.startswith("big/c") for k in store.reads)  # the big column is read from its file


def test_a_damaged_root_copy_is_an_error(written: Path) -> None:
    def damage(table: dict[str, Any]) -> None:
        encoded, digest = table["arrays"]["a"]["chunks"]["c.0"]
        raw = bytearray(base64.b64decode(encoded))
        raw[-1] ^= 0xFF
        table["arrays"]["a"]["chunks"]["c.0"] = [base64.b64encode(bytes(raw)).decode(), digest]

    _rewrite_root(written, damage)
    with ZarrIO(written, mode="r", manager=get_manager()) as io:
        container = io.read()
        with pytest.raises(CorruptChunkError, match="does not match its checksum"):
            container["a"].data[:]
        assert list(container["b"].data[:]) == ["x", "y", "z", "w", "v"]  # the others still read


def test_an_array_rewritten_by_another_tool_reads_its_files(written: Path) -> None:
    group = zarr.open_group(written, mode="r+", use_consolidated=False)
    attrs = dict(group.attrs)
    del group["a"]
    group.create_array("a", shape=(7,), dtype="int64")[:] = np.arange(7) * 3
    del group["id"]  # removed: its copy belongs to no array now
    group.attrs.put(attrs)
    zarr.consolidate_metadata(written)  # keeps the root's attributes, the stale table with them
    assert {"a", "id"} <= set(_root(written)["attributes"][inline.INLINE_ATTRIBUTE]["arrays"])
    store = Counting(LocalStore(written, read_only=True))
    root = inline.with_inline_chunks(zarr.open_group(store, mode="r"), location=written)
    np.testing.assert_array_equal(root["a"][:], np.arange(7) * 3)  # the new array's files, not the old copy
    assert store.reads["a/c/0"] == 1
    assert list(root["b"][:]) == ["x", "y", "z", "w", "v"] and store.reads["b/c.0"] == 0  # still the copy
    assert inline.inline_disagreements(root, location=written) == []


def test_a_chunk_file_changed_later_is_reported(written: Path) -> None:
    other = zarr.open_array(written / "a", mode="r+", use_consolidated=False)
    other[:] = np.arange(5) * 10  # same metadata, other bytes: only reading the file can tell
    with ZarrIO(written, mode="r", manager=get_manager()) as io:
        assert list(io.read()["a"].data[:]) == list(range(5))  # zarrbridge: the root's copy wins
        problems = inline.inline_disagreements(io._root, location=written)
    assert [(name, p.key) for name, p in problems] == [("/a", "a/c.0")]
    assert "different from its copy in the root document" in str(problems[0][1])
    assert isinstance(problems[0][1], CorruptChunkError)


def test_validate_data_reports_a_chunk_file_changed_later(
    written: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(written), "--data"]) == 0
    zarr.open_array(written / "b", mode="r+", use_consolidated=False)[:] = ["p", "q", "r", "s", "t"]
    capsys.readouterr()
    assert main(["validate", str(written), "--data"]) == 1
    out = capsys.readouterr()
    lines = [line for line in (out.out + out.err).splitlines() if line.startswith("/b: ")]
    assert len(lines) == 1 and "chunk 'b/c.0'" in lines[0] and "different from its copy" in lines[0], out


def test_an_append_drops_the_table(written: Path) -> None:
    assert inline.INLINE_ATTRIBUTE in _root(written)["attributes"]
    with ZarrIO(written, mode="a", manager=get_manager()) as io:
        io.write(io.read())  # an append rewrites the root: chunks may have changed, so no copies
    assert inline.INLINE_ATTRIBUTE not in _root(written)["attributes"]
    with ZarrIO(written, mode="r", manager=get_manager()) as io:
        assert list(io.read()["a"].data[:]) == [0, 1, 2, 3, 4]


def test_an_array_of_a_file_read_so_links_to_that_file(written: Path, tmp_path: Path) -> None:
    """Arrays read through the root's copies still belong to their file: writing one links to it."""
    other = tmp_path / "other.zarr"
    with ZarrIO(written, mode="r", manager=get_manager()) as source:
        column = source.read()["a"]
        table = DynamicTable(
            name="t2",
            description="links to the first file",
            columns=[VectorData(name="a", description="linked", data=column.data)],
        )
        with ZarrIO(other, mode="w", manager=get_manager()) as io:
            io.write(table, link_data=True)
    links = _root(other)["attributes"]["_LINKS"]
    assert {"name": "a", "source": "../t.zarr", "path": "/a"} in links
    with ZarrIO(other, mode="r", manager=get_manager()) as io:
        assert list(io.read()["a"].data[:]) == list(range(5))


def test_a_table_of_an_unknown_version_is_refused(written: Path) -> None:
    _rewrite_root(written, lambda table: table.update(version=99))
    with pytest.raises(CorruptMetadataError, match="_zarrbridge_inline"):
        ZarrIO(written, mode="r", manager=get_manager()).open()
    assert list(zarr.open_group(written, mode="r")["a"][:]) == list(range(5))  # other readers: unaffected
