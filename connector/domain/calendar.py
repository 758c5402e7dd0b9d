"""Business days (public holidays from the maintained ``holidays`` library) and sending windows.

All instants in and out are timezone-aware; results are in UTC. Local wall-clock times are
resolved in the shop's IANA timezone with ``zoneinfo``:

* a nonexistent local time (spring-forward gap, e.g. 02:30 on 2026-03-29 in Europe/Paris)
  moves forward to the first valid instant, the transition itself (03:00 CEST = 01:00 UTC);
* an ambiguous local time (fall-back, e.g. 02:30 on 2026-10-25 in Europe/Paris) takes
  ``fold=0``, the first occurrence (02:30 CEST = 00:30 UTC).

Each day's window is the UTC interval [start, end) those rules give, so ``contains`` and
``next_opening`` always agree, even across a repeated hour.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

_MAX_SCAN_DAYS = 400
"""Give up looking for an allowed day after this many (a misconfigured calendar, not a loop)."""


def _require_date(value: date, name: str) -> None:
    # datetime is a subclass of date: a UTC datetime here would silently use the wrong day.
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"{name} must be a date, not {type(value).__name__}")


def _require_aware(instant: datetime) -> None:
    if not isinstance(instant, datetime):
        raise TypeError(f"expected a datetime, not {type(instant).__name__}")
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"naive datetime {instant.isoformat()}: a timezone is required")


def _country_class(country: str) -> type[holidays.HolidayBase]:
    """The library's class for ``country`` (a code or name ``country_holidays`` accepts): the
    one ``country_holidays`` would use, from the country's own module alone when it can be.

    ``country_holidays`` imports ``holidays.countries``, whose ``__init__`` imports all 250
    countries (≈ 50 ms of a new worker's first tick) to use one. The country's module is
    loaded under its own name, as that import would load it, so the library's lazy loaders
    and a later import of the package find this same module and class. Anything else — a
    territory whose module imports its parent country's (Guadeloupe, Réunion…: the package
    import then meets the half-loaded module), a library whose layout changed — goes the
    library's own way (``getattr(holidays, country)``, the whole package): slower, the same
    class."""
    try:
        return _class_from_own_module(country)
    except Exception:  # any failure of the shortcut: the library's own lookup
        try:
            entity: type[holidays.HolidayBase] = getattr(holidays, country)
        except AttributeError:
            raise ValueError(f"Country {country} not available") from None
        return entity


def _class_from_own_module(country: str) -> type[holidays.HolidayBase]:
    """``country``'s class, its module loaded alone (see :func:`_country_class`); raises if
    the registry does not know it or the module cannot be loaded alone (nothing of it kept)."""
    registry = importlib.import_module("holidays.registry")  # the library's lazy-import table
    found = next((m for m, names in registry.COUNTRIES.items() if country in names), None)
    if found is None:
        raise LookupError(country)
    module_name = f"holidays.countries.{found}"
    with registry.IMPORT_LOCK:  # the library's own lock around its lazy imports
        module = sys.modules.get(module_name)
        if module is None:
            path = Path(holidays.__file__).parent / "countries" / f"{found}.py"
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                raise LookupError(country)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(module_name, None)
                raise
    entity: type[holidays.HolidayBase] = getattr(module, country)  # as country_holidays
    return entity


class BusinessCalendar:
    """Mon–Fri minus public holidays of ``country`` (and ``subdiv``), looked up per year
    (each year built on first use, with the library's class for that country only).

    Holiday names are in ``language`` if given, else the country's own language (never the
    process locale, so names do not change with the server's environment).
    """

    def __init__(
        self, country: str = "FR", subdiv: str | None = None, *, language: str | None = None
    ) -> None:
        self._entity = _country_class(country)
        try:
            probe = self._entity(subdiv=subdiv)
        except NotImplementedError as exc:
            raise ValueError(str(exc)) from exc
        self.country = country
        self.subdiv = subdiv
        self.language = language or probe.default_language
        self._years: dict[int, holidays.HolidayBase] = {}
        self._lock = threading.Lock()

    def _holidays(self, year: int) -> holidays.HolidayBase:
        cached = self._years.get(year)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._years.get(year)
            if cached is None:
                cached = self._entity(subdiv=self.subdiv, years=year, language=self.language)
                self._years[year] = cached
            return cached

    def holiday_name(self, d: date) -> str | None:
        """The public holiday's name on ``d``, or None."""
        _require_date(d, "d")
        name = self._holidays(d.year).get(d)
        return None if name is None else str(name)

    def is_business_day(self, d: date) -> bool:
        """Monday to Friday and not a public holiday."""
        _require_date(d, "d")
        return d.weekday() < 5 and d not in self._holidays(d.year)

    def next_business_day(self, d: date) -> date:
        """``d`` itself if it is a business day, else the next one."""
        _require_date(d, "d")
        for offset in range(_MAX_SCAN_DAYS):
            candidate = d + timedelta(days=offset)
            if self.is_business_day(candidate):
                return candidate
        raise ValueError(f"no business day within {_MAX_SCAN_DAYS} days of {d}")

    def _key(self) -> tuple[str, str | None, str | None]:
        return (self.country, self.subdiv, self.language)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BusinessCalendar):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"BusinessCalendar(country={self.country!r}, subdiv={self.subdiv!r}, "
            f"language={self.language!r})"
        )


