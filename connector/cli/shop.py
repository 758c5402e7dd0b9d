from __future__ import annotations

import click

from connector.actions import shops
from connector.cli.common import emit, errors_as_cli, json_option, services
from connector.shops import ShopError

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
        with services() as svc:
            created = shops.create(
                svc,
                name=name,
                email=email,
                timezone=timezone,
                locale=locale,
                currency=currency,
                b2b=b2b,
                thank_you=thank_you,
            )
        data = created.as_dict()
        emit(as_json, data, f"shop {created.id} created: {created.name}")

    @shop.command("list")
    @json_option
    def shop_list(as_json: bool) -> None:
        """Every shop, with the id that `--shop ID` takes."""
        with services() as svc:
            found = shops.list_shops(svc)
        emit(
            as_json,
            [s.as_dict() for s in found],
            lambda: (
                "\n".join(
                    f"{s.id:>4}  {s.name:<32} {s.owner_email:<32} {s.timezone}" for s in found
                )
                or "no shop yet: run `relance shop create --name … --email …`"
            ),
        )

    @shop.command("set")
    @click.argument("shop_id", type=int)
    @click.option("--thank-you/--no-thank-you", default=None, help=THANK_YOU_HELP)
    @click.option(
        "--posting-delay",
        type=int,
        help="Days a posted letter takes to arrive (0-15, default 2): a formal notice's "
        "deadline counts from then.",
    )
    @click.option(
        "--payment-instructions",
        help="How to pay without a payment link (IBAN/BIC, cheque address). "
        "Without it or a link, payment reminders wait.",
    )
    @click.option("--contact-name", help="The person named in every message.")
    @click.option("--contact-phone", help="The contact's phone number.")
    @click.option("--signatory-name", help="Who signs the letters.")
    @click.option("--signatory-role", help="The signatory's role, e.g. Gérante.")
    @click.option(
        "--terms-and-conditions/--no-terms-and-conditions",
        "terms",
        default=None,
        help="The shop has terms and conditions of sale (messages may cite them).",
    )
    @click.option(
        "--consumer-mediator",
        help="The consumer mediator's name and website (L616-1 Code de la consommation).",
    )
    @click.option("--legal-name", help="The company's legal name, for letters and emails.")
    @click.option(
        "--legal-form", help="Legal form (and capital), e.g. 'SARL au capital de 10 000 €'."
    )
    @click.option("--siren", help="The 9-digit SIREN (checked).")
    @click.option("--rcs-city", help="Town of the RCS registration, e.g. Paris for 'RCS Paris'.")
    @click.option(
        "--address",
        help="Registered office, lines separated by \\n: '12 rue des Lilas\\n75011 Paris'.",
    )
    @click.option("--postal-address", help="Where letters come from, if not the registered office.")
    @json_option
    @errors_as_cli(ShopError)
    def shop_set(
        shop_id: int,
        thank_you: bool | None,
        posting_delay: int | None,
        payment_instructions: str | None,
        contact_name: str | None,
        contact_phone: str | None,
        signatory_name: str | None,
        signatory_role: str | None,
        terms: bool | None,
        consumer_mediator: str | None,
        legal_name: str | None,
        legal_form: str | None,
        siren: str | None,
        rcs_city: str | None,
        address: str | None,
        postal_address: str | None,
        as_json: bool,
    ) -> None:
        """Change a shop's settings (only what is given; an empty value clears one)."""
        settings = shops.MessageSettings(
            payment_instructions=payment_instructions,
            contact_name=contact_name,
            contact_phone=contact_phone,
            signatory_name=signatory_name,
            signatory_role=signatory_role,
            consumer_mediator=consumer_mediator,
            has_terms_and_conditions=terms,
        )
        identity = shops.LegalIdentity(
            legal_name=legal_name,
            legal_form=legal_form,
            siren=siren,
            rcs_city=rcs_city,
            registered_office=address,
            postal_address=postal_address,
        )
        with services() as svc:
            changed = shops.update(
                svc,
                shop_id,
                thank_you=thank_you,
                posting_delay_days=posting_delay,
                messages=settings,
                identity=identity,
            )
        emit(
            as_json,
            changed.as_dict(),
            f"shop {changed.id}: thank-you {'on' if changed.thank_you else 'off'}, "
            f"letters arrive {changed.posting_delay_days} day(s) after posting"
            + (f", SIREN {changed.siren}" if changed.siren else ""),
        )
