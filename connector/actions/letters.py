"""Letters to post, kept in the store: list a shop's, fetch one to print."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from connector.services import Services
from connector.shops import ShopError, resolve_shop
from connector.store.models import Invoice, LetterDocument


class LetterError(ShopError):
    """No such letter in this shop (the message names it)."""


@dataclass(frozen=True, slots=True)
class LetterSummary:
    id: int
    shop_id: int
    invoice_number: str
    filename: str
    size: int
    created_at: datetime

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "shop": self.shop_id,
            "invoice": self.invoice_number,
            "filename": self.filename,
            "bytes": self.size,
            "created_at": self.created_at.isoformat(),
        }


def list_letters(svc: Services, shop_id: int | None) -> list[LetterSummary]:
    """The shop's letters, newest first (the content stays in the store)."""
    with svc.sessions() as s:
        shop = resolve_shop(s, shop_id)
        rows = s.execute(
            select(LetterDocument, Invoice.number)
            .join(Invoice, Invoice.id == LetterDocument.invoice_id)
            .where(LetterDocument.shop_id == shop.id)
            .order_by(LetterDocument.created_at.desc(), LetterDocument.id.desc())
        ).all()
        return [
            LetterSummary(
                letter.id, shop.id, number, letter.filename, len(letter.content), letter.created_at
            )
            for letter, number in rows
        ]


def letter_content(svc: Services, shop_id: int | None, letter_id: int) -> tuple[str, bytes]:
    """(filename, PDF bytes) of one of the shop's letters; another shop's is not found."""
    with svc.sessions() as s:
        shop = resolve_shop(s, shop_id)
        letter = s.scalar(
            select(LetterDocument).where(
                LetterDocument.id == letter_id, LetterDocument.shop_id == shop.id
            )
        )
        if letter is None:
            raise LetterError(f"no letter {letter_id} in shop {shop.id}")
        return letter.filename, letter.content
