"""`relance sequences list|show|export|import`: the shop's sequences, for scripts."""

from __future__ import annotations

import json
from pathlib import Path

import click

from connector.actions.sequence_files import export_sequence, import_sequence
from connector.actions.sequences import SequenceView, list_rules, list_sequences, show_sequence
from connector.cli.common import (
    CLI_LANGUAGE,
    CliError,
    emit,
    errors_as_cli,
    json_option,
    services,
)
from connector.domain.phrases import step_name
from connector.shops import ShopError

_SHOP = click.option("--shop", "shop_id", type=int, help="The shop (default: the only one).")


def _steps_text(view: SequenceView) -> str:
    lines = [f"{view.name}{' (default)' if view.is_default else ''}: {view.open_invoices} open"]
    for st in view.steps:
        flags = [
            flag
            for flag, on in (
                ("penalties", st.show_penalties),
                ("letter", st.sends_letter),
                ("hand-off", st.hands_off),
                ("statement", st.content == "statement"),
                ("inactive", not st.active),
            )
            if on
        ]
        deadline = f" deadline +{st.new_deadline_days}d" if st.new_deadline_days else ""
        lines.append(
            f"  {st.id:>5}  D{st.offset_days:+d}  {_step_label(st.key):<34} "
            f"{st.channel:<6} {st.tone:<9}"
            f"{deadline} {' '.join(flags)}".rstrip()
        )
    return "\n".join(lines)


def _step_label(key: str) -> str:
    """A step by its name, its key after it when they differ: the key is what sequence files
    and the other commands name it by ("first reminder [reminder_1]")."""
    name = step_name(key, CLI_LANGUAGE)
    return key if name == key else f"{name} [{key}]"


def register(cli: click.Group) -> None:
    @cli.group("sequences")
    def sequences() -> None:
        """Reminder sequences: steps, wording and the rules that assign invoices to them."""

    @sequences.command("list")
    @_SHOP
    @json_option
    @errors_as_cli(ShopError)
    def sequences_list(shop_id: int | None, as_json: bool) -> None:
        """Each sequence with the number of open invoices it governs, then the rules."""
        with services() as svc:
            views = list_sequences(svc, shop_id)
            rules = list_rules(svc, shop_id)
        data = {
            "sequences": [
                {
                    "id": v.id,
                    "name": v.name,
                    "default": v.is_default,
                    "open_invoices": v.open_invoices,
                }
                for v in views
            ],
            "rules": [r.as_dict() for r in rules],
        }

        def text() -> str:
            lines = [
                f"{v.id:>5}  {v.name:<24} {v.open_invoices:>6} open"
                f"{'  (default)' if v.is_default else ''}"
                for v in views
            ]
            lines += [f"rule {r.position}: {r.describe()} → {r.sequence_name}" for r in rules] or [
                "no rules: every invoice follows the default sequence"
            ]
            return "\n".join(lines)

        emit(as_json, data, text)

    @sequences.command("show")
    @click.argument("sequence_id", type=int)
    @_SHOP
    @json_option
    @errors_as_cli(ShopError)
    def sequences_show(sequence_id: int, shop_id: int | None, as_json: bool) -> None:
        """One sequence's steps (day, channel, tone, what each shows)."""
        with services() as svc:
            view = show_sequence(svc, shop_id, sequence_id)
        emit(as_json, view.as_dict(), lambda: _steps_text(view))

    @sequences.command("export")
    @click.argument("sequence_id", type=int)
    @click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write the document here (default: standard output).",
    )
    @_SHOP
    @json_option
    @errors_as_cli(ShopError)
    def sequences_export(
        sequence_id: int, output: Path | None, shop_id: int | None, as_json: bool
    ) -> None:
        """A sequence with its steps and the owner's templates, as one JSON document."""
        with services() as svc:
            doc = export_sequence(svc, shop_id, sequence_id)
        text = json.dumps(doc, ensure_ascii=False, indent=2)
        if output is None:
            click.echo(text)
            return
        try:
            output.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot write {output}: {exc.strerror}") from None
        emit(as_json, {"written": str(output)}, f"written to {output}")

    @sequences.command("import")
    @click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--name", help="Name the new sequence (default: the document's name).")
    @_SHOP
    @json_option
    @errors_as_cli(ShopError)
    def sequences_import(file: Path, name: str | None, shop_id: int | None, as_json: bool) -> None:
        """Create a sequence from an exported document; nothing is written if any field is
        wrong (the error names it)."""
        try:
            doc = json.loads(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CliError(f"cannot read {file}: {exc.strerror}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CliError(f"{file}: not a JSON document ({exc})") from None
        with services() as svc:
            view = import_sequence(svc, shop_id, doc, name=name)
        emit(as_json, view.as_dict(), lambda: "imported\n" + _steps_text(view))
