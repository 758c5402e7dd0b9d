"""The errors every owner action speaks: bad input (naming the field) and not found (another
shop's ids are not found either, never "forbidden": their existence is not revealed)."""

from __future__ import annotations


class ActionError(ValueError):
    """Input the action refuses; the message names the field and what to fix. Nothing written."""


class NotFound(LookupError):
    """No such thing in this shop."""
