"""The SendGrid transport alone: sequential sends from one thread to the local SendGrid-speaking
server (its own process, no latency), CPU µs per send in this process, over HTTP and over HTTPS
(a local CA; in production the CA store is larger and the server farther). Naive baseline, same
run: the library's own path per send (a new ``SendGridAPIClient``, ``client.mail.send.post``: a
new urllib opener, TCP connection and TLS handshake for every request), which is what the
transport did before it kept one connection per thread."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sendgrid import SendGridAPIClient

from bench.common import Figure, Usage, report
from connector.mail.base import OutgoingMail
from connector.mail.sendgrid import SendGridTransport, build_payload
from tests.support.fake_sendgrid import LocalTLS

KEY = "SG.bench"
WARM_UP = 20


@contextmanager
def mail_server(tls_dir: Path | None) -> Iterator[str]:
    command = [sys.executable, "-m", "tests.support.fake_sendgrid"]
    if tls_dir is not None:
        command += ["--tls-dir", str(tls_dir)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def mails(count: int, first_id: int) -> list[OutgoingMail]:
    return [
        OutgoingMail(
            message_id=first_id + i,
            to_email="claire@example.com",
            to_name="Claire Dupont",
            from_email="compta@boutique.example",
            from_name="Boutique Exemple",
            reply_to=None,
            subject="Rappel : facture F-2026-001",
            text="Bonjour, votre facture F-2026-001 est échue.",
            html="<p>Bonjour, votre facture <b>F-2026-001</b> est échue.</p>",
            step="first",
            invoice_numbers=("F-2026-001",),
            reminder_ids=(first_id + i,),
        )
        for i in range(count)
    ]


def measure(
    send: Callable[[OutgoingMail], object], batch: list[OutgoingMail]
) -> tuple[float, Usage]:
    for mail in batch[:WARM_UP]:  # imports, the first connection
        send(mail)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for mail in batch[WARM_UP:]:
        send(mail)
    return (len(batch) - WARM_UP) / (time.perf_counter() - wall0), Usage(time.process_time() - cpu0)


def pair(url: str, count: int, label: str, context: ssl.SSLContext | None) -> list[Figure]:
    """The library's per-request path, then the transport, against the server at ``url``."""

    def library_send(mail: OutgoingMail) -> object:
        client = SendGridAPIClient(KEY, host=url)
        return client.client.mail.send.post(request_body=build_payload(mail), timeout=10.0)

    naive_count = max(50, count // 5)
    naive, naive_usage = measure(library_send, mails(naive_count + WARM_UP, 1))
    transport = SendGridTransport(KEY, url, ssl_context=context)
    fast, usage = measure(transport.send, mails(count + WARM_UP, 1_000_000))
    transport.close()
    return [
        Figure(
            f"SendGrid send over {label}, naive baseline: library path",
            naive,
            "sends/s",
            usage=naive_usage,
            items=naive_count,
        ),
        Figure(
            f"SendGrid send over {label}, transport, kept-alive connection",
            fast,
            "sends/s",
            baseline=naive,
            usage=usage,
            items=count,
        ),
    ]


def main(quick: bool = False) -> list[Figure]:
    count = 500 if quick else 3000
    print(f"{count:,} sequential sends through the SendGrid transport…", file=sys.stderr)
    with mail_server(None) as url:
        figures = pair(url, count, "HTTP", None)
    with tempfile.TemporaryDirectory() as folder:
        tls = LocalTLS.create(Path(folder))
        previous = os.environ.get("SSL_CERT_FILE")
        os.environ["SSL_CERT_FILE"] = str(tls.ca)  # urllib's per-connection default context
        try:
            with mail_server(Path(folder)) as url:
                figures += pair(url, count, "HTTPS", tls.client_context())
        finally:
            if previous is None:
                os.environ.pop("SSL_CERT_FILE", None)
            else:
                os.environ["SSL_CERT_FILE"] = previous
    return figures


if __name__ == "__main__":
    report(main("--quick" in sys.argv))
