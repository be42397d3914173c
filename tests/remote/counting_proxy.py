"""A request-counting HTTP proxy in front of an S3 server (moto), with an optional delay per request.

Shared by the remote tests (``tests/remote``) and ``benchmarks/bench_remote.py``. Clients are pointed at the
proxy as their S3 endpoint (``endpoint_url=proxy.url``), given URLs on it (presigned URLs for ``remfile``) or
use it as their HTTP proxy (``HTTP_PROXY``: requests for any host go to the upstream server);
the proxy forwards each request to the upstream server unchanged, records its method and path, and answers
with the upstream response. ``latency_s`` is slept once per request before it is forwarded, as a round trip
to a distant object store would cost; concurrent requests wait concurrently (one thread per connection), so
a client that overlaps its requests gains what it would gain against a real store.

Also :class:`MotoProcess`, a moto server in its own process on 127.0.0.1, port 0 (the port the system gives).
"""

from __future__ import annotations

import http.client
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["CountingProxy", "MotoProcess", "Request"]

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "proxy-connection",
}


@dataclass(frozen=True)
class Request:
    """One request the proxy forwarded."""

    method: str
    path: str  # unquoted path, without the query string
    query: str
    range: str | None
    status: int
    start: float  # time.monotonic() when it arrived
    end: float  # when its answer was sent

    @property
    def key(self) -> str:
        """The object key without the bucket (path-style URLs: ``/bucket/key``)."""
        parts = self.path.lstrip("/").split("/", 1)
        return parts[1] if len(parts) == 2 else ""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _forward(self) -> None:
        arrived = time.monotonic()
        proxy = self.server.proxy
        body = self._body()
        proxy._enter()
        try:
            if proxy.latency_s > 0:
                time.sleep(proxy.latency_s)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            if body or self.command in ("PUT", "POST"):
                headers["Content-Length"] = str(len(body))
            target = urlsplit(self.path)  # (an absolute URI when used as a forward proxy: HTTP_PROXY)
            upstream_path = target.path + (f"?{target.query}" if target.query else "")
            if target.netloc:  # the upstream's own name, not the one the client asked for
                headers = {k: v for k, v in headers.items() if k.lower() != "host"}
            conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=120)
            try:
                conn.request(self.command, upstream_path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                status, reason, out_headers = resp.status, resp.reason, resp.getheaders()
            finally:
                conn.close()
        finally:
            proxy._leave()
        self.send_response(status, reason)
        for name, value in out_headers:
            if name.lower() in _HOP_BY_HOP or (name.lower() == "content-length" and self.command != "HEAD"):
                continue
            self.send_header(name, value)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)
        parts = urlsplit(self.path)
        proxy._record(
            Request(
                self.command,
                unquote(parts.path),
                parts.query,
                self.headers.get("Range"),
                status,
                arrived,
                time.monotonic(),
            )
        )

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, proxy: CountingProxy) -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that hung up: nothing to report
            super().handle_error(request, client_address)


class CountingProxy:
    """Forward HTTP requests to ``upstream`` (``http://host:port``) and count them.

    Parameters
    ----------
    upstream
        The S3 server's endpoint URL.
    latency_s
        Seconds slept per request before it is forwarded (settable at any time).

    Examples
    --------
    >>> with CountingProxy.running("http://127.0.0.1:5000") as proxy:  # doctest: +SKIP
    ...     s3fs.S3FileSystem(endpoint_url=proxy.url).ls("bucket")
    ...     proxy.counts()
    Counter({'GET': 1})
    """

    def __init__(self, upstream: str, *, latency_s: float = 0.0) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.latency_s = latency_s
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._active = 0
        self.peak = 0
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, name="counting-proxy", daemon=True)

    @classmethod
    @contextmanager
    def running(cls, upstream: str, *, latency_s: float = 0.0) -> Iterator[CountingProxy]:
        """A started proxy, stopped at the end of the ``with`` block."""
        proxy = cls(upstream, latency_s=latency_s)
        proxy.start()
        try:
            yield proxy
        finally:
            proxy.stop()

    @property
    def url(self) -> str:
        """The proxy's endpoint URL (``http://127.0.0.1:PORT``)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _enter(self) -> None:
        with self._lock:
            self._active += 1
            self.peak = max(self.peak, self._active)

    def _leave(self) -> None:
        with self._lock:
            self._active -= 1

    def _record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    def reset(self) -> None:
        """Forget the requests counted so far (and the peak concurrency)."""
        with self._lock:
            self._requests = []
            self.peak = self._active

    @property
    def requests(self) -> list[Request]:
        """The requests forwarded since the last :meth:`reset`, in the order they were answered."""
        with self._lock:
            return list(self._requests)

    def counts(self) -> Counter[str]:
        """Requests by HTTP method (``GET``, ``HEAD``, ``PUT``...)."""
        return Counter(r.method for r in self.requests)

    def lists(self) -> list[Request]:
        """The LIST requests (``GET`` of a bucket with a ``list-type``/``prefix`` query)."""
        return [
            r for r in self.requests if r.method == "GET" and ("list-type" in r.query or "prefix=" in r.query)
        ]

    def key_counts(self, method: str | None = None) -> Counter[str]:
        """How many times each object key was requested (optionally by one method only)."""
        return Counter(r.key for r in self.requests if method is None or r.method == method)

    def mean_concurrency(self, requests: list[Request] | None = None) -> float:
        """Mean number of requests in flight while any was (total request time / busy time), of all requests
        since the last reset or of ``requests``."""
        spans = sorted((r.start, r.end) for r in (self.requests if requests is None else requests))
        if not spans:
            return 0.0
        busy, (cur_start, cur_end) = 0.0, spans[0]
        for start, end in spans[1:]:
            if start > cur_end:
                busy += cur_end - cur_start
                cur_start, cur_end = start, end
            else:
                cur_end = max(cur_end, end)
        busy += cur_end - cur_start
        total = sum(end - start for start, end in spans)
        return total / busy if busy > 0 else float(len(spans))


_MOTO_MAIN = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""


class MotoProcess:
    """A moto S3 server in a subprocess on 127.0.0.1, on the port the system picks (port 0)."""

    def __init__(self, *, env: dict[str, str] | None = None) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _MOTO_MAIN],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if not line.isdigit():
            self._proc.kill()
            raise RuntimeError("the moto server did not start")
        self.url = f"http://127.0.0.1:{int(line)}"

    def stop(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def __enter__(self) -> MotoProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
