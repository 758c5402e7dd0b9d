from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import click
from sqlalchemy import select

from connector.actions.timeline import invoice_reminders, invoice_timeline
from connector.cli import invoice_actions
from connector.cli.common import (
    CLI_LANGUAGE,
    CliError,
    emit,
    errors_as_cli,
    json_option,
    services,
)
from connector.domain.dates import instant_iso, instant_words, local_date, long_date
from connector.domain.phrases import step_name, translate
from connector.importer import ImportError_, import_invoices
from connector.platform import InvoiceStatus
from connector.shops import ShopError, resolve_shop
from connector.store.db import write_session
from connector.store.models import Invoice


def register(cli: click.Group) -> None:
    @cli.group("invoices")
    def invoices() -> None:
        """Invoices: import, list, show with the timeline, and the owner's actions."""

    invoice_actions.register(invoices)

    @invoices.command("import")
    @click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--shop", "shop_id", type=int)
    @json_option
    @errors_as_cli(ShopError)
    def invoices_import(file: Path, shop_id: int | None, as_json: bool) -> None:
        """Import FILE.csv (number, customer_email, customer_name, amount, currency, issued_at,
        due_at, b2b, locale). A bad row is reported by line and field; nothing is written."""
        if not file.exists():
            raise CliError(f"{file}: no such file")
        with services() as svc:
            try:
                with write_session(svc.sessions) as s:
                    shop = resolve_shop(s, shop_id)
                    result = import_invoices(s, shop, file, datetime.now(UTC))
            except ImportError_ as exc:
                if not as_json:
                    for e in exc.errors[1:]:
                        click.echo(f"  {e}", err=True)
                errors = [str(e) for e in exc.errors]
                raise CliError(f"{file}: {exc}", {"errors": errors}) from exc
        data = {
            "rows": result.rows,
            "inserted": result.stats.inserted,
            "updated": result.stats.updated,
            "unchanged": result.stats.unchanged,
            "settled_untouched": result.settled_untouched,
        }
        emit(
            as_json, data, f"{result.rows} rows: {data['inserted']} new, {data['updated']} updated"
        )

    @invoices.command("list")
    @click.option("--status", type=click.Choice([s.value for s in InvoiceStatus]))
    @click.option("--shop", "shop_id", type=int)
    @json_option
    @errors_as_cli(ShopError)
    def invoices_list(status: str | None, shop_id: int | None, as_json: bool) -> None:
        """Invoices of the shop, oldest due first."""
        with services() as svc, svc.sessions() as s:
            shop = resolve_shop(s, shop_id)
            q = (
                select(Invoice)
                .where(Invoice.shop_id == shop.id)
                .order_by(Invoice.due_at, Invoice.id)
            )
            if status:
                q = q.where(Invoice.status == InvoiceStatus(status))
            rows = [_summary(inv, shop.timezone) for inv in s.scalars(q)]
        emit(
            as_json,
            rows,
            lambda: (
                "\n".join(
                    f"{r['number']:<16} {r['status']:<15} {r['amount_due']:>14} {r['currency']} "
                    f"due {_day(r['due_on'])}  {r['customer_email'] or ''}"
                    for r in rows
                )
                or "no invoices"
            ),
        )

    @invoices.command("show")
    @click.argument("number")
    @click.option("--shop", "shop_id", type=int)
    @json_option
    @errors_as_cli(ShopError)
    def invoices_show(number: str, shop_id: int | None, as_json: bool) -> None:
        """One invoice with its reminders and timeline."""
        with services() as svc, svc.sessions() as s:
            shop = resolve_shop(s, shop_id)
            inv = s.scalar(
                select(Invoice).where(Invoice.shop_id == shop.id, Invoice.number == number)
            )
            if inv is None:
                raise CliError(f"no invoice {number!r} in shop {shop.id}")
            tz = shop.timezone
            data = _summary(inv, tz)
            data["reminders"] = [
                {
                    "step": r.step,
                    "state": r.state,
                    "due_on": r.due_on.isoformat(),
                    "sent_at": instant_iso(r.sent_at, tz) if r.sent_at else None,
                    "reason": r.reason,
                    "subject": r.subject,
                }
                for r in invoice_reminders(s, shop.id, inv.id)
            ]
            data["timeline"] = [
                {
                    "at": instant_iso(t.at, tz),
                    "at_label": instant_words(t.at, tz, CLI_LANGUAGE),
                    "kind": t.kind.value,
                    "title": t.said(CLI_LANGUAGE),
                    "actor": t.actor,
                    "detail": dict(t.detail),
                }
                for t in invoice_timeline(s, shop.id, inv.id)
            ]
        emit(as_json, data, lambda: _show_text(data))


def _summary(inv: Invoice, timezone: str) -> dict[str, object]:
    """Instants in ISO 8601 with the shop's offset; due and issue days as the shop's dates."""
    return {
        "id": inv.id,
        "number": inv.number,
        "status": inv.status.value,
        "currency": inv.currency,
        "amount_due": str(inv.amount_due.amount),
        "total": str(inv.total.amount),
        "issued_on": local_date(inv.issued_at, timezone).isoformat(),
        "due_on": local_date(inv.due_at, timezone).isoformat(),
        "issued_at": instant_iso(inv.issued_at, timezone),
        "due_at": instant_iso(inv.due_at, timezone),
        "customer_email": inv.customer.email,
        "customer_name": inv.customer.name,
        "next_action_at": instant_iso(inv.next_action_at, timezone) if inv.next_action_at else None,
        "paused": inv.pause_reason,
        "timezone": timezone,
    }


def _day(iso_day: object) -> str:
    """A shop-local day as the owner reads it ("1 June 2026")."""
    return long_date(date.fromisoformat(str(iso_day)), CLI_LANGUAGE)


def _show_text(data: dict[str, object]) -> str:
    lines = [
        f"{data['number']}  {data['status']}  {data['amount_due']} {data['currency']} "
        f"due {_day(data['due_on'])}  {data['customer_email']}",
        "reminders:",
    ]
    for r in data["reminders"]:  # type: ignore[attr-defined]
        day, name = _day(r["due_on"]), step_name(r["step"], CLI_LANGUAGE)
        why = translate(r["reason"], CLI_LANGUAGE)
        lines.append(f"  {name:<18} {r['state']:<13} {day:<18} {why}")
    lines.append("timeline:")
    for t in data["timeline"]:  # type: ignore[attr-defined]
        by = f"  (by {t['actor']})" if t["actor"] else ""
        lines.append(f"  {t['at_label']:<28} {t['kind']:<10} {t['title']}{by}")
    return "\n".join(lines)
