"""A lean httpx transport for plain-HTTP services: keep-alive connections of the standard library's ``http.client``.

A sampler's likelihood call is a few milliseconds end to end, and on a small, busy host httpx's default transport
(httpcore + h11, pure Python) costs the caller most of a millisecond per request; ``http.client`` parses the
answer in C and sends the headers and body in one write. This transport keeps the httpx interface (requests in,
``httpx.Response`` out, httpx's exception classes), so the client's retry logic and any ``httpx.Client`` work with
it unchanged. It speaks HTTP/1.1 over TCP only: https and proxies stay with httpx's own transport (see
:func:`lean_transport_applies`).

Connections are pooled: a request takes an idle connection (or opens one), and gives it back when the answer has
been read, so concurrent threads each use their own. A pooled connection that the server closed meanwhile (idle
keep-alive timeout) is noticed before use and replaced, so a request is never sent on a dead socket.
"""

from __future__ import annotations

import http.client
import select
import socket
import threading
import urllib.request

import httpx

#: Idle connections kept per transport (more concurrent requests than this open extra connections, closed after).
MAX_IDLE = 16


def lean_transport_applies(base_url: str) -> bool:
    """Whether :class:`KeepAliveTransport` can serve ``base_url`` as httpx would: plain ``http://``, and no proxy
    configured for it in the environment (``HTTP_PROXY``/``ALL_PROXY`` without a matching ``NO_PROXY``)."""
    url = httpx.URL(base_url)
    if url.scheme != "http" or not url.host:
        return False
    proxies = urllib.request.getproxies()
    if not (proxies.get("http") or proxies.get("all")):
        return True
    return bool(urllib.request.proxy_bypass(url.host))


def _timeouts(request: httpx.Request) -> tuple[float | None, float | None]:
    """(connect, read) seconds from httpx's per-request timeout extension (None = wait forever)."""
    timeout = request.extensions.get("timeout") or {}
    return timeout.get("connect"), timeout.get("read")


def _idle_is_usable(conn: http.client.HTTPConnection) -> bool:
    """An idle keep-alive connection can be reused unless the server closed it (its socket turned readable: EOF
    or unexpected bytes)."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


class KeepAliveTransport(httpx.BaseTransport):
    """``httpx.BaseTransport`` on ``http.client`` keep-alive connections (plain HTTP/1.1, no proxy)."""

    def __init__(self, max_idle: int = MAX_IDLE):
        self.max_idle = max_idle
        self._idle: dict[tuple[str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._closed = False

    # ------------------------------------------------------------------------------------------ pool
    def _checkout(self, host: str, port: int, connect_timeout: float | None) -> http.client.HTTPConnection:
        with self._lock:
            if self._closed:
                raise RuntimeError("the transport is closed")
            idle = self._idle.get((host, port), [])
            while idle:
                conn = idle.pop()
                if _idle_is_usable(conn):
                    return conn
                conn.close()
        conn = http.client.HTTPConnection(host, port, timeout=connect_timeout)
        try:
            conn.connect()
        except TimeoutError as exc:
            conn.close()
            raise httpx.ConnectTimeout(f"connecting to {host}:{port}: {exc}") from exc
        except OSError as exc:
            conn.close()
            raise httpx.ConnectError(f"connecting to {host}:{port}: {exc}") from exc
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def _checkin(self, host: str, port: int, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault((host, port), [])
            if not self._closed and len(idle) < self.max_idle:
                idle.append(conn)
                return
        conn.close()

    # ------------------------------------------------------------------------------------------ httpx API
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"{type(self).__name__} speaks plain http, not {url.scheme!r}")
        host, port = url.host, url.port or 80
        connect_timeout, read_timeout = _timeouts(request)
        body = request.read()
        conn = self._checkout(host, port, connect_timeout)
        try:
            status, reason, headers, content, reusable = self._exchange(conn, request, body, read_timeout)
        except BaseException:
            conn.close()
            raise
        if reusable:
            self._checkin(host, port, conn)
        else:
            conn.close()
        return httpx.Response(status, headers=headers, content=content, request=request,
                              extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason.encode("latin-1")})

    @staticmethod
    def _exchange(conn: http.client.HTTPConnection, request: httpx.Request, body: bytes,
                  read_timeout: float | None) -> tuple[int, str, list[tuple[bytes, bytes]], bytes, bool]:
        """Send one request and read its whole answer: (status, reason, headers, body, connection reusable)."""
        target = request.url.raw_path.decode("ascii")
        try:
            conn.sock.settimeout(read_timeout)
            conn.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in request.headers.raw:
                conn.putheader(name, value)
            conn.endheaders(body or None)  # the headers and a bytes body leave in one write
        except TimeoutError as exc:
            raise httpx.WriteTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpx.WriteError(f"{type(exc).__name__}: {exc}") from exc
        try:
            response = conn.getresponse()
            content = response.read()
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out") from exc
        except (http.client.RemoteDisconnected, http.client.BadStatusLine, http.client.IncompleteRead,
                http.client.LineTooLong) as exc:
            raise httpx.RemoteProtocolError(f"{type(exc).__name__}: {exc}") from exc
        except OSError as exc:
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}") from exc
        headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.getheaders()]
        return response.status, response.reason, headers, content, not response.will_close

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for conn in conns:
            conn.close()

