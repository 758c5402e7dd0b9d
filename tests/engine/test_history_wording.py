"""Messages are evidence (design §5): what a message says about the past follows what this
invoice's history really holds — reminders sent, on the shop's local dates — never a skipped
step. Run through the real engine on SQLite and PostgreSQL, in a shop whose local day is not
the UTC day when it sends (Auckland: 09:30 there is 21:30 UTC the day before)."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from connector.domain.dates import long_date
from connector.dunning.context import ReminderContext
from connector.dunning.rendering import ReminderRenderer, RenderedMessage
from connector.dunning.runner import DunningRunner, RunnerOptions
from connector.dunning.sequence import DEFAULT_STEPS, ensure_default_sequence
from connector.mail.outbox import OutboxTransport
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Channel, Invoice, Reminder, ReminderState, Shop
from tests.support.builders import add_invoices, invoice_by_number, normalized

AUCKLAND = ZoneInfo("Pacific/Auckland")
DUE = date(2026, 6, 10)  # Wednesday; every step day of the sequence is a business day
STEP_KEYS = tuple(key for key, *_ in DEFAULT_STEPS)
OFFSETS = {key: offset for key, offset, *_ in DEFAULT_STEPS}
LAST_DAY = DUE + timedelta(days=OFFSETS[STEP_KEYS[-1]])  # the formal notice: Friday 10 July
CASES = (("fr", True), ("fr", False), ("en", True), ("en", False))
#: Words that speak of earlier reminders, in every shipped template.
PAST = {
    "fr": ("Malgré", "rappel du", "rappels des"),
    "en": ("Despite", "reminder of", "reminders of"),
}
#: What the message says when it has nothing to cite (steps that speak of the past at all).
NOTHING_TO_CITE = {"fr": "Sauf erreur de notre part, ", "en": "According to our records, "}
UNKNOWABLE = ("restées sans effet", "sans effet", "gone unanswered", "unanswered")


class RecordingRenderer(ReminderRenderer):
    """The shipped renderer, keeping every (context, message) it produced."""

    def __init__(self) -> None:
        super().__init__()
        self.rendered: list[tuple[ReminderContext, RenderedMessage]] = []
        self._lock = threading.Lock()

    def render(self, ctx: ReminderContext) -> RenderedMessage:
        message = super().render(ctx)
        with self._lock:
            self.rendered.append((ctx, message))
        return message

    def texts(self, number: str, step: str, locale: str) -> list[str]:
        """The messages in ``locale`` (an English letter to France also renders in French)."""
        return [
            m.text
            for c, m in self.rendered
            if c.step == step and number in c.invoice_numbers and c.locale == locale
        ]


def auckland(day: date) -> datetime:
    return datetime.combine(day, time(9, 30), tzinfo=AUCKLAND).astimezone(UTC)


def runner(services: Services, renderer: ReminderRenderer) -> DunningRunner:
    return DunningRunner(
        services.sessions,
        OutboxTransport(services.settings.outbox_dir),
        RunnerOptions(letters_dir=services.settings.letters_dir, concurrency=4),
        renderer=renderer,
    )


def in_auckland(services: Services, shop: Shop) -> None:
    shop.timezone = "Pacific/Auckland"  # add_invoices merges this (detached) copy
    with write_session(services.sessions) as s:
        s.merge(shop)


def cited(locale: str, days: list[date]) -> str:
    """The phrase a message uses to cite reminders sent on these local days."""
    long = [long_date(day, locale) for day in days]
    if locale == "fr":
        if len(long) == 1:
            return f"Malgré notre rappel du {long[0]}, "
        return f"Malgré nos rappels des {', '.join(long[:-1])} et {long[-1]}, "
    if len(long) == 1:
        return f"Despite our reminder of {long[0]}, "
    return f"Despite our reminders of {', '.join(long[:-1])} and {long[-1]}, "


def number(history: str, locale: str, b2b: bool, step: str = "") -> str:
    return f"{history[0].upper()}-{locale}-{'b2b' if b2b else 'c'}{'-' + step if step else ''}"


def email(invoice_number: str) -> str:
    return f"{invoice_number.lower()}@client.example"


def test_every_step_cites_only_the_reminders_really_sent_on_their_local_dates(
    services: Services, shop: Shop
) -> None:
    in_auckland(services, shop)
    # After real reminders: one invoice per language × B2B/consumer, reminded at every step.
    add_invoices(
        services,
        shop,
        [
            normalized(
                number("after", loc, b2b),
                email=email(number("after", loc, b2b)),
                due_on=DUE,
                b2b=b2b,
                locale=loc,
            )
            for loc, b2b in CASES
        ],
    )
    renderer = RecordingRenderer()
    engine = runner(services, renderer)
    step_days = {key: DUE + timedelta(days=OFFSETS[key]) for key in STEP_KEYS}
    for key in STEP_KEYS[:-1]:
        engine.tick(auckland(step_days[key]))
    # First message ever: an invoice per step whose earlier steps all pass unsent on the last
    # day (they are skipped), per language × B2B/consumer.
    add_invoices(
        services,
        shop,
        [
            normalized(
                n := number("first", loc, b2b, key),
                email=email(n),
                due_on=LAST_DAY - timedelta(days=OFFSETS[key]),
                b2b=b2b,
                locale=loc,
            )
            for key in STEP_KEYS
            for loc, b2b in CASES
        ],
    )
    engine.tick(auckland(LAST_DAY))

    with services.sessions() as s:
        states = {
            (inv_number, key): state
            for inv_number, key, state in s.execute(
                select(Invoice.number, Reminder.step_key, Reminder.state).join(
                    Invoice, Invoice.id == Reminder.invoice_id
                )
            )
        }
    problems: list[str] = []
    for history in ("after", "first"):
        for key in STEP_KEYS:
            for loc, b2b in CASES:
                inv_number = number(history, loc, b2b, key if history == "first" else "")
                case = f"{key} {loc} {'b2b' if b2b else 'consumer'} {history}"
                texts = renderer.texts(inv_number, key, loc)
                if not texts:
                    problems.append(f"{case}: no message rendered")
                    continue
                if history == "after":
                    earlier = [step_days[k] for k in STEP_KEYS[: STEP_KEYS.index(key)]]
                else:
                    earlier = []
                    skipped = [
                        states.get((inv_number, k)) for k in STEP_KEYS[: STEP_KEYS.index(key)]
                    ]
                    if any(state is not ReminderState.SKIPPED for state in skipped):
                        problems.append(f"{case}: earlier steps not skipped: {skipped}")
                for text in texts:
                    for word in UNKNOWABLE:
                        if word in text:
                            problems.append(f"{case}: claims what we cannot know: {word!r}")
                    speaks_of_past = NOTHING_TO_CITE[loc] in text or any(
                        word in text for word in PAST[loc]
                    )
                    if key in ("courtesy", "reminder_1"):
                        if any(word in text for word in PAST[loc]):
                            problems.append(f"{case}: cites a reminder")
                        continue
                    if not speaks_of_past:
                        problems.append(f"{case}: the opening sentence is missing")
                    elif earlier and cited(loc, earlier) not in text:
                        problems.append(f"{case}: expected {cited(loc, earlier)!r}")
                    elif not earlier and (
                        NOTHING_TO_CITE[loc] not in text or any(w in text for w in PAST[loc])
                    ):
                        problems.append(f"{case}: cites reminders never sent")
    assert problems == []


def test_a_consolidated_message_cites_only_what_was_sent_for_every_invoice(
    services: Services, shop: Shop
) -> None:
    in_auckland(services, shop)
    add_invoices(
        services,
        shop,
        [normalized("A-1", email="one@client.example", due_on=DUE, customer_id="c1")],
    )
    renderer = RecordingRenderer()
    engine = runner(services, renderer)
    engine.tick(auckland(DUE + timedelta(days=OFFSETS["courtesy"])))
    engine.tick(auckland(DUE + timedelta(days=OFFSETS["reminder_1"])))
    # B-2 arrives late (a backlog import): its courtesy and first reminder are never sent.
    add_invoices(
        services,
        shop,
        [normalized("B-2", email="one@client.example", due_on=DUE, customer_id="c1")],
    )
    second_day = DUE + timedelta(days=OFFSETS["reminder_2"])
    engine.tick(auckland(second_day))
    engine.tick(auckland(DUE + timedelta(days=OFFSETS["reminder_3"])))

    [second] = [m.text for c, m in renderer.rendered if c.step == "reminder_2"]
    assert "A-1" in second and "B-2" in second
    # A-1 was reminded twice, B-2 never: nothing is true of both, nothing is cited.
    assert "Sauf erreur de notre part, les factures ci-dessous demeurent impayées" in second
    assert "Malgré" not in second
    [third] = [m.text for c, m in renderer.rendered if c.step == "reminder_3"]
    assert "A-1" in third and "B-2" in third
    assert cited("fr", [second_day]) + "les factures ci-dessous" in third
    # Each invoice's own history travels with it, for owner templates that list it.
    [ctx] = [c for c, _ in renderer.rendered if c.step == "reminder_3"]
    reminded = {inv.number: inv.reminded_on for inv in ctx.invoices}
    long = [
        long_date(DUE + timedelta(days=OFFSETS[k]), "fr")
        for k in ("courtesy", "reminder_1", "reminder_2")
    ]
    assert reminded == {"A-1": tuple(long), "B-2": (long[2],)}


def test_older_rows_that_say_sent_for_what_nothing_carried_are_never_cited(
    services: Services, shop: Shop
) -> None:
    in_auckland(services, shop)
    add_invoices(services, shop, [normalized("C-3", email="old@client.example", due_on=DUE)])
    inv = invoice_by_number(services, "C-3")
    # What the engine used to record: a task step and a letter step without a letter, "sent".
    with write_session(services.sessions) as s:
        steps = {row.key: row for row in ensure_default_sequence(s, s.merge(shop)).steps}
        for key, channel in (("courtesy", Channel.TASK), ("reminder_1", Channel.LETTER)):
            day = DUE + timedelta(days=OFFSETS[key])
            s.add(
                Reminder(
                    shop_id=shop.id,
                    invoice_id=inv.id,
                    step_id=steps[key].id,
                    step_key=key,
                    channel=channel,
                    state=ReminderState.SENT,
                    due_on=day,
                    counted_from=DUE,
                    sent_at=auckland(day),
                )
            )
    renderer = RecordingRenderer()
    runner(services, renderer).tick(auckland(DUE + timedelta(days=OFFSETS["reminder_2"])))
    [text] = renderer.texts("C-3", "reminder_2", "fr")
    assert "Sauf erreur de notre part, la facture ci-dessous" in text
    assert "Malgré" not in text
