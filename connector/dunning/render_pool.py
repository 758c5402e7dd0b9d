"""Owner-edited templates render in worker processes under hard limits.

The sandbox (connector.dunning.rendering) refuses the cheap ways to blow up, but not every way:
nested loops run forever and a chain of ``replace`` can still ask for gigabytes. The shipped
templates are code we wrote and render in-process (the send path stays cheap); a template the
owner supplied renders in a small pool of persistent worker processes, each with an address-space
limit (RLIMIT_AS), a CPU-time limit per render (RLIMIT_CPU, moved forward before each render) and
a wall-clock timeout enforced by the caller. A worker that breaks a limit is killed and replaced;
its render fails as a TemplateError — that one message fails, never the tick.

Workers are fresh interpreters (``python -m connector.dunning.render_pool``: never a ``fork`` of
a process whose threads hold locks), talking length-prefixed pickles over their stdin/stdout,
with none of our environment (no secret to find should the sandbox ever leak).
"""

from __future__ import annotations

import atexit
import os
import pickle
import queue
import resource
import select
import struct
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from connector.dunning.context import ReminderContext
from connector.dunning.rendering import ReminderRenderer, RenderedMessage, TemplateError


@dataclass(frozen=True, slots=True)
class RenderLimits:
    cpu_seconds: int = 2  # CPU time one render may use (whole seconds: RLIMIT_CPU's unit)
    memory_bytes: int = 512 * 1024 * 1024  # the worker's whole address space
    wall_seconds: float = 5.0  # answer within this, whatever the worker is doing
    start_seconds: float = 60.0  # a new worker must be ready within this
    workers: int = 2


_Overrides = tuple[tuple[str, str], ...]
_Reply = tuple[str, Any]  # ("ok", RenderedMessage) | ("error", (template, line, reason))
_HEADER = struct.Struct("!I")
_READY = b"R"


# ---------------------------------------------------------------- the worker process


def _write(out: IO[bytes], value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_HEADER.pack(len(data)) + data)
    out.flush()


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            raise EOFError("the other side closed the pipe")
        data += chunk
    return data


def _read(stream: IO[bytes]) -> Any:
    (size,) = _HEADER.unpack(_read_exactly(stream, _HEADER.size))
    return pickle.loads(_read_exactly(stream, size))


def _render_one(
    renderers: dict[_Overrides, ReminderRenderer], request: Any, memory_bytes: int
) -> _Reply:
    overrides, ctx = request
    too_big = f"the template needs more than {memory_bytes // 2**20} MB of memory"
    try:
        renderer = renderers.get(overrides)
        if renderer is None:
            if len(renderers) > 64:
                renderers.clear()
            renderer = renderers[overrides] = ReminderRenderer(dict(overrides))
        return ("ok", renderer.render(ctx))
    except TemplateError as exc:
        reason = too_big if isinstance(exc.__cause__, MemoryError) else exc.reason
        return ("error", (exc.template, exc.line, reason))
    except MemoryError:
        return ("error", (f"{ctx.locale}/{ctx.step}", None, too_big))
    except Exception as exc:  # never let the worker die on a render: answer instead
        return ("error", (f"{ctx.locale}/{ctx.step}", None, str(exc) or type(exc).__name__))


