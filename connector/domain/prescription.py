"""Prescription: when a claim is too old to pursue, so reminders stop and the invoice is flagged.

Consumer claims by a professional: 2 years (article L218-2, Code de la consommation).
B2B claims: 5 years (article L110-4, Code de commerce / 2224 Code civil).

The period runs from the due date (when payment became claimable); interruptions and
suspensions (acknowledgement of the debt, legal action, articles 2240-2241 Code civil) are not
modelled. A period in years ends on the same calendar day N years later; a 29 February due date
ends on 28 February when the target year is not a leap year.

Boundary: ``is_prescribed`` is True *on and after* that anniversary. Strictly, article 2229
makes the claim extinct only once that last day is over, so this is conservative by one day: we
stop reminding on the final day, when a reminder can no longer lead to timely action anyway.
"""

from __future__ import annotations

from datetime import date

CONSUMER_YEARS = 2
B2B_YEARS = 5


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a non-leap year
        return day.replace(year=day.year + years, day=28)


def prescription_date(due_on: date, *, is_b2b: bool) -> date:
    """The first day on which the claim counts as prescribed (see the module's boundary note)."""
    return _add_years(due_on, B2B_YEARS if is_b2b else CONSUMER_YEARS)


def is_prescribed(due_on: date, today: date, *, is_b2b: bool) -> bool:
    """True on and after ``prescription_date``: stop reminding, flag the invoice."""
    return today >= prescription_date(due_on, is_b2b=is_b2b)
