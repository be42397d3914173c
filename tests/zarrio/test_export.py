"""Export between HDF5 and Zarr: chunking kept, compression mapped, chunks copied in parallel,
failures clean."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
import zlib
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np
import pytest
import zarr
import zarr.codecs
from hdmf.backends.hdf5 import HDF5IO, H5DataIO
from hdmf.common import DynamicTable, VectorData, get_manager

from zarrbridge import ZarrIO
from zarrbridge.errors import (
    CodecNotMappedWarning,
    InvalidOptionError,
    NotAZarrStoreError,
    StoreExistsError,
    WriteInterruptedError,
)
from zarrbridge.zarrio.convert import ConvertOptions, convert
from zarrbridge.zarrio.copying import CopySettings
from zarrbridge.zarrio.h5copy import zlib_to_gzip

# hdmf warns that plugin filters (blosc, zstd, lzf) "may not be available": they are the point here
pytestmark = pytest.mark.filterwarnings("ignore:.*compression may not be available:UserWarning")

DATA = np.random.default_rng(7).integers(0, 50, size=(1000, 6)).astype("<f8")


def _h5_table(path: Path, columns: dict[str, Any]) -> None:
    table = DynamicTable(
        name="table",
        description="export test",
        columns=[VectorData(name=k, description=k, data=v) for k, v in columns.items()],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # h5py: plugin filters "may not be available"
        with HDF5IO(str(path), mode="w", manager=get_manager()) as io:
            io.write(table)


def _export(src: Path, dst: Path, **kwargs: Any) -> ZarrIO:
    with HDF5IO(str(src), mode="r", manager=get_manager()) as read_io, ZarrIO(dst, mode="w") as export_io:
        export_io.export(src_io=read_io, write_args=dict(link_data=False), **kwargs)
    return export_io


def _stored_chunk(dst: Path, name: str, key: str) -> bytes:
    return (dst / name / key).read_bytes()


def _h5_chunk(src: Path, name: str, offset: tuple[int, ...]) -> bytes:
    with h5py.File(src, "r") as f:
        mask, data = f[name].id.read_direct_chunk(offset)
    assert mask == 0
    return bytes(data)


@pytest.mark.parametrize(
    ("name", "h5_kwargs", "codec_type", "raw"),
    [
        ("gzip", dict(compression="gzip", compression_opts=6), zarr.codecs.GzipCodec, True),
        (
            "blosc",
            dict(allow_plugin_filters=True, **hdf5plugin.Blosc(cname="zstd", clevel=3)),
            zarr.codecs.BloscCodec,
            True,
        ),
        ("zstd", dict(allow_plugin_filters=True, **hdf5plugin.Zstd(clevel=5)), zarr.codecs.ZstdCodec, True),
        ("shuffle_gzip", dict(compression="gzip", shuffle=True), zarr.codecs.BloscCodec, False),
    ],
)
def test_hdf5_compression_maps_to_zarr_codecs(
    tmp_path: Path, name: str, h5_kwargs: dict[str, Any], codec_type: type, raw: bool
) -> None:
    src, dst = tmp_path / "s.h5", tmp_path / "d.zarr"
    _h5_table(src, {"col": H5DataIO(DATA, chunks=(128, 6), **h5_kwargs)})
    _export(src, dst)
    arr = zarr.open_group(dst, mode="r")["col"]
    assert arr.chunks == (128, 6)
    assert [type(c) for c in arr.compressors] == [codec_type]
    np.testing.assert_array_equal(arr[:], DATA)
    stored, original = _stored_chunk(dst, "col", "c/1/0"), _h5_chunk(src, "col", (128, 0))
    if name == "gzip":  # the deflate stream is the HDF5 one, re-framed as gzip (not recompressed)
        assert stored[:2] == b"\x1f\x8b" and stored[10:-8] == original[2:-4]
    elif raw:
        assert stored == original
    else:
        assert stored != original


def _setting(value: Any) -> str:
    """A blosc setting as text: zarr 3.1 holds enums, zarr >= 3.2 plain strings."""
    return str(getattr(value, "value", value))


def test_levels_and_blosc_settings_are_kept(tmp_path: Path) -> None:
    src, dst = tmp_path / "s.h5", tmp_path / "d.zarr"
    _h5_table(
        src,
        {
            "a": H5DataIO(DATA, chunks=(100, 6), compression="gzip", compression_opts=2),
            "b": H5DataIO(
                DATA,
                chunks=(100, 6),
                allow_plugin_filters=True,
                **hdf5plugin.Blosc(cname="lz4", clevel=7, shuffle=hdf5plugin.Blosc.BITSHUFFLE),
            ),
        },
    )
    _export(src, dst)
    group = zarr.open_group(dst, mode="r")
    assert group["a"].compressors[0].level == 2
    blosc = group["b"].compressors[0]
    assert (_setting(blosc.cname), blosc.clevel, _setting(blosc.shuffle)) == ("lz4", 7, "bitshuffle")


def test_zarr_format_2_copies_shuffled_deflate_chunks_unchanged(tmp_path: Path) -> None:
    src, dst = tmp_path / "s.h5", tmp_path / "d.zarr"
    _h5_table(src, {"col": H5DataIO(DATA, chunks=(100, 6), compression="gzip", shuffle=True)})
    with (
        HDF5IO(str(src), mode="r", manager=get_manager()) as read_io,
        ZarrIO(dst, mode="w", zarr_format=2) as export_io,
    ):
        export_io.export(src_io=read_io, write_args=dict(link_data=False))
    arr = zarr.open_array(dst / "col", mode="r", zarr_format=2)
    np.testing.assert_array_equal(arr[:], DATA)
    assert (dst / "col" / "2.0").read_bytes() == _h5_chunk(src, "col", (200, 0))


def test_unmappable_filter_is_reported_by_name(tmp_path: Path) -> None:
    src, dst = tmp_path / "s.h5", tmp_path / "d.zarr"
    _h5_table(src, {"col": H5DataIO(DATA, chunks=(100, 6), compression="lzf")})
    with pytest.warns(CodecNotMappedWarning, match="'lzf'"):
        io = _export(src, dst)
    assert io.unmapped_codecs == (("/col", "lzf"),)
    codec = zarr.open_group(dst, mode="r")["col"].compressors[0]  # the fast default for numbers
    assert isinstance(codec, zarr.codecs.BloscCodec) and _setting(codec.cname) == "lz4"
    arr = zarr.open_group(dst, mode="r")["col"]
    np.testing.assert_array_equal(arr[:], DATA)
    assert arr.chunks == (100, 6)


def test_fletcher32_becomes_crc32c(tmp_path: Path) -> None:
    src, dst = tmp_path / "s.h5", tmp_path / "d.zarr"
    _h5_table(src, {"col": H5DataIO(DATA, chunks=(100, 6), compression="gzip", fletcher32=True)})
    _export(src, dst)
    arr = zarr.open_group(dst, mode="r")["col"]
    assert [type(c) for c in arr.compressors] == [zarr.codecs.GzipCodec, zarr.codecs.Crc32cCodec]
    np.testing.assert_array_equal(arr[:], DATA)


def test_contiguous_source_gets_automatic_chunks(tmp_path: Path) -> None:
    src, dst = tmp_path / "s.h5", tmp_path / "d.zarr"
    big = np.arange(3_000_000, dtype="f4").reshape(-1, 3)
    _h5_table(src, {"col": big})
    _export(src, dst)
    arr = zarr.open_group(dst, mode="r")["col"]
    assert arr.chunks != big.shape and np.prod(arr.chunks) * 4 <= 4 * 1024 * 1024
    np.testing.assert_array_equal(arr[:], big)


def test_zlib_to_gzip_refuses_streams_it_cannot_reframe() -> None:
    assert zlib_to_gzip(b"not a zlib stream") is None
    payload = np.arange(100, dtype="f8").tobytes()
    import gzip

    assert gzip.decompress(zlib_to_gzip(zlib.compress(payload, 3)) or b"") == payload


@pytest.mark.parametrize("jobs", [1, 3])
def test_parallel_copy_with_threads(tmp_path: Path, jobs: int) -> None:
    src, dst = tmp_path / "s.h5", tmp_path / "d.zarr"
    big = np.random.default_rng(1).normal(size=(200_000, 8)).astype("f4")
    _h5_table(
        src,
        {
            "raw": H5DataIO(big, chunks=(5000, 8), compression="gzip"),
            "decoded": H5DataIO(big, chunks=(5000, 8), compression="lzf"),
        },
    )
    with pytest.warns(CodecNotMappedWarning):
        _export(src, dst, number_of_jobs=jobs)
    group = zarr.open_group(dst, mode="r")
    np.testing.assert_array_equal(group["raw"][:], big)
    np.testing.assert_array_equal(group["decoded"][:], big)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "4"])
def test_number_of_jobs_must_be_positive_int(tmp_path: Path, bad: Any) -> None:
    src = tmp_path / "s.h5"
    _h5_table(src, {"col": DATA})
    with pytest.raises(InvalidOptionError, match="number_of_jobs"):
        _export(src, tmp_path / "d.zarr", number_of_jobs=bad)


def test_parallel_copy_on_a_dask_cluster(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    src, dst, dst2 = tmp_path / "s.h5", tmp_path / "d.zarr", tmp_path / "e.zarr"
    big = np.random.default_rng(2).normal(size=(400_000, 8)).astype("f4")
    _h5_table(src, {"raw": H5DataIO(big, chunks=(20000, 8), compression="gzip")})
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=50
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        with distributed.get_task_stream(client) as stream:
            _export(src, dst, client=client)
        with distributed.get_task_stream(client) as stream2:  # zarr -> zarr, recompressed, on the workers
            with ZarrIO(dst, mode="r") as read_io, ZarrIO(dst2, mode="w") as export_io:
                export_io.export(
                    src_io=read_io,
                    client=client,
                    write_args=dict(link_data=False),
                    copy_settings=CopySettings(compressor="zstd", chunks="auto"),
                )
    assert len(stream.data) >= 2 and len({t["worker"] for t in stream.data}) == 2
    assert len(stream2.data) >= 1
    np.testing.assert_array_equal(zarr.open_group(dst, mode="r")["raw"][:], big)
    out = zarr.open_group(dst2, mode="r")["raw"]
    np.testing.assert_array_equal(out[:], big)
    assert isinstance(out.compressors[0], zarr.codecs.ZstdCodec)


def test_export_of_a_container_modified_after_reading(tmp_path: Path) -> None:
    src, dst = tmp_path / "s.h5", tmp_path / "d.zarr"
    _h5_table(src, {"col": DATA})
    with HDF5IO(str(src), mode="r", manager=get_manager()) as read_io:
        table = read_io.read()
        table.add_column(name="extra", description="added after reading", data=np.arange(DATA.shape[0]))
        with ZarrIO(dst, mode="w") as export_io:
            export_io.export(src_io=read_io, container=table, write_args=dict(link_data=False))
    with ZarrIO(dst, mode="r") as io:
        back = io.read()
        np.testing.assert_array_equal(back["extra"].data[:], np.arange(DATA.shape[0]))
        np.testing.assert_array_equal(back["col"].data[:], DATA)
    with HDF5IO(str(src), mode="r", manager=get_manager()) as read_io:  # the source is untouched
        assert "extra" not in read_io.read().colnames


def test_zarr_to_zarr_with_other_layout(tmp_path: Path) -> None:
    src, mid, dst = tmp_path / "s.h5", tmp_path / "m.zarr", tmp_path / "d.zarr"
    _h5_table(src, {"col": H5DataIO(DATA, chunks=(50, 6), compression="gzip")})
    convert(src, mid)
    report = convert(
        mid, dst, options=ConvertOptions(compressor="gzip", level=1, chunks="auto", shard_bytes=1 << 20)
    )
    arr = zarr.open_group(dst, mode="r")["col"]
    assert arr.chunks == (1000, 6) and arr.shards is None  # one chunk holds it all: no shard needed
    assert isinstance(arr.compressors[0], zarr.codecs.GzipCodec) and arr.compressors[0].level == 1
    np.testing.assert_array_equal(arr[:], DATA)
    assert (report.source_format, report.dest_format) == ("zarr", "zarr") and report.datasets >= 2


def test_sharding_groups_kept_chunks(tmp_path: Path) -> None:
    src, dst = tmp_path / "s.h5", tmp_path / "d.zarr"
    _h5_table(src, {"col": H5DataIO(DATA, chunks=(50, 6), compression="gzip")})
    convert(src, dst, options=ConvertOptions(shard_bytes=16 * 1024))
    arr = zarr.open_group(dst, mode="r")["col"]
    assert arr.chunks == (50, 6) and arr.shards is not None and arr.shards[0] > 50
    np.testing.assert_array_equal(arr[:], DATA)


def test_convert_zarr_to_hdf5_keeps_chunks_and_gzip(tmp_path: Path) -> None:
    src, mid, back = tmp_path / "s.h5", tmp_path / "m.zarr", tmp_path / "back.h5"
    _h5_table(
        src,
        {
            "gz": H5DataIO(DATA, chunks=(100, 6), compression="gzip", compression_opts=3),
            "zs": H5DataIO(DATA, chunks=(100, 6), allow_plugin_filters=True, **hdf5plugin.Zstd()),
            "sg": H5DataIO(DATA, chunks=(100, 6), compression="gzip", compression_opts=2, shuffle=True),
        },
    )
    convert(src, mid)
    with pytest.warns(CodecNotMappedWarning) as record:  # zstd level 3 (the id column is blosc-lz4: ours)
        report = convert(mid, back)
    assert any("'zstd' has no HDF5 counterpart" in str(w.message) for w in record)
    assert ("/zs", "zstd") in report.unmapped and not [u for u in report.unmapped if u[0] in ("/gz", "/sg")]
    with h5py.File(back, "r") as f:
        assert f["gz"].chunks == (100, 6) and f["gz"].compression == "gzip" and f["gz"].compression_opts == 3
        assert f["sg"].shuffle and (f["sg"].compression, f["sg"].compression_opts) == ("gzip", 2)
        np.testing.assert_array_equal(f["sg"][:], DATA)
        assert f["zs"].compression == "gzip"
        np.testing.assert_array_equal(f["gz"][:], DATA)
        np.testing.assert_array_equal(f["zs"][:], DATA)
    assert not os.path.exists(str(back) + ".partial")


def test_convert_reports_progress_by_bytes(tmp_path: Path) -> None:
    src, dst = tmp_path / "s.h5", tmp_path / "d.zarr"
    _h5_table(src, {"a": H5DataIO(DATA, chunks=(100, 6), compression="gzip"), "b": DATA})
    ticks: list[int] = []
    report = convert(src, dst, progress=ticks.append)
    assert len(ticks) >= 2  # a batch of chunks of "a", then "b", ...
    assert sum(ticks) == report.bytes_copied >= 2 * DATA.nbytes


def test_convert_bad_input(tmp_path: Path) -> None:
    src = tmp_path / "s.h5"
    _h5_table(src, {"col": DATA})
    with pytest.raises(FileNotFoundError):
        convert(tmp_path / "missing.h5", tmp_path / "d.zarr")
    (tmp_path / "text.txt").write_text("hello")
    with pytest.raises(NotAZarrStoreError):
        convert(tmp_path / "text.txt", tmp_path / "d.zarr")
    with pytest.raises(InvalidOptionError, match="both HDF5"):
        convert(src, tmp_path / "other.nwb")
    convert(src, tmp_path / "d.zarr")
    with pytest.raises(StoreExistsError):
        convert(src, tmp_path / "d.zarr")
    convert(src, tmp_path / "d.zarr", options=ConvertOptions(overwrite=True))
    with pytest.raises(InvalidOptionError, match="same file"):
        convert(tmp_path / "d.zarr", tmp_path / "d.zarr", options=ConvertOptions(overwrite=True))
    with pytest.raises(InvalidOptionError):
        convert(src, tmp_path / "e.zarr", options="fast")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(compressor="lz77"),
        dict(compressor="zstd", level=99),
        dict(compressor="keep", level=3),
        dict(zarr_format=4),
        dict(zarr_format=2, shard_bytes=1000),
        dict(chunks="big"),
        dict(shard_bytes=-1),
        dict(number_of_jobs=0),
    ],
)
def test_convert_options_are_validated(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidOptionError):
        ConvertOptions(**kwargs)


def test_failed_export_leaves_no_file(tmp_path: Path) -> None:
    src, dst = tmp_path / "s.h5", tmp_path / "d.zarr"
    _h5_table(src, {"col": H5DataIO(DATA, chunks=(10, 6), compression="gzip")})

    def boom(n: int) -> None:
        raise RuntimeError("disk full (simulated)")

    with pytest.raises(RuntimeError, match="disk full"):
        convert(src, dst, progress=boom)
    assert not ZarrIO.can_read(dst)
    with pytest.raises(RuntimeError, match="disk full"):
        convert(src, tmp_path / "back.nwb.zarr", progress=boom)
    assert not ZarrIO.can_read(tmp_path / "back.nwb.zarr")


_KILLED = """
import sys, numpy as np
from hdmf.backends.hdf5 import H5DataIO, HDF5IO
from hdmf.common import DynamicTable, VectorData, get_manager
from zarrbridge.zarrio.convert import convert
src, dst = sys.argv[1], sys.argv[2]
data = np.random.default_rng(0).normal(size=(1_000_000, 8)).astype("f4")
table = DynamicTable(name="t", description="d", columns=[VectorData(name="c", description="c",
                     data=H5DataIO(data, chunks=(2000, 8), compression="gzip", compression_opts=1))])
