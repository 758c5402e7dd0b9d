"""Who is who on a letter: the creditor's identification (R123-237 Code de commerce) and
postal addresses, as people write them and as the platforms send them."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SIREN = re.compile(r"\d{9}")
_POSTCODE_CITY = re.compile(r"^\s*(?:[A-Z]{1,2}-)?\d{4,5}\s+(?P<city>.+?)\s*(?:cedex.*)?$", re.I)
FRANCE_NAMES = frozenset({"FR", "FRA", "FRANCE"})


class IdentityError(ValueError):
    """An identification or address that cannot be right; the message names the field."""


def valid_siren(value: str) -> str:
    """The 9 digits of a SIREN (spaces allowed in input), checked with the Luhn key INSEE uses.

    Raises IdentityError otherwise. La Poste's SIREN (356 000 000) is the one documented
    exception to the Luhn key and is accepted.
    """
    digits = re.sub(r"[\s.\u00a0\u202f]", "", value)
    if not _SIREN.fullmatch(digits):
        raise IdentityError(f"siren: must be 9 digits, got {value!r}")
    if digits != "356000000" and not _luhn_ok(digits):
        raise IdentityError(f"siren: {value!r} fails the SIREN check digit (Luhn)")
    return digits


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        n = int(char)
        if index % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def format_siren(digits: str) -> str:
    """« 732 829 320 », as printed on letters."""
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


@dataclass(frozen=True, slots=True)
class PostalAddress:
    """A postal address as the platforms and the CSV give it (every part optional but city)."""

    line1: str | None = None
    line2: str | None = None
    postal_code: str | None = None
    city: str | None = None
    region: str | None = None
    country: str | None = None  # ISO code ("FR") or name, as given

    def lines(self) -> list[str]:
        """The address block, one line per part present (« 75011 Paris » on one line)."""
        town = " ".join(part for part in (self.postal_code, self.city) if part)
        parts = (self.line1, self.line2, town, self.region, self.country)
        return [part.strip() for part in parts if part and part.strip()]

    def text(self) -> str | None:
        """The stored form (Customer.postal_address): its lines; None without a street or town."""
        if not (self.line1 and (self.city or self.postal_code)):
            return None
        return "\n".join(self.lines())


def city_of(address: str | None) -> str | None:
    """The town of a written address: the line that starts with a postal code (« 75011 Paris »
    → « Paris »), None when no line does."""
    for line in reversed((address or "").splitlines()):
        match = _POSTCODE_CITY.match(line)
        if match:
            return match.group("city").strip()
    return None


def country_of(address: str | None) -> str | None:
    """The address's country line, upper-cased, when its last line is not a postal-code line."""
    lines = [line.strip() for line in (address or "").splitlines() if line.strip()]
    if not lines or _POSTCODE_CITY.match(lines[-1]):
        return None
    return lines[-1].upper()


def is_in_france(address: str | None, *, shop_country: str = "FR") -> bool:
    """A French address: its country line says France, or it has none and the shop is French."""
    country = country_of(address)
    if country is None:
        return shop_country.upper() in FRANCE_NAMES
    return country in FRANCE_NAMES
