from __future__ import annotations

from typing import Any

import click

from connector.actions import settings, shops
from connector.cli.common import CliError, emit, errors_as_cli, json_option, parse_now, services
from connector.domain.terms import TermsMode
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
    # Legal (design §5; C. com. L441-10, D441-5).
    @click.option(
        "--terms",
        "terms_mode",
        type=click.Choice([m.value for m in TermsMode]),
        help="Payment terms: net N days, end of month then N days, or N days then end of month.",
    )
    @click.option("--terms-days", help="N of the payment terms (B2B: at most 60 net, 45 EOM).")
    @click.option(
        "--penalty",
        type=click.Choice(["ecb", "contractual"]),
        help="Late interest: the ECB rate of the half-year + points, or your terms' rate.",
    )
    @click.option("--margin-points", help="Points over the ECB rate (10 by law).")
    @click.option(
        "--contractual-rate", help="Your terms' late rate, % a year (at least 3x the legal rate)."
    )
    @click.option("--indemnity", help="Recovery indemnity in EUR (40 by law, D441-5).")
    @click.option("--consumer-rate", help="Late rate for consumers, % a year ('' for none).")
    @click.option(
        "--customers",
        type=click.Choice(["b2b", "consumers"]),
        help="Whether customers are businesses or consumers by default.",
    )
    @click.option(
        "--prescription/--no-prescription",
        default=None,
        help="Stop reminding once a claim is time-barred (2 years consumer, 5 years B2B).",
    )
    @click.option(
        "--ecb-rate",
        "ecb_rates",
        multiple=True,
        help="The ECB rate of a half-year, e.g. 2026-H2=2.15 (repeatable).",
    )
    # Sending.
    @click.option("--window", help="Sending window, shop-local: 09:00-18:00.")
    @click.option("--timezone", help="The shop's time zone, e.g. Europe/Paris.")
    @click.option(
        "--business-days/--every-day",
        "business_days",
        default=None,
        help="Send Monday to Friday except public holidays, or every day.",
    )
    @click.option(
        "--holidays",
        help="Public holidays of a country and subdivision: FR, FR-57 (Moselle), FR-6AE (Alsace).",
    )
    @click.option("--escalate-after", help="Hand over to a person after N reminders ('' never).")
    @click.option(
        "--escalate-above", help="Hand over overdue invoices above this amount ('' never)."
    )
    @click.option("--thank-you/--no-thank-you", default=None, help=THANK_YOU_HELP)
    @click.option("--from-name", help="The sender name customers see.")
    @click.option("--reply-to", help="Where customers' replies go (the contact email).")
    @click.option(
        "--payment-instructions",
        help="How to pay without a payment link (IBAN/BIC, cheque address). "
        "Without it or a link, payment reminders wait.",
    )
    @click.option(
        "--posting-delay",
        help="Days a posted letter takes to arrive (0-15, default 2): a formal notice's "
        "deadline counts from then.",
    )
    # Identity (R123-237 Code de commerce).
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
        help="The consumer mediator's name and website (L612-1 Code de la consommation).",
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
    @click.option("--now", "now_raw", help="As if it were this instant (ISO 8601), for checks.")
    @json_option
    @errors_as_cli(ShopError, CliError)
    def shop_set(shop_id: int, as_json: bool, now_raw: str | None, **given: Any) -> None:
        """Change a shop's settings (only what is given; an empty value clears an optional one).
        Every value is checked first: one bad value and nothing is written."""
        legal, sending, identity = _settings_from(given)
        now = parse_now(now_raw)
        with services() as svc:
            try:
                before = settings.settings_of(svc, shop_id, now.date())
                view = settings.update_settings(
                    svc,
                    shop_id,
                    now.date(),
                    legal=legal,
                    sending=sending,
                    identity=identity,
                )
            except settings.SettingsError as exc:
                raise CliError(_one_line(exc)) from exc
            summary = shops.get(svc, shop_id)
        changes = settings.settings_changed(before, view)
        data = {
            **view.as_dict(),
            **summary.as_dict(),
            "changed": {name: {"from": was, "to": new} for name, (was, new) in changes.items()},
        }
        said = "; ".join(
            f"{name.replace('_', ' ')}: {_said(was)} → {_said(new)}"
            for name, (was, new) in changes.items()
        )
        emit(
            as_json,
            data,
            f"shop {summary.id}: "
            + (f"changed {said}" if changes else _UNCHANGED)
            + (
                f"; no ECB rate for {view.ecb_missing}: add it with --ecb-rate "
                f"{view.ecb_missing}=RATE"
                if view.ecb_missing
                else ""
            ),
        )


_UNCHANGED = "nothing changed (the values given were already set)"


def _said(value: str) -> str:
    """A setting's value in a one-line report: quoted, ``(none)`` when empty."""
    return repr(value) if value else "(none)"


#: The form field a problem is about → the option that sets it.
_OPTION = {
    "terms_mode": "--terms",
    "window_start": "--window",
    "window_end": "--window",
    "holiday_country": "--holidays",
    "holiday_subdiv": "--holidays",
    "registered_office": "--address",
    "ecb_rate": "--ecb-rate",
    "terms_and_conditions": "--terms-and-conditions",
    "business_days": "--business-days",
}


def _one_line(exc: settings.SettingsError) -> str:
    return "; ".join(
        f"{_OPTION.get(name, '--' + name.replace('_', '-'))}: {problem}"
        for name, problem in exc.errors.items()
    )


def _switch(value: bool | None) -> str | None:
    return None if value is None else ("on" if value else "off")


def _settings_from(
    given: dict[str, Any],
) -> tuple[settings.LegalSettings, settings.SendingSettings, settings.IdentitySettings]:
    """The options, as the texts the settings functions take (the web gives the same)."""
    window_start = window_end = None
    if given["window"] is not None:
        start, sep, end = given["window"].partition("-")
        if not sep:
            raise CliError(f"--window: write it as 09:00-18:00 (got {given['window']!r})")
        window_start, window_end = start, end
    country = subdiv = None
    if given["holidays"] is not None:
        country, _, subdiv = given["holidays"].partition("-")
    legal = settings.LegalSettings(
        terms_mode=given["terms_mode"],
        terms_days=given["terms_days"],
        penalty=given["penalty"],
        margin_points=given["margin_points"],
        contractual_rate=given["contractual_rate"],
        indemnity=given["indemnity"],
        consumer_rate=given["consumer_rate"],
        customers=given["customers"],
        prescription=_switch(given["prescription"]),
        ecb_rates=tuple(given["ecb_rates"]),
    )
    sending = settings.SendingSettings(
        window_start=window_start,
        window_end=window_end,
        timezone=given["timezone"],
        business_days=_switch(given["business_days"]),
        holiday_country=country,
        holiday_subdiv=subdiv,
        escalate_after=given["escalate_after"],
        escalate_above=given["escalate_above"],
        thank_you=_switch(given["thank_you"]),
        from_name=given["from_name"],
        reply_to=given["reply_to"],
        payment_instructions=given["payment_instructions"],
        posting_delay=given["posting_delay"],
    )
    identity = settings.IdentitySettings(
        legal_name=given["legal_name"],
        legal_form=given["legal_form"],
        siren=given["siren"],
        rcs_city=given["rcs_city"],
        registered_office=given["address"],
        postal_address=given["postal_address"],
        signatory_name=given["signatory_name"],
        signatory_role=given["signatory_role"],
        contact_name=given["contact_name"],
        contact_phone=given["contact_phone"],
        terms_and_conditions=_switch(given["terms"]),
        consumer_mediator=given["consumer_mediator"],
    )
    return legal, sending, identity
