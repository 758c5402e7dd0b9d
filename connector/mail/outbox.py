"""Outbox transport: one JSON file per message, for development and for owners without SendGrid."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from connector.mail.base import DeliveryOutcome, DeliveryResult, OutgoingMail


def outbox_file_name(message_id: int) -> str:
    """``message-000000000042.json`` for message 42 (sorts in send order)."""
    return f"message-{message_id:012d}.json"


def outbox_record(mail: OutgoingMail) -> dict[str, Any]:
    """The JSON object written for ``mail``."""
    return {
        "message_id": mail.message_id,
        "to": mail.to_email,
        "to_name": mail.to_name,
        "from": mail.from_email,
        "from_name": mail.from_name,
        "reply_to": mail.reply_to,
        "subject": mail.subject,
        "text": mail.text,
        "html": mail.html,
        "step": mail.step,
        "reminder_id": mail.reminder_ids[0] if mail.reminder_ids else None,
        "reminder_ids": list(mail.reminder_ids),
        "invoice": mail.invoice_numbers[0] if mail.invoice_numbers else None,
        "invoices": list(mail.invoice_numbers),
        "categories": list(mail.categories),
    }


class OutboxTransport:
    """Writes each message to ``directory/message-<id>.json``, atomically and at most once.

    The file is written to a temporary file in the same directory, fsynced, then linked into
    place (``os.link`` never replaces an existing file; ``os.replace`` where hard links are not
    supported) and the directory is fsynced. If the message's file already exists the send is
    idempotent: nothing is rewritten and the result is ``SENT`` again. Files are created mode
    0600 (they hold customer addresses). A disk error gives ``FAILED`` and leaves nothing behind.
    """

    def __init__(self, directory: Path) -> None:
        self._directory = Path(directory)
        self._directory.mkdir(parents=True, exist_ok=True)

    @property
    def directory(self) -> Path:
        """The outbox folder."""
        return self._directory

    def path_for(self, message_id: int) -> Path:
        """Where message ``message_id`` is (or will be) written."""
        return self._directory / outbox_file_name(message_id)

    def send(self, mail: OutgoingMail) -> DeliveryResult:
        """Write the message once; a second send of the same ``message_id`` is a no-op."""
        name = outbox_file_name(mail.message_id)
        final = self._directory / name
        if final.exists():
            return DeliveryResult(DeliveryOutcome.SENT, provider_message_id=name)
        data = json.dumps(outbox_record(mail), ensure_ascii=False, indent=2) + "\n"
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
            self._write_once(final, data.encode("utf-8"))
        except OSError as exc:
            return DeliveryResult(DeliveryOutcome.FAILED, error=f"outbox write failed: {exc}")
        return DeliveryResult(DeliveryOutcome.SENT, provider_message_id=name)

    def _write_once(self, final: Path, data: bytes) -> None:
        """Temp file + fsync + atomic no-clobber link (or replace) + directory fsync."""
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{final.name}.", suffix=".tmp", dir=self._directory
        )
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp_name, final)
            except FileExistsError:
                return  # a concurrent send of the same message won; its file stands
            except OSError:
                os.replace(tmp_name, final)  # no hard links on this filesystem
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
        _fsync_directory(self._directory)


def _fsync_directory(directory: Path) -> None:
    """Make the new directory entry durable (best effort where directories can't be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
