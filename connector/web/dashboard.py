"""A minimal read-only overview: shops, invoices with their state, open tasks.

The full settings page (connect, sequence editor, actions) is its own issue."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from sqlalchemy import select

from connector.store.models import Invoice, Shop, Task, TaskState
from connector.web import services_of

bp = Blueprint("dashboard", __name__)


@bp.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    return {"status": "ok"}, 200


@bp.get("/")
def index() -> str:
    svc = services_of(current_app)
    with svc.sessions() as s:
        shops = s.scalars(select(Shop).order_by(Shop.id)).all()
        invoices = s.scalars(select(Invoice).order_by(Invoice.due_at).limit(200)).all()
        tasks = s.scalars(
            select(Task).where(Task.state == TaskState.OPEN).order_by(Task.id.desc()).limit(50)
        ).all()
        return render_template("index.html", shops=shops, invoices=invoices, tasks=tasks)
