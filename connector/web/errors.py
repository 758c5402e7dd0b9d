"""The app's own error pages: a 404 or 403 keeps the nav so the owner can find their way back
(Flask's bare "Not Found" was a dead end), and a shop page opened before the shop exists sends
the owner to the create-shop step instead of a 404."""

from __future__ import annotations

from flask import Flask, redirect, render_template, request, url_for
from werkzeug.exceptions import Forbidden, HTTPException, NotFound
from werkzeug.wrappers import Response

from connector.web.current import NoShopYet

#: Blueprints answering machines (platforms' deliveries and callbacks, probes): Flask's plain page.
MACHINE_BLUEPRINTS = frozenset(("webhooks", "platform_callbacks", "health"))

ERROR_PAGES: dict[int, tuple[str, str]] = {
    NotFound.code or 404: (
        "Page not found",
        "There is nothing here, or it belongs to another shop.",
    ),
    Forbidden.code or 403: ("Not allowed", "This page is not open to your account."),
}


def init_errors(app: Flask) -> None:
    app.register_error_handler(NoShopYet, _to_create_shop)
    for code in ERROR_PAGES:
        app.register_error_handler(code, _error_page)


def _to_create_shop(_: NoShopYet) -> Response:
    return redirect(url_for("onboarding.shop"))


def _error_page(error: HTTPException) -> HTTPException | tuple[str, int]:
    code = error.code or 500
    if (
        request.blueprint in MACHINE_BLUEPRINTS
        or request.path.startswith("/webhooks/")
        or code not in ERROR_PAGES
    ):
        return error
    title, text = ERROR_PAGES[code]
    return render_template("errors/page.html", title=title, text=text), code
