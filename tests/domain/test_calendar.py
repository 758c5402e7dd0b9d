import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest

from connector.domain.calendar import BusinessCalendar, SendingWindow, resolve_local

PARIS = ZoneInfo("Europe/Paris")
FR = BusinessCalendar()
ALSACE = BusinessCalendar("FR", subdiv="57")
WINDOW = SendingWindow("Europe/Paris")
EVERY_DAY = SendingWindow("Europe/Paris", business_days_only=False)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


def paris(year: int, month: int, day: int, hour: int, minute: int, *, fold: int = 0) -> datetime:
    """A Paris wall-clock instant; ``fold`` picks the occurrence of a repeated time."""
    return datetime(year, month, day, hour, minute, tzinfo=PARIS, fold=fold)


# --- BusinessCalendar -------------------------------------------------------------------------


# Every date here is a weekday, so only the holiday rule can make it a non-business day.
@pytest.mark.parametrize(
    ("day", "name"),
    [
        (date(2026, 1, 1), "Jour de l'an"),
        (date(2026, 4, 6), "Lundi de Pâques"),
        (date(2026, 5, 1), "Fête du Travail"),
        (date(2026, 5, 8), "Fête de la Victoire"),
        (date(2026, 5, 14), "Ascension"),
        (date(2026, 5, 25), "Lundi de Pentecôte"),
        (date(2026, 7, 14), "Fête nationale"),
        (date(2025, 8, 15), "Assomption"),
        (date(2027, 11, 1), "Toussaint"),
        (date(2026, 11, 11), "Armistice"),
        (date(2026, 12, 25), "Noël"),
    ],
)
def test_french_public_holidays(day: date, name: str) -> None:
    assert day.weekday() < 5
    assert not FR.is_business_day(day)
    assert FR.holiday_name(day) == name


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (date(2026, 4, 3), "Vendredi saint"),  # Good Friday
        (date(2025, 12, 26), "Saint-Étienne"),  # 26 December
    ],
)
def test_alsace_moselle_extra_holidays(day: date, name: str) -> None:
    assert day.weekday() < 5
    assert FR.is_business_day(day)  # not a holiday in the rest of France
    assert FR.holiday_name(day) is None
    assert not ALSACE.is_business_day(day)
    assert ALSACE.holiday_name(day) == name


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 1, 9), True),  # Friday
        (date(2026, 1, 10), False),  # Saturday
        (date(2026, 1, 11), False),  # Sunday
        (date(2026, 1, 12), True),  # Monday
        (date(2026, 4, 7), True),  # Tuesday after Easter Monday
        (date(2026, 5, 15), True),  # Friday after Ascension (a "pont", not a holiday)
    ],
)
def test_business_days(day: date, expected: bool) -> None:
    assert FR.is_business_day(day) is expected


def test_ordinary_day_has_no_holiday_name() -> None:
    assert FR.holiday_name(date(2026, 1, 14)) is None
    assert FR.holiday_name(date(2026, 1, 10)) is None  # a weekend is not a holiday


@pytest.mark.parametrize(
    ("calendar", "day", "expected"),
    [
        (FR, date(2026, 1, 14), date(2026, 1, 14)),  # a business day is its own answer
        (FR, date(2026, 1, 10), date(2026, 1, 12)),  # Saturday → Monday
        (FR, date(2026, 1, 11), date(2026, 1, 12)),  # Sunday → Monday
        (FR, date(2026, 4, 4), date(2026, 4, 7)),  # Easter Saturday → Tuesday
        (FR, date(2026, 5, 14), date(2026, 5, 15)),  # Ascension → Friday
        (FR, date(2026, 12, 25), date(2026, 12, 28)),  # Christmas Friday → Monday
        (FR, date(2026, 1, 1), date(2026, 1, 2)),
        (FR, date(2022, 12, 31), date(2023, 1, 2)),  # across a year, 1 Jan on a Sunday
        (FR, date(2026, 4, 3), date(2026, 4, 3)),  # Good Friday: working day in Paris
        (ALSACE, date(2026, 4, 3), date(2026, 4, 7)),  # ... not in Moselle
        (ALSACE, date(2025, 12, 25), date(2025, 12, 29)),  # 25 and 26 Dec, then weekend
    ],
)
def test_next_business_day(calendar: BusinessCalendar, day: date, expected: date) -> None:
    assert calendar.next_business_day(day) == expected


