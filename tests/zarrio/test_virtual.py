"""Virtual views of HDF5 files: HDF5 filters decoded byte for byte, layouts, S3, hostile views, the CLI."""

from __future__ import annotations

import http.client
import json
import shutil
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import h5py
import numpy as np
import pytest
import zarr
from hdmf.backends.hdf5 import H5DataIO
from pynwb import NWBHDF5IO, TimeSeries
from pynwb.testing.mock.file import mock_NWBFile
from zarr.storage import FsspecStore

from zarrbridge import NWBZarrIO, read_nwb
from zarrbridge.core.refview import open_view
from zarrbridge.errors import (
    CodecNotMappedWarning,
    CorruptChunkError,
    CorruptMetadataError,
    LocationError,
    MissingChunkError,
    ReadOnlyError,
    StoreExistsError,
    UnsupportedFormatVersionError,
)
from zarrbridge.zarrio.virtual import write_virtual

RNG = np.random.default_rng(11)
ROWS = 40_000  # x 8 float32 columns = 1.28 MB: above the inline threshold


def _nwb(path: Path, **series: Any) -> dict[str, np.ndarray[Any, Any]]:
    """Write an NWB file with one TimeSeries per keyword (an array, or (array, H5DataIO options))."""
    nwbfile = mock_NWBFile()
    values = {}
    for name, spec in series.items():
        data, options = spec if isinstance(spec, tuple) else (spec, None)
        values[name] = data
        with warnings.catch_warnings():  # hdmf: "lzf compression may not be available on all installations"
            warnings.filterwarnings("ignore", ".* compression may not be available", UserWarning)
            wrapped = H5DataIO(data, **options) if options else data
        nwbfile.add_acquisition(TimeSeries(name=name, data=wrapped, unit="m", rate=1.0))
    with NWBHDF5IO(path, mode="w") as io:
        io.write(nwbfile)
    return values


def _data(view: Any, name: str, **kwargs: Any) -> np.ndarray[Any, Any]:
    with NWBZarrIO(view, mode="r", **kwargs) as io:
        return np.asarray(io.read().acquisition[name].data[:])


def _floats() -> np.ndarray[Any, Any]:
    return RNG.standard_normal((ROWS, 8)).astype("f4")


PIPELINES = {
    "gzip": dict(compression="gzip", compression_opts=6),
    "shuffle_gzip": dict(compression="gzip", shuffle=True),
    "fletcher32": dict(fletcher32=True),
    "shuffle_gzip_fletcher32": dict(compression="gzip", shuffle=True, fletcher32=True),
    "uncompressed": {},
}


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_hdf5_filters_are_decoded_from_the_stored_bytes(tmp_path: Path, name: str) -> None:
    values = _nwb(tmp_path / "f.nwb", ts=(_floats(), dict(chunks=(5000, 8), **PIPELINES[name])))
    report = write_virtual(tmp_path / "f.nwb", tmp_path / "f.nwb.zarr")
    assert report.referenced == ("/acquisition/ts/data",) and report.chunks == ROWS // 5000
    np.testing.assert_array_equal(_data(tmp_path / "f.nwb.zarr", "ts"), values["ts"])


def test_blosc_and_zstd_plugin_filters_are_referenced(tmp_path: Path) -> None:
    hdf5plugin = pytest.importorskip("hdf5plugin")
    values = _nwb(
        tmp_path / "f.nwb",
        blosc=(
            _floats(),
            dict(chunks=(5000, 8), allow_plugin_filters=True, **hdf5plugin.Blosc(cname="lz4", clevel=5)),
        ),
        zstd=(_floats(), dict(chunks=(5000, 8), allow_plugin_filters=True, **hdf5plugin.Zstd(clevel=3))),
    )
    report = write_virtual(tmp_path / "f.nwb", tmp_path / "v.json")
    assert set(report.referenced) == {"/acquisition/blosc/data", "/acquisition/zstd/data"}
    for name in ("blosc", "zstd"):
        np.testing.assert_array_equal(_data(tmp_path / "v.json", name), values[name])


def test_contiguous_datasets_are_row_blocks_of_the_file(tmp_path: Path) -> None:
    data = RNG.standard_normal((300_000, 2))  # 4.8 MB: two blocks
    _nwb(tmp_path / "f.nwb", ts=data)
    report = write_virtual(tmp_path / "f.nwb", tmp_path / "v.json")
    assert report.referenced == ("/acquisition/ts/data",) and report.chunks == 2
    assert report.view_bytes < 100_000
    np.testing.assert_array_equal(_data(tmp_path / "v.json", "ts"), data)


