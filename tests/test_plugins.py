"""A fourth platform is a module plus one entry-point line: no change to the core.

The test builds a tiny distribution on disk (a module and its dist-info with an entry point in
the ``relance.adapters`` group), puts it on the path of a fresh process, and drives it through
the real CLI: ``connect`` grows a sub-command from its credential fields, ``sync`` stores its
invoices, ``invoices list`` shows them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ADAPTER = """
from datetime import datetime, timezone

from connector.domain.money import Money
from connector.platform import (
    CredentialField, InvoiceStatus, NormalizedCustomer, NormalizedInvoice, SyncPage,
    WebhookRegistration,
)


class LedgerlyAdapter:
    platform = "ledgerly"
    credential_fields = (
        CredentialField("account", "Ledgerly account", secret=False, is_account=True),
        CredentialField("token", "API token"),
    )

    def sync(self, conn, cursor):
        assert conn.credentials["token"] == "tok_4"
        when = datetime(2026, 5, 1, tzinfo=timezone.utc)
        customer = NormalizedCustomer("c1", "ada@client.example", "Ada")
        invoice = NormalizedInvoice(
            "L-1", "LG-0001", customer, Money.of("42.00", "EUR"), Money.of("42.00", "EUR"),
            InvoiceStatus.OPEN, when, None, when,
        )
        yield SyncPage([invoice], "after-L-1")

    def verify_webhook(self, conn, headers, raw_body):
        return False

    def parse_webhook(self, conn, headers, raw_body):
        raise NotImplementedError

    def fetch_status(self, conn, external_id):
        return None

    def register_webhooks(self, conn, base_url):
        return WebhookRegistration(secret=None)
"""


def _install_plugin(root: Path) -> None:
    (root / "ledgerly_adapter.py").write_text(ADAPTER)
    info = root / "relance_ledgerly-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: relance-ledgerly\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[relance.adapters]\nledgerly = ledgerly_adapter:LedgerlyAdapter\n"
    )


def test_a_fourth_adapter_by_entry_point_alone(tmp_path: Path, env: dict[str, str]) -> None:
    plugin_dir = tmp_path / "site"
    plugin_dir.mkdir()
    _install_plugin(plugin_dir)
    pythonpath = os.pathsep.join(filter(None, [str(plugin_dir), os.environ.get("PYTHONPATH")]))
    full_env = {**os.environ, **env, "PYTHONPATH": pythonpath}

    def relance(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "connector", *args],
            env=full_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    relance("db", "upgrade")
    relance("shop", "create", "--name", "Atelier", "--email", "owner@atelier.example")
    assert "ledgerly" in relance("connect", "--help")
    connected = json.loads(
        relance("connect", "ledgerly", "--account", "acme", "--token", "tok_4", "--json")
    )
    synced = json.loads(relance("sync", "--connection", str(connected["connection"]), "--json"))
    assert synced == [
        {
            "connection": connected["connection"],
            "pages": 1,
            "invoices": 1,
            "inserted": 1,
            "updated": 0,
            "closed": 0,
        }
    ]
    listed = json.loads(relance("invoices", "list", "--json"))
    assert [(r["number"], r["amount_due"], r["currency"]) for r in listed] == [
        ("LG-0001", "42.00", "EUR")
    ]
