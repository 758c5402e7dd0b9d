"""Property: the sending window a claim batch plans with (claims._RememberingWindow, which
remembers each answer for the batch) answers every question exactly as the shop's plain
SendingWindow does, asked in any order and any number of times: across DST changes, holidays,
windows on business days only or not, and instants given in any timezone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.domain.calendar import BusinessCalendar, SendingWindow
from connector.dunning.claims import _REMEMBERED_INSTANTS, StepCatalog, _RememberingWindow

_CALENDARS = {"FR": BusinessCalendar("FR"), "US": BusinessCalendar("US")}
_ZONES = ("Europe/Paris", "America/New_York", "Australia/Lord_Howe", "UTC")

windows = st.builds(
    lambda zone, start, length, business, country: SendingWindow(
        timezone=zone,
        start=time(start),
        end=time(min(23, start + length), 30 if start + length > 23 else 0),
        business_days_only=business,
        calendar=_CALENDARS[country],
    ),
    st.sampled_from(_ZONES),
    st.integers(0, 20),
    st.integers(1, 12),
    st.booleans(),
    st.sampled_from(sorted(_CALENDARS)),
)
# Around the DST changes of 2026 (March, October/November; April in Lord Howe) and new year.
days = st.dates(date(2026, 3, 20), date(2027, 1, 10))
instants = st.builds(
    lambda day, minutes, zone: (
        datetime.combine(day, time(), UTC) + timedelta(minutes=minutes)
    ).astimezone(ZoneInfo(zone)),
    days,
    st.integers(0, 24 * 60 - 1),
    st.sampled_from((*_ZONES, "Asia/Tokyo")),
)
questions = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(("local_date", "contains", "next_opening")), instants),
        st.tuples(
            st.sampled_from(
                ("is_allowed_day", "bounds", "opening_on_or_after", "allowed_day_on_or_before")
            ),
            days,
        ),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(window=windows, asked=questions, data=st.data())
def test_a_remembered_answer_is_the_windows_answer(
    window: SendingWindow, asked: list[tuple[str, object]], data: st.DataObject
) -> None:
    remembering = _RememberingWindow.of(window)
    # Each question asked again later too, the way a batch asks it of invoice after invoice;
    # and each instant's wall-clock time in other timezones (other instants, one local time).
    again = data.draw(st.permutations(asked))
    elsewhere = [
        (name, arg.replace(tzinfo=ZoneInfo(zone)))
        for name, arg in asked
        if isinstance(arg, datetime)
        for zone in _ZONES
    ]
    for name, arg in [*asked, *elsewhere, *again]:
        expected = getattr(window, name)(arg)
        got = getattr(remembering, name)(arg)
        assert got == expected, (name, arg)
        assert type(got) is type(expected)


def test_a_tick_shares_one_remembering_window_per_window_value() -> None:
    """Shops with the same settings share one remembering window for the whole tick (its
    batches too); another setting (an owner's edit between batches) is another window, which
    answers as its own plain window; and the instants a window remembers stay bounded."""
    catalog = StepCatalog()
    paris = SendingWindow(timezone="Europe/Paris", calendar=_CALENDARS["FR"])
    same = SendingWindow(timezone="Europe/Paris", calendar=_CALENDARS["FR"])
    shared = catalog.window(paris)
    assert catalog.window(same) is shared
    assert catalog.for_next_batch().window(same) is shared
    later = SendingWindow(timezone="Europe/Paris", start=time(14), calendar=_CALENDARS["FR"])
    edited = catalog.for_next_batch().window(later)
    assert edited is not shared
    day = date(2026, 6, 10)
    assert edited.bounds(day) == later.bounds(day) != shared.bounds(day)
    start = datetime(2026, 6, 10, tzinfo=UTC)
    for minute in range(_REMEMBERED_INSTANTS + 10):
        instant = start + timedelta(minutes=minute)
        assert shared.local_date(instant) == paris.local_date(instant)
    assert len(shared._local) <= _REMEMBERED_INSTANTS