def test_unallocated_and_filter_skipped_chunks_read_as_hdf5_does(tmp_path: Path) -> None:
    path = tmp_path / "f.nwb"
    _nwb(path, ts=(_floats(), dict(chunks=(5000, 8), compression="gzip")))
    with h5py.File(path, "r+") as f:
        ds = f["acquisition/ts/data"]
        raw = np.full((5000, 8), 7.5, dtype="f4")
        ds.id.write_direct_chunk((5000, 0), raw.tobytes(), filter_mask=1)  # deflate skipped for this chunk
        del f["acquisition/ts/data"]
        f.create_dataset(
            "acquisition/ts/data",
            shape=(ROWS, 8),
            dtype="f4",
            chunks=(5000, 8),
            compression="gzip",
            fillvalue=-1.0,
        )
        f["acquisition/ts/data"][:5000] = 3.0
        f["acquisition/ts/data"].id.write_direct_chunk((5000, 0), raw.tobytes(), filter_mask=1)
        f["acquisition/ts/data"].attrs.update(
            {"conversion": 1.0, "offset": 0.0, "resolution": -1.0, "unit": "m"}
        )
        expected = f["acquisition/ts/data"][:]
    report = write_virtual(path, tmp_path / "v.json")
    assert report.chunks == 1  # chunk 0; chunk 1 (mask) and the unallocated ones are stored inline
    got = _data(tmp_path / "v.json", "ts")
    np.testing.assert_array_equal(got, expected)
    assert (got[10_000:] == -1.0).all() and (got[5000:10_000] == 7.5).all()


def test_filters_without_a_zarr_codec_are_copied_and_reported(tmp_path: Path) -> None:
    values = _nwb(tmp_path / "f.nwb", ts=(_floats(), dict(chunks=(5000, 8), compression="lzf")))
    with pytest.warns(CodecNotMappedWarning, match="lzf"):
        report = write_virtual(tmp_path / "f.nwb", tmp_path / "v.json")
    assert report.referenced == () and report.unmapped == (("/acquisition/ts/data", "lzf"),)
    np.testing.assert_array_equal(_data(tmp_path / "v.json", "ts"), values["ts"])


def test_large_text_and_compound_datasets_are_copied_and_listed(tmp_path: Path) -> None:
    from hdmf.common import DynamicTable, VectorData

    nwbfile = mock_NWBFile()
    words = np.array([f"word-{i:07d}" for i in range(120_000)], dtype=object)
    table = DynamicTable(
        name="words", description="d", columns=[VectorData(name="w", description="w", data=words)]
    )
    nwbfile.add_acquisition(table)
    with NWBHDF5IO(tmp_path / "f.nwb", mode="w") as io:
        io.write(nwbfile)
    report = write_virtual(tmp_path / "f.nwb", tmp_path / "v.json")
    assert report.referenced == ()
    assert report.copied == (("/acquisition/words/w", "text data is stored as the convention says"),)
    with NWBZarrIO(tmp_path / "v.json", "r") as io:
        assert list(io.read().acquisition["words"]["w"].data[:5]) == list(words[:5])


