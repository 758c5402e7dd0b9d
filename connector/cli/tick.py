from __future__ import annotations

import click

from connector.cli.common import (
    check_secrets_at_start,
    emit,
    json_option,
    parse_now,
    services,
)
from connector.sync import status_checker


def register(cli: click.Group) -> None:
    @cli.command("tick")
    @click.option("--now", "now_raw", help="Run as if it were this ISO 8601 instant.")
    @json_option
    def tick(now_raw: str | None, as_json: bool) -> None:
        """One dunning pass: reports each reminder sent, skipped (with the reason) or handed
        to a person."""
        now = parse_now(now_raw)
        with services() as svc:
            check_secrets_at_start(svc)
            report = svc.runner(status_checker=status_checker(svc)).tick(now)
        emit(as_json, report.as_dict(), lambda: _text(report.as_dict()))


def _text(data: dict[str, object]) -> str:
    rows = data["outcomes"]
    assert isinstance(rows, list)
    if not rows:
        return "nothing due"
    return "\n".join(
        f"{r['outcome']:<11} {r['invoice']:<16} {r['step'] or '':<14} {r['reason']}" for r in rows
    )
