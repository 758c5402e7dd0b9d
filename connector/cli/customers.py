from __future__ import annotations

from datetime import UTC, datetime

import click

from connector.cli.common import emit, errors_as_cli, json_option, services
from connector.privacy import PrivacyError, erase_by_email
from connector.store.db import write_session


def register(cli: click.Group) -> None:
    @cli.group("customers")
    def customers() -> None:
        """Customers."""

    @customers.command("erase")
    @click.argument("email")
    @click.option("--shop", "shop_id", type=int, help="Only in this shop (default: every shop).")
    @json_option
    @errors_as_cli(PrivacyError)
    def customers_erase(email: str, shop_id: int | None, as_json: bool) -> None:
        """Erase a customer's personal data (GDPR); amounts and dates stay for the accounts."""
        with services() as svc, write_session(svc.sessions) as s:
            reports = erase_by_email(s, email, datetime.now(UTC), shop_id=shop_id)
        data = {"email": email, "shops": [r.as_dict() for r in reports]}
        total = sum(len(r.customer_ids) for r in reports)
        emit(
            as_json,
            data,
            lambda: "\n".join(
                [f"erased {total} customer record(s) for {email}"]
                + [
                    f"  shop {r.shop_id}: {len(r.customer_ids)} customer(s), "
                    f"{r.invoices_kept} invoice(s) kept, {r.reminders_cleared} reminder(s) "
                    f"and {r.messages_cleared} message(s) cleared"
                    for r in reports
                ]
            ),
        )
