"""`tasks`: what the owner must do (escalations, letters to post, bounces to fix, data requests,
broken connections) — assign, comment, close; a letter's posting recorded as its proof of
dispatch; a bounced address fixed. And the open-task count every page's nav shows.

Views parse the form and render; every action is connector.actions.tasks, scoped by the
signed-in owner's current shop (another shop's task: 404)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as BaseResponse

from connector.actions import tasks as actions
from connector.actions.tasks import TaskError, TaskNotFound
from connector.domain.dates import long_date
from connector.extension import services_of
from connector.store.models import TaskState
from connector.web.current import current_shop, require_shop, signed_in_owner
from connector.web.filters import PAGE_LANGUAGE

bp = Blueprint("tasks", __name__, url_prefix="/tasks")


@bp.app_context_processor
def open_task_count() -> dict[str, Any]:
    """``open_tasks`` for base.html's nav: one COUNT, the signed-in owner's current shop only;
    ``has_shop`` so the nav offers shop pages only once the shop exists."""
    if not current_user.is_authenticated:
        return {}
    shop = current_shop()
    if shop is None:
        return {}
    return {
        "has_shop": True,
        "open_tasks": actions.open_task_count(services_of(current_app).sessions, shop.id),
    }


def _shop_id() -> int:
    shop = require_shop()
    return shop.id


def _actor() -> str:
    return signed_in_owner().email


def _page(errors: dict[int, str] | None = None, status: int = 200) -> tuple[str, int]:
    state = TaskState.DONE if request.args.get("state") == "done" else TaskState.OPEN
    page = actions.tasks_page(services_of(current_app).sessions, _shop_id(), state=state)
    errors = errors or {}
    shown = {task.id for task in page.tasks}
    stray = [f"Task {task_id}: {msg}" for task_id, msg in errors.items() if task_id not in shown]
    return render_template("tasks/index.html", page=page, errors=errors, stray=stray), status


@bp.get("")
@login_required
def index() -> tuple[str, int]:
    return _page()


def _act(task_id: int, done: str, action: Any, *args: Any) -> BaseResponse | tuple[str, int]:
    try:
        action(services_of(current_app), _shop_id(), task_id, *args, actor=_actor())
    except TaskNotFound:
        abort(404)
    except TaskError as exc:
        return _page({task_id: str(exc)}, 400)
    flash(done)
    return redirect(url_for(".index"))


@bp.post("/<int:task_id>/close")
@login_required
def close(task_id: int) -> BaseResponse | tuple[str, int]:
    return _act(task_id, "Task closed.", actions.close_task)


@bp.post("/<int:task_id>/assign")
@login_required
def assign(task_id: int) -> BaseResponse | tuple[str, int]:
    return _act(task_id, "Task assigned.", actions.assign_task, request.form.get("assignee", ""))


@bp.post("/<int:task_id>/comment")
@login_required
def comment(task_id: int) -> BaseResponse | tuple[str, int]:
    return _act(task_id, "Comment added.", actions.comment_task, request.form.get("comment", ""))


@bp.post("/<int:task_id>/posted")
@login_required
def posted(task_id: int) -> BaseResponse | tuple[str, int]:
    raw = request.form.get("posted_on", "").strip()
    try:
        posted_on = date.fromisoformat(raw)
    except ValueError:
        try:
            actions.require_task(services_of(current_app).sessions, _shop_id(), task_id)
        except TaskNotFound:
            abort(404)
        return _page({task_id: f"posted on: {raw or 'empty'} is not a date (YYYY-MM-DD)"}, 400)
    tracking = request.form.get("tracking") or None
    return _act(
        task_id,
        f"Posting recorded: posted on {long_date(posted_on, PAGE_LANGUAGE)}"
        + (f", tracking {tracking.strip()}." if tracking and tracking.strip() else "."),
        actions.record_letter_posted,
        posted_on,
        tracking,
    )


@bp.post("/<int:task_id>/address")
@login_required
def address(task_id: int) -> BaseResponse | tuple[str, int]:
    return _act(
        task_id,
        "Address changed: reminders go to it again.",
        actions.fix_address,
        request.form.get("email", ""),
    )


@bp.get("/<int:task_id>/letter.pdf")
@login_required
def letter(task_id: int) -> Response:
    try:
        filename, content = actions.letter_of_task(services_of(current_app), _shop_id(), task_id)
    except TaskNotFound:
        abort(404)
    return Response(
        content,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.get("/<int:task_id>/export")
@login_required
def export(task_id: int) -> Response:
    try:
        path = actions.export_of_task(services_of(current_app), _shop_id(), task_id)
    except TaskNotFound:
        abort(404)
    return send_file(path, mimetype="application/json", as_attachment=True)
