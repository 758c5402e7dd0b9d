"""`connections`: the shop's platform connections — status, last sync, last webhook, the last
error in plain words, live sync progress (``static/connections.js`` polls the JSON endpoint),
"sync now", disconnect (confirmed) — and the ways to connect WooCommerce and Stripe.

Views parse input and render; the application layer (``connector.actions.connection_status``,
``connect_flows``, ``connections``) does the work, always with the signed-in owner's current
shop: a connection id of another shop is a 404."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import login_required
from werkzeug.wrappers import Response

from connector.actions.accounts import ShopSummary
from connector.actions.connect_flows import (
    GrantRefused,
    complete_stripe_connect,
    connect_stripe_key,
    connect_woocommerce_keys,
    start_stripe_connect,
    start_woocommerce_authorization,
    woocommerce_return,
)
from connector.actions.connection_status import (
    PLATFORM_NAMES,
    connection_progress,
    connection_view,
    connection_views,
    request_sync,
)
from connector.actions.connections import ConnectionsError, ConnectionSummary, remove_connection
from connector.extension import services_of
from connector.services import Services
from connector.web.current import require_shop, signed_in_owner

bp = Blueprint("connections", __name__, url_prefix="/connections")

Rendered = Response | str | tuple[str, int]


def _svc() -> Services:
    return services_of(current_app)


def _shop() -> ShopSummary:
    found = require_shop()
    return found


def _now() -> datetime:
    return datetime.now(UTC)


def _page(shop: ShopSummary, *, status: int = 200, **form: str) -> tuple[str, int]:
    svc = _svc()
    html = render_template(
        "connections/index.html",
        shop=shop,
        connections=connection_views(svc, shop.id),
        stripe_connect=svc.settings.stripe_connect_enabled,
        # Without the app's key and secret there is no install from Shopify: the page says
        # how to connect a custom app's token instead (`relance connect shopify`).
        shopify_app=bool(svc.settings.shopify_api_key and svc.settings.shopify_api_secret),
        shopify_scopes=svc.settings.shopify_scopes,
        form=form,
    )
    return html, status


@bp.get("")
@login_required
def index() -> Rendered:
    return _page(_shop())


@bp.get("/<int:connection_id>/progress")
@login_required
def progress(connection_id: int) -> Response:
    """The sync's progress, polled by the page every two seconds while a sync waits or runs."""
    try:
        found = connection_progress(_svc(), _shop().id, connection_id)
    except ConnectionsError:
        abort(404)
    response = jsonify(found.as_json())
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/<int:connection_id>/sync")
@login_required
def sync_now(connection_id: int) -> Rendered:
    shop = _shop()
    try:
        connection_view(_svc(), shop.id, connection_id)
    except ConnectionsError:
        abort(404)
    try:
        request_sync(_svc(), shop.id, connection_id, _now())
    except ConnectionsError as exc:
        return _page(shop, status=400, error=str(exc))
    flash("Sync requested: it starts within a few seconds; its progress shows below.")
    return redirect(url_for(".index"))


@bp.route("/<int:connection_id>/disconnect", methods=["GET", "POST"])
@login_required
def disconnect(connection_id: int) -> Rendered:
    """Confirmed: a page first, then the POST removes the webhooks at the platform and the
    credentials; invoices and their history stay, open ones are paused."""
    shop = _shop()
    svc = _svc()
    try:
        found = connection_view(svc, shop.id, connection_id)
    except ConnectionsError:
        abort(404)
    if not found.active:
        abort(404)
    if request.method == "GET" or request.form.get("confirm") != "yes":
        return render_template("connections/disconnect.html", shop=shop, connection=found)
    keep = request.form.get("keep_webhooks") == "yes"
    try:
        removal = remove_connection(svc, shop.id, connection_id, _now(), keep_webhooks=keep)
    except ConnectionsError as exc:
        html = render_template(
            "connections/disconnect.html", shop=shop, connection=found, error=str(exc)
        )
        return html, 502
    message = f"{found.platform_name} {found.account} disconnected; its invoices and history stay."
    if removal.invoices_paused:
        message += f" Reminders paused for {removal.invoices_paused} open invoice(s)."
    if removal.webhooks_left:
        message += (
            f" Delete the webhooks {', '.join(removal.webhooks_left)} in {found.platform_name}."
        )
    flash(message.replace("  ", " "))
    return redirect(url_for(".index"))


