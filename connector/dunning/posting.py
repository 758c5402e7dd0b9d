"""A letter's date and deadline: a letter is dated the day it is posted, and when the letter is
the message its deadline counts from receipt (the posting date + the shop's posting delay).

Until the owner records the posting, a letter is dated by its planned posting date: the day it
is made (a letter printed and posted that day is right as it is; one posted later is dated
again by :func:`connector.actions.letters.record_posting`, the first version kept).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from connector.domain.dates import long_date
from connector.dunning.compose import SentHistory, build_context
from connector.dunning.context import ReminderContext
from connector.dunning.planner import StepSpec, step_deadline
from connector.ledger import local_midnight
from connector.store.models import Channel, Customer, Invoice, Reminder, Shop


def letter_deadline(shop: Shop, reminder: Reminder, step: StepSpec, dated: date) -> date | None:
    """The deadline a letter dated ``dated`` prints.

    Beside an email, the letter repeats the deadline the email announced (kept on the
    reminder); when the letter is the message, it counts from the letter's receipt.
    """
    if reminder.channel is Channel.EMAIL:
        return reminder.deadline_on
    return step_deadline(step, dated, shop.letter_posting_delay_days)


def letter_context(
    shop: Shop,
    customer: Customer,
    invoice: Invoice,
    step: StepSpec,
    history: SentHistory,
    dated: date,
    deadline: date | None,
    *,
    locale: str | None = None,
) -> ReminderContext:
    """What the letter says, as of the day it is dated, with the deadline it announces (in
    ``locale`` when given: the French version of an English notice)."""
    ctx = build_context(
        shop,
        customer,
        [(invoice, step)],
        local_midnight(dated, shop.timezone),
        history,
        locale=locale,
    )
    return replace(
        ctx, new_deadline=long_date(deadline, ctx.locale) if deadline is not None else None
    )
