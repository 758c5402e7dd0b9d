from __future__ import annotations

import click

from connector.cli.common import emit, errors_as_cli, json_option, services
from connector.shops import ShopError, create_shop
from connector.store.db import write_session
from connector.store.models import Shop

THANK_YOU_HELP = "Thank customers who pay after a reminder (one email per invoice, never twice)."


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
    @click.option("--thank-you", is_flag=True, help=THANK_YOU_HELP)
    @json_option
    @errors_as_cli(ShopError)
    def shop_create(
        name: str,
        email: str,
        timezone: str,
        locale: str,
        currency: str,
        b2b: bool,
        thank_you: bool,
        as_json: bool,
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
            created.thank_you_enabled = thank_you
            data = {
                "id": created.id,
                "name": created.name,
                "timezone": created.timezone,
                "thank_you": created.thank_you_enabled,
            }
        emit(as_json, data, f"shop {data['id']} created: {data['name']}")

    @shop.command("set")
    @click.argument("shop_id", type=int)
    @click.option("--thank-you/--no-thank-you", default=None, help=THANK_YOU_HELP)
    @json_option
    @errors_as_cli(ShopError)
    def shop_set(shop_id: int, thank_you: bool | None, as_json: bool) -> None:
        """Change a shop's settings (only what is given)."""
        with services() as svc, write_session(svc.sessions) as s:
            found = s.get(Shop, shop_id)
            if found is None:
                raise ShopError(f"shop {shop_id} does not exist")
            if thank_you is not None:
                found.thank_you_enabled = thank_you
            data = {"id": found.id, "name": found.name, "thank_you": found.thank_you_enabled}
        emit(as_json, data, f"shop {data['id']}: thank-you {'on' if data['thank_you'] else 'off'}")
