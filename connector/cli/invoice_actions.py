"""`relance invoices pay|pause|resume|dispute|plan|plan-cancel|exclude|include|send-now|
write-off`: the owner's actions from a script, each the same application-layer function the
invoice page calls. The invoice is named by its number; every command takes --json and answers
bad input with one line naming the option."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import date
from typing import Any

import click

from connector.actions import invoices as actions
from connector.actions.errors import ActionError, NotFound
from connector.actions.invoice_base import ActionResult
from connector.actions.invoice_list import find_by_number
from connector.actions.send_now import send_now
from connector.cli.common import CliError, emit, errors_as_cli, json_option, parse_now, services
from connector.services import Services
from connector.shops import ShopError
from connector.store.models import PaymentSource

Action = Callable[[Services, int, int], ActionResult]


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _day(raw: str | None, option: str) -> date | None:
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise CliError(f"{option}: not a date (YYYY-MM-DD): {raw!r}") from exc


def _run(number: str, shop_id: int | None, as_json: bool, act: Action) -> None:
    with services() as svc:
        try:
            shop, invoice_id = find_by_number(svc.sessions, shop_id, number)
            result = act(svc, shop, invoice_id)
        except (ActionError, NotFound, ShopError) as exc:
            raise CliError(str(exc)) from exc
    emit(as_json, result.as_dict(), f"{result.number or number}: {result.title}")


def _common(func: Callable[..., Any]) -> Callable[..., Any]:
    """NUMBER, --shop, --actor, --now, --json on every action."""
    for option in (
        json_option,
        click.option("--now", "now_raw", help="As if it were then (ISO 8601 with offset)."),
        click.option("--actor", default=_default_actor, help="Who acts (for the timeline)."),
        click.option("--shop", "shop_id", type=int, help="The shop (default: the only one)."),
        click.argument("number"),
    ):
        func = option(func)
    return errors_as_cli(ShopError)(func)


def register(group: click.Group) -> None:
    @group.command("pay")
    @click.option(
        "--source",
        type=click.Choice([s.value for s in actions.OWNER_SOURCES]),
        default=PaymentSource.BANK_TRANSFER.value,
        show_default=True,
    )
    @click.option("--amount", help="A part of what is due (default: all of it), e.g. 50.00.")
    @click.option("--on", "received_raw", help="The day it was received (default: today).")
    @_common
    def pay(
        number: str,
        shop_id: int | None,
        actor: str,
        now_raw: str | None,
        as_json: bool,
        source: str,
        amount: str | None,
        received_raw: str | None,
    ) -> None:
        """The customer paid NUMBER outside the platforms (all that is due, or --amount)."""
        now, received = parse_now(now_raw), _day(received_raw, "--on")
        _run(
            number,
            shop_id,
            as_json,
            lambda svc, shop, inv: actions.record_payment(
                svc,
                shop,
                inv,
                source=PaymentSource(source),
                amount=amount,
                received_on=received,
                actor=actor,
                now=now,
            ),
        )

    @group.command("pause")
    @click.option("--until", "until_raw", required=True, help="The day reminders start again.")
    @click.option("--reason", required=True, help="Why (one line).")
    @_common
    def pause(
        number: str,
        shop_id: int | None,
        actor: str,
        now_raw: str | None,
        as_json: bool,
        until_raw: str,
        reason: str,
    ) -> None:
        """No reminder for NUMBER until a day."""
        now, until = parse_now(now_raw), _day(until_raw, "--until")
        assert until is not None
        _run(
            number,
            shop_id,
            as_json,
            lambda svc, shop, inv: actions.pause(
                svc, shop, inv, until=until, reason=reason, actor=actor, now=now
            ),
        )

    @group.command("resume")
    @click.option("--reason", help="A note (optional).")
    @_common
    def resume(
        number: str,
        shop_id: int | None,
        actor: str,
        now_raw: str | None,
        as_json: bool,
        reason: str | None,
    ) -> None:
        """End NUMBER's pause or dispute: only the latest due step goes out, no pile-up."""
        now = parse_now(now_raw)
        _run(
            number,
            shop_id,
            as_json,
            lambda svc, shop, inv: actions.resume(
                svc, shop, inv, reason=reason, actor=actor, now=now
            ),
        )

    @group.command("dispute")
    @click.option("--reason", required=True, help="What the customer disputes.")
    @_common
    def dispute(
        number: str,
        shop_id: int | None,
        actor: str,
        now_raw: str | None,
        as_json: bool,
        reason: str,
    ) -> None:
        """NUMBER is disputed: no reminder until resumed."""
        now = parse_now(now_raw)
        _run(
            number,
            shop_id,
            as_json,
            lambda svc, shop, inv: actions.dispute(
                svc, shop, inv, reason=reason, actor=actor, now=now
            ),
        )

    @group.command("plan")
    @click.option(
        "--instalment",
        "instalments_raw",
        multiple=True,
        required=True,
        help="DAY:AMOUNT, once per instalment, in order (e.g. 2026-07-01:40.00).",
    )
    @_common
    def plan(
        number: str,
        shop_id: int | None,
        actor: str,
        now_raw: str | None,
        as_json: bool,
        instalments_raw: tuple[str, ...],
    ) -> None:
        """A payment plan for NUMBER: reminders follow its instalments."""
        now = parse_now(now_raw)
        specs = []
        for n, raw in enumerate(instalments_raw, start=1):
            day_raw, sep, amount = raw.partition(":")
            day = _day(day_raw, f"--instalment {n}")
            if not sep or not amount.strip() or day is None:
                raise CliError(f"--instalment {n}: DAY:AMOUNT, e.g. 2026-07-01:40.00")
            specs.append(actions.InstalmentSpec(day, amount))
        _run(
            number,
            shop_id,
            as_json,
            lambda svc, shop, inv: actions.set_plan(svc, shop, inv, specs, actor=actor, now=now),
        )

    @group.command("plan-cancel")
    @click.option("--reason", help="Why (optional).")
    @_common
    def plan_cancel(
        number: str,
        shop_id: int | None,
        actor: str,
        now_raw: str | None,
        as_json: bool,
        reason: str | None,
    ) -> None:
        """End NUMBER's payment plan: back to its sequence from today, no pile-up."""
        now = parse_now(now_raw)
        _run(
            number,
            shop_id,
            as_json,
            lambda svc, shop, inv: actions.cancel_plan(
                svc, shop, inv, reason=reason, actor=actor, now=now
            ),
        )

    @group.command("exclude")
    @click.option("--customer", "whole_customer", is_flag=True, help="Every invoice of theirs.")
    @click.option("--reason", help="Why (optional).")
    @_common
    def exclude(
        number: str,
        shop_id: int | None,
        actor: str,
        now_raw: str | None,
        as_json: bool,
        whole_customer: bool,
        reason: str | None,
    ) -> None:
        """Never remind about NUMBER (or, with --customer, its customer)."""
        now = parse_now(now_raw)

        def act(svc: Services, shop: int, inv: int) -> ActionResult:
            if whole_customer:
                customer = actions.customer_of(svc, shop, inv)
                return actions.set_customer_excluded(
                    svc, shop, customer, excluded=True, reason=reason, actor=actor, now=now
                )
            return actions.exclude_invoice(svc, shop, inv, reason=reason, actor=actor, now=now)

        _run(number, shop_id, as_json, act)

    @group.command("include")
    @click.option("--customer", "whole_customer", is_flag=True, help="Their customer.")
    @_common
    def include(
        number: str,
        shop_id: int | None,
        actor: str,
        now_raw: str | None,
        as_json: bool,
        whole_customer: bool,
    ) -> None:
        """Remind about NUMBER again (or, with --customer, its customer)."""
        now = parse_now(now_raw)

        def act(svc: Services, shop: int, inv: int) -> ActionResult:
            if whole_customer:
                customer = actions.customer_of(svc, shop, inv)
                return actions.set_customer_excluded(
                    svc, shop, customer, excluded=False, actor=actor, now=now
                )
            return actions.include_invoice(svc, shop, inv, actor=actor, now=now)

        _run(number, shop_id, as_json, act)

    @group.command("send-now")
    @click.option(
        "--override-window", is_flag=True, help="Send even outside the shop's sending window."
    )
    @_common
    def send(
        number: str,
        shop_id: int | None,
        actor: str,
        now_raw: str | None,
        as_json: bool,
        override_window: bool,
    ) -> None:
        """Send NUMBER's next step now (once; never after payment)."""
        now = parse_now(now_raw)
        _run(
            number,
            shop_id,
            as_json,
            lambda svc, shop, inv: send_now(
                svc, shop, inv, actor=actor, override_window=override_window, now=now
            ),
        )

    @group.command("write-off")
    @click.option("--reason", help="Why (optional).")
    @_common
    def write_off(
        number: str,
        shop_id: int | None,
        actor: str,
        now_raw: str | None,
        as_json: bool,
        reason: str | None,
    ) -> None:
        """NUMBER is uncollectible: reminders stop for good."""
        now = parse_now(now_raw)
        _run(
            number,
            shop_id,
            as_json,
            lambda svc, shop, inv: actions.write_off(
                svc, shop, inv, reason=reason, actor=actor, now=now
            ),
        )
