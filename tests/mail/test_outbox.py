"""OutboxTransport (one JSON file per message) and the transport factory."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from connector.mail.base import DeliveryOutcome
from connector.mail.factory import transport_from_env
from connector.mail.outbox import OutboxTransport
from connector.mail.sendgrid import SendGridTransport
from tests.mail import make_mail


def read(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_writes_one_json_file_with_the_documented_keys(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path / "var" / "outbox")

    result = outbox.send(make_mail())

    assert result.outcome is DeliveryOutcome.SENT
    assert result.provider_message_id == "message-000000000042.json"
    assert result.attempts == 1
    assert [p.name for p in outbox.directory.iterdir()] == ["message-000000000042.json"]
    assert read(outbox.path_for(42)) == {
        "message_id": 42,
        "to": "claire@example.com",
        "to_name": "Claire Dupont",
        "from": "compta@boutique.example",
        "from_name": "Boutique Exemple",
        "reply_to": "factures@boutique.example",
        "subject": "Rappel : facture F-2026-001",
        "text": "Bonjour, votre facture F-2026-001 est échue.",
        "html": "<p>Bonjour, votre facture <b>F-2026-001</b> est échue.</p>",
        "step": "first",
        "reminder_id": 7,
        "reminder_ids": [7, 8],
        "invoice": "F-2026-001",
        "invoices": ["F-2026-001", "F-2026-002"],
        "categories": ["dunning"],
    }


def test_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path)

    for message_id in range(1, 6):
        assert outbox.send(make_mail(message_id=message_id)).outcome is DeliveryOutcome.SENT

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"message-{i:012d}.json" for i in range(1, 6)
    ]


def test_second_send_of_the_same_message_does_not_rewrite(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path)
    first = outbox.send(make_mail())
    path = outbox.path_for(42)
    before = (path.stat().st_mtime_ns, path.stat().st_ino, path.read_bytes())

    again = outbox.send(make_mail(subject="Changed", text="changed"))

    assert again.outcome is DeliveryOutcome.SENT
    assert again.provider_message_id == first.provider_message_id
    assert (path.stat().st_mtime_ns, path.stat().st_ino, path.read_bytes()) == before
    assert read(path)["subject"] == "Rappel : facture F-2026-001"


def test_concurrent_sends_of_one_message_write_one_file(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path)
    mails = [make_mail(subject=f"variant {i}") for i in range(32)]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(outbox.send, mails))

    assert {r.outcome for r in results} == {DeliveryOutcome.SENT}
    assert [p.name for p in tmp_path.iterdir()] == ["message-000000000042.json"]
    assert str(read(outbox.path_for(42))["subject"]).startswith("variant ")


def test_unicode_subject_and_body_round_trip(tmp_path: Path) -> None:
    subject = "Relance n°2 — facture « F-001 » 💶 ÉCHUE"
    outbox = OutboxTransport(tmp_path)

    outbox.send(make_mail(subject=subject, text="Grüße, 東京 💶"))

    raw = outbox.path_for(42).read_text(encoding="utf-8")
    assert subject in raw  # readable as is, not \\u-escaped
    assert read(outbox.path_for(42))["subject"] == subject
    assert read(outbox.path_for(42))["text"] == "Grüße, 東京 💶"


def test_disk_error_is_failed_and_leaves_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "outbox"
    outbox = OutboxTransport(directory)
    shutil.rmtree(directory)
    directory.write_text("not a directory", encoding="utf-8")

    result = outbox.send(make_mail())

    assert result.outcome is DeliveryOutcome.FAILED
    assert result.error is not None and result.error.startswith("outbox write failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outbox"]


def test_factory_uses_sendgrid_when_a_key_is_set(tmp_path: Path) -> None:
    transport = transport_from_env(
        {"SENDGRID_API_KEY": "SG.key", "SENDGRID_API_HOST": "http://127.0.0.1:9"},
        default_outbox=tmp_path,
    )

    assert isinstance(transport, SendGridTransport)
    assert transport.host == "http://127.0.0.1:9"
    default = transport_from_env({"SENDGRID_API_KEY": "SG.key"}, default_outbox=tmp_path)
    assert isinstance(default, SendGridTransport)
    assert default.host == "https://api.sendgrid.com"


def test_factory_falls_back_to_the_outbox(tmp_path: Path) -> None:
    chosen = transport_from_env(
        {"RELANCE_OUTBOX_DIR": str(tmp_path / "chosen"), "SENDGRID_API_KEY": "  "},
        default_outbox=tmp_path / "default",
    )
    fallback = transport_from_env({}, default_outbox=tmp_path / "default")

    assert isinstance(chosen, OutboxTransport)
    assert chosen.directory == tmp_path / "chosen"
    assert isinstance(fallback, OutboxTransport)
    assert fallback.directory == tmp_path / "default"
    assert fallback.directory.is_dir()
