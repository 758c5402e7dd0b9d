"""SendGridTransport against SendGrid's own OpenAPI spec, served by Stoplight Prism.

Prism validates each request against ``tests/fixtures/specs/sendgrid_oai_v3.v3prefix.json``
(sendgrid/sendgrid-oai ``oai_v3_stoplight.json``, paths prefixed with ``/v3``): a valid send gets
202, an invalid one 400 with the reason in the ``sl-violations`` header.

Prism is installed by ``npm ci --prefix tools/prism``. Without it these tests skip, unless ``CI``
or ``RELANCE_REQUIRE_PRISM`` is set: then they fail.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from connector.domain.email import email_problem
from connector.mail.base import DeliveryOutcome
from connector.mail.sendgrid import SendGridTransport
from tests.mail import make_mail

REPO = Path(__file__).resolve().parents[2]
PRISM = REPO / "tools" / "prism" / "node_modules" / ".bin" / "prism"
SPEC = REPO / "tests" / "fixtures" / "specs" / "sendgrid_oai_v3.v3prefix.json"
START_TIMEOUT = 60.0
SETUP_HINT = "run the `make test` setup (npm ci --prefix tools/prism) to install Prism"


def prism_required(env: Mapping[str, str]) -> bool:
    """True when a missing Prism must fail the run (CI, or RELANCE_REQUIRE_PRISM)."""
    return any(
        env.get(name, "").strip().lower() not in ("", "0", "false", "no")
        for name in ("CI", "RELANCE_REQUIRE_PRISM")
    )


def missing_prism(env: Mapping[str, str]) -> str | None:
    """Why Prism can't run here, or None."""
    if not PRISM.exists():
        return f"Prism is not installed at {PRISM.relative_to(REPO)}: {SETUP_HINT}"
    if shutil.which("node", path=env.get("PATH")) is None:
        return "node is not on PATH; Prism needs Node.js >= 18.20"
    return None


def skip_or_fail(reason: str, env: Mapping[str, str]) -> None:
    """Fail in CI (or when required), skip with a visible reason otherwise."""
    if prism_required(env):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    """Block until Prism accepts TCP connections; fail with its log if it dies or is slow."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Prism exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"Prism did not listen within {START_TIMEOUT:g}s:\n{log.read_text()[-2000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate the Prism process group we started; kill it if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def prism_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    reason = missing_prism(os.environ)
    if reason is not None:
        skip_or_fail(reason, os.environ)
    port = free_port()
    log = tmp_path_factory.mktemp("prism") / "prism.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(PRISM), "mock", "-h", "127.0.0.1", "-p", str(port), str(SPEC)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        wait_listening(process, port, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def sendgrid(url: str) -> SendGridTransport:
    return SendGridTransport("SG.prism", url, timeout=20.0, max_attempts=1)


def test_valid_reminder_is_accepted_by_the_spec(prism_url: str) -> None:
    # the step category repeated and 12 categories: the spec wants unique items, at most 10
    categories = ("relance-step-first", *(f"cat-{i}" for i in range(12)))
    result = sendgrid(prism_url).send(make_mail(categories=categories))

    assert result.outcome is DeliveryOutcome.SENT, result.error
    assert result.attempts == 1


def test_invalid_from_address_is_refused_with_the_reason(prism_url: str) -> None:
    result = sendgrid(prism_url).send(make_mail(from_email="not-an-address"))

    assert result.outcome is DeliveryOutcome.FAILED
    assert result.attempts == 1
    assert result.error is not None
    assert 'Request body property from.email must match format "email"' in result.error


def test_empty_subject_is_refused_with_the_reason(prism_url: str) -> None:
    transport = SendGridTransport("SG.prism", prism_url, timeout=20.0)  # retries allowed

    result = transport.send(make_mail(subject=""))

    assert result.outcome is DeliveryOutcome.FAILED
    assert result.attempts == 1  # a 400 is never retried
    assert result.error is not None
    assert "subject must NOT have fewer than 1 characters" in result.error


def test_missing_prism_fails_in_ci_and_skips_elsewhere() -> None:
    assert prism_required({"CI": "true"})
    assert prism_required({"RELANCE_REQUIRE_PRISM": "1"})
    assert not prism_required({"CI": "", "RELANCE_REQUIRE_PRISM": "0"})
    with pytest.raises(pytest.fail.Exception, match="make test"):
        skip_or_fail(f"Prism is not installed: {SETUP_HINT}", {"CI": "true"})
    with pytest.raises(pytest.skip.Exception, match="make test"):
        skip_or_fail(f"Prism is not installed: {SETUP_HINT}", {})


ADDRESSES = (
    "claire@example.com",
    "first.last+tag@sub.example.co.uk",
    "o'brien@example.ie",
    "x@xn--caf-dma.fr",  # an internationalised domain in punycode
    "jéan@exemple.fr",
    "claire@exemple",
    "claire dupont@example.com",
    "claire@@example.com",
    ".claire@example.com",
    "claire..dupont@example.com",
    "claire@-example.com",
    "claire@exa_mple.com",
    "claire@café.fr",
)  # RFC 5321's 64/254 limits are checked too, though Prism's "email" format leaves them out


@pytest.mark.parametrize("address", ADDRESSES)
def test_our_address_check_agrees_with_the_provider(prism_url: str, address: str) -> None:
    """What the importer, the sync and shop settings accept is what mail/send accepts."""
    result = sendgrid(prism_url).send(make_mail(to_email=address))

    accepted = result.outcome is DeliveryOutcome.SENT
    assert accepted == (email_problem(address) is None), (address, result.error)
