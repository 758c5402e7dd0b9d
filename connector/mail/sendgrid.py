"""SendGrid v3 mail-send transport built on the official ``sendgrid`` library.

Exactly-once matters more than delivery here: SendGrid's ``POST /v3/mail/send`` has no
idempotency key, so a request that may have reached SendGrid is never sent again blindly.

Design of the HTTP path (issue 13): each thread keeps one :class:`_MailSendClient`, a small
``python_http_client.Client`` subclass built once from a ``SendGridAPIClient`` (its
Authorization, User-Agent and Accept headers, its host, version 3) for the ``mail/send`` path,
and one :class:`~connector.mail.keepalive.KeepAliveConnection` (a persistent HTTP/1.1
connection; HTTPS with one default SSL context per process). The request goes through the
library's documented seam ``_make_request(opener, request, timeout)`` with the pooled connection
as the opener, so the library's error tree (``handle_error`` → ``python_http_client.exceptions``)
and its ``Response`` are used unchanged, and the connection keeps urllib's contract (URLError
before the request is written, raw errors after). What the subclass does not take from the
library is its per-call ``http_request`` closure: that closure builds a new ``urllib`` opener
for every request (``build_opener()``, about 0.5 ms CPU: it introspects a dozen handler
classes and scans the environment for proxies), only to throw it away; ``post`` below encodes
the JSON body and the ``Request`` the same way and hands them to the seam. The library's own
``client.mail.send.post`` also built two ``Client`` objects per call. When a proxy is configured
in the environment for the API host, the library's urllib path is used as before (unpooled),
since the proxy handling lives in urllib.
"""

from __future__ import annotations

import http.client
import json
import random
import ssl
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import python_http_client
from python_http_client.client import Response
from python_http_client.exceptions import HTTPError as SendGridHTTPError
from sendgrid import SendGridAPIClient

from connector.mail.base import DeliveryOutcome, DeliveryResult, OutgoingMail
from connector.mail.keepalive import KeepAliveConnection

DEFAULT_HOST = "https://api.sendgrid.com"
MAX_CATEGORIES = 10  # SendGrid rejects more (OpenAPI: categories maxItems 10, uniqueItems)
MAX_CATEGORY_LENGTH = 255
_MAX_ERROR_CHARS = 500


def step_category(step: str) -> str:
    """The category every reminder of ``step`` carries, e.g. ``relance-step-first``."""
    return f"relance-step-{step}"


def build_payload(mail: OutgoingMail) -> dict[str, Any]:
    """The v3 mail-send JSON body for ``mail``.

    ``custom_args`` go on the (single) personalization: SendGrid copies them into every Event
    Webhook event exactly like message-level ones, and SendGrid's own OpenAPI spec types the
    message-level ``custom_args`` as a string (Prism rejects an object there).
    """
    to: dict[str, str] = {"email": mail.to_email}
    if mail.to_name:
        to["name"] = mail.to_name
    sender: dict[str, str] = {"email": mail.from_email}
    if mail.from_name:
        sender["name"] = mail.from_name
    custom_args = {
        "relance_message_id": str(mail.message_id),
        "reminder_id": str(mail.reminder_ids[0]) if mail.reminder_ids else "",
        "reminder_ids": ",".join(str(rid) for rid in mail.reminder_ids),
        "step": mail.step,
    }
    content = [
        {"type": mime, "value": value}
        for mime, value in (("text/plain", mail.text), ("text/html", mail.html))
        if value
    ]
    payload: dict[str, Any] = {
        "personalizations": [{"to": [to], "custom_args": custom_args}],
        "from": sender,
        "subject": mail.subject,
        "content": content,
        "categories": _categories(mail),
    }
    if mail.reply_to:
        payload["reply_to"] = {"email": mail.reply_to}
    return payload


