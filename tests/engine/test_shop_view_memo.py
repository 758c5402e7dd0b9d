"""A batch makes what its messages say of their shop once per shop and language
(compose.ShopViewMemo): each message still reads its own shop's words, in its own language,
exactly as a view made for it alone."""

from __future__ import annotations

from itertools import product

from connector.dunning.compose import ShopViewMemo, shop_view
from connector.store.models import Shop


def _shops() -> list[Shop]:
    return [
        Shop(
            name="Atelier Lumière",
            owner_email="owner@lumiere.example",
            contact_email="contact@lumiere.example",
            siren="732829320",
            rcs_city="Paris",
            consumer_rate_bp=800,
            payment_instructions="IBAN FR76 1",
        ),
        Shop(
            name="Bench shop",
            owner_email="owner@bench.example",
            legal_id="SIRET 1",
            consumer_rate_bp=1_050,
            payment_instructions="IBAN FR76 2",
        ),
        # Another row with the first one's values but its own name: no view of the first.
        Shop(
            name="Atelier Lumière bis",
            owner_email="owner@lumiere.example",
            contact_email="contact@lumiere.example",
            siren="732829320",
            rcs_city="Paris",
            consumer_rate_bp=800,
            payment_instructions="IBAN FR76 1",
        ),
    ]


def test_each_shop_and_language_reads_its_own_words() -> None:
    shops = _shops()
    memo = ShopViewMemo()
    for _ in range(2):  # the second time, from what it made
        for shop, locale in product(shops, ("fr", "en")):
            assert memo(shop, locale) == shop_view(shop, locale)
    assert memo(shops[0], "fr").consumer_rate != memo(shops[0], "en").consumer_rate
    assert memo(shops[2], "fr").name == "Atelier Lumière bis"


def test_a_shop_is_made_once_per_language() -> None:
    shop = _shops()[0]
    memo = ShopViewMemo()
    assert memo(shop, "fr") is memo(shop, "fr")
    assert memo(shop, "en") is not memo(shop, "fr")


def test_a_new_row_in_place_of_a_gone_one_is_made_anew() -> None:
    """Kept by the row object itself: a row read later (another read, a changed name) never
    gets the view of the one before, even at the same address."""
    memo = ShopViewMemo()
    for name in ("First", "Second", "Third"):
        shop = Shop(name=name, owner_email=f"{name.lower()}@shop.example")
        assert memo(shop, "fr").name == name
        del shop
