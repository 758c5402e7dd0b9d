from __future__ import annotations

import click

from connector.actions.sequence_preview import tick_dry_run
from connector.cli.common import (
    check_secrets_at_start,
    emit,
    json_option,
    parse_now,
    services,
)
from connector.runners import dunning_runner
from connector.sync import status_checker


def register(cli: click.Group) -> None:
    @cli.command("tick")
    @click.option("--now", "now_raw", help="Run as if it were this ISO 8601 instant.")
    @click.option(
        "--dry-run",
        is_flag=True,
        help="Plan and render what would go out, without claiming, sending or writing anything.",
    )
    @click.option("--shop", "shop_id", type=int, help="With --dry-run: only this shop.")
    @json_option
    def tick(now_raw: str | None, dry_run: bool, shop_id: int | None, as_json: bool) -> None:
        """One dunning pass: reports each reminder sent, skipped (with the reason) or handed
        to a person."""
        now = parse_now(now_raw)
        if dry_run:
            with services() as svc:
                planned = tick_dry_run(svc, now, shop_id)
            emit(as_json, planned.as_dict(), lambda: _dry_text(planned.as_dict()))
            return
        with services() as svc:
            check_secrets_at_start(svc)
            report = dunning_runner(svc, status_checker=status_checker(svc)).tick(now)
        emit(as_json, report.as_dict(), lambda: _text(report.as_dict()))


def _dry_text(data: dict[str, object]) -> str:
    messages, outcomes = data["messages"], data["outcomes"]
    assert isinstance(messages, list) and isinstance(outcomes, list)
    lines = ["dry run: nothing was claimed, sent or written"]
    for m in messages:
        to = ", ".join((m["recipient"] or "-").splitlines())  # a letter: the postal address
        for item in m["invoices"]:
            lines.append(
                f"would send {item['channel']:<6} {item['invoice']:<16} {item['step']:<14} "
                f"{item['amount']:>14}  to {to}"
            )
        said = m["error"] and f"would FAIL: {m['error']}"
        lines.append(f"    {said or m['subject'] or '(a letter to post and a task)'}")
    lines += [
        f"would {o['outcome']:<6} {o['invoice']:<16} {o['step'] or '':<14} {o['reason']}"
        for o in outcomes
        if o["outcome"] != "sent"
    ]
    return "\n".join(lines) if len(lines) > 1 else lines[0] + "\nnothing due"


def _text(data: dict[str, object]) -> str:
    rows = data["outcomes"]
    assert isinstance(rows, list)
    if not rows:
        return "nothing due"
    return "\n".join(
        f"{r['outcome']:<11} {r['invoice']:<16} {r['step'] or '':<14} {r['reason']}" for r in rows
    )
