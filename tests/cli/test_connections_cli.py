"""`relance connections request-sync|progress` and the test call of `relance connect`: the
same application layer as the Connections page, against the local WooCommerce server."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import CliRunner

from connector.cli import cli
from connector.config import Settings
from connector.scheduler import requested_syncs
from connector.services import Services
from tests.support.fake_woocommerce import CONSUMER_KEY, CONSUMER_SECRET, FakeWooCommerce

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(env: dict[str, str]) -> Run:
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(cli, list(args), env=env, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    assert invoke("db", "upgrade")[0] == 0
    code, _, err = invoke("shop", "create", "--name", "Atelier", "--email", "a@shop.example")
    assert code == 0, err
    return invoke


def _connect(run: Run, woo: FakeWooCommerce, secret: str) -> tuple[int, str, str]:
    return run(
        "connect",
        "woocommerce",
        "--site-url",
        woo.url,
        "--consumer-key",
        CONSUMER_KEY,
        "--consumer-secret",
        secret,
        "--json",
    )


def test_connect_tries_the_keys_first_and_keeps_nothing_when_refused(run: Run) -> None:
    with FakeWooCommerce() as woo:
        code, _, err = _connect(run, woo, "cs_wrong")
        assert code != 0 and "refused these keys" in err
        assert woo.webhooks == {}
        code, out, _ = run("connections", "list", "--json")
        assert json.loads(out) == []


def test_request_sync_is_run_by_the_worker_and_progress_reports_it(
    run: Run, env: dict[str, str]
) -> None:
    with FakeWooCommerce() as woo:
        for i in range(3):
            woo.add_order(total=f"{10 + i}.00", email=f"c{i}@example.com")
        code, out, err = _connect(run, woo, CONSUMER_SECRET)
        assert code == 0, err
        cid = json.loads(out)["connection"]
        code, out, _ = run("connections", "request-sync", str(cid), "--json")
        assert code == 0 and json.loads(out)["state"] == "waiting"
        svc = Services.build(Settings.from_env(env))
        try:
            requested_syncs(svc)  # the worker's job
        finally:
            svc.close()
        code, out, _ = run("connections", "progress", str(cid), "--json")
        progress = json.loads(out)
        assert (progress["state"], progress["invoices"], progress["last_sync_ok"]) == (
            "idle",
            3,
            True,
        )
        code, _, err = run("connections", "progress", "999", "--json")
        assert code != 0 and "no platform connection 999" in err
