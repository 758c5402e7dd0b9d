"""Payment terms: when an invoice falls due, and whether a B2B term is lawful in France.

"45 jours fin de mois" has two readings, both accepted in practice by the DGCCRF; the shop
picks one (design §5):

* ``EOM_THEN_DAYS``: go to the end of the issue month, then add N days
  (issued 6 March, N=45 → 31 March + 45 days → 15 May);
* ``DAYS_THEN_EOM``: add N days, then go to the end of that month
  (issued 6 March, N=45 → 20 April → 30 April).

Legal cap (article L441-10 I, Code de commerce): between businesses the agreed term may not
exceed 60 days from the invoice date or, by derogation, 45 days end of month. We therefore cap
``NET`` at 60 days and both end-of-month readings at 45 days (we do not additionally hold an
end-of-month term to 60 calendar days: the derogation exists precisely to allow the longer
span, e.g. 1 March → 15 May under reading 1). Sector-specific shorter caps (transport, perishable
foodstuffs, L441-11) are not modelled. Consumer terms have no statutory cap.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

B2B_MAX_DAYS = 60
"""L441-10 I: at most 60 days from the invoice date between businesses."""

B2B_MAX_DAYS_END_OF_MONTH = 45
"""L441-10 I, derogation: at most "45 jours fin de mois" between businesses."""


class TermsMode(StrEnum):
    NET = "net"
    """Issued + N days."""
    EOM_THEN_DAYS = "eom_then_days"
    """End of the issue month, then + N days."""
    DAYS_THEN_EOM = "days_then_eom"
    """Issued + N days, then the end of that month."""


def end_of_month(day: date) -> date:
    """The last day of ``day``'s month (31 December rolls nothing over: it is its own end)."""
    first_of_next = (
        date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)
    )
    return first_of_next - timedelta(days=1)


def due_date(issued_on: date, mode: TermsMode, days: int) -> date:
    """The date the invoice falls due; raises ValueError for a negative term."""
    mode = TermsMode(mode)
    if days < 0:
        raise ValueError(f"payment term cannot be negative (got {days} days)")
    span = timedelta(days=days)
    if mode is TermsMode.NET:
        return issued_on + span
    if mode is TermsMode.EOM_THEN_DAYS:
        return end_of_month(issued_on) + span
    return end_of_month(issued_on + span)


def max_b2b_days(mode: TermsMode) -> int:
    """The statutory B2B cap for this mode (60 net, 45 for either end-of-month reading)."""
    return B2B_MAX_DAYS if TermsMode(mode) is TermsMode.NET else B2B_MAX_DAYS_END_OF_MONTH


def validate_terms(mode: TermsMode, days: int, *, is_b2b: bool) -> None:
    """Raise ValueError if the term is negative, or exceeds the French B2B cap for its mode."""
    try:
        mode = TermsMode(mode)
    except ValueError:
        choices = ", ".join(m.value for m in TermsMode)
        raise ValueError(
            f"unknown payment terms mode {mode!r} (expected one of {choices})"
        ) from None
    if isinstance(days, bool) or not isinstance(days, int):
        raise ValueError(f"payment term must be a whole number of days (got {days!r})")
    if days < 0:
        raise ValueError(f"payment term cannot be negative (got {days} days)")
    if is_b2b:
        cap = max_b2b_days(mode)
        if days > cap:
            what = "days net" if mode is TermsMode.NET else "days end of month"
            raise ValueError(
                f"B2B payment term of {days} {what} exceeds the legal maximum of {cap} {what} "
                "(article L441-10 Code de commerce)"
            )
