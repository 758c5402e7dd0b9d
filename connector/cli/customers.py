from __future__ import annotations

import click

from connector.cli.common import json_option, not_available


def register(cli: click.Group) -> None:
    @cli.group("customers")
    def customers() -> None:
        """Customers."""

    @customers.command("erase")
    @click.argument("email")
    @json_option
    def customers_erase(email: str, as_json: bool) -> None:
        """Erase a customer's personal data (GDPR); amounts and dates stay for the accounts."""
        not_available("customers erase (webhook intake issue)")
