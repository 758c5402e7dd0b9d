"""`relance invoices dossier NUMBER`: the evidence dossier (PDF, or the zip with the raw
messages, letters and webhook bodies), or the injonction de payer pack with the claim to a date."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from connector.actions.dossier import DossierError, NoFormalNotice, NotInShop, dossier, injonction
from connector.cli.common import CliError, emit, errors_as_cli, json_option, services
from connector.shops import ShopError


def register(cli: click.Group) -> None:
    invoices = cli.commands["invoices"]
    assert isinstance(invoices, click.Group), "register after connector.cli.invoices"

    @invoices.command("dossier")
    @click.argument("number")
    @click.option("--zip", "as_zip", is_flag=True, help="The zip: PDF + raw messages + webhooks.")
    @click.option(
        "--injonction",
        "pack",
        is_flag=True,
        help="The injonction de payer pack (once the formal notice went out).",
    )
    @click.option(
        "--on",
        "on",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        help="With --injonction: the day the claim is computed to (default: today).",
    )
    @click.option(
        "-o",
        "--out",
        type=click.Path(dir_okay=False, writable=True, path_type=Path),
        help="Write it here (default: its own file name, in the current folder).",
    )
    @click.option("--shop", "shop_id", type=int, help="The shop (default: the only one).")
    @json_option
    @errors_as_cli(ShopError, NotInShop, NoFormalNotice, DossierError)
    def invoices_dossier(
        number: str,
        as_zip: bool,
        pack: bool,
        on: datetime | None,
        out: Path | None,
        shop_id: int | None,
        as_json: bool,
    ) -> None:
        """Write invoice NUMBER's evidence dossier (what you hand to a lawyer) to a file."""
        if as_zip and pack:
            raise CliError("--zip and --injonction: choose one")
        if on is not None and not pack:
            raise CliError("--on: only with --injonction")
        data: dict[str, object] = {"invoice": number}
        with services() as svc:
            if pack:
                found, claim = injonction(svc, shop_id, number=number, on=on.date() if on else None)
                data["claim"] = claim.as_dict()
            else:
                found = dossier(svc, shop_id, number=number, as_zip=as_zip)
        target = out or Path(found.filename)
        try:
            target.write_bytes(found.content)
        except OSError as exc:
            raise CliError(f"{target}: {exc.strerror or exc}") from exc
        data.update(file=str(target), bytes=len(found.content), media_type=found.media_type)
        human = f"{number}: {target} ({len(found.content)} bytes)"
        if pack:
            c = data["claim"]
            assert isinstance(c, dict)
            human += f"; claim on {c['on']}: {c['total']} {c['currency']}"
        emit(as_json, data, human)
