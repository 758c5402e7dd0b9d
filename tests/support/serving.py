"""The app served over real HTTP on a loopback port known before it is built, so that the URLs
it hands to platforms (``RELANCE_BASE_URL``: WooCommerce's callback, Stripe's redirect, the
webhooks) point back at it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

from connector.services import Services
from connector.web import create_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def served_app(services: Services, **settings: Any) -> Iterator[tuple[Flask, Services, str]]:
    """(app, its services, its base URL), serving in a thread until the block ends."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    changed = replace(services.settings, base_url=base, **settings)
    svc = replace(services, settings=changed)
    app = create_app(settings=changed, services=svc)
    app.config["TESTING"] = True
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, svc, base
    finally:
        server.shutdown()
