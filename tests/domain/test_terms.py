from datetime import date

import pytest

from connector.domain.terms import (
    B2B_MAX_DAYS,
    TermsMode,
    due_date,
    end_of_month,
    max_b2b_days,
    validate_terms,
)

NET = TermsMode.NET
EOM_THEN = TermsMode.EOM_THEN_DAYS
THEN_EOM = TermsMode.DAYS_THEN_EOM


@pytest.mark.parametrize(
    ("issued", "mode", "days", "expected"),
    [
        # the two readings of "45 jours fin de mois" (design §5)
        (date(2026, 3, 6), EOM_THEN, 45, date(2026, 5, 15)),
        (date(2026, 3, 6), THEN_EOM, 45, date(2026, 4, 30)),
        # net
        (date(2026, 3, 6), NET, 0, date(2026, 3, 6)),
        (date(2026, 3, 6), NET, 30, date(2026, 4, 5)),
        (date(2026, 3, 6), NET, 60, date(2026, 5, 5)),
        (date(2026, 1, 31), NET, 30, date(2026, 3, 2)),
        (date(2024, 1, 31), NET, 30, date(2024, 3, 1)),  # leap February has 29 days
        (date(2026, 12, 15), NET, 30, date(2027, 1, 14)),  # December → next year
        # 29 February issues
        (date(2024, 2, 29), NET, 30, date(2024, 3, 30)),
        (date(2024, 2, 29), EOM_THEN, 45, date(2024, 4, 14)),  # 29 Feb is its own month end
        (date(2024, 2, 29), THEN_EOM, 45, date(2024, 4, 30)),
        (date(2028, 2, 29), EOM_THEN, 30, date(2028, 3, 30)),
        (date(2028, 2, 29), THEN_EOM, 30, date(2028, 3, 31)),
        (date(2024, 2, 1), EOM_THEN, 0, date(2024, 2, 29)),
        (date(2026, 2, 1), EOM_THEN, 0, date(2026, 2, 28)),
        # month ends: 30- and 31-day months
        (date(2026, 4, 10), EOM_THEN, 30, date(2026, 5, 30)),  # 30 April + 30
        (date(2026, 5, 10), EOM_THEN, 30, date(2026, 6, 30)),  # 31 May + 30
        (date(2026, 1, 31), THEN_EOM, 30, date(2026, 3, 31)),  # 2 March → end of March
        (date(2026, 1, 1), THEN_EOM, 30, date(2026, 1, 31)),
        (date(2026, 1, 2), THEN_EOM, 30, date(2026, 2, 28)),
        (date(2026, 6, 30), THEN_EOM, 0, date(2026, 6, 30)),
        # December → next year for both readings
        (date(2026, 12, 6), EOM_THEN, 45, date(2027, 2, 14)),
        (date(2026, 12, 6), THEN_EOM, 45, date(2027, 1, 31)),
        (date(2026, 11, 20), THEN_EOM, 45, date(2027, 1, 31)),
        (date(2026, 12, 31), EOM_THEN, 0, date(2026, 12, 31)),
    ],
)
def test_due_date(issued: date, mode: TermsMode, days: int, expected: date) -> None:
    assert due_date(issued, mode, days) == expected


def test_due_date_accepts_the_stored_string_value() -> None:
    assert due_date(date(2026, 3, 6), "eom_then_days", 45) == date(2026, 5, 15)  # type: ignore[arg-type]


def test_due_date_rejects_negative_days() -> None:
    with pytest.raises(ValueError, match="negative"):
        due_date(date(2026, 3, 6), NET, -1)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 1, 15), date(2026, 1, 31)),
        (date(2026, 2, 1), date(2026, 2, 28)),
        (date(2024, 2, 1), date(2024, 2, 29)),
        (date(2026, 4, 30), date(2026, 4, 30)),
        (date(2026, 12, 1), date(2026, 12, 31)),
    ],
)
def test_end_of_month(day: date, expected: date) -> None:
    assert end_of_month(day) == expected


@pytest.mark.parametrize(
    ("mode", "days", "is_b2b"),
    [
        (NET, 0, True),
        (NET, 30, True),
        (NET, 60, True),
        (EOM_THEN, 45, True),
        (THEN_EOM, 45, True),
        (EOM_THEN, 0, True),
        # consumers: no statutory cap
        (NET, 90, False),
        (EOM_THEN, 60, False),
        (THEN_EOM, 90, False),
    ],
)
def test_validate_terms_accepts(mode: TermsMode, days: int, is_b2b: bool) -> None:
    validate_terms(mode, days, is_b2b=is_b2b)


@pytest.mark.parametrize(
    ("mode", "days", "is_b2b", "message"),
    [
        (NET, 61, True, "60 days net"),
        (EOM_THEN, 46, True, "45 days end of month"),
        (THEN_EOM, 46, True, "45 days end of month"),
        (EOM_THEN, 60, True, "L441-10"),
        (NET, -1, True, "negative"),
        (NET, -1, False, "negative"),
        (THEN_EOM, -30, False, "negative"),
    ],
)
def test_validate_terms_rejects(mode: TermsMode, days: int, is_b2b: bool, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_terms(mode, days, is_b2b=is_b2b)


@pytest.mark.parametrize("bad", [30.0, "30", True])
def test_validate_terms_rejects_non_integer_days(bad: object) -> None:
    with pytest.raises(ValueError, match="whole number"):
        validate_terms(NET, bad, is_b2b=True)  # type: ignore[arg-type]


def test_validate_terms_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown payment terms mode"):
        validate_terms("weekly", 30, is_b2b=True)  # type: ignore[arg-type]


def test_caps() -> None:
    assert B2B_MAX_DAYS == 60
    assert max_b2b_days(NET) == 60
    assert max_b2b_days(EOM_THEN) == 45
    assert max_b2b_days(THEN_EOM) == 45


def test_mode_values_are_stable() -> None:
    # persisted in shop settings: renaming a value would orphan stored terms
    assert [m.value for m in TermsMode] == ["net", "eom_then_days", "days_then_eom"]