def test_holiday_names_ignore_the_process_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.setenv(var, "en_US.UTF-8")
    assert BusinessCalendar().holiday_name(date(2026, 4, 6)) == "Lundi de Pâques"


def test_holiday_names_in_a_chosen_language() -> None:
    calendar = BusinessCalendar(language="en_US")
    assert calendar.holiday_name(date(2026, 4, 6)) == "Easter Monday"


def test_other_countries_come_from_the_library() -> None:
    us = BusinessCalendar("US")
    assert us.holiday_name(date(2026, 7, 3)) == "Independence Day (observed)"
    assert not us.is_business_day(date(2026, 7, 3))
    assert us.is_business_day(date(2026, 7, 14))


def test_holidays_are_cached_per_year() -> None:
    calendar = BusinessCalendar()
    calendar.is_business_day(date(2026, 3, 1))
    first = calendar._holidays(2026)
    calendar.is_business_day(date(2026, 9, 1))
    assert calendar._holidays(2026) is first
    assert set(calendar._years) == {2026}
    calendar.is_business_day(date(2027, 1, 1))
    assert set(calendar._years) == {2026, 2027}


@pytest.mark.parametrize(("country", "subdiv"), [("XX", None), ("FR", "99")])
def test_unknown_country_or_subdivision(country: str, subdiv: str | None) -> None:
    with pytest.raises(ValueError):
        BusinessCalendar(country, subdiv)


def test_calendar_refuses_datetimes() -> None:
    # a UTC datetime would silently pick the UTC date rather than the shop's local one
    with pytest.raises(TypeError):
        FR.is_business_day(utc(2026, 1, 14, 23, 30))


def test_calendar_equality() -> None:
    assert BusinessCalendar() == BusinessCalendar("FR")
    assert hash(BusinessCalendar()) == hash(BusinessCalendar("FR"))
    assert BusinessCalendar() != ALSACE


# --- SendingWindow: boundaries ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        # winter, CET = UTC+1: 09:00-18:00 local is 08:00-17:00 UTC
        (utc(2026, 1, 14, 7, 59, 59, 999999), False),
        (utc(2026, 1, 14, 8, 0), True),  # start inclusive
        (utc(2026, 1, 14, 12, 0), True),
        (utc(2026, 1, 14, 16, 59, 59, 999999), True),
        (utc(2026, 1, 14, 17, 0), False),  # end exclusive
        # summer, CEST = UTC+2: 07:00-16:00 UTC
        (utc(2026, 7, 15, 6, 59, 59), False),
        (utc(2026, 7, 15, 7, 0), True),
        (utc(2026, 7, 15, 15, 59, 59), True),
        (utc(2026, 7, 15, 16, 0), False),
        # closed days
        (paris(2026, 1, 17, 10, 0), False),  # Saturday
        (paris(2026, 1, 18, 10, 0), False),  # Sunday
        (paris(2026, 5, 14, 10, 0), False),  # Ascension
        (paris(2026, 4, 6, 10, 0), False),  # Easter Monday
        (paris(2026, 4, 7, 10, 0), True),
    ],
)
def test_contains(instant: datetime, expected: bool) -> None:
    assert WINDOW.contains(instant) is expected


def test_every_day_window_opens_on_weekends_and_holidays() -> None:
    assert EVERY_DAY.contains(paris(2026, 1, 17, 10, 0))
    assert EVERY_DAY.contains(paris(2026, 5, 14, 10, 0))
    assert not EVERY_DAY.contains(paris(2026, 1, 17, 18, 0))


