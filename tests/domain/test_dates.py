"""Dates as people read them: the shop's local day, "1er juin" in French, zones on instants."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from connector.domain.dates import instant_iso, instant_label, local_date, long_date

# 1 June 2026, midnight in Paris: the store holds it as 31 May 22:00 UTC.
PARIS_MIDNIGHT_1_JUNE = datetime(2026, 5, 31, 22, 0, tzinfo=UTC)


def test_local_date_is_the_shops_day_not_utcs() -> None:
    assert local_date(PARIS_MIDNIGHT_1_JUNE, "Europe/Paris") == date(2026, 6, 1)
    assert local_date(PARIS_MIDNIGHT_1_JUNE, "America/New_York") == date(2026, 5, 31)


@pytest.mark.parametrize(
    ("day", "locale", "text"),
    [
        (date(2026, 6, 1), "fr", "1er juin 2026"),
        (date(2026, 6, 2), "fr", "2 juin 2026"),
        (date(2026, 6, 11), "fr_FR", "11 juin 2026"),
        (date(2026, 1, 1), "fr-BE", "1er janvier 2026"),
        (date(2026, 6, 1), "en", "1 June 2026"),
        (date(2026, 6, 21), "en", "21 June 2026"),
    ],
)
def test_long_dates(day: date, locale: str, text: str) -> None:
    assert long_date(day, locale) == text


def test_instants_carry_their_zone() -> None:
    summer = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    winter = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert instant_label(summer, "Europe/Paris") == "2026-06-01 10:00 CEST"
    assert instant_label(winter, "Europe/Paris") == "2026-12-01 10:00 CET"
    assert instant_iso(summer, "Europe/Paris") == "2026-06-01T10:00:00+02:00"
    assert instant_iso(PARIS_MIDNIGHT_1_JUNE, "Europe/Paris") == "2026-06-01T00:00:00+02:00"
