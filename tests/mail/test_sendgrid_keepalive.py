"""SendGridTransport's kept-alive connections against FakeSendGrid over real HTTP (no mocks).

Exactly-once first: a pooled connection must never turn a send into an UNKNOWN one or a
duplicate; reuse is checked through the server's own connection count.
"""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from connector.mail.base import DeliveryOutcome
from connector.mail.keepalive import MAX_IDLE_SECONDS, KeepAliveConnection
from connector.mail.sendgrid import SendGridTransport
from tests.mail import KEY, Waits, make_mail
from tests.support.fake_sendgrid import DROP, HANG, FakeSendGrid, LocalTLS, Reply


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> LocalTLS:
    return LocalTLS.create(tmp_path_factory.mktemp("tls"))


def transport(url: str, *, timeout: float = 5.0) -> SendGridTransport:
    return SendGridTransport(KEY, url, timeout=timeout, backoff_base=0.01, sleep=Waits())


def test_many_sends_from_one_thread_use_one_connection(fake: FakeSendGrid) -> None:
    sender = transport(fake.url)

    results = [sender.send(make_mail(message_id=i, reminder_ids=(i,))) for i in range(1, 21)]

    assert {r.outcome for r in results} == {DeliveryOutcome.SENT}
    assert fake.requests_total == 20
    assert fake.connections_total == 1
    assert fake.accepted_reminder_ids() == Counter(range(1, 21))
    sender.close()


def test_n_threads_use_at_most_n_connections() -> None:
    mails = [make_mail(message_id=i, reminder_ids=(i,)) for i in range(1, 61)]
    with FakeSendGrid(api_key=KEY, latency=0.01) as server:
        shared = transport(server.url)
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(shared.send, mails))

        assert {r.outcome for r in results} == {DeliveryOutcome.SENT}
        assert server.accepted_reminder_ids() == Counter(range(1, 61))
        assert 1 <= server.connections_total <= 4


def test_server_closing_an_idle_connection_means_a_new_one_and_one_send() -> None:
    with FakeSendGrid(api_key=KEY, keepalive_timeout=0.2) as server:
        sender = transport(server.url)
        first = [sender.send(make_mail(message_id=i, reminder_ids=(i,))) for i in (1, 2)]
        assert server.connections_total == 1
        # the server's keep-alive timeout closes the idle connection between two sends
        assert server.wait_for_closed_connections(1)

        result = sender.send(make_mail(message_id=3, reminder_ids=(3,)))

        assert [r.outcome for r in first] == [DeliveryOutcome.SENT] * 2
        assert result.outcome is DeliveryOutcome.SENT
        assert result.attempts == 1
        assert server.requests_total == 3
        assert server.connections_total == 2
        assert server.accepted_reminder_ids() == Counter({1: 1, 2: 1, 3: 1})
        sender.close()


def test_drop_after_the_request_on_a_reused_connection_is_unknown(fake: FakeSendGrid) -> None:
    fake.script([202, DROP, 202])
    sender = transport(fake.url)

    first = sender.send(make_mail(message_id=1, reminder_ids=(1,)))
    dropped = sender.send(make_mail(message_id=2, reminder_ids=(2,)))

    assert first.outcome is DeliveryOutcome.SENT
    assert dropped.outcome is DeliveryOutcome.UNKNOWN
    assert dropped.attempts == 1
    assert dropped.error is not None and "lost after the request was sent" in dropped.error
    assert fake.requests_total == 2  # not retried
    assert fake.connections_total == 1  # it went out on the kept connection

    after = sender.send(make_mail(message_id=3, reminder_ids=(3,)))

    assert after.outcome is DeliveryOutcome.SENT
    assert fake.connections_total == 2  # the dropped connection was not reused
    assert fake.accepted_reminder_ids() == Counter({1: 1, 2: 1, 3: 1})
    sender.close()


def test_read_timeout_on_a_reused_connection_is_unknown_and_not_reused(
    fake: FakeSendGrid,
) -> None:
    fake.script([202, HANG, 202])
    sender = transport(fake.url, timeout=0.3)

    first = sender.send(make_mail(message_id=1, reminder_ids=(1,)))
    hung = sender.send(make_mail(message_id=2, reminder_ids=(2,)))
    after = sender.send(make_mail(message_id=3, reminder_ids=(3,)))

    assert [first.outcome, hung.outcome, after.outcome] == [
        DeliveryOutcome.SENT,
        DeliveryOutcome.UNKNOWN,
        DeliveryOutcome.SENT,
    ]
    assert hung.attempts == 1
    assert fake.requests_total == 3
    assert fake.connections_total == 2
    assert fake.accepted_reminder_ids() == Counter({1: 1, 2: 1, 3: 1})
    sender.close()