def test_custom_hours() -> None:
    window = SendingWindow("Europe/Paris", start=time(8, 30), end=time(12, 0))
    assert not window.contains(paris(2026, 1, 14, 8, 29))
    assert window.contains(paris(2026, 1, 14, 8, 30))
    assert not window.contains(paris(2026, 1, 14, 12, 0))
    assert window.opening_on_or_after(date(2026, 1, 14)) == utc(2026, 1, 14, 7, 30)


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (utc(2026, 1, 14, 22, 59), date(2026, 1, 14)),
        (utc(2026, 1, 14, 23, 30), date(2026, 1, 15)),  # 00:30 in Paris
        (utc(2026, 7, 14, 22, 30), date(2026, 7, 15)),  # 00:30 CEST
        (datetime(2026, 1, 14, 20, 0, tzinfo=ZoneInfo("America/New_York")), date(2026, 1, 15)),
    ],
)
def test_local_date(instant: datetime, expected: date) -> None:
    assert WINDOW.local_date(instant) == expected


# --- SendingWindow: next opening --------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        # inside: the instant itself
        (utc(2026, 1, 14, 8, 0), utc(2026, 1, 14, 8, 0)),
        (utc(2026, 1, 14, 12, 34, 56), utc(2026, 1, 14, 12, 34, 56)),
        # before opening: today's start
        (utc(2026, 1, 14, 5, 0), utc(2026, 1, 14, 8, 0)),
        (paris(2026, 1, 14, 0, 0), utc(2026, 1, 14, 8, 0)),
        # after closing: tomorrow's start
        (utc(2026, 1, 14, 17, 0), utc(2026, 1, 15, 8, 0)),
        # local midnight crossing: 23:30 UTC Wednesday is Thursday 00:30 in Paris
        (utc(2026, 1, 14, 23, 30), utc(2026, 1, 15, 8, 0)),
        # Friday evening → Monday morning
        (paris(2026, 1, 16, 18, 0), utc(2026, 1, 19, 8, 0)),
        (paris(2026, 1, 17, 11, 0), utc(2026, 1, 19, 8, 0)),
        (utc(2026, 1, 18, 23, 30), utc(2026, 1, 19, 8, 0)),  # Monday 00:30 local
        # Friday before Easter Monday → Tuesday (CEST: 09:00 = 07:00 UTC)
        (paris(2026, 4, 3, 19, 0), utc(2026, 4, 7, 7, 0)),
        # Wednesday evening before Ascension Thursday → Friday
        (paris(2026, 5, 13, 18, 30), utc(2026, 5, 15, 7, 0)),
        # Christmas Eve evening → Monday 28 December
        (paris(2026, 12, 24, 18, 0), utc(2026, 12, 28, 8, 0)),
        # Friday evening across a DST weekend
        (paris(2026, 3, 27, 18, 0), utc(2026, 3, 30, 7, 0)),  # CET Friday → CEST Monday
        (paris(2026, 10, 23, 18, 0), utc(2026, 10, 26, 8, 0)),  # CEST Friday → CET Monday
    ],
)
def test_next_opening(instant: datetime, expected: datetime) -> None:
    result = WINDOW.next_opening(instant)
    assert result == expected
    assert result.tzinfo is UTC


def test_next_opening_returns_utc_for_an_instant_in_another_zone() -> None:
    inside = paris(2026, 1, 14, 10, 0)
    result = WINDOW.next_opening(inside)
    assert result == inside
    assert result.tzinfo is UTC
    assert result == utc(2026, 1, 14, 9, 0)


def test_next_opening_with_alsace_calendar_skips_good_friday() -> None:
    window = SendingWindow("Europe/Paris", calendar=ALSACE)
    assert window.next_opening(paris(2026, 4, 2, 18, 0)) == utc(2026, 4, 7, 7, 0)
    assert WINDOW.next_opening(paris(2026, 4, 2, 18, 0)) == utc(2026, 4, 3, 7, 0)