def worker_main(cpu_seconds: int, memory_bytes: int) -> None:
    """A worker's loop on stdin/stdout: one request, one reply, under the limits."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    renderers: dict[_Overrides, ReminderRenderer] = {}
    stdout.write(_READY)
    stdout.flush()
    while True:
        try:
            request = _read(stdin)
        except EOFError:
            return
        used = resource.getrusage(resource.RUSAGE_SELF)
        spent = int(used.ru_utime + used.ru_stime)
        # RLIMIT_CPU counts the process's whole life: move the soft limit on for this render.
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        resource.setrlimit(resource.RLIMIT_CPU, (spent + cpu_seconds + 1, hard))
        _write(stdout, _render_one(renderers, request, memory_bytes))


# ---------------------------------------------------------------- the pool


class _Worker:
    def __init__(self, limits: RenderLimits) -> None:
        # Nothing of ours in its environment: no secret to find should the sandbox leak.
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH", "LANG")}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                __name__,
                str(limits.cpu_seconds),
                str(limits.memory_bytes),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin: IO[bytes] = self.process.stdin
        self.stdout: IO[bytes] = self.process.stdout
        if not self.wait_readable(limits.start_seconds) or self.stdout.read(1) != _READY:
            self.stop()
            raise TemplateError("renderer", None, "the template renderer did not start")

    def wait_readable(self, seconds: float) -> bool:
        return bool(select.select([self.stdout], [], [], seconds)[0])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self.stdin.close()
        self.stdout.close()


class RenderPool:
    """A few persistent render workers; each render takes one worker for itself."""

    def __init__(self, limits: RenderLimits | None = None) -> None:
        self.limits = limits or RenderLimits()
        self._idle: queue.LifoQueue[_Worker] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(self.limits.workers)
        self._lock = threading.Lock()
        self._all: set[_Worker] = set()
        self._closed = False

    def render(self, overrides: Mapping[str, str], ctx: ReminderContext) -> RenderedMessage:
        """Render ``ctx`` with these owner templates in a worker; TemplateError on any failure,
        a broken limit included (the worker is then replaced)."""
        name = f"{ctx.locale}/{ctx.step}"
        with self._slots:
            worker = self._take()
            try:
                _write(worker.stdin, (tuple(sorted(overrides.items())), ctx))
                if not worker.wait_readable(self.limits.wall_seconds):
                    self._discard(worker)
                    raise TemplateError(
                        name, None, f"rendering took longer than {self.limits.wall_seconds:g} s"
                    )
                reply: _Reply = _read(worker.stdout)
            except (EOFError, OSError, pickle.UnpicklingError):
                reason = self._death_reason(worker)
                self._discard(worker)
                raise TemplateError(name, None, reason) from None
            self._idle.put(worker)
        status, payload = reply
        if status == "ok":
            assert isinstance(payload, RenderedMessage)
            return payload
        template, line, reason = payload
        raise TemplateError(template, line, reason)

    def _death_reason(self, worker: _Worker) -> str:
        try:
            code = worker.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        if code == -24:  # SIGXCPU: RLIMIT_CPU
            return f"rendering used more than {self.limits.cpu_seconds} s of CPU"
        return "the template needs too much memory or time (its renderer stopped)"

    def _take(self) -> _Worker:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._closed:
                raise TemplateError("renderer", None, "the template renderer is shut down")
        worker = _Worker(self.limits)
        with self._lock:
            self._all.add(worker)
        return worker

    def _discard(self, worker: _Worker) -> None:
        with self._lock:
            self._all.discard(worker)
        worker.stop()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers, self._all = list(self._all), set()
        for worker in workers:
            worker.stop()


_shared: RenderPool | None = None
_shared_lock = threading.Lock()


def shared_pool() -> RenderPool:
    """The process's render pool, started on first use (only owner templates need it)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = RenderPool()
            atexit.register(_shared.close)
        return _shared


class GuardedRenderer:
    """What the senders render with: shipped templates in-process, owner templates in the pool."""

    def __init__(self, renderer: ReminderRenderer, pool: RenderPool | None = None) -> None:
        self.renderer = renderer
        self._pool = pool

    def render(self, ctx: ReminderContext) -> RenderedMessage:
        """The step's own owner templates (``ctx.templates``) win over the renderer's."""
        overrides = {**self.renderer.overrides, **dict(ctx.templates)}
        if not overrides:
            return self.renderer.render(ctx)
        pool = self._pool or shared_pool()
        return pool.render(overrides, ctx)


if __name__ == "__main__":
    worker_main(int(sys.argv[1]), int(sys.argv[2]))
