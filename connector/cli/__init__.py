"""`relance` — the automation surface. Every command takes --json and exits non-zero with a
one-line reason on bad input."""

from __future__ import annotations

import click

from connector.cli import (
    connections,
    customers,
    db,
    dossier,
    invoices,
    keys,
    letters,
    owner,
    platforms,
    run,
    sequences,
    shop,
    tasks,
    tick,
)
from connector.cli.common import RelanceGroup


@click.group(cls=RelanceGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Relance: payment reminders that stop the moment the customer pays."""


for module in (
    db,
    run,
    owner,
    shop,
    platforms,
    connections,
    invoices,
    dossier,
    letters,
    sequences,
    tasks,
    tick,
    customers,
    keys,
):
    module.register(cli)


def main() -> None:
    cli(prog_name="relance")
