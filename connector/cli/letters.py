"""`relance letters list|get`: the letters to post, kept in the store."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import click

from connector.actions.letters import (
    LetterSummary,
    letter_content,
    list_letters,
    record_posting,
)
from connector.cli.common import (
    CLI_LANGUAGE,
    CliError,
    emit,
    errors_as_cli,
    json_option,
    services,
)
from connector.domain.dates import instant_words, long_date
from connector.domain.phrases import step_name
from connector.shops import ShopError


def register(cli: click.Group) -> None:
    @cli.group("letters")
    def letters() -> None:
        """Letters to post (final warning, formal notice), kept in the store."""

    @letters.command("list")
    @click.option("--shop", "shop_id", type=int, help="The shop (default: the only one).")
    @json_option
    @errors_as_cli(ShopError)
    def letters_list(shop_id: int | None, as_json: bool) -> None:
        """The shop's letters, newest first."""
        with services() as svc:
            found = list_letters(svc, shop_id)
        emit(
            as_json,
            [letter.as_dict() for letter in found],
            lambda: "\n".join(_letter_line(letter) for letter in found) or "no letters",
        )

    @letters.command("get")
    @click.argument("letter_id", type=int)
    @click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, writable=True, path_type=Path),
        help="Write the PDF here (default: its own file name, in the current folder).",
    )
    @click.option("--shop", "shop_id", type=int, help="The shop (default: the only one).")
    @json_option
    @errors_as_cli(ShopError)
    def letters_get(
        letter_id: int, output: Path | None, shop_id: int | None, as_json: bool
    ) -> None:
        """Write letter LETTER_ID's PDF to a file, to print and post."""
        with services() as svc:
            filename, content = letter_content(svc, shop_id, letter_id)
        target = output or Path(filename)
        try:
            target.write_bytes(content)
        except OSError as exc:
            raise CliError(f"{target}: {exc.strerror or exc}") from exc
        emit(
            as_json,
            {"letter": letter_id, "file": str(target), "bytes": len(content)},
            f"letter {letter_id} written to {target} ({len(content)} bytes)",
        )

    @letters.command("posted")
    @click.argument("letter_id", type=int)
    @click.option(
        "--on",
        "posted_on",
        required=True,
        type=click.DateTime(formats=["%Y-%m-%d"]),
        help="The day it was posted (YYYY-MM-DD): the letter is dated that day.",
    )
    @click.option("--tracking", help="The registered letter's tracking number.")
    @click.option("--shop", "shop_id", type=int, help="The shop (default: the only one).")
    @json_option
    @errors_as_cli(ShopError)
    def letters_posted(
        letter_id: int,
        posted_on: datetime,
        tracking: str | None,
        shop_id: int | None,
        as_json: bool,
    ) -> None:
        """Record that letter LETTER_ID was posted: a new version dated that day (the first
        one is kept), its deadline counted from receipt."""
        with services() as svc:
            dated = record_posting(svc, shop_id, letter_id, posted_on.date(), tracking)
        row = dated.as_dict()
        emit(
            as_json,
            row,
            f"letter {letter_id} posted on {_day(dated.posted_on)}: dated version is letter "
            f"{dated.id}" + (f", deadline {_day(dated.deadline_on)}" if dated.deadline_on else ""),
        )


def _letter_line(letter: LetterSummary) -> str:
    """A letter as the owner reads it: made when on the shop's clock (with its zone), which
    invoice, which step by its name, its file."""
    made = instant_words(letter.created_at, letter.timezone, CLI_LANGUAGE)
    step = step_name(letter.step, CLI_LANGUAGE) if letter.step else "—"
    return f"{letter.id:>5}  {made:<28} {letter.invoice_number:<16} {step:<18} {letter.filename}"


def _day(day: date | None) -> str:
    return "—" if day is None else long_date(day, CLI_LANGUAGE)
