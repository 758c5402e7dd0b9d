"""One persistent HTTP/1.1 connection to one origin, shaped like a ``urllib`` opener.

Why: ``python_http_client`` (under ``sendgrid``) builds a new ``urllib`` opener, a new TCP
connection and, against api.sendgrid.com, a new TLS handshake for every request. A mail worker
sends hundreds of requests a second to the same origin; keeping one connection per thread open
removes the connect + handshake and the opener from every send.

:class:`KeepAliveConnection` has the one method ``python_http_client.Client._make_request`` calls
on its opener, ``open(request, timeout)``, and keeps urllib's contract so that the library and
the caller's error classification see exactly what they saw with urllib:

* failure while connecting or before the whole request is written → ``urllib.error.URLError``
  (the server cannot have a complete request: safe to retry);
* failure after the request was written (read timeout, connection reset or closed, bad status
  line) → the raw ``TimeoutError`` / ``OSError`` / ``http.client.HTTPException`` (the server may
  have acted on it: the caller must not retry blindly);
* a non-2xx answer → ``urllib.error.HTTPError`` carrying status, reason, headers and body, as
  urllib's ``HTTPErrorProcessor`` raises it;
* a 2xx answer → a response with ``getcode()``, ``read()`` and ``info()``.

Reuse rules (a pooled connection must never turn a send into an unknown one or a duplicate):

* before writing on a reused connection, the idle socket is polled: readable means the server
  closed it (EOF) or sent something unasked — either way it is dropped and a new one is opened,
  exactly as urllib3's ``is_connection_dropped`` does. The request is only ever written once.
* the whole body is read before the connection is kept; ``Connection: close`` and HTTP/1.0
  answers are not reused; any exception drops the connection.
* a connection idle for more than ``max_idle`` seconds (30 s) is not reused, see
  :data:`MAX_IDLE_SECONDS`.
* a connection belongs to the process that opened it (a forked child opens its own).

Not thread-safe by design: the caller keeps one per thread.
"""

from __future__ import annotations

import functools
import http.client
import io
import os
import select
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import Message
from urllib.parse import urlsplit

# Servers and load balancers close idle keep-alive connections after a timeout of their own
# (nginx 75 s, AWS ALB 60 s, node 5 s…). A close that crosses our next request on the wire is
# not detectable before writing and would turn that send into an UNKNOWN one. The poll before
# writing catches every close that has already arrived; staying well below the usual server
# timeouts keeps the crossing case away, and reconnecting after 30 s of silence costs nothing
# that matters (a worker that is busy sends far more often).
MAX_IDLE_SECONDS = 30.0


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """The verifying client context, built once (loading the CA store is the slow part)."""
    return ssl.create_default_context()


class BufferedResponse:
    """A fully read 2xx answer with the urllib response methods ``python_http_client`` uses."""

    __slots__ = ("_body", "_headers", "status")

    def __init__(self, status: int, headers: Message, body: bytes) -> None:
        self.status = status
        self._headers = headers
        self._body = body

    def getcode(self) -> int:
        return self.status

    def read(self) -> bytes:
        return self._body

    def info(self) -> Message:
        return self._headers


class KeepAliveConnection:
    """A reusable HTTP/1.1 connection to the origin of ``base_url`` (http or https)."""

    def __init__(
        self,
        base_url: str,
        *,
        max_idle: float = MAX_IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http(s) URL, got {base_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._max_idle = max_idle
        self._clock = clock
        self._ssl_context = ssl_context
        self._conn: http.client.HTTPConnection | None = None
        self._idle_since = 0.0
        self._pid = 0

    def close(self) -> None:
        """Drop the kept connection, if any (the next request opens a new one)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def open(
        self, request: urllib.request.Request, timeout: float | None = None
    ) -> BufferedResponse:
        """Send ``request`` once and read the whole answer; see the module docstring."""
        conn = self._connection(timeout)
        try:
            conn.request(
                request.get_method(),
                request.selector,
                body=request.data,
                headers=dict(request.header_items()),
            )
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            # Not (completely) written: the server cannot act on a truncated request.
            raise urllib.error.URLError(exc) from exc
        except BaseException:
            self.close()
            raise
        try:
            response = conn.getresponse()
            body = response.read()
        except BaseException:
            self.close()
            raise
        if response.will_close or response.version != 11:
            self.close()  # Connection: close, or an HTTP/1.0 answer: never reused
        else:
            self._idle_since = self._clock()
        if not 200 <= response.status < 300:
            raise urllib.error.HTTPError(
                request.full_url, response.status, response.reason, response.msg, io.BytesIO(body)
            )
        return BufferedResponse(response.status, response.msg, body)

    def _connection(self, timeout: float | None) -> http.client.HTTPConnection:
        """The kept connection if it is still usable, else a newly connected one."""
        conn = self._conn
        if conn is not None and not self._reusable(conn):
            self.close()
            conn = None
        if conn is None:
            conn = self._connect(timeout)
        elif conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def _reusable(self, conn: http.client.HTTPConnection) -> bool:
        if self._pid != os.getpid() or conn.sock is None:
            return False
        if self._clock() - self._idle_since > self._max_idle:
            return False
        return not _readable(conn.sock)

    def _connect(self, timeout: float | None) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if self._https:
            conn = http.client.HTTPSConnection(
                self._host,
                self._port,
                timeout=timeout,
                context=self._ssl_context or default_ssl_context(),
            )
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        try:
            conn.connect()
        except OSError as exc:  # refused, DNS, TLS, timeout: nothing was sent
            conn.close()
            raise urllib.error.URLError(exc) from exc
        self._conn = conn
        self._pid = os.getpid()
        return conn


def _readable(sock: socket.socket) -> bool:
    """True if an idle socket has something to read: the peer closed it (EOF) or misbehaved."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))