def test_next_opening_with_a_us_shop() -> None:
    window = SendingWindow("America/New_York", calendar=BusinessCalendar("US"))
    # Thursday 2 July 2026 evening; Friday 3 July is the observed Independence Day
    thursday_evening = datetime(2026, 7, 2, 19, 0, tzinfo=ZoneInfo("America/New_York"))
    assert window.next_opening(thursday_evening) == utc(2026, 7, 6, 13, 0)  # EDT = UTC-4


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 1, 14), utc(2026, 1, 14, 8, 0)),  # winter 09:00 CET
        (date(2026, 7, 15), utc(2026, 7, 15, 7, 0)),  # summer 09:00 CEST
        (date(2026, 1, 17), utc(2026, 1, 19, 8, 0)),  # Saturday → Monday
        (date(2026, 4, 3), utc(2026, 4, 3, 7, 0)),  # Good Friday works outside Alsace
        (date(2026, 4, 4), utc(2026, 4, 7, 7, 0)),  # → Tuesday after Easter Monday
        (date(2026, 3, 28), utc(2026, 3, 30, 7, 0)),  # DST weekend, Saturday → CEST Monday
        (date(2026, 10, 24), utc(2026, 10, 26, 8, 0)),  # DST weekend, Saturday → CET Monday
    ],
)
def test_opening_on_or_after(day: date, expected: datetime) -> None:
    assert WINDOW.opening_on_or_after(day) == expected


# --- SendingWindow: DST days in Europe/Paris (both are Sundays, so every-day windows) ----------


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 3, 28), utc(2026, 3, 28, 8, 0)),  # last CET day
        (date(2026, 3, 29), utc(2026, 3, 29, 7, 0)),  # spring forward: 09:00 is CEST
        (date(2026, 10, 24), utc(2026, 10, 24, 7, 0)),  # last CEST day
        (date(2026, 10, 25), utc(2026, 10, 25, 8, 0)),  # fall back: 09:00 is CET
    ],
)
def test_nine_o_clock_on_dst_days(day: date, expected: datetime) -> None:
    assert EVERY_DAY.opening_on_or_after(day) == expected


def test_dst_day_closing_time() -> None:
    # spring-forward day is 23 hours long, fall-back 25: closing follows the wall clock
    assert EVERY_DAY.contains(utc(2026, 3, 29, 15, 59))
    assert not EVERY_DAY.contains(utc(2026, 3, 29, 16, 0))
    assert EVERY_DAY.contains(utc(2026, 10, 25, 16, 59))
    assert not EVERY_DAY.contains(utc(2026, 10, 25, 17, 0))


NIGHT_OWL = SendingWindow(
    "Europe/Paris", start=time(2, 30), end=time(5, 0), business_days_only=False
)


def test_nonexistent_start_moves_forward_to_the_transition() -> None:
    # 02:30 does not exist on 2026-03-29 in Paris: clocks jump 02:00 CET → 03:00 CEST (01:00 UTC)
    opening = NIGHT_OWL.opening_on_or_after(date(2026, 3, 29))
    assert opening == utc(2026, 3, 29, 1, 0)
    local = opening.astimezone(PARIS)
    assert (local.hour, local.minute) == (3, 0)
    assert local.utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (utc(2026, 3, 29, 0, 59, 59), False),  # 01:59:59 CET, before the gap
        (utc(2026, 3, 29, 1, 0), True),  # 03:00 CEST, first valid instant
        (utc(2026, 3, 29, 2, 59), True),  # 04:59 CEST
        (utc(2026, 3, 29, 3, 0), False),  # 05:00 CEST
    ],
)
def test_nonexistent_start_contains(instant: datetime, expected: bool) -> None:
    assert NIGHT_OWL.contains(instant) is expected


