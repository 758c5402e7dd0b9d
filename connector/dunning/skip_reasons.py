"""Why a step passed over was never sent, in words that are true for that invoice.

A step skipped because a later one supersedes it either passed while the invoice was held and
nothing could go out (paused, waiting for payment instructions, outside the window, the engine
down…), or its day was already behind when the invoice came in (an overdue backlog imported
from a CSV file or a first sync): it never had a chance, and saying it "passed while nothing
could go out" would tell the owner of a hold that never was. The sentences are the English
table's (connector.domain.phrases), stored as written and translated when read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from connector.domain.calendar import SendingWindow
from connector.domain.phrases import EN, Phrase
from connector.dunning.planner import History, InvoiceFacts, StepSpec, earliest_day


def superseded_reasons(
    came_in: datetime,
    passed: Sequence[StepSpec],
    latest: StepSpec,
    facts: InvoiceFacts,
    history: History,
    window: SendingWindow,
) -> list[tuple[str, tuple[StepSpec, ...]]]:
    """The steps ``latest`` supersedes, grouped by their reason (groups in step order, none
    empty): a step whose first day is before the shop-local day the invoice came in
    (``came_in``: when it was first stored) was already past then; any other passed while
    nothing could go out."""
    arrived = window.local_date(came_in)
    before: list[StepSpec] = []
    held: list[StepSpec] = []
    for step in passed:
        (before if earliest_day(facts, step, history, window) < arrived else held).append(step)
    groups = (
        (EN[Phrase.PAST_WHEN_IMPORTED].format(step=latest.key), tuple(before)),
        (EN[Phrase.SUPERSEDED].format(step=latest.key), tuple(held)),
    )
    return [(reason, steps) for reason, steps in groups if steps]