def _categories(mail: OutgoingMail) -> list[str]:
    """Step category first, then the mail's own: non-empty, unique, at most 10 of 255 chars."""
    seen: list[str] = []
    for raw in (step_category(mail.step), *mail.categories):
        category = raw[:MAX_CATEGORY_LENGTH]
        if category and category not in seen:
            seen.append(category)
    return seen[:MAX_CATEGORIES]


class _MailSendClient(python_http_client.Client):
    """``POST /v3/mail/send`` through ``python_http_client`` on one thread's pooled connection.

    ``connection=None`` (a proxy is configured) sends through the library's own urllib path.
    """

    def __init__(self, api: SendGridAPIClient, connection: KeepAliveConnection | None) -> None:
        headers = {**api.client.request_headers, "Content-Type": "application/json"}
        super().__init__(
            host=api.host, request_headers=headers, version=3, url_path=["mail", "send"]
        )
        self.connection = connection
        self._url: str = self._build_url(None)

    def post(self, request_body: dict[str, Any], timeout: float) -> Response:
        """Like ``client.mail.send.post(request_body=, timeout=)``, without a new opener."""
        if self.connection is None:
            return self._build_client().post(request_body=request_body, timeout=timeout)
        request = urllib.request.Request(
            self._url,
            data=json.dumps(request_body).encode("utf-8"),
            headers=self.request_headers,
            method="POST",
        )
        return Response(self._make_request(self.connection, request, timeout=timeout))


def _uses_proxy(url: str) -> bool:
    """True when urllib would send requests to ``url`` through a proxy from the environment."""
    parts = urlsplit(url)
    return parts.scheme in urllib.request.getproxies() and not urllib.request.proxy_bypass(
        parts.netloc
    )


@dataclass(frozen=True, slots=True)
class _Attempt:
    """What one HTTP attempt gave: a final result, or a retryable error."""

    result: DeliveryResult | None = None
    error: str = ""
    wait_hint: float | None = None  # seconds the provider asked us to wait (Retry-After, …)


