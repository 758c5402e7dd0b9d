"""`relance invoices pay|pause|resume|dispute|plan|plan-cancel|exclude|include|send-now|
write-off`: the owner's actions from a script, each the same application-layer function the
invoice page calls. The invoice is named by its number; every command takes --json and answers
bad input with one line naming the option."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import wraps
from typing import Any

import click

from connector.actions import invoices as actions
from connector.actions.errors import ActionError, NotFound
from connector.actions.invoice_base import ActionResult
from connector.actions.invoice_list import find_by_number
from connector.actions.send_now import send_now
from connector.cli.common import (
    CLI_LANGUAGE,
    CliError,
    emit,
    errors_as_cli,
    json_option,
    parse_now,
    services,
)
from connector.domain.phrases import translate
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
    title = translate(result.title, CLI_LANGUAGE)
    emit(as_json, result.as_dict(), f"{result.number or number}: {title}")


@dataclass(frozen=True, slots=True)
class By:
    """Who acts and when, from --actor and --now (as the timeline records them)."""

    actor: str
    now: datetime


def _action(make: Callable[..., Action]) -> Callable[..., None]:
    """NUMBER, --shop, --actor, --now, --json on every action. The command gets ``By`` and its
    own options and returns what to do to the invoice; it is run in the shop, the result shown."""

    @wraps(make)
    def command(
        number: str,
        shop_id: int | None,
        actor: str,
        now_raw: str | None,
        as_json: bool,
        **options: Any,
    ) -> None:
        act = make(By(actor, parse_now(now_raw)), **options)
        _run(number, shop_id, as_json, act)

    func: Callable[..., Any] = command
    for option in (
        json_option,
        click.option("--now", "now_raw", help="As if it were then (ISO 8601 with offset)."),
        click.option("--actor", default=_default_actor, help="Who acts (for the timeline)."),
        click.option("--shop", "shop_id", type=int, help="The shop (default: the only one)."),
        click.argument("number"),
    ):
        func = option(func)
    return errors_as_cli(ShopError)(func)


_optional_reason = click.option("--reason", help="Why (optional).")


def _whole_customer(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--customer", "whole_customer", is_flag=True, help=help_text)


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
    @_action
    def pay(by: By, source: str, amount: str | None, received_raw: str | None) -> Action:
        """The customer paid NUMBER outside the platforms (all that is due, or --amount)."""
        received = _day(received_raw, "--on")
        return lambda svc, shop, inv: actions.record_payment(
            svc,
            shop,
            inv,
            source=PaymentSource(source),
            amount=amount,
            received_on=received,
            actor=by.actor,
            now=by.now,
        )

    @group.command("pause")
    @click.option("--until", "until_raw", required=True, help="The day reminders start again.")
    @click.option("--reason", required=True, help="Why (one line).")
    @_action
    def pause(by: By, until_raw: str, reason: str) -> Action:
        """No reminder for NUMBER until a day."""
        until = _day(until_raw, "--until")
        assert until is not None
        return lambda svc, shop, inv: actions.pause(
            svc, shop, inv, until=until, reason=reason, actor=by.actor, now=by.now
        )

    @group.command("resume")
    @click.option("--reason", help="A note (optional).")
    @_action
    def resume(by: By, reason: str | None) -> Action:
        """End NUMBER's pause or dispute: only the latest due step goes out, no pile-up."""
        return lambda svc, shop, inv: actions.resume(
            svc, shop, inv, reason=reason, actor=by.actor, now=by.now
        )

    @group.command("dispute")
    @click.option("--reason", required=True, help="What the customer disputes.")
    @_action
    def dispute(by: By, reason: str) -> Action:
        """NUMBER is disputed: no reminder until resumed."""
        return lambda svc, shop, inv: actions.dispute(
            svc, shop, inv, reason=reason, actor=by.actor, now=by.now
        )

    @group.command("plan")
    @click.option(
        "--instalment",
        "instalments_raw",
        multiple=True,
        required=True,
        help="DAY:AMOUNT, once per instalment, in order (e.g. 2026-07-01:40.00).",
    )
    @_action
    def plan(by: By, instalments_raw: tuple[str, ...]) -> Action:
        """A payment plan for NUMBER: reminders follow its instalments."""
        specs = []
        for n, raw in enumerate(instalments_raw, start=1):
            day_raw, sep, amount = raw.partition(":")
            day = _day(day_raw, f"--instalment {n}")
            if not sep or not amount.strip() or day is None:
                raise CliError(f"--instalment {n}: DAY:AMOUNT, e.g. 2026-07-01:40.00")
            specs.append(actions.InstalmentSpec(day, amount))
        return lambda svc, shop, inv: actions.set_plan(
            svc, shop, inv, specs, actor=by.actor, now=by.now
        )

    @group.command("plan-cancel")
    @_optional_reason
    @_action
    def plan_cancel(by: By, reason: str | None) -> Action:
        """End NUMBER's payment plan: back to its sequence from today, no pile-up."""
        return lambda svc, shop, inv: actions.cancel_plan(
            svc, shop, inv, reason=reason, actor=by.actor, now=by.now
        )

    @group.command("exclude")
    @_whole_customer("Every invoice of theirs.")
    @_optional_reason
    @_action
    def exclude(by: By, whole_customer: bool, reason: str | None) -> Action:
        """Never remind about NUMBER (or, with --customer, its customer)."""

        def act(svc: Services, shop: int, inv: int) -> ActionResult:
            if whole_customer:
                customer = actions.customer_of(svc, shop, inv)
                return actions.set_customer_excluded(
                    svc, shop, customer, excluded=True, reason=reason, actor=by.actor, now=by.now
                )
            return actions.exclude_invoice(
                svc, shop, inv, reason=reason, actor=by.actor, now=by.now
            )

        return act

    @group.command("include")
    @_whole_customer("Their customer.")
    @_action
    def include(by: By, whole_customer: bool) -> Action:
        """Remind about NUMBER again (or, with --customer, its customer)."""

        def act(svc: Services, shop: int, inv: int) -> ActionResult:
            if whole_customer:
                customer = actions.customer_of(svc, shop, inv)
                return actions.set_customer_excluded(
                    svc, shop, customer, excluded=False, actor=by.actor, now=by.now
                )
            return actions.include_invoice(svc, shop, inv, actor=by.actor, now=by.now)

        return act

    @group.command("send-now")
    @click.option(
        "--override-window", is_flag=True, help="Send even outside the shop's sending window."
    )
    @_action
    def send(by: By, override_window: bool) -> Action:
        """Send NUMBER's next step now (once; never after payment)."""
        return lambda svc, shop, inv: send_now(
            svc, shop, inv, actor=by.actor, override_window=override_window, now=by.now
        )

    @group.command("write-off")
    @_optional_reason
    @_action
    def write_off(by: By, reason: str | None) -> Action:
        """NUMBER is uncollectible: reminders stop for good."""
        return lambda svc, shop, inv: actions.write_off(
            svc, shop, inv, reason=reason, actor=by.actor, now=by.now
        )
