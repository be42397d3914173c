"""S3 stores: an unreachable endpoint is reported by the S3 client itself, quickly, naming the endpoint;
a proxy (``HTTP_PROXY``) is honoured, so a store reachable only through it works."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
from tests.djcodecs.conftest import Database, declare_recording

dj = pytest.importorskip("datajoint")

from zarrbridge.djcodecs.stores import CONNECT_TIMEOUT_S, MAX_ATTEMPTS  # noqa: E402
from zarrbridge.errors import StoreUnreachableError  # noqa: E402

pytestmark = [pytest.mark.db, pytest.mark.s3]


def dead_endpoint() -> str:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def test_unreachable_endpoint_on_insert_and_fetch(
    postgres: Database, s3_store: dict[str, Any], make_schema: Any
) -> None:
    live = postgres.instance({"main": s3_store})
    schema = make_schema(live)
    Recording = declare_recording(schema)
    Recording.insert1({"recording_id": 1, "waveform": np.arange(10.0)})
    dead = dead_endpoint()
    down = postgres.instance({"main": {**s3_store, "endpoint": dead}})
    Down = declare_recording(down.Schema(schema.database))
    started = time.monotonic()
    with pytest.raises(StoreUnreachableError, match=f"store 'main' at 'http://{dead}' cannot be reached"):
        Down.insert1({"recording_id": 2, "waveform": np.ones(3)})
    assert time.monotonic() - started < MAX_ATTEMPTS * CONNECT_TIMEOUT_S  # botocore alone: about 6 s
    started = time.monotonic()
    with pytest.raises(StoreUnreachableError, match="EndpointConnectionError"):
        (Down & {"recording_id": 1}).fetch1("waveform")
    assert time.monotonic() - started < MAX_ATTEMPTS * CONNECT_TIMEOUT_S
    assert len(Recording()) == 1
    np.testing.assert_array_equal(Recording.fetch1("waveform")[:], np.arange(10.0))


class _Forwarder(BaseHTTPRequestHandler):
    """A plain HTTP proxy: absolute-URI requests forwarded to the one upstream (the moto server)."""

    protocol_version = "HTTP/1.1"  # answers botocore's "Expect: 100-continue" before it sends a body
    upstream: tuple[str, int] = ("127.0.0.1", 0)
    seen: list[str] = []

    def _forward(self) -> None:
        target = urlsplit(self.path)
        self.seen.append(f"{self.command} {target.netloc} -> {self.upstream}")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "host", "expect")
        }
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        path = target.path + (f"?{target.query}" if target.query else "")
        conn.request(self.command, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture()
def proxy(s3_endpoint: str) -> Iterator[tuple[str, list[str]]]:
    upstream = urlsplit(s3_endpoint)
    handler = type("Handler", (_Forwarder,), {"upstream": (upstream.hostname, upstream.port), "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_store_reachable_only_through_a_proxy_works(
    postgres: Database,
    s3_store: dict[str, Any],
    make_schema: Any,
    proxy: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The endpoint's name resolves nowhere; the proxy in HTTP_PROXY reaches it
    (a raw TCP probe could not)."""
    url, seen = proxy
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.setenv("http_proxy", url)
    inst = postgres.instance({"main": {**s3_store, "endpoint": "zbproxied:9000"}})
    Recording = declare_recording(make_schema(inst))
    data = np.arange(40.0).reshape(8, 5)
    Recording.insert1({"recording_id": 1, "waveform": data})
    np.testing.assert_array_equal(Recording.fetch1("waveform")[:], data)
    assert any(s.startswith("PUT zbproxied:9000") for s in seen) and any(s.startswith("GET") for s in seen)