with HDF5IO(src, mode="w", manager=get_manager()) as io:
    io.write(table)
def tick(n):
    print("copying", flush=True)
    import time; time.sleep(1.0)
convert(src, dst, progress=tick)
"""


@pytest.mark.parametrize("dest_name", ["d.zarr", "d.nwb"])
def test_killed_conversion_never_looks_complete(tmp_path: Path, dest_name: str) -> None:
    src, dst = tmp_path / "s.h5", tmp_path / dest_name
    if dest_name.endswith(".nwb"):  # HDF5 destination: from a zarr source
        code = _KILLED.replace(
            "convert(src, dst, progress=tick)", "convert(src, dst + '.zarr'); convert(dst + '.zarr', dst)"
        )
        code = code.replace("import time; time.sleep(0.05)", "pass")
    else:
        code = _KILLED
    with subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), str(src), str(dst)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        if dest_name.endswith(".nwb"):
            deadline = time.monotonic() + 60
            while (
                not os.path.exists(str(dst) + ".partial")
                and time.monotonic() < deadline
                and proc.poll() is None
            ):
                time.sleep(0.01)
        else:
            proc.stdout.readline()  # the copy has started
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    if dest_name.endswith(".nwb"):
        assert not dst.exists()  # only the .partial file, which no reader takes for the destination
    else:
        assert dst.exists()
        with pytest.raises(WriteInterruptedError, match="interrupted"):
            ZarrIO(dst, mode="r").open()


def _make_2gb_source(src: Path) -> int:
    rows = 2 * 1024**3 // (4 * 64)
    _h5_table(src, {"c": np.zeros((1, 64), dtype="f4")})
    with h5py.File(src, "r+") as f:  # grow the column to 2 GB without holding it in memory
        attrs = dict(f["c"].attrs)
        del f["c"]
        d = f.create_dataset("c", shape=(rows, 64), dtype="f4", chunks=(16384, 64))
        d.attrs.update(attrs)
        id_attrs = dict(f["id"].attrs)
        del f["id"]
        ids = f.create_dataset("id", shape=(rows,), dtype="i8", chunks=(1 << 18,))
        ids.attrs.update(id_attrs)
        step = 1 << 17
        for start in range(0, rows, step):
            stop = min(rows, start + step)
            d[start:stop] = (np.arange(start, stop, dtype="f4")[:, None] % 977) + np.arange(64, dtype="f4")
            f["id"][start:stop] = np.arange(start, stop)
    return rows


_BIG = """
import sys
from hdmf.backends.hdf5 import HDF5IO
from hdmf.common import get_manager
from zarrbridge import ZarrIO
src, dst = sys.argv[1], sys.argv[2]
def hwm():  # peak RSS of this process image (ru_maxrss would include the parent's RSS at fork)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
before = hwm()
with HDF5IO(src, mode="r", manager=get_manager()) as read_io, ZarrIO(dst, mode="w") as out:
    out.export(src_io=read_io, write_args=dict(link_data=False), number_of_jobs=2)
