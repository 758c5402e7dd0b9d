"""Amounts as Babel writes them, without asking Babel for each new amount: a reminder formats
amounts no message formatted before, and Babel took ~25 µs for each."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from babel.numbers import format_currency

from connector.domain import money
from connector.domain.money import Money

LOCALES = ("fr", "en", "de", "fr_CH", "es", "ar", "hi_IN", "fa", "ja")
CURRENCIES = ("EUR", "USD", "JPY", "BHD", "CHF", "INR", "CLF")


def test_new_amounts_read_as_babel_writes_them_without_asking_it_each_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(7)
    amounts = [
        Money.from_minor(minor, currency)
        for currency in CURRENCIES
        for minor in (
            0,
            -1,
            7,
            -120_050,
            *(rng.randint(-(10**12), 10**12) for _ in range(60)),
            *(rng.randint(0, 10 ** rng.randint(0, 14)) for _ in range(60)),
        )
    ]
    expected = {
        (m, locale): str(format_currency(m.amount, m.currency, locale=locale))
        for m in amounts
        for locale in LOCALES
    }
    asked: list[Decimal] = []

    def babel(number: Decimal, currency: str, *, locale: str) -> str:
        asked.append(number)
        return str(format_currency(number, currency, locale=locale))

    money._format_money.cache_clear()
    monkeypatch.setattr(money, "format_currency", babel)
    for (m, locale), text in expected.items():
        assert m.format(locale) == text, (m, locale)
    # Babel wrote one amount per shape (sign, count of digits) and the zeros, not each amount.
    assert len(asked) < len(expected) // 5, len(asked)
