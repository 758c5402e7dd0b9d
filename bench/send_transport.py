"""The SendGrid transport alone: sequential sends from one thread to the local SendGrid-speaking
server (its own process, no latency), CPU µs per send in this process. Naive baseline, same run:
the library's own path per send (a new ``SendGridAPIClient``, ``client.mail.send.post``: a new
urllib opener and TCP connection for every request), which is what the transport did before
it kept one connection per thread."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from sendgrid import SendGridAPIClient

from bench.common import Figure, Usage, report
from bench.send import mail_server
from connector.mail.base import OutgoingMail
from connector.mail.sendgrid import SendGridTransport, build_payload

KEY = "SG.bench"


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
    for mail in batch[:20]:  # warm up: imports, the first connection
        send(mail)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for mail in batch[20:]:
        send(mail)
    return (len(batch) - 20) / (time.perf_counter() - wall0), Usage(time.process_time() - cpu0)


def main(quick: bool = False) -> list[Figure]:
    count = 500 if quick else 3000
    print(f"{count:,} sequential sends through the SendGrid transport…", file=sys.stderr)
    with mail_server(0.0) as url:

        def library_send(mail: OutgoingMail) -> object:
            client = SendGridAPIClient(KEY, host=url)
            return client.client.mail.send.post(request_body=build_payload(mail), timeout=10.0)

        naive, naive_usage = measure(library_send, mails(count // 5 + 20, 1))
        transport = SendGridTransport(KEY, url)
        fast, usage = measure(transport.send, mails(count + 20, 1_000_000))
        transport.close()
    return [
        Figure(
            "SendGrid send, naive baseline: library path, new connection",
            naive,
            "sends/s",
            usage=naive_usage,
            items=count // 5,
        ),
        Figure(
            "SendGrid send, transport, kept-alive connection",
            fast,
            "sends/s",
            baseline=naive,
            usage=usage,
            items=count,
        ),
    ]


if __name__ == "__main__":
    report(main("--quick" in sys.argv))
