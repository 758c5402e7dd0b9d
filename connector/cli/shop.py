from __future__ import annotations

import click

from connector.cli.common import emit, errors_as_cli, json_option, services
from connector.shops import ShopError, create_shop
from connector.store.db import write_session


def register(cli: click.Group) -> None:
    @cli.group("shop")
    def shop() -> None:
        """Shops (tenants)."""

    @shop.command("create")
    @click.option("--name", required=True)
    @click.option("--email", required=True, help="The owner's email (also the contact).")
    @click.option("--timezone", default="Europe/Paris", show_default=True)
    @click.option("--locale", default="fr", show_default=True)
    @click.option("--currency", default="EUR", show_default=True)
    @click.option("--b2b", is_flag=True, help="Customers are businesses by default.")
    @json_option
    @errors_as_cli(ShopError)
    def shop_create(
        name: str, email: str, timezone: str, locale: str, currency: str, b2b: bool, as_json: bool
    ) -> None:
        """Create a shop with the default reminder sequence."""
        with services() as svc, write_session(svc.sessions) as s:
            created = create_shop(
                s,
                name=name,
                email=email,
                timezone=timezone,
                locale=locale,
                currency=currency,
                b2b=b2b,
            )
            data = {"id": created.id, "name": created.name, "timezone": created.timezone}
        emit(as_json, data, f"shop {data['id']} created: {data['name']}")
