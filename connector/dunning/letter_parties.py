"""The two parties of a posted letter, read from the store, and what stops a letter from being
made (no fpdf here: the delivery checks before any PDF library loads)."""

from __future__ import annotations

from dataclasses import dataclass

from connector.domain.identity import city_of, format_siren
from connector.store.models import Customer, Shop


@dataclass(frozen=True, slots=True)
class LetterParty:
    """One side of a letter: who, where, and for the creditor how it is identified and who
    signs."""

    name: str
    address: tuple[str, ...]
    identification: tuple[str, ...] = ()  # legal form, « RCS Paris 732 829 320 », office
    place: str | None = None  # the town of the « Paris, le … » line
    signatory_name: str | None = None
    signatory_role: str | None = None


def creditor_of(shop: Shop) -> LetterParty:
    """The shop as a letter's sender. The signatory fields come with another change to Shop:
    read only when the model has them (the one place to rewire)."""
    identification: list[str] = []
    if shop.legal_form:
        identification.append(shop.legal_form)
    if shop.siren:
        rcs = f"RCS {shop.rcs_city} " if shop.rcs_city else "SIREN "
        identification.append(rcs + format_siren(shop.siren))
    office = (shop.registered_office or "").splitlines()
    sender = (shop.postal_address or "").splitlines() or office
    if shop.postal_address and office:
        identification.append(", ".join(office))  # the office, when letters come from elsewhere
    return LetterParty(
        name=shop.legal_name or shop.name,
        address=tuple(sender),
        identification=tuple(identification),
        place=city_of(shop.postal_address or shop.registered_office),
        signatory_name=shop.signatory_name or shop.sender_name,
        signatory_role=shop.signatory_role,
    )


def debtor_of(customer: Customer) -> LetterParty:
    name = customer.company or customer.name or customer.email or ""
    lines = [customer.name] if customer.company and customer.name else []
    lines += (customer.postal_address or "").splitlines()
    return LetterParty(name=name, address=tuple(line for line in lines if line.strip()))


def missing_for_letter(shop: Shop, customer: Customer) -> list[str]:
    """What stops a letter from being posted, in the words of the task that asks for it
    (empty: the letter can be made)."""
    yours = [
        label
        for label, value in (
            ("legal name", shop.legal_name),
            ("legal form", shop.legal_form),
            ("SIREN", shop.siren),
            ("RCS city", shop.rcs_city),
            ("registered office", shop.registered_office),
            ("signatory's name", shop.signatory_name or shop.sender_name),
            ("signatory's role", shop.signatory_role),
        )
        if not value
    ]
    missing = [f"your {_and(yours)}"] if yours else []
    if not (customer.postal_address or "").strip():
        who = customer.company or customer.name or customer.email or "the customer"
        missing.append(f"{who}'s postal address")
    return missing


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
