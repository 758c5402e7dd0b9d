"""Tests of the mail transports."""

from __future__ import annotations

from typing import Any

from connector.mail.base import OutgoingMail

KEY = "SG.test-key"


class Waits:
    """An injected ``sleep`` that records the waits instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make_mail(**overrides: Any) -> OutgoingMail:
    """A valid two-invoice reminder; override any field."""
    fields: dict[str, Any] = {
        "message_id": 42,
        "to_email": "claire@example.com",
        "to_name": "Claire Dupont",
        "from_email": "compta@boutique.example",
        "from_name": "Boutique Exemple",
        "reply_to": "factures@boutique.example",
        "subject": "Rappel : facture F-2026-001",
        "text": "Bonjour, votre facture F-2026-001 est échue.",
        "html": "<p>Bonjour, votre facture <b>F-2026-001</b> est échue.</p>",
        "step": "first",
        "invoice_numbers": ("F-2026-001", "F-2026-002"),
        "reminder_ids": (7, 8),
        "categories": ("dunning",),
    }
    fields.update(overrides)
    return OutgoingMail(**fields)