def test_the_view_opens_with_fsspec_reference_filesystem_and_plain_zarr(tmp_path: Path) -> None:
    import fsspec

    values = _nwb(
        tmp_path / "f.nwb", ts=(_floats(), dict(chunks=(5000, 8), compression="gzip", shuffle=True))
    )
    write_virtual(tmp_path / "f.nwb", tmp_path / "v.json")
    fs = fsspec.filesystem("reference", fo=str(tmp_path / "v.json"), asynchronous=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        root = zarr.open_group(FsspecStore(fs, read_only=True, path=""), mode="r")
        array = root["acquisition/ts/data"]
        assert isinstance(array, zarr.Array)
        np.testing.assert_array_equal(array[:], values["ts"])
        assert root.attrs["neurodata_type"] == "NWBFile"


def test_a_view_is_read_only(tmp_path: Path) -> None:
    _nwb(tmp_path / "f.nwb", ts=_floats())
    write_virtual(tmp_path / "f.nwb", tmp_path / "v.nwb.zarr")
    for mode in ("r+", "a"):
        with pytest.raises(ReadOnlyError, match="virtual view"):
            NWBZarrIO(tmp_path / "v.nwb.zarr", mode=mode).open()
    with pytest.raises(StoreExistsError):
        write_virtual(tmp_path / "f.nwb", tmp_path / "v.nwb.zarr")


def test_a_moved_or_truncated_hdf5_file_is_an_error_not_zeros(tmp_path: Path) -> None:
    values = _nwb(tmp_path / "f.nwb", ts=(_floats(), dict(chunks=(5000, 8))))
    view = tmp_path / "v.json"
    write_virtual(tmp_path / "f.nwb", view)
    shutil.move(tmp_path / "f.nwb", tmp_path / "g.nwb")
    with pytest.raises(MissingChunkError, match="moved or deleted"):
        read_nwb(view)
    shutil.move(tmp_path / "g.nwb", tmp_path / "f.nwb")
    with NWBZarrIO(view, "r") as io:  # truncated while a reader has the view open
        data = io.read().acquisition["ts"].data
        np.testing.assert_array_equal(data[:5], values["ts"][:5])
        size = (tmp_path / "f.nwb").stat().st_size
        with open(tmp_path / "f.nwb", "r+b") as fh:
            fh.truncate(size // 2)
        with pytest.raises(CorruptChunkError, match="truncated"):
            data[:]
    with pytest.raises(CorruptChunkError, match="changed or replaced"):
        read_nwb(view)


def _rewrite_target(view: Path, url: str) -> None:
    document = json.loads(view.read_text())
    document["templates"]["u"] = url
    document.pop("zarrbridge")
    view.write_text(json.dumps(document))


def test_a_local_view_does_not_reach_urls_unless_allowed(tmp_path: Path) -> None:
    _nwb(tmp_path / "f.nwb", ts=_floats())
    write_virtual(tmp_path / "f.nwb", tmp_path / "v.json")
    _rewrite_target(tmp_path / "v.json", "https://example.invalid/f.nwb")
    with pytest.raises(LocationError, match="may not open remote"):
        read_nwb(tmp_path / "v.json")
    store = open_view(tmp_path / "v.json", allow_external=True)
    assert store.referenced_files == ("https://example.invalid/f.nwb",)


def test_malformed_views_are_refused_with_clear_errors(tmp_path: Path) -> None:
    _nwb(tmp_path / "f.nwb", ts=_floats())
    view = tmp_path / "v.json"
    write_virtual(tmp_path / "f.nwb", view)
    good = json.loads(view.read_text())
    key = next(k for k, v in good["refs"].items() if isinstance(v, list))
    cases = [
        ({**good, "version": 2}, UnsupportedFormatVersionError, "format version 2"),
        ({**good, "zarrbridge": {"version": 9}}, UnsupportedFormatVersionError, "format version 9"),
        ({**good, "refs": {**good["refs"], key: ["{{u}}", -5, 10]}}, CorruptMetadataError, "bad byte range"),
        ({**good, "refs": {**good["refs"], key: {"x": 1}}}, CorruptMetadataError, "unknown reference"),
    ]
    for document, error, message in cases:
        view.write_text(json.dumps(document))
        with pytest.raises(error, match=message):
            read_nwb(view)
    view.write_text('{"version": 1, "refs": {"zarr.json": ')  # cut short
    with pytest.raises(CorruptMetadataError, match="not a JSON reference document"):
        read_nwb(view)


# ------------------------------------------------------------------------------ S3
class _Counter:
    def __init__(self) -> None:
        self.requests: list[str] = []


def _proxy_handler(target: str, counter: _Counter) -> type[BaseHTTPRequestHandler]:
    parts = urlsplit(target)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            counter.requests.append(f"{self.command} {self.path}")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            conn.request(self.command, self.path, body=body, headers=dict(self.headers.items()))
            reply = conn.getresponse()
            payload = reply.read()
            self.send_response(reply.status)
            for key, value in reply.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            conn.close()

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture()
def counting_proxy(s3_endpoint: str) -> Iterator[tuple[str, _Counter]]:
    """A request-counting HTTP proxy in front of the moto server."""
    counter = _Counter()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _proxy_handler(s3_endpoint, counter))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", counter
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.s3
def test_a_view_on_s3_of_a_file_on_s3_opens_in_two_requests(
    tmp_path: Path,
    s3_bucket: str,
    s3_storage_options: dict[str, Any],
    counting_proxy: tuple[str, _Counter],
) -> None:
    import fsspec

    values = _nwb(
        tmp_path / "f.nwb", ts=(_floats(), dict(chunks=(5000, 8), compression="gzip", shuffle=True))
    )
    fs = fsspec.filesystem("s3", **s3_storage_options)
    fs.put_file(str(tmp_path / "f.nwb"), f"{s3_bucket}/f.nwb")
    source, view = f"s3://{s3_bucket}/f.nwb", f"s3://{s3_bucket}/f.nwb.zarr.json"
    report = write_virtual(source, view, storage_options=s3_storage_options)
    assert report.referenced == ("/acquisition/ts/data",) and report.source == source
    refs = json.loads(fs.cat_file(f"{s3_bucket}/f.nwb.zarr.json"))
    assert refs["templates"]["u"] == source

    proxy, counter = counting_proxy
    options = {**s3_storage_options, "endpoint_url": proxy, "skip_instance_cache": True}
    with NWBZarrIO(view, "r", storage_options=options) as io:
        nwbfile = io.read()
        opened = list(counter.requests)
        assert len(opened) <= 2 and sum(r.startswith("GET ") for r in opened) == 1, opened
        np.testing.assert_array_equal(nwbfile.acquisition["ts"].data[:], values["ts"])
    assert len(counter.requests) > len(opened)  # the chunks came from the HDF5 file on S3

    fs.pipe_file(f"{s3_bucket}/f.nwb", (tmp_path / "f.nwb").read_bytes()[:-200_000])  # truncated
    with NWBZarrIO(view, "r", storage_options=options) as io:
        with pytest.raises(CorruptChunkError, match="truncated"):
            io.read().acquisition["ts"].data[:]


@pytest.mark.s3
def test_a_remote_view_never_opens_local_paths(
    tmp_path: Path, s3_bucket: str, s3_storage_options: dict[str, Any]
) -> None:
    import fsspec

    values = _nwb(tmp_path / "f.nwb", ts=_floats())
    write_virtual(tmp_path / "f.nwb", tmp_path / "v.json")  # references the local path
    fs = fsspec.filesystem("s3", **s3_storage_options)
    fs.put_file(str(tmp_path / "v.json"), f"{s3_bucket}/v.json")
    url = f"s3://{s3_bucket}/v.json"
    with pytest.raises(LocationError, match="may not open local files"):
        NWBZarrIO(url, "r", storage_options=s3_storage_options).open()
    with NWBZarrIO(url, "r", storage_options=s3_storage_options, allow_external_links=True) as io:
        np.testing.assert_array_equal(io.read().acquisition["ts"].data[:], values["ts"])


@pytest.mark.s3
def test_a_local_view_of_files_on_s3_and_https_reads_once_allowed(
    tmp_path: Path, s3_bucket: str, s3_storage_options: dict[str, Any]
) -> None:
    import fsspec

    values = _nwb(tmp_path / "f.nwb", ts=(_floats(), dict(chunks=(5000, 8), compression="gzip")))
    fs = fsspec.filesystem("s3", **s3_storage_options)
    fs.put_file(str(tmp_path / "f.nwb"), f"{s3_bucket}/f.nwb")
    view = tmp_path / "s3view.json"
    write_virtual(f"s3://{s3_bucket}/f.nwb", view, storage_options=s3_storage_options)
    with pytest.raises(LocationError, match="may not open remote"):
        read_nwb(view)  # a local file does not reach out to the network unless allowed
    store = open_view(view, allow_external=True, target_options={"s3": s3_storage_options})
    with NWBZarrIO(store, "r") as io:
        np.testing.assert_array_equal(io.read().acquisition["ts"].data[:], values["ts"])

    fs.chmod(f"{s3_bucket}/f.nwb", acl="public-read")  # moto then serves the object over plain HTTP
    url = f"{s3_storage_options['endpoint_url']}/{s3_bucket}/f.nwb"
    report = write_virtual(url, tmp_path / "httpview.json")
    assert report.source == url and report.referenced == ("/acquisition/ts/data",)
    with NWBZarrIO(tmp_path / "httpview.json", "r", allow_external_links=True) as io:
        np.testing.assert_array_equal(io.read().acquisition["ts"].data[:], values["ts"])


# ------------------------------------------------------------------------------ CLI
def test_convert_virtual_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from zarrbridge.cli.main import main

    values = _nwb(tmp_path / "f.nwb", ts=(_floats(), dict(chunks=(5000, 8), compression="gzip")))
    code = main(["convert", "--virtual", str(tmp_path / "f.nwb"), str(tmp_path / "f.nwb.zarr")])
    assert code == 0
    assert "1 datasets referenced (8 chunks" in capsys.readouterr().out
    np.testing.assert_array_equal(_data(tmp_path / "f.nwb.zarr", "ts"), values["ts"])
    assert (
        main(["convert", "--virtual", "--compressor", "zstd", str(tmp_path / "f.nwb"), str(tmp_path / "x")])
        == 1
    )
    assert "cannot apply to --virtual" in capsys.readouterr().err
