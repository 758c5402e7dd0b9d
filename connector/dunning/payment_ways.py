"""Whether a payment message can tell the customer how to pay (issue 9, item 4).

A demand to pay within 8 days that does not say how is worthless: a step that asks for
payment goes out only with the invoice's web payment link or the shop's payment instructions.
"""

from __future__ import annotations

import re

_WEB_URL_RE = re.compile(r"https?://[^\s<>\"']+")


def is_web_url(url: str | None) -> bool:
    """An http(s) link a mail client may open (anything else is no way to pay)."""
    return url is not None and _WEB_URL_RE.fullmatch(url) is not None


def can_be_paid(payment_url: str | None, payment_instructions: str | None) -> bool:
    """The message can say how to pay: a web link for the invoice, or the shop's instructions."""
    return is_web_url(payment_url) or bool(payment_instructions and payment_instructions.strip())
