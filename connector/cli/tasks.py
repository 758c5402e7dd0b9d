"""`relance tasks list|close`: the owner's tasks from the command line, the same actions as the
tasks page (a letter task closes with its posting date and tracking number)."""

from __future__ import annotations

from datetime import datetime

import click

from connector.actions.tasks import (
    TaskError,
    TaskNotFound,
    close_task,
    record_letter_posted,
    tasks_page,
)
from connector.cli.common import (
    CLI_LANGUAGE,
    CliError,
    emit,
    errors_as_cli,
    json_option,
    services,
)
from connector.domain.phrases import translate
from connector.services import Services
from connector.shops import ShopError, resolve_shop
from connector.store.models import TaskState

ACTOR = "cli"


def _shop_id(svc: Services, shop_id: int | None) -> int:
    with svc.sessions() as s:
        return resolve_shop(s, shop_id).id


def register(cli: click.Group) -> None:
    @cli.group("tasks")
    def tasks() -> None:
        """What a person must do: letters to post, bounces, escalations, data requests."""

    @tasks.command("list")
    @click.option("--done", is_flag=True, help="The closed tasks instead of the open ones.")
    @click.option("--shop", "shop_id", type=int, help="The shop (default: the only one).")
    @json_option
    @errors_as_cli(ShopError)
    def tasks_list(done: bool, shop_id: int | None, as_json: bool) -> None:
        """The shop's open tasks, oldest first."""
        with services() as svc:
            sid = _shop_id(svc, shop_id)
            page = tasks_page(svc.sessions, sid, state=TaskState.DONE if done else TaskState.OPEN)
        rows = [t.as_dict() for t in page.tasks]
        emit(
            as_json,
            rows,
            lambda: (
                "\n".join(
                    f"{r['id']:>6}  {r['kind']:<20} {r['invoice'] or '':<14} "
                    f"{translate(str(r['title']), CLI_LANGUAGE)}"
                    for r in rows
                )
                or "no tasks"
            ),
        )

    @tasks.command("close")
    @click.argument("task_id", type=int)
    @click.option(
        "--posted-on",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        help="A letter to post: the day it was posted (YYYY-MM-DD); dates the letter.",
    )
    @click.option("--tracking", help="A letter to post: the registered letter's tracking number.")
    @click.option("--shop", "shop_id", type=int, help="The shop (default: the only one).")
    @json_option
    @errors_as_cli(ShopError, TaskError, TaskNotFound)
    def tasks_close(
        task_id: int,
        posted_on: datetime | None,
        tracking: str | None,
        shop_id: int | None,
        as_json: bool,
    ) -> None:
        """Close task TASK_ID; with --posted-on, record a letter's posting as its proof."""
        if tracking and posted_on is None:
            raise CliError("--tracking: only with --posted-on")
        with services() as svc:
            sid = _shop_id(svc, shop_id)
            if posted_on is not None:
                record_letter_posted(svc, sid, task_id, posted_on.date(), tracking, actor=ACTOR)
            else:
                close_task(svc, sid, task_id, actor=ACTOR)
        data = {
            "task": task_id,
            "closed": True,
            "posted_on": posted_on.date().isoformat() if posted_on else None,
            "tracking": tracking,
        }
        emit(as_json, data, f"task {task_id} closed")
