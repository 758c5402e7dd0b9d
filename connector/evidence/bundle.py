"""The dossier zip: the PDF, every message as an .eml (text and HTML exactly as sent), the
letters' PDFs and the raw webhook bodies as stored (byte for byte)."""

from __future__ import annotations

import io
import re
import zipfile
from email.message import EmailMessage
from email.utils import format_datetime

from connector.evidence.record import InvoiceRecord, SentMessage
from connector.store.models import Channel

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("_") or "file"


def eml(message: SentMessage, sender: str) -> bytes:
    """One message as RFC 5322 bytes; the provider's id in a header of its own."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.recipient or "undisclosed-recipients:;"
    mail["Subject"] = message.subject or ""
    if message.sent_at is not None:
        mail["Date"] = format_datetime(message.sent_at)
    if message.provider_message_id:
        mail["X-Provider-Message-Id"] = message.provider_message_id
    mail["X-Relance-Step"] = message.step
    mail["X-Relance-State"] = message.state
    mail.set_content(message.body_text or "")
    if message.body_html:
        mail.add_alternative(message.body_html, subtype="html")
    return mail.as_bytes()


def dossier_zip(record: InvoiceRecord, pdf: bytes) -> bytes:
    number = safe_name(record.invoice.number)
    sender = record.shop.sender_email or record.shop.owner_email
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"dossier-{number}.pdf", pdf)
        emails = [m for m in record.messages if m.channel is Channel.EMAIL]
        for index, m in enumerate(emails, start=1):
            when = m.sent_at.strftime("%Y%m%dT%H%M%SZ") if m.sent_at else "unsent"
            zf.writestr(f"messages/{index:02d}-{when}-{safe_name(m.step)}.eml", eml(m, sender))
        for letter in record.letters:
            zf.writestr(f"letters/{letter.id}-{safe_name(letter.filename)}", letter.content)
        for hook in record.webhooks:
            when = hook.received_at.strftime("%Y%m%dT%H%M%SZ")
            name = f"webhooks/{when}-{hook.platform}-{safe_name(hook.dedupe_key)}.json"
            zf.writestr(name, hook.raw_body)
    return buffer.getvalue()