# -- WooCommerce ---------------------------------------------------------------------------


@bp.post("/woocommerce")
@login_required
def woocommerce_authorize() -> Rendered:
    """To the store's own approval page; it sends the keys to our callback."""
    shop = _shop()
    svc = _svc()
    store_url = request.form.get("store_url", "")
    base = svc.settings.base_url
    try:
        target = start_woocommerce_authorization(
            svc,
            shop.id,
            signed_in_owner().id,
            store_url,
            _now(),
            callback_url=base + url_for("platform_callbacks.woocommerce_keys", shop_id=shop.id),
            return_url=base + url_for(".woocommerce_returned"),
        )
    except ConnectionsError as exc:
        return _page(shop, status=400, error=str(exc), store_url=store_url)
    return _leaving("WooCommerce", target)


@bp.get("/woocommerce/return")
@login_required
def woocommerce_returned() -> Response:
    """Back from WooCommerce (``success`` and our ``user_id`` added to the return URL)."""
    shop = _shop()
    token = request.args.get("user_id", "")
    try:
        outcome = woocommerce_return(_svc(), shop.id, token, request.args.get("success") == "1")
    except GrantRefused:
        abort(404)
    flash(outcome.message)
    return redirect(url_for(".index"))


@bp.post("/woocommerce/keys")
@login_required
def woocommerce_keys() -> Rendered:
    """Pasted keys, tried against the store before anything is kept."""
    shop = _shop()
    store_url = request.form.get("store_url", "")
    try:
        summary = connect_woocommerce_keys(
            _svc(),
            shop.id,
            store_url,
            request.form.get("consumer_key", ""),
            request.form.get("consumer_secret", ""),
            _now(),
        )
    except ConnectionsError as exc:
        return _page(shop, status=400, keys_error=str(exc), keys_store_url=store_url)
    return _connected(shop, summary)


# -- Stripe --------------------------------------------------------------------------------


@bp.post("/stripe/key")
@login_required
def stripe_key() -> Rendered:
    shop = _shop()
    try:
        summary = connect_stripe_key(_svc(), shop.id, request.form.get("api_key", ""), _now())
    except ConnectionsError as exc:
        return _page(shop, status=400, stripe_error=str(exc))
    return _connected(shop, summary)


@bp.post("/stripe/connect")
@login_required
def stripe_connect() -> Rendered:
    """To Stripe's Connect OAuth page (when this deployment is a Connect platform)."""
    shop = _shop()
    svc = _svc()
    try:
        target = start_stripe_connect(
            svc,
            shop.id,
            signed_in_owner().id,
            _now(),
            redirect_uri=svc.settings.base_url + url_for(".stripe_returned"),
        )
    except ConnectionsError as exc:
        return _page(shop, status=400, stripe_error=str(exc))
    return _leaving("Stripe", target)


@bp.get("/stripe/callback")
@login_required
def stripe_returned() -> Rendered:
    """Stripe's redirect: ``code`` and our ``state`` (or ``error``)."""
    shop = _shop()
    try:
        summary = complete_stripe_connect(
            _svc(),
            shop.id,
            signed_in_owner().id,
            _now(),
            state=request.args.get("state", ""),
            code=request.args.get("code"),
            error=request.args.get("error"),
            error_description=request.args.get("error_description"),
        )
    except GrantRefused as exc:
        return _page(shop, status=400, stripe_error=f"Stripe Connect: {exc}; nothing was connected")
    except ConnectionsError as exc:
        return _page(shop, status=400, stripe_error=str(exc))
    return _connected(shop, summary)


def _leaving(platform: str, target: str) -> str:
    """The page that sends the owner on to the platform's approval page. Not a redirect of
    the POST: the CSP's ``form-action 'self'`` blocks a form's redirect to another site."""
    return render_template(
        "connections/leaving.html", platform=platform, target=target, host=urlsplit(target).netloc
    )


def _connected(shop: ShopSummary, summary: ConnectionSummary) -> Response:
    """Connected: the first sync is asked of the worker at once."""
    request_sync(_svc(), shop.id, summary.id, _now())
    name = PLATFORM_NAMES.get(summary.platform, summary.platform)
    what = f"{name} {summary.account}" if summary.account else name
    flash(f"{what} connected. The first sync starts within a few seconds.")
    return redirect(url_for(".index"))
