"""What every local platform stand-in shares: a threaded HTTP server on 127.0.0.1, answers
scripted per (method, route), and fault injection (fail after N answers, a malformed N-th page).

A platform fake subclasses :class:`ScriptedFake`, says how its errors look (``error_body``) and
which headers every answer carries (``ANSWER_HEADERS``), and implements ``handle``; inside it,
``scripted`` gives a scripted answer if one is due and ``count_served`` returns the malformation
planned for this answer, if any.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Literal, Self

DROP: Literal["drop"] = "drop"  # close the connection without an answer


@dataclass(frozen=True, slots=True)
class Reply:
    """A scripted answer; ``body`` None → the platform's error body for ``status``; bytes are
    sent as they are."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


ScriptItem = Reply | Literal["drop"]
Answer = tuple[int, Any, dict[str, str]] | Literal["drop"]
Key = tuple[str, str]  # (method, route)


class ScriptedFake:
    ANSWER_HEADERS: ClassVar[Mapping[str, str]] = {"Content-Type": "application/json"}
    METHODS: ClassVar[tuple[str, ...]] = ("GET", "POST")

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._scripts: dict[Key, deque[ScriptItem]] = defaultdict(deque)
        self._served: dict[Key, int] = defaultdict(int)
        self._fail_after: dict[Key, tuple[int, ScriptItem]] = {}
        self._malform: dict[tuple[str, str, int], str] = {}
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # what a platform fake provides

    def error_body(self, status: int) -> Any:
        raise NotImplementedError

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        raise NotImplementedError

    # lifecycle

    def start(self) -> Self:
        handler = type("Handler", (_Handler,), {"fake": self})
        for method in self.METHODS:
            setattr(handler, f"do_{method}", _Handler.serve)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # scripting and fault injection

    def script(self, method: str, route: str, replies: Iterable[ScriptItem]) -> None:
        """The next requests to ``method route`` get these answers, then normal ones."""
        with self._lock:
            self._scripts[(method, route)].extend(replies)

    def fail_after(
        self, method: str, route: str, served: int, reply: ScriptItem | None = None
    ) -> None:
        """Crash injection: after ``served`` normal answers, every further one fails (500)."""
        with self._lock:
            self._fail_after[(method, route)] = (served, reply or Reply(500))

    def heal(self) -> None:
        """Forget every scripted failure."""
        with self._lock:
            self._scripts.clear()
            self._fail_after.clear()
            self._malform.clear()

    def served(self, method: str, route: str) -> int:
        return self._served[(method, route)]

    def _set_malform(self, method: str, route: str, page: int, mode: str) -> None:
        with self._lock:
            self._malform[(method, route, page)] = mode

    # for handle()

    def scripted(self, key: Key) -> Answer | None:
        """A scripted or injected answer due for this request, if any (call under the lock)."""
        if self._scripts[key]:
            return self.as_answer(self._scripts[key].popleft())
        failing = self._fail_after.get(key)
        if failing is not None and self._served[key] >= failing[0]:
            return self.as_answer(failing[1])
        return None

    def count_served(self, key: Key) -> str | None:
        """Count one normal answer; the malformation planned for it, if any."""
        self._served[key] += 1
        return self._malform.get((*key, self._served[key]))

    def as_answer(self, item: ScriptItem) -> Answer:
        if item == DROP:
            return DROP
        assert isinstance(item, Reply)
        body = self.error_body(item.status) if item.body is None else item.body
        return item.status, body, dict(item.headers)


class _Handler(BaseHTTPRequestHandler):
    fake: ScriptedFake
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        return formatdate(self.fake.clock() if timestamp is None else timestamp, usegmt=True)

    def serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        answer = self.fake.handle(self.command, self.path, dict(self.headers.items()), body)
        if answer == DROP:
            self.close_connection = True
            return
        status, payload, headers = answer
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(raw)))
        for name, value in {**self.fake.ANSWER_HEADERS, **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)
