"""How Flask views reach the Services: one app extension, set by the app factory.

Its own module so that every blueprint (the pages, the webhook intake) can import it without
importing the app factory, and the factory can import every blueprint: no import cycle."""

from __future__ import annotations

from typing import Any

from flask import Flask

from connector.services import Services

_KEY = "relance"


def init_services(app: Flask, services: Services) -> None:
    app.extensions[_KEY] = services


def services_of(app: Any) -> Services:
    svc = app.extensions[_KEY]
    assert isinstance(svc, Services)
    return svc
