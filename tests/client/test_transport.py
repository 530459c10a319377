"""The client's lean transport (``http.client`` keep-alive connections behind httpx's interface) against a real
HTTP/1.1 server: connection reuse, servers that close idle connections, timeouts and broken answers mapped to the
httpx exceptions the retry logic knows, concurrent threads, and when the client uses it at all."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from inversion_client import InversionClient, TransportError
from inversion_client._transport import KeepAliveTransport, lean_transport_applies


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless a handler closes

    def log_message(self, *args):  # quiet
        pass

    def _answer(self, status: int, body: bytes, close: bool = False, ctype: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        if close:
            self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.server.peers.append(self.client_address[1])
        if self.path.startswith("/slow"):
            time.sleep(0.5)
            self._answer(200, b"late")
        elif self.path == "/close":
            self._answer(200, b"bye", close=True)
            self.close_connection = True
        elif self.path == "/silent-close":  # keep-alive promised, then the server drops the connection anyway
            self._answer(200, b"dropped")
            self.close_connection = True
        elif self.path == "/truncated":
            self.send_response(200)
            self.send_header("content-length", "100")
            self.end_headers()
            self.wfile.write(b"short")
            self.close_connection = True
        else:
            self._answer(200, f"{self.command} {self.path} {self.headers.get('x-test', '')}".encode())

    def do_POST(self):
        self.server.peers.append(self.client_address[1])
        body = self.rfile.read(int(self.headers["content-length"]))
        self._answer(201, body[::-1], ctype="application/octet-stream")


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.peers = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _url(server, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def _get(transport, url, read_timeout=5.0, **headers) -> httpx.Response:
    timeout = httpx.Timeout(5.0, read=read_timeout)
    return transport.handle_request(httpx.Request("GET", url, headers=headers,
                                                  extensions={"timeout": timeout.as_dict()}))


def test_sequential_requests_share_one_connection_and_answers_are_httpx_responses(server):
    transport = KeepAliveTransport()
    answers = [_get(transport, _url(server, f"/a?i={i}"), **{"x-test": "yes"}) for i in range(5)]
    assert [r.text for r in answers] == [f"GET /a?i={i} yes" for i in range(5)]
    assert all(r.status_code == 200 and r.headers["content-type"] == "text/plain" for r in answers)
    assert answers[0].reason_phrase == "OK" and answers[0].http_version == "HTTP/1.1"
    assert len(set(server.peers)) == 1  # one TCP connection for all five

    posted = transport.handle_request(httpx.Request("POST", _url(server, "/echo"), content=b"abc" * 1000))
    assert posted.status_code == 201 and posted.content == b"cba" * 1000
    assert len(set(server.peers)) == 1
    transport.close()


def test_connections_the_server_closed_are_replaced_without_an_error(server):
    transport = KeepAliveTransport()
    assert _get(transport, _url(server, "/close")).text == "bye"  # said so: not pooled
    assert _get(transport, _url(server, "/silent-close")).text == "dropped"  # pooled, then dropped by the server
    time.sleep(0.1)
    assert _get(transport, _url(server, "/after")).text == "GET /after "  # noticed before use: a new connection
    assert len(set(server.peers)) == 3
    transport.close()


def test_failures_raise_the_httpx_exceptions_the_retries_know(server):
    transport = KeepAliveTransport()
    with pytest.raises(httpx.ReadTimeout):
        _get(transport, _url(server, "/slow"), read_timeout=0.1)
    assert _get(transport, _url(server, "/fine")).status_code == 200  # the timed-out connection was discarded
    with pytest.raises(httpx.RemoteProtocolError):
        _get(transport, _url(server, "/truncated"))
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        _get(transport, f"http://127.0.0.1:{port}/")
    with pytest.raises(httpx.UnsupportedProtocol):
        _get(transport, "https://127.0.0.1:1/")
    transport.close()
    with pytest.raises(RuntimeError, match="closed"):
        _get(transport, _url(server, "/"))


def test_concurrent_threads_each_get_a_connection(server):
    transport = KeepAliveTransport(max_idle=4)
    with ThreadPoolExecutor(8) as pool:
        texts = list(pool.map(lambda i: _get(transport, _url(server, f"/t{i}")).text, range(64)))
    assert texts == [f"GET /t{i} " for i in range(64)]
    assert 1 <= len(set(server.peers)) <= 64
    assert sum(len(idle) for idle in transport._idle.values()) <= 4  # the rest were closed, not hoarded
    transport.close()


def test_when_the_client_uses_the_lean_transport(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert lean_transport_applies("http://127.0.0.1:8000")
    assert not lean_transport_applies("https://inversions.example.org")
    assert InversionClient("http://127.0.0.1:8000")._lean is not None
    given = httpx.Client(base_url="http://127.0.0.1:8000")
    client = InversionClient("http://127.0.0.1:8000", http=given)  # an httpx.Client is used as given
    assert client._lean is None and client._http is given
    client.close()
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example.org:3128")
    assert not lean_transport_applies("http://inversions.example.org:8000")  # httpx would use the proxy
    monkeypatch.setenv("NO_PROXY", "inversions.example.org")
    assert lean_transport_applies("http://inversions.example.org:8000")
    assert InversionClient("http://inversions.example.org:8000")._lean is not None
    monkeypatch.delenv("NO_PROXY")
    assert InversionClient("http://inversions.example.org:8000")._lean is None  # httpx, with its proxy support


def test_the_client_retries_a_refused_connection_through_the_lean_transport():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    seen = []
    client = InversionClient(f"http://127.0.0.1:{port}", retries=1, backoff=0.01, on_retry=lambda *a: seen.append(a))
    assert client._lean is not None
    with pytest.raises(TransportError, match="after 2 attempts"):
        client.get_dataset("x")
    assert len(seen) == 1 and "ConnectError" in seen[0][2]