def test_nonexistent_start_next_opening() -> None:
    assert NIGHT_OWL.next_opening(utc(2026, 3, 28, 23, 0)) == utc(2026, 3, 29, 1, 0)
    assert NIGHT_OWL.next_opening(utc(2026, 3, 29, 1, 30)) == utc(2026, 3, 29, 1, 30)


def test_nonexistent_end_moves_forward_too() -> None:
    window = SendingWindow(
        "Europe/Paris", start=time(1, 0), end=time(2, 30), business_days_only=False
    )
    assert window.bounds(date(2026, 3, 29)) == (utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 1, 0))
    assert window.contains(utc(2026, 3, 29, 0, 59, 59))
    assert not window.contains(utc(2026, 3, 29, 1, 0))


def test_ambiguous_start_takes_the_first_occurrence() -> None:
    # 02:30 happens twice on 2026-10-25: 00:30 UTC (CEST, fold=0) and 01:30 UTC (CET, fold=1)
    opening = NIGHT_OWL.opening_on_or_after(date(2026, 10, 25))
    assert opening == utc(2026, 10, 25, 0, 30)
    assert opening.astimezone(PARIS).utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (utc(2026, 10, 25, 0, 29, 59), False),  # 02:29:59 CEST
        (utc(2026, 10, 25, 0, 30), True),  # 02:30 CEST, fold=0
        # 02:15 CET, the repeated hour: wall clock is before 02:30, but the window has been
        # open since the first 02:30, and stays open (one interval, no gap)
        (utc(2026, 10, 25, 1, 15), True),
        (utc(2026, 10, 25, 3, 59), True),  # 04:59 CET
        (utc(2026, 10, 25, 4, 0), False),  # 05:00 CET
    ],
)
def test_ambiguous_start_contains(instant: datetime, expected: bool) -> None:
    assert NIGHT_OWL.contains(instant) is expected


def test_ambiguous_end_takes_the_first_occurrence() -> None:
    window = SendingWindow(
        "Europe/Paris", start=time(2, 0), end=time(2, 30), business_days_only=False
    )
    assert window.bounds(date(2026, 10, 25)) == (
        utc(2026, 10, 25, 0, 0),
        utc(2026, 10, 25, 0, 30),
    )
    assert window.contains(paris(2026, 10, 25, 2, 10, fold=0))
    assert not window.contains(paris(2026, 10, 25, 2, 10, fold=1))  # second pass, CET
    # after the first pass closes, the next opening is the next day's 02:00
    assert window.next_opening(paris(2026, 10, 25, 2, 10, fold=1)) == utc(2026, 10, 26, 1, 0)


def test_half_hour_dst_gap() -> None:
    # Lord Howe Island jumps 02:00 → 02:30 (UTC+10:30 → +11) on 2026-10-04
    tz = ZoneInfo("Australia/Lord_Howe")
    assert resolve_local(date(2026, 10, 4), time(2, 15), tz) == utc(2026, 10, 3, 15, 30)
    assert resolve_local(date(2026, 10, 4), time(2, 45), tz) == utc(2026, 10, 3, 15, 45)
    assert resolve_local(date(2026, 10, 4), time(1, 45), tz) == utc(2026, 10, 3, 15, 15)


# --- SendingWindow: input validation ----------------------------------------------------------


@pytest.mark.parametrize("method", ["local_date", "contains", "next_opening"])
def test_naive_datetimes_are_refused(method: str) -> None:
    with pytest.raises(ValueError, match="naive"):
        getattr(WINDOW, method)(datetime(2026, 1, 14, 10, 0))  # noqa: DTZ001