peak = hwm()
print(before // 1024, peak // 1024)
"""


@pytest.mark.slow
def test_export_of_2gb_dataset_stays_under_500mb(tmp_path: Path) -> None:
    src, dst = tmp_path / "big.h5", tmp_path / "big.zarr"
    rows = _make_2gb_source(src)
    out = subprocess.run(
        [sys.executable, "-c", _BIG, str(src), str(dst)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    before_mb, peak_mb = (int(v) for v in out.stdout.split())
    assert os.path.getsize(src) >= 2 * 1024**3
    assert peak_mb < 500, f"peak RSS {peak_mb} MB (before the export: {before_mb} MB)"
    arr = zarr.open_group(dst, mode="r")["c"]
    assert arr.shape == (rows, 64)
    for start in (0, rows // 2, rows - 5):
        expected = (np.arange(start, start + 5, dtype="f4")[:, None] % 977) + np.arange(64, dtype="f4")
        np.testing.assert_array_equal(arr[start : start + 5], expected)


LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "legacy"


@pytest.mark.filterwarnings("ignore:The 'manufacturer' field is deprecated:DeprecationWarning")
# hdmf notes that the legacy file's empty dataset (read as an empty list) is stored as the spec's float64
@pytest.mark.filterwarnings("ignore:Spec 'LegacyKinds/empty_:hdmf.build.warnings.DtypeConversionWarning")
@pytest.mark.parametrize("name", ["ecephys", "kinds", "json_codec"])
def test_legacy_files_convert_to_valid_current_files(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from zarrbridge import NWBZarrIO
    from zarrbridge.cli.main import main

    dst = tmp_path / f"{name}.nwb.zarr"
    report = convert(LEGACY / f"{name}.nwb.zarr", dst)
    assert report.source_format == "zarr" and report.datasets > 5
    with ZarrIO(dst, mode="r") as io:
        assert io.convention.name == "zarrbridge" and io.convention.zarr_format == 3
    assert main(["-q", "validate", str(dst)]) == 0, capsys.readouterr().out
    with NWBZarrIO(dst, mode="r") as io:
        nwbfile = io.read()
        if nwbfile.units is not None:  # region and ragged columns resolve through pandas
            frame = nwbfile.units.to_dataframe()
            assert len(frame) == len(nwbfile.units.id.data)
