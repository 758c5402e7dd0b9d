from datetime import date, timedelta

import pytest

from connector.domain.prescription import is_prescribed, prescription_date


@pytest.mark.parametrize(
    ("due_on", "is_b2b", "expected"),
    [
        (date(2024, 3, 10), False, date(2026, 3, 10)),  # consumer: 2 years
        (date(2024, 3, 10), True, date(2029, 3, 10)),  # B2B: 5 years
        (date(2024, 2, 29), False, date(2026, 2, 28)),  # 29 Feb → 28 Feb (non-leap target)
        (date(2024, 2, 29), True, date(2029, 2, 28)),
        (date(2028, 2, 29), False, date(2030, 2, 28)),
        (date(2028, 2, 29), True, date(2033, 2, 28)),
        (date(2023, 2, 28), True, date(2028, 2, 28)),  # 28 Feb stays 28 Feb in a leap year
        (date(2026, 12, 31), False, date(2028, 12, 31)),
        (date(2026, 1, 1), True, date(2031, 1, 1)),
    ],
)
def test_prescription_date(due_on: date, is_b2b: bool, expected: date) -> None:
    assert prescription_date(due_on, is_b2b=is_b2b) == expected


@pytest.mark.parametrize(
    ("due_on", "today", "is_b2b", "expected"),
    [
        # consumer, 2 years: the day before / the day of / the day after
        (date(2024, 3, 10), date(2026, 3, 9), False, False),
        (date(2024, 3, 10), date(2026, 3, 10), False, True),
        (date(2024, 3, 10), date(2026, 3, 11), False, True),
        # B2B, 5 years: a consumer-prescribed date is still live for B2B
        (date(2024, 3, 10), date(2026, 3, 10), True, False),
        (date(2024, 3, 10), date(2029, 3, 9), True, False),
        (date(2024, 3, 10), date(2029, 3, 10), True, True),
        # 29 February
        (date(2024, 2, 29), date(2026, 2, 27), False, False),
        (date(2024, 2, 29), date(2026, 2, 28), False, True),
        (date(2024, 2, 29), date(2029, 2, 27), True, False),
        (date(2024, 2, 29), date(2029, 2, 28), True, True),
        # not due yet / just due
        (date(2024, 3, 10), date(2024, 3, 10), False, False),
        (date(2024, 3, 10), date(2020, 1, 1), True, False),
    ],
)
def test_is_prescribed(due_on: date, today: date, is_b2b: bool, expected: bool) -> None:
    assert is_prescribed(due_on, today, is_b2b=is_b2b) is expected


@pytest.mark.parametrize("is_b2b", [False, True])
def test_boundary_is_the_prescription_date_itself(is_b2b: bool) -> None:
    due = date(2025, 6, 15)
    boundary = prescription_date(due, is_b2b=is_b2b)
    assert not is_prescribed(due, boundary - timedelta(days=1), is_b2b=is_b2b)
    assert is_prescribed(due, boundary, is_b2b=is_b2b)
