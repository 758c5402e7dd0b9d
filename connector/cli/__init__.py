"""`relance` — the automation surface. Every command takes --json and exits non-zero with a
one-line reason on bad input."""

from __future__ import annotations

import click

from connector.cli import customers, db, invoices, owner, platforms, run, shop, tick


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Relance: payment reminders that stop the moment the customer pays."""


for module in (db, run, owner, shop, platforms, invoices, tick, customers):
    module.register(cli)


def main() -> None:
    cli(prog_name="relance")