def resolve_local(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock ``wall`` on ``day`` in ``tz`` (gap: forward; fold=0)."""
    naive = datetime.combine(day, wall.replace(tzinfo=None, fold=0))
    candidate = naive.replace(tzinfo=tz)  # fold=0: first occurrence of an ambiguous time
    if candidate.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive:
        return candidate.astimezone(UTC)
    # Nonexistent: fold=0 reads it with the offset before the gap (too late), fold=1 with the
    # offset after it (too early); the transition lies between. Find it to the second.
    early = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    late = candidate.astimezone(UTC)
    if early > late:
        early, late = late, early
    after_offset = late.astimezone(tz).utcoffset()
    lo, hi = 0, int((late - early).total_seconds())
    while lo < hi:
        mid = (lo + hi) // 2
        if (early + timedelta(seconds=mid)).astimezone(tz).utcoffset() == after_offset:
            hi = mid
        else:
            lo = mid + 1
    return early + timedelta(seconds=lo)


@dataclass(frozen=True)
class SendingWindow:
    """When the shop sends: local ``start`` (inclusive) to ``end`` (exclusive) on allowed days."""

    timezone: str
    """IANA name, e.g. "Europe/Paris"."""
    start: time = time(9)
    end: time = time(18)
    business_days_only: bool = True
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise ValueError(f"unknown timezone {self.timezone!r}") from exc
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError(
                "window start/end are local wall-clock times: pass them without tzinfo"
            )
        if not self.start < self.end:
            raise ValueError(
                f"window start {self.start} must be before end {self.end} (no overnight windows)"
            )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local_date(self, instant: datetime) -> date:
        """The calendar date of ``instant`` in the shop's timezone."""
        _require_aware(instant)
        return instant.astimezone(self.tz).date()

    def is_allowed_day(self, local_day: date) -> bool:
        _require_date(local_day, "local_day")
        return not self.business_days_only or self.calendar.is_business_day(local_day)

    def bounds(self, local_day: date) -> tuple[datetime, datetime]:
        """The day's window as UTC [open, close), whether or not the day is allowed."""
        _require_date(local_day, "local_day")
        tz = self.tz
        return resolve_local(local_day, self.start, tz), resolve_local(local_day, self.end, tz)

    def contains(self, instant: datetime) -> bool:
        """True if ``instant`` falls within the window of an allowed local day."""
        day = self.local_date(instant)
        if not self.is_allowed_day(day):
            return False
        opens, closes = self.bounds(day)
        return opens <= instant < closes

    def next_opening(self, instant: datetime) -> datetime:
        """``instant`` (in UTC) if inside the window, else the next window start."""
        day = self.local_date(instant)
        if self.is_allowed_day(day):
            opens, closes = self.bounds(day)
            if instant < opens:
                return opens
            if instant < closes:
                return instant.astimezone(UTC)
        return self.opening_on_or_after(day + timedelta(days=1))

    def opening_on_or_after(self, local_day: date) -> datetime:
        """The window start (UTC) on ``local_day`` if allowed, else on the next allowed day."""
        _require_date(local_day, "local_day")
        for offset in range(_MAX_SCAN_DAYS):
            candidate = local_day + timedelta(days=offset)
            if self.is_allowed_day(candidate):
                return self.bounds(candidate)[0]
        raise ValueError(f"no allowed sending day within {_MAX_SCAN_DAYS} days of {local_day}")

    def allowed_day_on_or_before(self, local_day: date) -> date | None:
        """``local_day`` if allowed, else the closest allowed day before it (None if none
        within the scan: a calendar with no allowed day)."""
        _require_date(local_day, "local_day")
        for offset in range(_MAX_SCAN_DAYS):
            candidate = local_day - timedelta(days=offset)
            if self.is_allowed_day(candidate):
                return candidate
        return None
