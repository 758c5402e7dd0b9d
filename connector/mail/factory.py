"""Pick the mail transport from the environment (design §7, Mail transports)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from connector.mail.base import MailTransport
from connector.mail.outbox import OutboxTransport
from connector.mail.sendgrid import DEFAULT_HOST, SendGridTransport


def transport_from_env(env: Mapping[str, str], *, default_outbox: Path) -> MailTransport:
    """SendGrid when ``SENDGRID_API_KEY`` is set (host from ``SENDGRID_API_HOST``), else the
    outbox folder ``RELANCE_OUTBOX_DIR`` (or ``default_outbox``). Blank values count as unset."""
    api_key = env.get("SENDGRID_API_KEY", "").strip()
    if api_key:
        host = env.get("SENDGRID_API_HOST", "").strip() or DEFAULT_HOST
        return SendGridTransport(api_key, host)
    outbox = env.get("RELANCE_OUTBOX_DIR", "").strip()
    return OutboxTransport(Path(outbox) if outbox else default_outbox)