class SendGridTransport:
    """Sends one ``OutgoingMail`` through SendGrid's v3 API; never raises for a provider answer.

    Outcomes:

    * 200/202 → ``SENT`` with the ``X-Message-Id`` header as provider id (200 = sandbox mode).
    * 429 and 5xx → retried with jittered exponential backoff (``backoff_base * 2**n``, at
      least what ``Retry-After`` / ``X-RateLimit-Reset`` ask) until ``max_attempts`` HTTP
      attempts or ``budget_seconds`` (time in HTTP calls + waits) is spent → ``FAILED``.
      A wait that would overrun the budget is not started.
    * any other 4xx (400, 401, 403, 413…) → ``FAILED`` at once with SendGrid's messages.
    * connection refused, DNS failure, TLS failure, reset or timeout while connecting or
      writing the request → SendGrid cannot have a complete request: retried like a 5xx.
    * read timeout, or the connection lost after the whole request was written → ``UNKNOWN``,
      **never retried**: SendGrid has no idempotency key, so a retry could deliver the reminder
      twice. The runner hands an ``UNKNOWN`` send to a person (or to the Event Webhook
      reconciliation on ``custom_args.relance_message_id``).
    * a kept-alive connection the server closed while it was idle is seen before the request
      is written (the idle socket is readable) and replaced by a new one: the send goes out
      once, on the new connection, and is classified as above — never ``UNKNOWN`` for that.

    ``timeout`` is passed per request to ``python_http_client``'s ``_make_request``, which hands
    it to the pooled connection: it bounds the connect and each socket read and write.
    Each thread has its own library client and connection (built on its first send), so one
    transport is shared by threads without sharing the library's mutable header dict or a socket.
    ``ssl_context`` replaces the default verifying context (tests trust a local CA with it).
    """

    def __init__(
        self,
        api_key: str,
        host: str = DEFAULT_HOST,
        *,
        timeout: float = 10.0,
        max_attempts: int = 4,
        budget_seconds: float = 30.0,
        backoff_base: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("SendGrid API key is empty")
        parts = urlsplit(host)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"SendGrid host must be an http(s) URL, got {host!r}")
        if timeout <= 0:
            raise ValueError("timeout must be > 0")
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if budget_seconds < 0 or backoff_base < 0:
            raise ValueError("budget_seconds and backoff_base must be >= 0")
        self._api_key = api_key
        self._host = host.rstrip("/")
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._budget = budget_seconds
        self._backoff_base = backoff_base
        self._sleep = sleep
        self._random = random.Random()
        self._ssl_context = ssl_context
        self._proxied = _uses_proxy(self._host)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: weakref.WeakSet[KeepAliveConnection] = weakref.WeakSet()

    @property
    def host(self) -> str:
        """The API base URL requests go to (``host + /v3/mail/send``)."""
        return self._host

    @property
    def timeout(self) -> float:
        """Per-request socket timeout in seconds."""
        return self._timeout

    def close(self) -> None:
        """Close every thread's pooled connection; call it when no send is in flight.

        Threads reconnect on their next send. A thread's connection is also closed when the
        thread ends or the transport is garbage-collected.
        """
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.close()

    def _client(self) -> _MailSendClient:
        """This thread's library client and pooled connection, built on its first send."""
        client: _MailSendClient | None = getattr(self._local, "client", None)
        if client is None:
            connection = (
                None
                if self._proxied
                else KeepAliveConnection(self._host, ssl_context=self._ssl_context)
            )
            client = _MailSendClient(SendGridAPIClient(self._api_key, host=self._host), connection)
            if connection is not None:
                weakref.finalize(client, connection.close)  # the thread ended: close its socket
                with self._lock:
                    self._connections.add(connection)
            self._local.client = client
        return client

    def send(self, mail: OutgoingMail) -> DeliveryResult:
        """Deliver ``mail`` at most once; see the class docstring for the outcomes."""
        payload = build_payload(mail)
        client = self._client()
        attempts = 0
        spent = 0.0
        while True:
            attempts += 1
            started = time.monotonic()
            attempt = self._attempt(client, payload)
            spent += time.monotonic() - started
            if attempt.result is not None:
                return _with_attempts(attempt.result, attempts)
            if attempts >= self._max_attempts:
                return DeliveryResult(
                    DeliveryOutcome.FAILED,
                    error=f"{attempt.error} (gave up after {_attempts(attempts)})",
                    attempts=attempts,
                )
            wait = self._wait_before_retry(attempts, attempt.wait_hint)
            if spent + wait > self._budget:
                return DeliveryResult(
                    DeliveryOutcome.FAILED,
                    error=(
                        f"{attempt.error} (gave up after {_attempts(attempts)}: waiting "
                        f"{wait:.2f}s more would exceed the {self._budget:g}s retry budget)"
                    ),
                    attempts=attempts,
                )
            self._sleep(wait)
            spent += wait

    def _attempt(self, client: _MailSendClient, payload: dict[str, Any]) -> _Attempt:
        """One HTTP request, classified."""
        try:
            response = client.post(request_body=payload, timeout=self._timeout)
        except SendGridHTTPError as exc:
            return _from_http_error(exc)
        except urllib.error.URLError as exc:
            # urllib and the pooled connection wrap only errors raised while connecting / writing
            # the request: SendGrid cannot have a complete request, so a retry cannot duplicate.
            return _Attempt(error=f"SendGrid unreachable, request not sent: {exc.reason}")
        except TimeoutError:
            return _Attempt(
                result=DeliveryResult(
                    DeliveryOutcome.UNKNOWN,
                    error=(
                        f"no answer from SendGrid within {self._timeout:g}s after the request "
                        "was sent; it may have been accepted (no idempotency key: not retried)"
                    ),
                )
            )
        except (OSError, http.client.HTTPException) as exc:
            return _Attempt(
                result=DeliveryResult(
                    DeliveryOutcome.UNKNOWN,
                    error=(
                        "connection to SendGrid lost after the request was sent "
                        f"({type(exc).__name__}: {exc}); it may have been accepted (not retried)"
                    ),
                )
            )
        except Exception as exc:  # unexpected: the request may have gone out
            return _Attempt(
                result=DeliveryResult(
                    DeliveryOutcome.UNKNOWN,
                    error=f"unexpected error calling SendGrid ({type(exc).__name__}: {exc})",
                )
            )
        status = int(response.status_code)
        if 200 <= status < 300:
            message_id = _header(response.headers, "X-Message-Id")
            return _Attempt(result=DeliveryResult(DeliveryOutcome.SENT, message_id or None))
        return _Attempt(
            result=DeliveryResult(
                DeliveryOutcome.FAILED, error=f"SendGrid answered an unexpected {status}"
            )
        )

    def _wait_before_retry(self, attempts: int, hint: float | None) -> float:
        """Jittered exponential backoff, never shorter than the provider's hint."""
        backoff = self._backoff_base * 2.0 ** (attempts - 1)
        jittered = backoff * self._random.uniform(0.5, 1.0)
        return max(jittered, hint) if hint is not None else jittered


