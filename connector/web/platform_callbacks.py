"""`platform_callbacks`: where a platform's server, not the owner's browser, calls us back
during a connect — WooCommerce POSTs the keys it created to the ``callback_url`` of the
authorization. No cookie, no CSRF token (exempt): the one-time token in the body (WooCommerce's
``user_id``) is the authentication, bound to the shop in the URL."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import Blueprint, current_app, jsonify, request
from werkzeug.wrappers import Response

from connector.actions.connect_flows import GrantRefused, complete_woocommerce_authorization
from connector.actions.connection_status import request_sync
from connector.actions.connections import ConnectionsError
from connector.extension import services_of

log = logging.getLogger(__name__)

bp = Blueprint("platform_callbacks", __name__, url_prefix="/connect")


@bp.post("/woocommerce/<int:shop_id>/callback")
def woocommerce_keys(shop_id: int) -> tuple[Response, int]:
    """WooCommerce wants exactly 200; anything else makes it delete the key and show the owner
    an error on its own page (then they start again)."""
    body = request.get_json(silent=True, force=True)
    if not isinstance(body, dict):
        return jsonify(error="the body is not a JSON object"), 400
    svc = services_of(current_app)
    now = datetime.now(UTC)
    try:
        summary = complete_woocommerce_authorization(svc, shop_id, body, now)
    except GrantRefused as exc:
        log.warning("WooCommerce callback refused for shop %s: %s", shop_id, exc)
        return jsonify(error=str(exc)), 403
    except ConnectionsError as exc:
        return jsonify(error=str(exc)), 400
    request_sync(svc, shop_id, summary.id, now)  # the first sync, by the worker
    return jsonify(connected=summary.id), 200
