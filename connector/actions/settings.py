"""The owner's settings, in three groups (legal, sending, identity), and customers' addresses.

Every field arrives as the text a form or a command line gives (None: leave it as it is; "":
clear an optional one). Each group's function checks every field it is given, and writes
nothing when any is wrong: SettingsError then names every bad field. The web pages and
`relance shop set` call these same functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.actions.sequences import wake_invoices
from connector.domain.calendar import BusinessCalendar
from connector.domain.email import InvalidEmail, valid_email
from connector.domain.identity import PostalAddress, city_of, valid_siren
from connector.domain.money import Money, currency_exponent
from connector.domain.rates import (
    RateError,
    contractual_floor,
    floor_reason,
    half_year_label,
    half_year_start,
    parse_half_year,
    parse_percent,
)
from connector.domain.terms import TermsMode, validate_terms
from connector.services import Services
from connector.shops import ShopError
from connector.store.db import write_session
from connector.store.models import Customer, Shop
from connector.store.rates import ecb_table, own_half_years, put_ecb_rate
from connector.tasks import no_way_to_pay_key, settle_task

MAX_LINE = 255
"""Longest one-line setting (the columns are VARCHAR(255))."""
MAX_TEXT = 2000
"""Longest multi-line setting (payment instructions, mediator, addresses)."""
MARGIN_MIN = Decimal(10)
"""L441-10 II: ECB + 10 points, unless the shop's terms set a contractual rate."""
INDEMNITY_MIN = Decimal(40)
"""D441-5 Code de commerce: 40 EUR; a creditor may claim more on justification, never less."""
POSTING_DELAY_MAX = 15
_TIME = re.compile(r"^\s*(\d{1,2})[:hH](\d{2})\s*$")
_ON = {"on", "yes", "true", "1", "y"}
_OFF = {"off", "no", "false", "0", "n"}
#: Alsace is one subdivision in the holidays library ("6AE"); people write its départements.
_SUBDIV_ALIASES = {"67": "6AE", "68": "6AE", "ALSACE-MOSELLE": "57"}


class SettingsError(ShopError):
    """Some settings are wrong: ``errors`` maps each field to what to fix; nothing was written."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{name}: {problem}" for name, problem in self.errors.items()))


class _Check:
    """Collects each field's problem instead of stopping at the first."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def take(
        self, name: str, raw: str | None, parse: Callable[[str], Any], column: str | None = None
    ) -> None:
        """Parse form field ``name`` into ``column`` (default: the same name); None: skipped."""
        if raw is None:
            return
        try:
            self.values[column or name] = parse(raw)
        except (ValueError, ArithmeticError) as exc:
            self.errors[name] = _reason(exc, name)

    def fail(self, name: str, problem: str) -> None:
        self.errors.setdefault(name, problem)

    def done(self) -> dict[str, Any]:
        if self.errors:
            raise SettingsError(self.errors)
        return self.values


def _reason(exc: Exception, name: str) -> str:
    text = str(exc)
    for prefix in (f"{name}: ", "siren: "):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


# -- parsers: text in, column value out, ValueError with what to fix ---------------------------