def _attempts(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"


def _with_attempts(result: DeliveryResult, attempts: int) -> DeliveryResult:
    return DeliveryResult(result.outcome, result.provider_message_id, result.error, attempts)


def _from_http_error(exc: SendGridHTTPError) -> _Attempt:
    """Classify a non-2xx answer: 429/5xx retryable, every other status final."""
    status = int(exc.status_code)
    headers = exc.headers
    error = f"SendGrid {status}: {_error_details(exc.body, headers) or exc.reason}"
    if status == 429 or status >= 500:
        return _Attempt(error=error, wait_hint=_wait_hint(headers))
    return _Attempt(result=DeliveryResult(DeliveryOutcome.FAILED, error=error))


def _header(headers: Any, name: str) -> str | None:
    """A header value from an ``http.client.HTTPMessage`` (or any mapping), case-insensitive."""
    if headers is None:
        return None
    value = headers.get(name)
    if value is None and isinstance(headers, Mapping):
        lowered = name.lower()
        value = next((v for k, v in headers.items() if str(k).lower() == lowered), None)
    return None if value is None else str(value)


def _error_details(body: Any, headers: Any) -> str:
    """SendGrid's ``{"errors":[{"message","field"}]}`` and Prism's ``sl-violations``, joined."""
    details: list[str] = []
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    try:
        parsed = json.loads(text) if text.strip() else None
    except ValueError:
        parsed = None
    errors = parsed.get("errors") if isinstance(parsed, dict) else None
    if isinstance(errors, list):
        for item in errors:
            if isinstance(item, dict) and item.get("message"):
                field = item.get("field")
                details.append(f"{field}: {item['message']}" if field else str(item["message"]))
    elif text.strip():
        details.append(text.strip())
    violations = _header(headers, "sl-violations")
    if violations:
        try:
            items = json.loads(violations)
            details.extend(
                str(v["message"]) for v in items if isinstance(v, dict) and v.get("message")
            )
        except (ValueError, TypeError):
            details.append(violations)
    return "; ".join(details)[:_MAX_ERROR_CHARS]


def _wait_hint(headers: Any) -> float | None:
    """Seconds to wait from ``Retry-After`` (delay or HTTP date) or ``X-RateLimit-Reset``."""
    retry_after = _header(headers, "Retry-After")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(retry_after)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
    reset = _header(headers, "X-RateLimit-Reset")
    if reset:
        try:
            value = float(reset)
        except ValueError:
            return None
        # SendGrid sends a Unix time; a small number can only be a delay in seconds.
        return max(0.0, value - time.time()) if value > 1e9 else max(0.0, value)
    return None