def test_429_and_5xx_retries_reuse_the_connection(fake: FakeSendGrid) -> None:
    fake.script([500, Reply(429, {"Retry-After": "0"}), 503, 202])

    result = transport(fake.url).send(make_mail())

    assert result.outcome is DeliveryOutcome.SENT
    assert result.attempts == 4
    assert fake.requests_total == 4
    assert fake.connections_total == 1
    assert fake.accepted_reminder_ids() == Counter({7: 1, 8: 1})


def test_connection_close_answer_is_honoured(fake: FakeSendGrid) -> None:
    fake.script([Reply(202, {"Connection": "close"}), 202, 202])
    sender = transport(fake.url)

    results = [sender.send(make_mail(message_id=i, reminder_ids=(i,))) for i in (1, 2, 3)]

    assert {r.outcome for r in results} == {DeliveryOutcome.SENT}
    assert fake.connections_total == 2
    assert fake.accepted_reminder_ids() == Counter({1: 1, 2: 1, 3: 1})
    sender.close()


def test_http_10_answer_is_not_reused_even_with_keep_alive(fake: FakeSendGrid) -> None:
    fake.script([Reply(202, {"Connection": "keep-alive"}, http_version="HTTP/1.0"), 202, 202])
    sender = transport(fake.url)

    results = [sender.send(make_mail(message_id=i, reminder_ids=(i,))) for i in (1, 2, 3)]

    assert {r.outcome for r in results} == {DeliveryOutcome.SENT}
    assert fake.connections_total == 2
    assert fake.accepted_reminder_ids() == Counter({1: 1, 2: 1, 3: 1})
    sender.close()


def test_close_closes_the_pooled_connection_and_the_next_send_reconnects(
    fake: FakeSendGrid,
) -> None:
    sender = transport(fake.url)
    assert sender.send(make_mail(message_id=1, reminder_ids=(1,))).outcome is DeliveryOutcome.SENT

    sender.close()

    assert fake.wait_for_closed_connections(1)
    assert sender.send(make_mail(message_id=2, reminder_ids=(2,))).outcome is DeliveryOutcome.SENT
    assert fake.connections_total == 2
    sender.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def mail_request(url: str, reminder_id: int) -> urllib.request.Request:
    body = {
        "personalizations": [
            {"to": [{"email": "a@example.com"}], "custom_args": {"reminder_ids": str(reminder_id)}}
        ],
        "from": {"email": "b@example.com"},
        "subject": "s",
        "content": [{"type": "text/plain", "value": "v"}],
    }
    return urllib.request.Request(
        url + "/v3/mail/send",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        method="POST",
    )


@pytest.mark.parametrize(
    ("idle", "connections"), [(MAX_IDLE_SECONDS - 1, 1), (MAX_IDLE_SECONDS + 1, 2)]
)
def test_a_connection_idle_past_the_bound_is_not_reused(
    fake: FakeSendGrid, idle: float, connections: int
) -> None:
    clock = Clock()
    connection = KeepAliveConnection(fake.url, clock=clock)

    assert connection.open(mail_request(fake.url, 1), timeout=5).getcode() == 202
    clock.now += idle
    assert connection.open(mail_request(fake.url, 2), timeout=5).getcode() == 202

    assert fake.connections_total == connections
    assert fake.accepted_reminder_ids() == Counter({1: 1, 2: 1})
    connection.close()


def test_a_proxy_from_the_environment_is_still_used(
    fake: FakeSendGrid, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("no_proxy", "NO_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", fake.url)

    result = transport("http://sendgrid-behind-a-proxy.invalid").send(make_mail())

    assert result.outcome is DeliveryOutcome.SENT
    assert fake.accepted_reminder_ids() == Counter({7: 1, 8: 1})


def test_https_sends_share_one_verified_tls_connection(tls: LocalTLS) -> None:
    with FakeSendGrid(api_key=KEY, tls=tls) as server:
        sender = SendGridTransport(
            KEY, server.url, timeout=5.0, sleep=Waits(), ssl_context=tls.client_context()
        )

        results = [sender.send(make_mail(message_id=i, reminder_ids=(i,))) for i in range(1, 11)]

        assert server.url.startswith("https://")
        assert {r.outcome for r in results} == {DeliveryOutcome.SENT}
        assert server.connections_total == 1  # one TLS handshake for ten sends
        assert server.accepted_reminder_ids() == Counter(range(1, 11))
        sender.close()


def test_https_server_with_an_untrusted_certificate_gets_nothing(tls: LocalTLS) -> None:
    with FakeSendGrid(api_key=KEY, tls=tls) as server:
        result = transport(server.url).send(make_mail())  # the default context: public CAs

        assert result.outcome is DeliveryOutcome.FAILED
        assert result.error is not None and "request not sent" in result.error
        assert "CERTIFICATE_VERIFY_FAILED" in result.error
        assert server.requests_total == 0