def _switch(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _ON:
        return True
    if value in _OFF:
        return False
    raise ValueError(f"say on or off (got {raw!r})")


def _line(raw: str) -> str | None:
    text = " ".join(raw.split())
    if len(text) > MAX_LINE:
        raise ValueError(f"one line of at most {MAX_LINE} characters")
    return text or None


def _text(raw: str) -> str | None:
    lines = [line.rstrip() for line in raw.replace("\r\n", "\n").replace("\\n", "\n").split("\n")]
    text = "\n".join(lines).strip()
    if len(text) > MAX_TEXT:
        raise ValueError(f"at most {MAX_TEXT} characters")
    return text or None


def _address(raw: str) -> str | None:
    """Lines (newlines, or a literal \\n from a shell), one a « postal code town » line."""
    lines = [" ".join(line.split()) for line in raw.replace("\\n", "\n").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return None
    if len(lines) < 2:
        raise ValueError("give at least a street line and a « postal code town » line")
    text = "\n".join(lines)
    if city_of(text) is None:
        raise ValueError("no line starts with a postal code and town (« 75011 Paris »)")
    if len(text) > MAX_TEXT:
        raise ValueError(f"at most {MAX_TEXT} characters")
    return text


def _whole(raw: str, *, low: int, high: int) -> int:
    text = raw.strip()
    if not re.fullmatch(r"-?\d+", text):
        raise ValueError(f"a whole number, got {raw!r}")
    value = int(text)
    if value < 0:
        raise ValueError(f"cannot be negative (got {value})")
    if not low <= value <= high:
        raise ValueError(f"between {low} and {high} (got {value})")
    return value


def _optional_whole(raw: str, *, low: int, high: int) -> int | None:
    return None if not raw.strip() else _whole(raw, low=low, high=high)


def _amount(raw: str, currency: str) -> Decimal:
    text = raw.strip().replace("\u202f", "").replace("\u00a0", "").replace(" ", "")
    text = text.rstrip("€").rstrip().replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"an amount such as 40 or 1500.00, got {raw!r}") from None
    if not value.is_finite():
        raise ValueError(f"an amount such as 40 or 1500.00, got {raw!r}")
    if value < 0:
        raise ValueError(f"cannot be negative (got {raw.strip()})")
    places = currency_exponent(currency)
    if value != value.quantize(Decimal(1).scaleb(-places)):
        raise ValueError(f"at most {places} decimals in {currency}")
    if value > Decimal(10) ** 9:
        raise ValueError("too large")
    return value


def _minor(raw: str, currency: str) -> int | None:
    if not raw.strip():
        return None
    return Money(_amount(raw, currency), currency).to_minor()


def _bp(raw: str, name: str) -> int:
    return int(parse_percent(raw, name, maximum=Decimal(50)) * 100)


def _clock(raw: str) -> time:
    match = _TIME.match(raw or "")
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ValueError(f"a time of day such as 09:00, got {raw!r}")
    return time(int(match.group(1)), int(match.group(2)))


def _timezone(raw: str) -> str:
    name = raw.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {raw!r} (e.g. Europe/Paris)") from exc
    return name


def _email(raw: str) -> str | None:
    if not raw.strip():
        return None
    try:
        return valid_email(raw.strip())
    except InvalidEmail as exc:
        raise ValueError(str(exc)) from exc


def holiday_subdivisions(country: str) -> dict[str, str]:
    """The subdivisions the holidays library knows for ``country``: code → a readable name."""
    try:
        calendar = holidays.country_holidays(country)
    except NotImplementedError:
        return {}
    names = {code: code for code in calendar.subdivisions}
    for alias, code in getattr(calendar, "subdivisions_aliases", {}).items():
        if code in names and names[code] == code:
            names[code] = f"{code} ({alias})"
    return names


def parse_holidays(country_raw: str, subdiv_raw: str | None) -> tuple[str, str | None]:
    """A country code and optional subdivision the holidays library knows (FR, FR + 57 for
    Moselle, 6AE or 67/68 for Alsace); ValueError naming the choices otherwise."""
    country = country_raw.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise ValueError(f"a two-letter country code such as FR, got {country_raw!r}")
    try:
        calendar = holidays.country_holidays(country)
    except NotImplementedError:
        raise ValueError(f"no public holiday calendar for {country!r}") from None
    subdiv = (subdiv_raw or "").strip() or None
    if subdiv is None:
        return country, None
    aliases = {k.upper(): v for k, v in getattr(calendar, "subdivisions_aliases", {}).items()}
    wanted = subdiv.upper()
    code = _SUBDIV_ALIASES.get(wanted) if country == "FR" else None
    code = (
        code
        or aliases.get(wanted)
        or next((c for c in calendar.subdivisions if c.upper() == wanted), None)
    )
    if code is None:
        choices = ", ".join(holiday_subdivisions(country).values())
        raise ValueError(f"{country} has no subdivision {subdiv!r}; choose one of: {choices}")
    BusinessCalendar(country, code)  # the library accepts it
    return country, code


# -- the three groups -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LegalSettings:
    """Payment terms, penalties, default customers, prescription (texts; None: unchanged)."""

    terms_mode: str | None = None  # net | eom_then_days | days_then_eom
    terms_days: str | None = None
    penalty: str | None = None  # "ecb" (ECB + points) | "contractual"
    margin_points: str | None = None  # points over the ECB rate (10 by law)
    contractual_rate: str | None = None  # percent per year, at least 3x the legal rate
    indemnity: str | None = None  # EUR, 40 by law (D441-5)
    consumer_rate: str | None = None  # percent per year; "": none
    customers: str | None = None  # "b2b" | "consumers"
    prescription: str | None = None  # on | off
    ecb_rates: tuple[str, ...] = ()  # "2026-H2=2.15"
    ecb_half_year: str | None = None  # the web form's two fields for one rate
    ecb_rate: str | None = None


@dataclass(frozen=True, slots=True)
class SendingSettings:
    window_start: str | None = None  # "09:00", shop-local
    window_end: str | None = None
    timezone: str | None = None
    business_days: str | None = None  # on: Monday to Friday except public holidays
    holiday_country: str | None = None
    holiday_subdiv: str | None = None  # "": the whole country
    escalate_after: str | None = None  # reminders without payment; "": never
    escalate_above: str | None = None  # amount in the shop's currency; "": never
    thank_you: str | None = None  # on | off
    from_name: str | None = None
    reply_to: str | None = None
    payment_instructions: str | None = None
    posting_delay: str | None = None  # days a posted letter takes


@dataclass(frozen=True, slots=True)
class IdentitySettings:
    legal_name: str | None = None
    legal_form: str | None = None
    siren: str | None = None
    rcs_city: str | None = None
    registered_office: str | None = None
    postal_address: str | None = None
    signatory_name: str | None = None
    signatory_role: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None
    terms_and_conditions: str | None = None  # on | off
    consumer_mediator: str | None = None


def _legal(
    shop: Shop, form: LegalSettings, today: date
) -> tuple[dict[str, Any], list[tuple[date, int]]]:
    check = _Check()
    check.take("terms_mode", form.terms_mode, _terms_mode)
    check.take("terms_days", form.terms_days, lambda raw: _whole(raw, low=0, high=365))
    check.take("customers", form.customers, _customers, "default_b2b")
    check.take(
        "margin_points", form.margin_points, lambda raw: _bp(raw, "margin_points"), "b2b_margin_bp"
    )
    check.take("indemnity", form.indemnity, _indemnity, "indemnity_minor")
    check.take(
        "consumer_rate",
        form.consumer_rate,
        lambda raw: _bp(raw, "consumer_rate") if raw.strip() else None,
        "consumer_rate_bp",
    )
    check.take("prescription", form.prescription, _switch, "prescription_enabled")
    if form.penalty is not None:
        if form.penalty not in ("ecb", "contractual"):
            check.fail("penalty", "choose ecb (ECB rate + points) or contractual")
        elif form.penalty == "ecb":
            check.values["contractual_rate_bp"] = None
        elif not (form.contractual_rate or "").strip():
            check.fail("contractual_rate", "give the rate your terms set, e.g. 12")
    if form.penalty != "ecb" and (form.contractual_rate or "").strip():
        check.take(
            "contractual_rate",
            form.contractual_rate,
            lambda raw: _contractual(raw, today),
            "contractual_rate_bp",
        )
    rates: list[tuple[date, int]] = []
    pairs = list(form.ecb_rates)
    if (form.ecb_half_year or "").strip() or (form.ecb_rate or "").strip():
        pairs.append(f"{form.ecb_half_year or ''}={form.ecb_rate or ''}")
    for pair in pairs:
        try:
            rates.append(_ecb_pair(pair))
        except ValueError as exc:
            check.fail("ecb_rate", str(exc))
    values = check.values
    # The terms against the B2B cap, once mode, days and the default customers are known.
    mode = values.get("terms_mode", shop.terms_mode)
    days = values.get("terms_days", shop.terms_days)
    b2b = values.get("default_b2b", shop.default_b2b)
    if "margin_points" not in check.errors and values.get("b2b_margin_bp", 1000) < MARGIN_MIN * 100:
        check.fail(
            "margin_points",
            "at least 10 points over the ECB rate (L441-10 II); a lower agreed rate is a "
            "contractual rate",
        )
    if not {"terms_mode", "terms_days", "customers"} & check.errors.keys():
        try:
            validate_terms(mode, days, is_b2b=b2b)
        except ValueError as exc:
            check.fail("terms_days", str(exc))
    return check.done(), rates


def _terms_mode(raw: str) -> TermsMode:
    try:
        return TermsMode(raw.strip())
    except ValueError:
        choices = ", ".join(m.value for m in TermsMode)
        raise ValueError(f"choose one of {choices} (got {raw!r})") from None


def _customers(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("b2b", "businesses"):
        return True
    if value in ("consumers", "b2c"):
        return False
    raise ValueError(f"choose b2b or consumers (got {raw!r})")


def _indemnity(raw: str) -> int:
    value = _amount(raw, "EUR")
    if value < INDEMNITY_MIN:
        raise ValueError(
            f"at least 40 € (D441-5 Code de commerce sets it; more only on justification), "
            f"got {raw.strip()}"
        )
    return Money(value, "EUR").to_minor()


def _contractual(raw: str, today: date) -> int:
    rate = parse_percent(raw, "contractual_rate", maximum=Decimal(50))
    if rate < contractual_floor(today):
        raise ValueError(
            f"{rate} % is below three times the legal interest rate (at least "
            f"{floor_reason(today)}; L441-10 II Code de commerce)"
        )
    return int(rate * 100)


def _ecb_pair(pair: str) -> tuple[date, int]:
    half, sep, rate = pair.partition("=")
    if not sep:
        raise ValueError(f"write it as YYYY-H1=2.15 (got {pair!r})")
    try:
        return parse_half_year(half), int(parse_percent(rate, "rate", maximum=Decimal(20)) * 100)
    except RateError as exc:
        raise ValueError(str(exc)) from exc


def _sending(shop: Shop, form: SendingSettings) -> dict[str, Any]:
    check = _Check()
    check.take("window_start", form.window_start, _clock)
    check.take("window_end", form.window_end, _clock)
    check.take("timezone", form.timezone, _timezone)
    check.take("business_days", form.business_days, _switch, "business_days_only")
    if form.holiday_country is not None or form.holiday_subdiv is not None:
        country = form.holiday_country if form.holiday_country is not None else shop.holiday_country
        try:
            check.values["holiday_country"], check.values["holiday_subdiv"] = parse_holidays(
                country,
                form.holiday_subdiv if form.holiday_subdiv is not None else shop.holiday_subdiv,
            )
        except ValueError as exc:
            bad = "holiday_subdiv" if "subdivision" in str(exc) else "holiday_country"
            check.fail(bad, str(exc))
    check.take(
        "escalate_after",
        form.escalate_after,
        lambda raw: _optional_whole(raw, low=1, high=50),
        "escalate_after_reminders",
    )
    check.take(
        "escalate_above",
        form.escalate_above,
        lambda raw: _minor(raw, shop.currency),
        "escalate_above_minor",
    )
    check.take("thank_you", form.thank_you, _switch, "thank_you_enabled")
    check.take("from_name", form.from_name, _line, "sender_name")
    check.take("reply_to", form.reply_to, _email, "contact_email")
    check.take("payment_instructions", form.payment_instructions, _text)
    check.take(
        "posting_delay",
        form.posting_delay,
        lambda raw: _whole(raw, low=0, high=POSTING_DELAY_MAX),
        "letter_posting_delay_days",
    )
    start = check.values.get("window_start", shop.window_start)
    end = check.values.get("window_end", shop.window_end)
    if "window_start" not in check.errors and "window_end" not in check.errors and end <= start:
        check.fail(
            "window_end",
            f"must be after the start ({start:%H:%M}); windows do not run overnight",
        )
    return check.done()


def _identity(form: IdentitySettings) -> dict[str, Any]:
    check = _Check()
    for name in (
        "legal_name",
        "legal_form",
        "rcs_city",
        "signatory_name",
        "signatory_role",
        "contact_name",
        "contact_phone",
    ):
        check.take(name, getattr(form, name), _line)
    check.take("siren", form.siren, lambda raw: valid_siren(raw) if raw.strip() else None)
    check.take("registered_office", form.registered_office, _address)
    check.take("postal_address", form.postal_address, _address)
    check.take(
        "terms_and_conditions", form.terms_and_conditions, _switch, "has_terms_and_conditions"
    )
    check.take("consumer_mediator", form.consumer_mediator, _text)
    return check.done()


def _save(svc: Services, shop_id: int, build: Callable[[Session, Shop], None]) -> SettingsView:
    with write_session(svc.sessions) as s:
        shop = s.get(Shop, shop_id, with_for_update=True)
        if shop is None:
            raise ShopError(f"shop {shop_id} does not exist")
        build(s, shop)
        s.flush()
        return _view(s, shop, None)


def update_settings(
    svc: Services,
    shop_id: int,
    today: date,
    *,
    legal: LegalSettings | None = None,
    sending: SendingSettings | None = None,
    identity: IdentitySettings | None = None,
) -> SettingsView:
    """Check every group given, then write them all in one transaction, or nothing: on any
    error SettingsError names every bad field. ``today``: the day a contractual rate is held
    against the legal interest rate."""

    def build(s: Session, shop: Shop) -> None:
        errors: dict[str, str] = {}
        changes: dict[str, Any] = {}
        rates: list[tuple[date, int]] = []
        for group, check in (
            (legal, lambda: _legal(shop, legal, today) if legal else ({}, [])),
            (sending, lambda: (_sending(shop, sending), []) if sending else ({}, [])),
            (identity, lambda: (_identity(identity), []) if identity else ({}, [])),
        ):
            if group is None:
                continue
            try:
                values, more = check()
            except SettingsError as exc:
                errors.update(exc.errors)
                continue
            changes.update(values)
            rates.extend(more)
        if errors:
            raise SettingsError(errors)
        no_way_to_pay = not (shop.payment_instructions or "").strip()
        for name, value in changes.items():
            setattr(shop, name, value)
        if no_way_to_pay and (shop.payment_instructions or "").strip():
            # The steps waiting for a way to pay (looked at again once a day) go at the next
            # tick, and the owner's task asking for the instructions is done.
            wake_invoices(s, shop)
            settle_task(
                s,
                shop_id=shop.id,
                dedupe_key=no_way_to_pay_key(shop.id),
                why="payment instructions added in the settings: the waiting reminders go out",
                now=datetime.now(UTC),
            )
        for starts_on, rate_bp in rates:
            put_ecb_rate(s, shop.id, starts_on, rate_bp)

    return _save(svc, shop_id, build)


def update_legal(svc: Services, shop_id: int, form: LegalSettings, today: date) -> SettingsView:
    """The legal settings page: all of it or nothing (SettingsError names the fields)."""
    return update_settings(svc, shop_id, today, legal=form)


def update_sending(svc: Services, shop_id: int, form: SendingSettings, today: date) -> SettingsView:
    """The sending settings page: all of it or nothing (SettingsError names the fields)."""
    return update_settings(svc, shop_id, today, sending=form)


def update_identity(
    svc: Services, shop_id: int, form: IdentitySettings, today: date
) -> SettingsView:
    """The identity page: all of it or nothing (SettingsError names the fields)."""
    return update_settings(svc, shop_id, today, identity=form)


# -- what the pages and `--json` show ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EcbRow:
    half_year: str
    rate: Decimal
    own: bool  # added by this shop's owner


@dataclass(frozen=True, slots=True)
class SettingsView:
    """Every setting as the forms show it (texts), the ECB table, and what is missing."""

    shop_id: int
    currency: str
    values: dict[str, str]
    ecb_rows: list[EcbRow] = field(default_factory=list)
    ecb_missing: str | None = None  # "2026-H2": this half-year has no rate
    ecb_used: str | None = None  # the rate used meanwhile, "2.15 % (2026-H1)"
    legal_floor: str | None = None  # « 7.86 %: 3 × the legal interest rate of 2.62 % (2026-H1) »

    def as_dict(self) -> dict[str, Any]:
        return {
            "shop_id": self.shop_id,
            **self.values,
            "ecb_rates": {row.half_year: str(row.rate) for row in self.ecb_rows},
            "ecb_missing": self.ecb_missing,
        }


def settings_changed(before: SettingsView, after: SettingsView) -> dict[str, tuple[str, str]]:
    """What a change made different, as the forms show it: setting → (before, after), the
    ECB rates by half-year ("ecb_rate 2026-H2") included. Empty: nothing changed."""
    changed = {
        name: (was, after.values.get(name, ""))
        for name, was in before.values.items()
        if after.values.get(name, "") != was
    }
    rates_before = {row.half_year: str(row.rate) for row in before.ecb_rows}
    rates_after = {row.half_year: str(row.rate) for row in after.ecb_rows}
    for half in sorted(rates_before.keys() | rates_after.keys()):
        if rates_before.get(half) != rates_after.get(half):
            changed[f"ecb_rate {half}"] = (rates_before.get(half, ""), rates_after.get(half, ""))
    return changed


def settings_of(svc: Services, shop_id: int, today: date) -> SettingsView:
    with svc.sessions() as s:
        shop = s.get(Shop, shop_id)
        if shop is None:
            raise ShopError(f"shop {shop_id} does not exist")
        return _view(s, shop, today)


def _percent_text(bp: int | None) -> str:
    """« 10 », « 12.5 », « 2.15 »: as an owner would type it."""
    return "" if bp is None else f"{(Decimal(bp) / 100).normalize():f}"


def _view(s: Session, shop: Shop, today: date | None) -> SettingsView:
    def minor(value: int | None) -> str:
        return "" if value is None else str(Money.from_minor(value, shop.currency).amount)

    values = {
        "terms_mode": shop.terms_mode.value,
        "terms_days": str(shop.terms_days),
        "penalty": "ecb" if shop.contractual_rate_bp is None else "contractual",
        "margin_points": _percent_text(shop.b2b_margin_bp),
        "contractual_rate": _percent_text(shop.contractual_rate_bp),
        "indemnity": str(Money.from_minor(shop.indemnity_minor, "EUR").amount),
        "consumer_rate": _percent_text(shop.consumer_rate_bp),
        "customers": "b2b" if shop.default_b2b else "consumers",
        "prescription": "on" if shop.prescription_enabled else "off",
        "window_start": f"{shop.window_start:%H:%M}",
        "window_end": f"{shop.window_end:%H:%M}",
        "timezone": shop.timezone,
        "business_days": "on" if shop.business_days_only else "off",
        "holiday_country": shop.holiday_country,
        "holiday_subdiv": shop.holiday_subdiv or "",
        "escalate_after": ""
        if shop.escalate_after_reminders is None
        else str(shop.escalate_after_reminders),
        "escalate_above": minor(shop.escalate_above_minor),
        "thank_you": "on" if shop.thank_you_enabled else "off",
        "from_name": shop.sender_name or "",
        "reply_to": shop.contact_email or "",
        "payment_instructions": shop.payment_instructions or "",
        "posting_delay": str(shop.letter_posting_delay_days),
        "legal_name": shop.legal_name or "",
        "legal_form": shop.legal_form or "",
        "siren": shop.siren or "",
        "rcs_city": shop.rcs_city or "",
        "registered_office": shop.registered_office or "",
        "postal_address": shop.postal_address or "",
        "signatory_name": shop.signatory_name or "",
        "signatory_role": shop.signatory_role or "",
        "contact_name": shop.contact_name or "",
        "contact_phone": shop.contact_phone or "",
        "terms_and_conditions": "on" if shop.has_terms_and_conditions else "off",
        "consumer_mediator": shop.consumer_mediator or "",
    }
    table = ecb_table(s, shop.id)
    own = own_half_years(s, shop.id)
    rows = [
        EcbRow(half_year_label(start), rate, start in own)
        for start, rate in sorted(table.rates.items(), reverse=True)
    ]
    missing = used = None
    floor = None
    if today is not None:
        start = half_year_start(today)
        floor = floor_reason(today)
        if not table.known(start):
            missing = half_year_label(start)
            latest = table.latest()
            used = f"{latest[1]} % ({half_year_label(latest[0])})" if latest else None
    return SettingsView(
        shop_id=shop.id,
        currency=shop.currency,
        values=values,
        ecb_rows=rows,
        ecb_missing=missing,
        ecb_used=used,
        legal_floor=floor,
    )


# -- customers' postal addresses --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerAddress:
    id: int
    name: str
    email: str | None
    company: str | None
    address: str | None
    parts: PostalAddress


CUSTOMERS_SHOWN = 500


def customers_of(svc: Services, shop_id: int) -> list[CustomerAddress]:
    """The shop's customers (not erased), by name, with their postal address."""
    with svc.sessions() as s:
        rows = s.scalars(
            select(Customer)
            .where(Customer.shop_id == shop_id, Customer.erased_at.is_(None))
            .order_by(Customer.name, Customer.email, Customer.id)
            .limit(CUSTOMERS_SHOWN)
        ).all()
        return [_customer(c) for c in rows]


def customer_of(svc: Services, shop_id: int, customer_id: int) -> CustomerAddress:
    """One customer of this shop; LookupError for another shop's (or nobody's) id."""
    with svc.sessions() as s:
        return _customer(_owned_customer(s, shop_id, customer_id))


def _owned_customer(s: Session, shop_id: int, customer_id: int) -> Customer:
    customer = s.scalar(
        select(Customer).where(
            Customer.id == customer_id,
            Customer.shop_id == shop_id,
            Customer.erased_at.is_(None),
        )
    )
    if customer is None:
        raise LookupError(f"no customer {customer_id} in this shop")
    return customer


def _customer(c: Customer) -> CustomerAddress:
    return CustomerAddress(
        id=c.id,
        name=c.name or c.company or (c.email or "").split("@")[0],
        email=c.email,
        company=c.company,
        address=c.postal_address,
        parts=split_address(c.postal_address),
    )


def split_address(text: str | None) -> PostalAddress:
    """The stored lines back into their parts, for the form (the inverse of PostalAddress.text
    for what it wrote)."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    town_at = next(
        (i for i in range(len(lines) - 1, -1, -1) if city_of(lines[i]) is not None), None
    )
    if town_at is None:
        return PostalAddress(line1=lines[0] if lines else None, line2=" ".join(lines[1:]) or None)
    code, _, city = lines[town_at].partition(" ")
    street = lines[:town_at]
    return PostalAddress(
        line1=street[0] if street else None,
        line2=" ".join(street[1:]) or None,
        postal_code=code,
        city=city,
        country=" ".join(lines[town_at + 1 :]) or None,
    )


@dataclass(frozen=True, slots=True)
class AddressForm:
    line1: str = ""
    line2: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = ""


def update_customer_address(
    svc: Services, shop_id: int, customer_id: int, form: AddressForm
) -> CustomerAddress:
    """Set (or, all fields empty, clear) one customer's postal address for letters.
    LookupError for a customer not of this shop; SettingsError names bad fields."""
    check = _Check()
    parts = {name: _line(getattr(form, name) or "") for name in AddressForm.__dataclass_fields__}
    for name, value in parts.items():
        if value is not None and len(value) > 120:
            check.fail(name, "at most 120 characters")
    address = PostalAddress(
        line1=parts["line1"],
        line2=parts["line2"],
        postal_code=parts["postal_code"],
        city=parts["city"],
        country=parts["country"],
    )
    cleared = not any(parts.values())
    if not cleared:
        if not address.line1:
            check.fail("line1", "the street line is needed for a letter")
        if not address.postal_code or not re.fullmatch(r"[A-Za-z0-9 -]{3,10}", address.postal_code):
            check.fail("postal_code", "a postal code such as 75011")
        if not address.city:
            check.fail("city", "the town is needed for a letter")
    check.done()
    with write_session(svc.sessions) as s:
        customer = _owned_customer(s, shop_id, customer_id)
        customer.postal_address = None if cleared else address.text()
        return _customer(customer)
