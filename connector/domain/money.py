"""Money as Decimal + ISO 4217 currency; minor units only at the store and adapter boundaries."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from babel.numbers import format_currency, get_currency_precision, list_currencies

#: Parsed amounts have at most this many digits in minor units (under 10^15 cents: ten trillion
#: euros): far above any invoice, far below a 64-bit integer column and Decimal's 28-digit
#: precision, so an absurd amount ("1e30") is a ValueError, never an InvalidOperation or overflow.
MAX_MINOR_DIGITS = 15


class UnknownCurrency(ValueError):
    """The code is not an ISO 4217 currency."""


@lru_cache(maxsize=1)
def _known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def normalize_currency(code: str) -> str:
    """Upper-case and validate an ISO 4217 code, or raise UnknownCurrency."""
    if isinstance(code, str):
        return _normalized(code)  # a sync turns the same few codes into thousands of amounts
    return _checked(code)


@lru_cache(maxsize=512)
def _normalized(code: str) -> str:
    return _checked(code)  # unknown codes raise, and are not cached


def _checked(code: str) -> str:
    upper = (code or "").strip().upper()
    if len(upper) != 3 or upper not in _known_currencies():
        raise UnknownCurrency(f"unknown currency {code!r}")
    return upper


@lru_cache(maxsize=512)
def currency_exponent(currency: str) -> int:
    """Digits after the decimal point: EUR 2, JPY 0, BHD 3."""
    return int(get_currency_precision(normalize_currency(currency)))


@lru_cache(maxsize=512)
def _scale(code: str) -> tuple[str, int]:
    """A currency code → (its ISO form, its exponent), in one cached call: a sync turns the same
    few codes into thousands of amounts. Unknown codes raise, and are not cached."""
    return _scale_of(code)


def _scale_of(code: str) -> tuple[str, int]:
    iso = normalize_currency(code)
    return iso, currency_exponent(iso)


def currency_scale(code: str) -> tuple[str, int]:
    """A currency code → (its ISO form, its exponent); UnknownCurrency if it is not one."""
    return _scale(code) if isinstance(code, str) else _scale_of(code)


def parse_minor(amount: str | int | Decimal, currency: str) -> tuple[str, int]:
    """``Money.of``'s parsing, its checks and errors, as (ISO code, integer minor units): a
    platform's decimal string ("12.50" EUR → 1250) with no Money built."""
    code, value, exponent = _parsed(amount, currency)
    return code, int(value.scaleb(exponent))


def _parsed(amount: str | int | Decimal, currency: str) -> tuple[str, Decimal, int]:
    """A decimal amount checked for its currency: (ISO code, exact value, exponent)."""
    code = normalize_currency(currency)
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {amount!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not an amount: {amount!r}")
    exponent = currency_exponent(code)
    if value and value.adjusted() + exponent >= MAX_MINOR_DIGITS:  # no arithmetic: no trap
        raise ValueError(f"{amount!r} is out of range for {code}")
    quantum = Decimal(1).scaleb(-exponent)
    if value != value.quantize(quantum):
        raise ValueError(f"{amount!r} has more decimals than {code} allows")
    return code, value, exponent


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError("Money.amount must be a Decimal")

    @classmethod
    def of(cls, amount: str | int | Decimal, currency: str) -> Money:
        """Parse a decimal string ("12.50") exactly; reject more digits than the currency has."""
        code, value, exponent = _parsed(amount, currency)
        return cls(value.quantize(Decimal(1).scaleb(-exponent)), code)

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> Money:
        code, exponent = _scale(currency) if isinstance(currency, str) else _scale_of(currency)
        if cls is Money:  # a Decimal by construction: the slots set without __init__'s checks
            money = _new(Money)
            _set_amount(money, Decimal(int(minor)).scaleb(-exponent))
            _set_currency(money, code)
            return money
        return cls(Decimal(int(minor)).scaleb(-exponent), code)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls.from_minor(0, currency)

    def to_minor(self) -> int:
        exp = _scale(self.currency)[1]
        return int((self.amount.scaleb(exp)).to_integral_value(rounding=ROUND_HALF_UP))

    def rounded(self) -> Money:
        """Round half-up to the currency's minor unit."""
        quantum = Decimal(1).scaleb(-currency_exponent(self.currency))
        return Money(self.amount.quantize(quantum, rounding=ROUND_HALF_UP), self.currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"currency mismatch: {self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def is_positive(self) -> bool:
        return self.amount > 0

    def format(self, locale: str = "en") -> str:
        """Locale-aware display: 1 234,50 € in fr, €1,234.50 in en."""
        return _format_money(str(self.amount), self.currency, locale)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


_new = object.__new__
_set_amount = Money.__dict__["amount"].__set__
_set_currency = Money.__dict__["currency"].__set__
"""The slots' own setters: what a frozen dataclass's __init__ calls, minus its frame per field
(a sync makes two amounts per order)."""


@lru_cache(maxsize=8_192)
def _format_money(amount: str, currency: str, locale: str) -> str:
    """Babel's formatting is slow (a reminder formats a dozen amounts, twice): remembered per
    exact amount text, so equal amounts written differently ("-0", "1.0") stay distinct. A new
    amount is written as Babel wrote another of its shape (see :func:`_shape_of`), its own
    digits in place of that one's."""
    shape = _shape_of(amount, currency)
    template = _format_shape(shape, currency, locale) if shape is not None else None
    if template is None:
        return str(format_currency(Decimal(amount), currency, locale=locale))
    digits = iter(amount.replace("-", "").replace(".", ""))
    return "".join(next(digits) if char == "1" else char for char in template)


_PLAIN_AMOUNT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_DIGIT = re.compile(r"[0-9]")


def _shape_of(amount: str, currency: str) -> str | None:
    """The amount with each of its digits a 1 ("-1234.50" → "-1111.11"): Babel writes both
    alike but for the digits (the sign, the grouping by the count of integer digits, the
    currency's decimals), when the amount is a plain decimal with the currency's own number of
    decimals (nothing to round) and not zero (Babel may drop the sign of "-0.00"). None: not
    such an amount; Babel writes it itself."""
    if not _PLAIN_AMOUNT.fullmatch(amount) or not amount.strip("-.0"):
        return None
    decimals = len(amount) - amount.index(".") - 1 if "." in amount else 0
    if decimals != get_currency_precision(currency):
        return None
    return _DIGIT.sub("1", amount)


@lru_cache(maxsize=1_024)
def _format_shape(shape: str, currency: str, locale: str) -> str | None:
    """Babel's text for an amount made of 1s, when each of its 1s is one of the amount's
    digits, in order (no other digit, none dropped); else None (another numbering system)."""
    text = str(format_currency(Decimal(shape), currency, locale=locale))
    written = [char for char in text if char.isdigit()]
    if written != ["1"] * sum(char.isdigit() for char in shape):
        return None
    return text
