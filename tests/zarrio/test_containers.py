"""Container-level round trips with hdmf's own common types, data options and stores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pytest
import zarr
from hdmf.common import (
    AlignedDynamicTable,
    DynamicTable,
    DynamicTableRegion,
    EnumData,
    SimpleMultiContainer,
    VectorData,
    get_manager,
)
from hdmf.data_utils import DataChunkIterator, GenericDataChunkIterator
from zarr.storage import MemoryStore

from zarrbridge import ZarrDataIO, ZarrIO


def _table(name: str = "t", n: int = 3) -> DynamicTable:
    t = DynamicTable(name=name, description="d")
    t.add_column("x", "floats")
    t.add_column("s", "strings")
    t.add_column("r", "ragged", index=True)
    for i in range(n):
        t.add_row(x=i * 1.5, s=f"s{i}", r=list(range(i + 1)))
    return t


def _write(path: Any, container: Any, **kw: Any) -> None:
    with ZarrIO(path, mode="w", manager=get_manager(), **kw) as io:
        io.write(container)


@pytest.mark.filterwarnings("ignore:EnumData is experimental:UserWarning")
def test_dynamic_table_region_enum_aligned(zpath: Path) -> None:
    t = _table()
    reg = DynamicTableRegion(name="reg", data=[0, 2], description="rows", table=t)
    terms = VectorData(name="terms", description="enum values", data=["a", "b"])
    enum = EnumData(name="e", description="enum", data=[1, 0], elements=terms)
    t2 = DynamicTable(name="t2", description="d2", columns=[reg, enum, terms])
    cat = DynamicTable(
        name="cat", description="category", columns=[VectorData(name="v", description="v", data=[1, 2])]
    )
    aligned = AlignedDynamicTable(
        name="aligned",
        description="a",
        category_tables=[cat],
        columns=[VectorData(name="main", description="m", data=[9, 8])],
    )
    _write(zpath, SimpleMultiContainer(name="root", containers=[t, t2, aligned]))
    with ZarrIO(zpath, mode="r", manager=get_manager()) as io:
        back = io.read()
        df = back["t"].to_dataframe()
        assert df["x"].tolist() == [0.0, 1.5, 3.0] and df["s"].tolist() == ["s0", "s1", "s2"]
        assert [list(v) for v in df["r"]] == [[0], [0, 1], [0, 1, 2]]
        assert back["t2"]["reg"].table is back["t"]
        assert list(back["t2"]["reg"].data[:]) == [0, 2]
        assert list(back["t2"]["e"][:]) == ["b", "a"]
        assert back["aligned"].get_category("cat")["v"].data[:].tolist() == [1, 2]
        assert back["aligned"]["main"].data[:].tolist() == [9, 8]


def test_read_is_lazy(zpath: Path) -> None:
    big = VectorData(name="big", description="d", data=np.arange(200_000, dtype="f8"))
    _write(zpath, DynamicTable(name="root", description="d", columns=[big]))

    class Counting(zarr.storage.LocalStore):
        reads: list[str] = []

        async def get(self, key: str, *a: Any, **k: Any) -> Any:
            Counting.reads.append(key)
            return await super().get(key, *a, **k)

    store = Counting(str(zpath), read_only=True)
    with ZarrIO(store, mode="r", manager=get_manager()) as io:
        Counting.reads.clear()
        table = io.read()
        assert not [k for k in Counting.reads if k.startswith("big/c")], Counting.reads
        assert isinstance(table["big"].data, zarr.Array)
        assert table["big"].data[5] == 5.0


def test_zarr_data_io_options(zpath: Path) -> None:
    cols = [
        VectorData(
            name="a",
            description="chunked",
            data=ZarrDataIO(
                np.arange(100, dtype="i4"), chunks=(10,), compressor=numcodecs.Blosc(cname="zstd", clevel=3)
            ),
        ),
        VectorData(
            name="b",
            description="filters",
            data=ZarrDataIO(
                np.arange(100, dtype="i8"),
                chunks=(50,),
                filters=[numcodecs.Delta(dtype="i8")],
                compressors=[zarr.codecs.GzipCodec(level=2)],
            ),
        ),
        VectorData(
            name="c",
            description="sharded",
            data=ZarrDataIO(np.arange(1000, dtype="f4"), chunks=(10,), shards=(100,), fillvalue=-1.0),
        ),
        VectorData(name="d", description="auto", data=np.zeros(3_000_000, dtype="f8")),
    ]
    _write(zpath, SimpleMultiContainer(name="root", containers=cols))
    meta = {c: json.loads((zpath / c / "zarr.json").read_text()) for c in "abcd"}
    assert meta["a"]["chunk_grid"]["configuration"]["chunk_shape"] == [10]
    assert meta["a"]["codecs"][-1]["name"] == "blosc"
    assert meta["b"]["codecs"][0]["name"] == "numcodecs.delta" and meta["b"]["codecs"][-1]["name"] == "gzip"
    assert meta["c"]["codecs"][0]["name"] == "sharding_indexed" and meta["c"]["fill_value"] == -1.0
    auto = meta["d"]["chunk_grid"]["configuration"]["chunk_shape"][0]
    assert 0 < auto < 3_000_000 and auto * 8 <= 4 * 1024 * 1024
    with ZarrIO(zpath, mode="r", manager=get_manager()) as io:
        back = io.read()
        assert back["a"].data[:].tolist() == list(range(100))
        assert back["b"].data[:].tolist() == list(range(100))
        assert back["c"].data[999] == 999.0


def test_data_chunk_iterators_bounded_memory(zpath: Path) -> None:
    n_chunks = 50

    def gen() -> Any:
        for i in range(n_chunks):
            yield np.full(1000, i, dtype="f8")

    class Gen(GenericDataChunkIterator):  # type: ignore[misc]
        def _get_data(self, selection: Any) -> np.ndarray:
            return np.arange(4000, dtype="i4").reshape(1000, 4)[selection]

        def _get_maxshape(self) -> tuple[int, ...]:
            return (1000, 4)

        def _get_dtype(self) -> np.dtype:
            return np.dtype("i4")

    dci = DataChunkIterator(data=gen(), buffer_size=1)
    seen_max: list[int] = []
    orig_next = dci.__next__

    def tracking_next() -> Any:
        chunk = orig_next()
        seen_max.append(chunk.data.nbytes)
        return chunk

    dci.__next__ = tracking_next  # type: ignore[method-assign]
    cols = [
        VectorData(name="it", description="iter", data=dci),
        VectorData(name="gen", description="generic", data=Gen(chunk_shape=(100, 4), buffer_shape=(200, 4))),
    ]
    with ZarrIO(zpath, mode="w", manager=get_manager()) as io:
        io.write(SimpleMultiContainer(name="root", containers=cols), exhaust_dci=False)
    with ZarrIO(zpath, mode="r", manager=get_manager()) as io:
        back = io.read()
        it = back["it"].data
        assert it.shape == (n_chunks, 1000)
        np.testing.assert_array_equal(it[:, 0], np.arange(n_chunks))
        assert back["gen"].data.chunks == (100, 4)
        np.testing.assert_array_equal(back["gen"].data[:], np.arange(4000).reshape(1000, 4))


def test_append_mode_adds_containers(zpath: Path) -> None:
    _write(zpath, SimpleMultiContainer(name="root", containers=[_table("t1")]))
    with ZarrIO(zpath, mode="a", manager=get_manager()) as io:
        root = io.read()
        root.add_container(_table("t2", 2))
        io.write(root)
    with ZarrIO(zpath, mode="r", manager=get_manager()) as io:
        back = io.read()
        assert sorted(back.containers) == ["t1", "t2"]
        assert back["t2"]["x"].data[:].tolist() == [0.0, 1.5]
        assert back["t1"]["s"].data[:].tolist() == ["s0", "s1", "s2"]
    assert "t2" in json.dumps(json.loads((zpath / "zarr.json").read_text())["consolidated_metadata"])


def test_link_data_for_zarr_arrays(tmp_path: Path) -> None:
    src = zarr.create_group(str(tmp_path / "raw.zarr")).create_array("data", shape=(6,), dtype="i4")
    src[:] = np.arange(6)
    main = tmp_path / "main.zarr"
    cols = [
        VectorData(name="linked", description="l", data=ZarrDataIO(src, link_data=True)),
        VectorData(name="copied", description="c", data=ZarrDataIO(src, link_data=False)),
    ]
    _write(main, SimpleMultiContainer(name="root", containers=cols))
    links = json.loads((main / "zarr.json").read_text())["attributes"]["_LINKS"]
    assert links == [{"name": "linked", "source": "../raw.zarr", "path": "/data"}]
    assert (main / "copied" / "zarr.json").exists() and not (main / "linked").exists()
    with ZarrIO(main, mode="r", manager=get_manager()) as io:
        assert io.read()["copied"].data[:].tolist() == list(range(6))
        linked = io.read_builder().links["linked"].builder
        assert linked.data[:].tolist() == list(range(6))


@pytest.mark.parametrize("kind", ["zip", "memory"])
def test_other_stores(tmp_path: Path, kind: str) -> None:
    spec: Any = tmp_path / "f.nwb.zarr.zip" if kind == "zip" else MemoryStore()
    _write(spec, SimpleMultiContainer(name="root", containers=[_table()]))
    with ZarrIO(spec, mode="r", manager=get_manager()) as io:
        assert io.read()["t"]["s"].data[:].tolist() == ["s0", "s1", "s2"]


@pytest.mark.s3
def test_s3_store(s3_bucket: str, s3_storage_options: dict[str, Any]) -> None:
    url = f"s3://{s3_bucket}/rec/f.zarr"
    _write(url, SimpleMultiContainer(name="root", containers=[_table()]), storage_options=s3_storage_options)
    with ZarrIO(url, mode="r", manager=get_manager(), storage_options=s3_storage_options) as io:
        back = io.read()
        assert list(back["t"]["r"][2]) == [0, 1, 2]


def test_reads_of_one_chunk_arrays_match_zarr(zpath: Path) -> None:
    """One-chunk datasets are decoded in the calling thread; every selection must read what zarr reads."""
    t = DynamicTable(name="t", description="d")
    t.add_column("m", "matrix")
    t.add_column("s", "strings")
    for i in range(5):
        t.add_row(m=[i, i + 0.5, -i], s=f"s{i}é")
    t.add_column("big", "several chunks", data=ZarrDataIO(np.arange(5.0), chunks=(2,)))
    _write(zpath, SimpleMultiContainer(name="root", containers=[t]))
    with ZarrIO(zpath, mode="r", manager=get_manager()) as io:
        back = io.read()["t"]
        m, s, big = back["m"].data, back["s"].data, back["big"].data
        plain = zarr.Array(m._async_array)
        from zarrbridge.core.chunkio import read_whole

        assert read_whole(m, max_chunks=1) is not None and read_whole(big, max_chunks=1) is None  # both paths
        for key in [
            0,
            -1,
            4,
            (1, 2),
            (-1, -1),
            slice(1, 4),
            slice(None, None, 2),
            (slice(0, 5, 3), 1),
            Ellipsis,
            (Ellipsis, 0),
            (),
            [0, 2],
            np.int64(3),
        ]:
            expected = plain[key]
            got = m[key]
            np.testing.assert_array_equal(got, expected)
            if np.ndim(expected) == 0:
                assert np.isscalar(got), key  # single elements are numpy scalars, as with h5py
        with pytest.raises(IndexError):
            m[5]
        assert list(s) == [f"s{i}é" for i in range(5)] and s[1:3].tolist() == ["s1é", "s2é"]
        assert list(big[:]) == [0.0, 1.0, 2.0, 3.0, 4.0] and big[3] == 3.0  # several chunks: zarr's own path
        assert back.to_dataframe()["s"].tolist() == [f"s{i}é" for i in range(5)]