def test_opening_on_or_after_refuses_a_datetime() -> None:
    with pytest.raises(TypeError):
        WINDOW.opening_on_or_after(utc(2026, 1, 14, 10, 0))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timezone": "Europe/Nowhere"},
        {"timezone": ""},
        {"timezone": "Europe/Paris", "start": time(18), "end": time(9)},
        {"timezone": "Europe/Paris", "start": time(9), "end": time(9)},
        {"timezone": "Europe/Paris", "start": time(9, tzinfo=UTC)},
    ],
)
def test_invalid_window(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SendingWindow(**kwargs)  # type: ignore[arg-type]


def test_windows_compare_by_value() -> None:
    assert SendingWindow("Europe/Paris") == SendingWindow("Europe/Paris")
    assert hash(SendingWindow("Europe/Paris")) == hash(SendingWindow("Europe/Paris"))
    assert SendingWindow("Europe/Paris") != SendingWindow("Europe/Paris", calendar=ALSACE)


# --- the library's class for one country, loaded alone -----------------------------------------

_YEARS = range(2024, 2031)


@pytest.mark.parametrize("subdiv", [None, *holidays.country_holidays("FR").subdivisions])
def test_calendar_has_the_libraries_dates_and_names_for_france_and_each_subdivision(
    subdiv: str | None,
) -> None:
    """The same holidays, names included, as ``country_holidays`` gives (the old
    construction), for France and each of its subdivisions over 2024–2030."""
    calendar = BusinessCalendar("FR", subdiv)
    expected = holidays.country_holidays("FR", subdiv=subdiv, years=_YEARS, language="fr")
    days = [
        date(2024, 1, 1) + timedelta(days=n)
        for n in range((date(2031, 1, 1) - date(2024, 1, 1)).days)
    ]
    assert {d: calendar.holiday_name(d) for d in days} == {d: expected.get(d) for d in days}
    assert [d for d in days if calendar.is_business_day(d)] == [
        d for d in days if d.weekday() < 5 and d not in expected
    ]


@pytest.mark.parametrize("country", ["FR", "FRA", "France", "DE", "US", "GP"])
def test_calendar_uses_the_class_country_holidays_uses(country: str) -> None:
    calendar = BusinessCalendar(country)
    assert type(holidays.country_holidays(country)) is calendar._entity
    assert calendar.language == holidays.country_holidays(country).default_language


def test_unknown_country_or_subdivision_is_refused() -> None:
    with pytest.raises(ValueError, match="ZZ"):
        BusinessCalendar("ZZ")
    with pytest.raises(ValueError, match="XX"):
        BusinessCalendar("FR", "XX")


def test_a_french_calendar_does_not_import_every_country() -> None:
    """A new worker's first tick builds one calendar: it loads France's module, not the 250
    countries ``holidays.countries`` imports (≈ 50 ms of CPU)."""
    code = (
        "import sys\n"
        "from datetime import date\n"
        "from connector.domain.calendar import BusinessCalendar\n"
        "calendar = BusinessCalendar('FR', '57')\n"
        "assert not calendar.is_business_day(date(2026, 12, 26))\n"
        "print(sorted(m for m in sys.modules if m.startswith('holidays.countries')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['holidays.countries.france']"


@pytest.mark.parametrize("country", ["GP", "RE", "MQ", "GF", "YT", "NC", "PF", "AX"])
def test_a_territory_in_a_new_process_has_its_parents_calendar(country: str) -> None:
    """A territory's module imports its parent country's: loaded alone in a new process it
    failed (the package import met it half-loaded) — every worker's first window for a shop in
    Guadeloupe raised. It goes the library's own way instead, with the same days off."""
    code = (
        "from datetime import date, timedelta\n"
        "import holidays\n"
        "from connector.domain.calendar import BusinessCalendar\n"
        f"calendar = BusinessCalendar({country!r})\n"
        "days = [date(2026, 1, 1) + timedelta(days=n) for n in range(365)]\n"
        "ours = [d for d in days if calendar.holiday_name(d)]\n"
        f"theirs = sorted(holidays.country_holidays({country!r}, years=2026))\n"
        "assert ours == theirs, (ours, theirs)\n"
        "print(len(ours))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 0
