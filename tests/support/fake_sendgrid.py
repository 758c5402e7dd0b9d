"""A local HTTP server speaking SendGrid's v3 mail-send wire format, for tests and benchmarks.

    with FakeSendGrid(api_key="SG.test", latency=0.02) as fake:
        transport = SendGridTransport("SG.test", host=fake.url)
        fake.script([500, 429, 202])          # then the next requests get these answers
        ...
        assert fake.accepted_reminder_ids()[42] == 1

Run it in another process with ``python -m tests.support.fake_sendgrid --port 0 --latency 0.02``:
it prints its URL on the first line of stdout; ``GET /_fake/stats`` returns its counters.

Scripted ``"hang"``: the request is validated and, if valid, ACCEPTED (counted, as SendGrid would
have queued it) but the answer is held for ``hang_seconds`` (or until the server stops) — the
client's read timeout fires, which is exactly the "sent but no answer" case. Scripted ``"drop"``:
accepted the same way, then the connection is closed without any answer.

It speaks HTTP/1.1 keep-alive like SendGrid: every answer has a ``Content-Length`` and the
connection stays open for the next request until the client closes it, the answer says
``Connection: close``, or it has been idle for ``keepalive_timeout`` seconds (then the server
closes it, as real servers do). ``connections_total`` counts the TCP connections accepted, so
tests can assert that a client reuses them. ``tls=LocalTLS.create(folder)`` serves HTTPS with a
certificate for 127.0.0.1 signed by a throwaway CA (``--tls-dir`` on the command line).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import secrets
import signal
import socket
import ssl
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MAIL_SEND_PATH = "/v3/mail/send"
STATS_PATH = "/_fake/stats"
HANG: Literal["hang"] = "hang"
DROP: Literal["drop"] = "drop"

AUTH_ERROR = "The provided authorization grant is invalid, expired, or revoked"
_DEFAULT_MESSAGES = {
    400: "Bad Request",
    401: AUTH_ERROR,
    403: "access forbidden",
    404: "resource not found",
    413: "The JSON payload you have included in your request is too large.",
    429: "too many requests",
    500: "internal server error",
    502: "bad gateway",
    503: "service unavailable",
}


@dataclass(frozen=True, slots=True)
class Reply:
    """A scripted answer: status, extra headers, and a body (default: SendGrid's error JSON)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None  # bytes/str sent as is, anything else JSON-encoded; None → default
    http_version: str = "HTTP/1.1"  # "HTTP/1.0": an old server's status line (still kept open)


ScriptItem = int | Reply | Literal["hang", "drop"]


@dataclass(frozen=True, slots=True)
class AcceptedMail:
    """One request the fake answered 202 (or would have, for ``"hang"``)."""

    message_id: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LocalTLS:
    """A throwaway CA and a certificate for 127.0.0.1 it signed, as PEM files in one folder."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def create(cls, folder: Path) -> LocalTLS:
        """The files in ``folder``, generated unless they are already there."""
        tls = cls(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
        if not (tls.ca.exists() and tls.cert.exists() and tls.key.exists()):
            folder.mkdir(parents=True, exist_ok=True)
            _write_certificates(tls)
        return tls

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts only the throwaway CA."""
        return ssl.create_default_context(cafile=str(self.ca))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def _write_certificates(tls: LocalTLS) -> None:
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Relance test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    tls.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    tls.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tls.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def error_body(message: str, field_name: str | None = None) -> dict[str, Any]:
    """SendGrid's error envelope."""
    return {"errors": [{"message": message, "field": field_name, "help": None}]}


def validate_mail(body: Any) -> list[dict[str, Any]]:
    """SendGrid-like minimal validation of a mail-send body; returns the error items."""
    if not isinstance(body, dict):
        return [{"message": "Bad Request", "field": None, "help": None}]
    errors: list[dict[str, Any]] = []

    def add(message: str, field_name: str | None) -> None:
        errors.append({"message": message, "field": field_name, "help": None})

    sender = body.get("from")
    if not isinstance(sender, dict) or not sender.get("email"):
        add(
            "The from object must be provided for every email send. It is an object that "
            "requires the email parameter, but may also contain a name parameter.",
            "from.email",
        )
    elif not _looks_like_address(sender["email"]):
        add("The from email does not contain a valid address.", "from.email")
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        add(
            "The personalizations field is required and must have at least one personalization.",
            "personalizations",
        )
        personalizations = []
    for index, item in enumerate(personalizations):
        to = item.get("to") if isinstance(item, dict) else None
        if not isinstance(to, list) or not to or not isinstance(to[0], dict):
            add(
                "The to array is required for all personalization objects, and must have at "
                "least one email object with a valid email address.",
                f"personalizations.{index}.to",
            )
        elif not _looks_like_address(to[0].get("email")):
            add("Does not contain a valid address.", f"personalizations.{index}.to.0.email")
        if isinstance(item, dict) and not _string_values(item.get("custom_args")):
            add("Bad Request", None)  # what SendGrid answers for non-string custom_args
    subject_everywhere = all(isinstance(p, dict) and p.get("subject") for p in personalizations)
    if not body.get("subject") and not (personalizations and subject_everywhere):
        add(
            "The subject is required. You can get around this requirement if you use a "
            "template with a subject defined or if every personalization has a subject defined.",
            "subject",
        )
    content = body.get("content")
    if not isinstance(content, list) or not content:
        add(
            "Unless a valid template_id is provided, the content parameter is required. "
            "There must be at least one defined content block.",
            "content",
        )
    else:
        for index, block in enumerate(content):
            if not isinstance(block, dict) or not block.get("value"):
                add(
                    "The content value must be a string at least one character in length.",
                    f"content.{index}.value",
                )
    if not _string_values(body.get("custom_args")):
        add("Bad Request", None)
    return errors


def _looks_like_address(value: Any) -> bool:
    return isinstance(value, str) and "@" in value.strip("@") and " " not in value


def _string_values(custom_args: Any) -> bool:
    if custom_args is None:
        return True
    return isinstance(custom_args, dict) and all(isinstance(v, str) for v in custom_args.values())


def reminder_ids_of(body: Mapping[str, Any]) -> list[int]:
    """The reminder ids a mail-send body carries (``custom_args.reminder_ids``, comma-joined)."""
    found: list[int] = []
    args_list: list[Any] = [body.get("custom_args")]
    for item in body.get("personalizations") or []:
        if isinstance(item, dict):
            args_list.append(item.get("custom_args"))
    for args in args_list:
        if isinstance(args, dict) and args.get("reminder_ids"):
            return [int(part) for part in str(args["reminder_ids"]).split(",") if part.strip()]
    return found


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True
    fake: FakeSendGrid

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up (read timeouts, benchmarks killed) are normal here."""

    def process_request(self, request: Any, client_address: Any) -> None:
        """Count the connection and remember it (``stop`` closes the ones still open)."""
        self.fake._connection_opened(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        self.fake._connection_closed(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.fake.keepalive_timeout)  # idle: closed after
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()  # here, not in the accepting thread

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: hundreds of requests per test."""

    def do_POST(self) -> None:
        self.server.fake._handle_post(self)

    def do_GET(self) -> None:
        self.server.fake._handle_get(self)

    def _reply(
        self,
        status: int,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        http_version: str = "HTTP/1.1",
    ) -> None:
        """Write one response; a client that already hung up is ignored."""
        if body is None:
            payload = b""
        elif isinstance(body, bytes):
            payload = body
        elif isinstance(body, str):
            payload = body.encode("utf-8")
        else:
            payload = json.dumps(body).encode("utf-8")
        try:
            self.protocol_version = http_version
            self.send_response(status)
            self.protocol_version = _Handler.protocol_version
            if payload:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError:
            self.close_connection = True


class FakeSendGrid:
    """Threaded fake of ``POST /v3/mail/send`` on 127.0.0.1; a context manager.

    ``api_key=None`` accepts any non-empty Bearer key. Counters are thread-safe.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        latency: float = 0.0,
        hang_seconds: float = 30.0,
        keepalive_timeout: float = 30.0,
        tls: LocalTLS | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.latency = latency
        self.hang_seconds = hang_seconds
        self.keepalive_timeout = keepalive_timeout
        self.tls = tls
        self._bind = (host, port)
        self._lock = threading.Lock()
        self._script: deque[ScriptItem] = deque()
        self._received: list[dict[str, Any]] = []
        self._accepted: list[AcceptedMail] = []
        self._requests_total = 0
        self._connections_total = 0
        self._connections_closed = 0
        self._open_connections: set[socket.socket] = set()
        self._release = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeSendGrid:
        """Bind and serve in a daemon thread."""
        if self._server is not None:
            return self
        self._release.clear()
        server = _Server(self._bind, _Handler)
        server.fake = self
        if self.tls is not None:
            server.socket = self.tls.server_context().wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release hanging requests, stop serving, close kept-alive connections and the socket."""
        self._release.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            still_open = list(self._open_connections)
        for sock in still_open:  # their handler threads wake up and end
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSendGrid:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeSendGrid is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The host to give ``SendGridAPIClient(host=...)``."""
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    # control and counters ----------------------------------------------------------------

    def script(self, items: Iterable[ScriptItem]) -> None:
        """Queue answers for the next authorized requests (2xx answers still validate)."""
        with self._lock:
            self._script.extend(items)

    def reset(self) -> None:
        """Forget the script and every counter."""
        with self._lock:
            self._script.clear()
            self._received.clear()
            self._accepted.clear()
            self._requests_total = 0
            self._connections_total = 0
            self._connections_closed = 0

    @property
    def received(self) -> list[dict[str, Any]]:
        """Every parsed JSON body that passed authentication, in arrival order (a copy)."""
        with self._lock:
            return list(self._received)

    @property
    def accepted(self) -> list[AcceptedMail]:
        """Every request accepted (202, or held by ``"hang"``), in order (a copy)."""
        with self._lock:
            return list(self._accepted)

    @property
    def requests_total(self) -> int:
        """Every HTTP request to the mail-send path, whatever its answer."""
        with self._lock:
            return self._requests_total

    @property
    def connections_total(self) -> int:
        """TCP connections accepted (a keep-alive client sends many requests on one)."""
        with self._lock:
            return self._connections_total

    @property
    def connections_closed(self) -> int:
        """Connections the server has closed (idle timeout, ``Connection: close``, client gone)."""
        with self._lock:
            return self._connections_closed

    def wait_for_closed_connections(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``connections_closed >= count``; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.connections_closed < count:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def accepted_reminder_ids(self) -> Counter[int]:
        """How many accepted mails carried each reminder id: the exactly-once check."""
        counts: Counter[int] = Counter()
        for mail in self.accepted:
            counts.update(reminder_ids_of(mail.body))
        return counts

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``requests_total >= count``; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.requests_total < count:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def stats(self) -> dict[str, Any]:
        """Counters as JSON-able data (also served at ``GET /_fake/stats``)."""
        return {
            "requests_total": self.requests_total,
            "connections_total": self.connections_total,
            "received": len(self.received),
            "accepted": len(self.accepted),
            "accepted_reminder_ids": {
                str(k): v for k, v in sorted(self.accepted_reminder_ids().items())
            },
        }

    # request handling --------------------------------------------------------------------

    def _connection_opened(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections_total += 1
            self._open_connections.add(sock)

    def _connection_closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._open_connections.discard(sock)
            self._connections_closed += 1

    def _handle_get(self, handler: _Handler) -> None:
        if urlsplit(handler.path).path == STATS_PATH:
            handler._reply(200, self.stats())
        else:
            handler._reply(404, error_body("resource not found"))

    def _handle_post(self, handler: _Handler) -> None:
        raw = self._read_body(handler)
        if urlsplit(handler.path).path != MAIL_SEND_PATH:  # absolute form: as a proxy
            handler._reply(404, error_body("resource not found"))
            return
        with self._lock:
            self._requests_total += 1
        if not self._authorized(handler.headers.get("Authorization")):
            self._pause(self.latency)
            handler._reply(401, error_body(AUTH_ERROR))
            return
        try:
            body = json.loads(raw.decode("utf-8"))
        except ValueError:
            body = None
        with self._lock:
            if isinstance(body, dict):
                self._received.append(body)
            item: ScriptItem | None = self._script.popleft() if self._script else None
        self._pause(self.latency)
        if item == HANG:
            status, payload, headers = self._validate_and_accept(body)
            self._release.wait(self.hang_seconds)
            handler.close_connection = True
            handler._reply(status, payload, headers)
            return
        if item == DROP:
            self._validate_and_accept(body)
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return
        reply = Reply(item) if isinstance(item, int) else item
        if isinstance(reply, Reply) and not 200 <= reply.status < 300:
            payload = reply.body
            if payload is None:
                message = _DEFAULT_MESSAGES.get(reply.status, "error")
                payload = error_body(message)
            handler._reply(reply.status, payload, reply.headers, reply.http_version)
            return
        status, payload, headers = self._validate_and_accept(body)
        version = "HTTP/1.1"
        if isinstance(reply, Reply):
            headers = {**headers, **reply.headers}
            status = reply.status if status == 202 else status
            version = reply.http_version
        handler._reply(status, payload, headers, version)

    def _validate_and_accept(self, body: Any) -> tuple[int, Any, dict[str, str]]:
        errors = validate_mail(body)
        if errors:
            return 400, {"errors": errors}, {}
        message_id = secrets.token_urlsafe(16)
        with self._lock:
            self._accepted.append(AcceptedMail(message_id, body))
        return 202, None, {"X-Message-Id": message_id}

    def _authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        key = header[len("Bearer ") :].strip()
        return bool(key) and (self.api_key is None or key == self.api_key)

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self._release.wait(seconds)

    @staticmethod
    def _read_body(handler: _Handler) -> bytes:
        length = int(handler.headers.get("Content-Length") or 0)
        return handler.rfile.read(length) if length > 0 else b""


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM; print the URL first."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="0 = a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before answering")
    parser.add_argument("--api-key", default=None, help="require this Bearer key (default: any)")
    parser.add_argument(
        "--tls-dir", type=Path, default=None, help="serve HTTPS, CA and certificate in this folder"
    )
    parser.add_argument(
        "--keepalive-timeout", type=float, default=30.0, help="close connections idle this long"
    )
    args = parser.parse_args(argv)
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    with FakeSendGrid(
        api_key=args.api_key,
        latency=args.latency,
        port=args.port,
        keepalive_timeout=args.keepalive_timeout,
        tls=LocalTLS.create(args.tls_dir) if args.tls_dir else None,
    ) as fake:
        print(fake.url, flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
