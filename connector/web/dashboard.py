"""`dashboard`: `/dashboard`, where the money is and what the reminders do, for the signed-in
owner's current shop. The chart is SVG markup rendered here (no script, no inline style)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_login import login_required

from connector.actions.dashboard import dashboard
from connector.extension import services_of
from connector.web.current import require_shop

bp = Blueprint("dashboard", __name__)


@bp.get("/dashboard")
@login_required
def index() -> str:
    shop = require_shop()
    return render_template(
        "dashboard/index.html", board=dashboard(services_of(current_app).sessions, shop.id)
    )
