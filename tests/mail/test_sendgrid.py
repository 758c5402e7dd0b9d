"""SendGridTransport against FakeSendGrid, through the real ``sendgrid`` library (no mocks)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from connector.mail.base import DeliveryOutcome, OutgoingMail
from connector.mail.sendgrid import SendGridTransport, build_payload
from tests.mail import KEY, Waits, make_mail
from tests.support.fake_sendgrid import DROP, HANG, FakeSendGrid, Reply

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def waits() -> Waits:
    return Waits()


def transport(url: str, waits: Waits, *, key: str = KEY, **options: float) -> SendGridTransport:
    settings: dict[str, float] = {"timeout": 5.0, "backoff_base": 0.5} | options
    return SendGridTransport(
        key,
        url,
        timeout=settings["timeout"],
        max_attempts=int(settings.get("max_attempts", 4)),
        budget_seconds=settings.get("budget_seconds", 30.0),
        backoff_base=settings["backoff_base"],
        sleep=waits,
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_202_is_sent_with_message_id_custom_args_and_categories(
    fake: FakeSendGrid, waits: Waits
) -> None:
    result = transport(fake.url, waits).send(make_mail())

    assert result.outcome is DeliveryOutcome.SENT
    assert result.attempts == 1
    assert result.error is None
    [accepted] = fake.accepted
    assert result.provider_message_id == accepted.message_id
    body = accepted.body
    assert body["personalizations"] == [
        {
            "to": [{"email": "claire@example.com", "name": "Claire Dupont"}],
            "custom_args": {
                "relance_message_id": "42",
                "reminder_id": "7",
                "reminder_ids": "7,8",
                "step": "first",
            },
        }
    ]
    assert body["from"] == {"email": "compta@boutique.example", "name": "Boutique Exemple"}
    assert body["reply_to"] == {"email": "factures@boutique.example"}
    assert body["subject"] == "Rappel : facture F-2026-001"
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert body["categories"] == ["relance-step-first", "dunning"]
    assert fake.accepted_reminder_ids() == Counter({7: 1, 8: 1})
    assert waits.calls == []


def test_payload_categories_are_unique_capped_and_names_optional() -> None:
    mail = make_mail(
        to_name=None,
        from_name=None,
        reply_to=None,
        html="",
        step="final",
        categories=("relance-step-final", "", *(f"c{i}" for i in range(12))),
    )
    body = build_payload(mail)

    assert body["categories"] == ["relance-step-final", *(f"c{i}" for i in range(9))]
    assert body["personalizations"][0]["to"] == [{"email": "claire@example.com"}]
    assert body["from"] == {"email": "compta@boutique.example"}
    assert "reply_to" not in body
    assert body["content"] == [{"type": "text/plain", "value": mail.text}]
    assert all(isinstance(v, str) for v in body["personalizations"][0]["custom_args"].values())


def test_5xx_twice_then_202_is_sent_after_three_attempts(fake: FakeSendGrid, waits: Waits) -> None:
    fake.script([500, 503, 202])

    result = transport(fake.url, waits).send(make_mail())

    assert result.outcome is DeliveryOutcome.SENT
    assert result.attempts == 3
    assert result.provider_message_id == fake.accepted[0].message_id
    assert fake.requests_total == 3
    assert len(fake.accepted) == 1
    # jittered exponential backoff: base*2**n scaled by [0.5, 1]
    assert len(waits.calls) == 2
    assert 0.25 <= waits.calls[0] <= 0.5
    assert 0.5 <= waits.calls[1] <= 1.0


def test_429_then_202_is_sent(fake: FakeSendGrid, waits: Waits) -> None:
    fake.script([429, 202])

    result = transport(fake.url, waits).send(make_mail())

    assert result.outcome is DeliveryOutcome.SENT
    assert result.attempts == 2
    assert len(waits.calls) == 1
    assert fake.accepted_reminder_ids() == Counter({7: 1, 8: 1})


def test_retry_after_and_rate_limit_reset_are_honoured(fake: FakeSendGrid, waits: Waits) -> None:
    reset_at = int(time.time()) + 5
    fake.script(
        [
            Reply(429, {"Retry-After": "3"}),
            Reply(429, {"X-RateLimit-Reset": str(reset_at)}),
            202,
        ]
    )

    result = transport(fake.url, waits, backoff_base=0.01).send(make_mail())

    assert result.outcome is DeliveryOutcome.SENT
    assert result.attempts == 3
    assert waits.calls[0] == pytest.approx(3.0)
    assert 3.0 <= waits.calls[1] <= 5.0


def test_429_forever_fails_after_max_attempts(fake: FakeSendGrid, waits: Waits) -> None:
    fake.script([429] * 20)

    result = transport(fake.url, waits, max_attempts=4).send(make_mail())

    assert result.outcome is DeliveryOutcome.FAILED
    assert result.attempts == 4
    assert fake.requests_total == 4
    assert len(waits.calls) == 3
    assert result.error is not None
    assert "429" in result.error and "too many requests" in result.error
    assert fake.accepted == []


def test_429_forever_stops_within_the_budget(fake: FakeSendGrid, waits: Waits) -> None:
    fake.script([429] * 50)

    result = transport(fake.url, waits, max_attempts=50, budget_seconds=3.0).send(make_mail())

    assert result.outcome is DeliveryOutcome.FAILED
    assert 2 < result.attempts < 50
    assert sum(waits.calls) <= 3.0
    assert result.attempts == fake.requests_total == len(waits.calls) + 1
    assert result.error is not None and "retry budget" in result.error


def test_retry_after_beyond_the_budget_gives_up_without_waiting(
    fake: FakeSendGrid, waits: Waits
) -> None:
    fake.script([Reply(429, {"Retry-After": "120"})])

    result = transport(fake.url, waits, budget_seconds=30.0).send(make_mail())

    assert result.outcome is DeliveryOutcome.FAILED
    assert result.attempts == 1
    assert waits.calls == []


def test_400_fails_at_once_with_the_providers_message(fake: FakeSendGrid, waits: Waits) -> None:
    result = transport(fake.url, waits).send(make_mail(subject=""))

    assert result.outcome is DeliveryOutcome.FAILED
    assert result.attempts == 1
    assert fake.requests_total == 1
    assert waits.calls == []
    assert result.error is not None
    assert result.error.startswith("SendGrid 400: subject: The subject is required.")


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (403, "access forbidden"),
        (413, "The JSON payload you have included in your request is too large."),
    ],
)
def test_other_4xx_fail_at_once(
    fake: FakeSendGrid, waits: Waits, status: int, message: str
) -> None:
    fake.script([status, 202])

    result = transport(fake.url, waits).send(make_mail())

    assert result.outcome is DeliveryOutcome.FAILED
    assert result.attempts == 1
    assert result.error == f"SendGrid {status}: {message}"
    assert fake.requests_total == 1


def test_401_fails_at_once(fake: FakeSendGrid, waits: Waits) -> None:
    result = transport(fake.url, waits, key="SG.wrong").send(make_mail())

    assert result.outcome is DeliveryOutcome.FAILED
    assert result.attempts == 1
    assert fake.requests_total == 1
    assert result.error is not None and "authorization grant is invalid" in result.error
    assert waits.calls == []


def test_read_timeout_is_unknown_and_never_retried(fake: FakeSendGrid, waits: Waits) -> None:
    fake.script([HANG, 202])
    started = time.monotonic()

    result = transport(fake.url, waits, timeout=0.3).send(make_mail())

    assert time.monotonic() - started < 3.0  # the timeout reached the library
    assert result.outcome is DeliveryOutcome.UNKNOWN
    assert result.attempts == 1
    assert result.provider_message_id is None
    assert result.error is not None
    assert result.error.startswith("no answer from SendGrid within 0.3s")
    assert fake.requests_total == 1
    assert waits.calls == []
    # the provider did take it: resending would have delivered the reminder twice
    assert fake.accepted_reminder_ids() == Counter({7: 1, 8: 1})


def test_connection_dropped_after_the_request_is_unknown(fake: FakeSendGrid, waits: Waits) -> None:
    fake.script([DROP, 202])

    result = transport(fake.url, waits).send(make_mail())

    assert result.outcome is DeliveryOutcome.UNKNOWN
    assert result.attempts == 1
    assert result.error is not None and "lost after the request was sent" in result.error
    assert fake.requests_total == 1
    assert fake.accepted_reminder_ids() == Counter({7: 1, 8: 1})


def test_connection_refused_is_retried_then_fails(waits: Waits) -> None:
    url = f"http://127.0.0.1:{closed_port()}"

    result = transport(url, waits, max_attempts=3).send(make_mail())

    assert result.outcome is DeliveryOutcome.FAILED
    assert result.attempts == 3
    assert len(waits.calls) == 2
    assert result.error is not None and "request not sent" in result.error


def test_dns_failure_is_retried_then_fails(waits: Waits) -> None:
    result = transport("http://relance-no-such-host.invalid", waits, max_attempts=2).send(
        make_mail()
    )

    assert result.outcome is DeliveryOutcome.FAILED
    assert result.attempts == 2


def test_constructor_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        SendGridTransport("")
    with pytest.raises(ValueError):
        SendGridTransport(KEY, "api.sendgrid.com")
    with pytest.raises(ValueError):
        SendGridTransport(KEY, max_attempts=0)
    assert SendGridTransport(KEY, "https://api.eu.sendgrid.com/").host == (
        "https://api.eu.sendgrid.com"
    )


def test_one_transport_shared_by_many_threads_sends_each_mail_once() -> None:
    mails: list[OutgoingMail] = [
        make_mail(message_id=1000 + i, reminder_ids=(1000 + i,)) for i in range(200)
    ]
    with FakeSendGrid(api_key=KEY, latency=0.05) as server:
        shared = SendGridTransport(KEY, server.url, timeout=10.0)
        with ThreadPoolExecutor(max_workers=100) as pool:
            results = list(pool.map(shared.send, mails))

        assert {r.outcome for r in results} == {DeliveryOutcome.SENT}
        assert server.requests_total == 200
        assert server.accepted_reminder_ids() == Counter(range(1000, 1200))
        assert len({r.provider_message_id for r in results}) == 200


def test_fake_runs_as_a_script_for_benchmarks() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fake_sendgrid", "--port", "0", "--latency", "0.01"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")

        result = SendGridTransport(KEY, url).send(make_mail())

        assert result.outcome is DeliveryOutcome.SENT
        with urllib.request.urlopen(f"{url}/_fake/stats", timeout=5) as response:
            stats = json.load(response)
        assert stats["requests_total"] == 1
        assert stats["accepted_reminder_ids"] == {"7": 1, "8": 1}
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
