"""A varied set of reminder contexts for comparing rendered bytes: every shipped step in both
languages, B2B or not, one or two invoices, with or without a payment link and earlier
reminders (the 224 samples of the sample-messages comparison), and the shapes those leave out:
a bare shop, a shop whose words need escaping, several links, instalments, interest lines,
companies, payment instructions with a link."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from itertools import product

from connector.dunning.context import (
    InstalmentView,
    InterestLineView,
    InvoiceView,
    ReminderContext,
    ShopView,
)
from connector.dunning.rendering import STEPS, sample_context

BARE_SHOP = ShopView(
    name="Bench shop",
    contact_email="owner@bench.example",
    contact_phone=None,
    legal_name=None,
    legal_address=None,
    legal_id=None,
    payment_instructions=None,
)
ESCAPED_SHOP = replace(
    BARE_SHOP,
    name='Café <b>"Dupont" & fils</b>',
    contact_name="Zoé d'Arc",
    contact_phone="+33 6 00 00 00 00",
    legal_name="L'Atelier & Cie",
    legal_form="SAS",
    siren="SIREN 123 456 789",
    registered_office="1 rue <Haute>\n75001 Paris",
    payment_instructions="Virement <IBAN> FR76 ou https://pay.example/shop?a=1&b=2.",
    consumer_mediator="Médiateur & co",
    has_terms_and_conditions=True,
    consumer_rate="8 %",
)
INSTALMENT = InstalmentView(
    position=2, count=3, amount="50,00 €", due_on="9 juin 2026", days_late=1, balance="120 €"
)
LINES = (
    InterestLineView(
        ecb_rate="2,15 %",
        margin_points="10",
        rate="12,15 %",
        first_day="2",
        last_day="30 juin 2026",
        days=29,
        amount="1,23 €",
    ),
    InterestLineView(
        ecb_rate=None,
        margin_points=None,
        rate="8 %",
        first_day="1er juillet",
        last_day="8 juillet 2026",
        days=8,
        amount="0,45 €",
    ),
)


def _invoices(ctx: ReminderContext, shape: str) -> tuple[InvoiceView, ...]:
    first = ctx.invoices[0]
    if shape == "instalment":
        return tuple(replace(inv, instalment=INSTALMENT) for inv in ctx.invoices)
    if shape == "interest_lines":
        return tuple(
            replace(inv, interest=inv.interest or "1,68 €", interest_lines=LINES)
            for inv in ctx.invoices
        )
    if shape == "three_links":
        third = replace(first, number="F-3<x>", payment_url="https://pay.example/3?x=1&y=2")
        second = replace(first, number="F-2", payment_url="https://pay.example/2")
        return (first, second, third)
    if shape == "shared_link":
        return (first, replace(first, number="F-2"))
    if shape == "some_unlinked":
        return (first, replace(first, number="F-2", payment_url=None))
    return ctx.invoices


def varied_contexts() -> Iterator[ReminderContext]:
    """The 224 samples, then about a hundred contexts in the shapes they leave out."""
    for step, locale, b2b, count, link, earlier in product(
        STEPS, ("fr", "en"), (True, False), (1, 2), (True, False), (0, 2)
    ):
        yield sample_context(
            step, locale, b2b=b2b, invoices=count, payment_url=link, earlier=earlier
        )
    shapes = ("instalment", "interest_lines", "three_links", "shared_link", "some_unlinked")
    for step, locale, shop, shape in product(
        STEPS[:-1], ("fr", "en"), (BARE_SHOP, ESCAPED_SHOP), shapes
    ):
        ctx = sample_context(step, locale, b2b=shape != "instalment", earlier=1)
        customer = ctx.customer
        if shop is BARE_SHOP:
            customer = replace(customer, company=None, is_company=False, name="Zoé <Martin>")
        yield replace(ctx, shop=shop, customer=customer, invoices=_invoices(ctx, shape))
