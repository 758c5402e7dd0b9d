"""Owner accounts: sign-up on an empty store, sign-in, the first shop, password reset.

Passwords are hashed with scrypt (werkzeug). Sign-in does the same work whether or not the
email exists (a dummy hash is checked for an unknown one), and says the same thing. A reset
token is signed, expires, and carries a fingerprint of the password hash it was issued for:
once the password changes, every earlier token (and every signed-in session, see
``session_fingerprint``) stops working, so a token is single-use.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.security import check_password_hash, generate_password_hash

from connector.mail.base import DeliveryOutcome, MailTransport, OutgoingMail
from connector.shops import ShopError, create_shop, validate_email
from connector.store.db import write_session
from connector.store.models import Membership, Owner, Role, Shop

MIN_PASSWORD_LENGTH = 10
RESET_VALID_FOR = timedelta(hours=1)
_RESET_SALT = "relance-password-reset"
SIGN_IN_REFUSED = "Wrong email or password."


class AccountError(ValueError):
    """Bad input or state for an account action; the message names the field to fix."""


class SignUpClosed(AccountError):
    """The store already has an owner: later owners are created with `relance owner create`."""


class NotAMember(AccountError):
    """The owner is not a member of that shop (or it does not exist: the same answer)."""


@dataclass(frozen=True, slots=True)
class OwnerAccount:
    id: int
    email: str
    session_fingerprint: str  # changes with the password: older sessions end


@dataclass(frozen=True, slots=True)
class ShopSummary:
    id: int
    name: str
    timezone: str
    currency: str


def has_owner(sessions: sessionmaker[Session]) -> bool:
    with sessions() as s:
        return s.scalar(select(Owner.id).limit(1)) is not None


def create_owner(
    sessions: sessionmaker[Session],
    *,
    email: str,
    password: str,
    now: datetime,
    shop_ids: tuple[int, ...] = (),
) -> OwnerAccount:
    """An owner (the CLI's way, at any time), made a member of the shops given."""
    email, password_hash = _checked(email, password)
    with write_session(sessions) as s:
        owner = _add_owner(s, email, password_hash, now)
        for shop_id in dict.fromkeys(shop_ids):
            if s.get(Shop, shop_id) is None:
                raise AccountError(f"shop: shop {shop_id} does not exist")
            s.add(Membership(owner_id=owner.id, shop_id=shop_id, role=Role.OWNER))
        s.flush()
        return _account(owner)


def sign_up_first_owner(
    sessions: sessionmaker[Session], *, email: str, password: str, now: datetime
) -> OwnerAccount:
    """The first run's account: only while the store has no owner at all."""
    email, password_hash = _checked(email, password)
    with write_session(sessions) as s:
        _lock_owners(s)
        if s.scalar(select(Owner.id).limit(1)) is not None:
            raise SignUpClosed(
                "sign-up is closed: this store already has an owner (sign in, or ask them to "
                "run `relance owner create --email …`)"
            )
        return _account(_add_owner(s, email, password_hash, now))


def authenticate(
    sessions: sessionmaker[Session], *, email: str, password: str, now: datetime
) -> OwnerAccount | None:
    """The owner if the password is theirs, else None — after the same work either way. The
    hash is checked outside any write transaction: on SQLite that would hold the store's write
    lock (and the webhooks' intake) for the length of a scrypt."""
    with sessions() as s:
        owner = s.scalar(select(Owner).where(Owner.email == email.strip().lower()))
        stored = owner.password_hash if owner is not None else _dummy_hash()
    if not check_password_hash(stored, password) or owner is None:
        return None
    with write_session(sessions) as s:
        signed_in = s.get(Owner, owner.id)
        if signed_in is None or signed_in.password_hash != stored:
            return None  # deleted or changed meanwhile
        signed_in.last_sign_in_at = now
        return _account(signed_in)


def owner_for_session(
    sessions: sessionmaker[Session], owner_id: int, fingerprint: str
) -> OwnerAccount | None:
    """The signed-in owner, if the session still matches their current password."""
    with sessions() as s:
        owner = s.get(Owner, owner_id)
        if owner is None:
            return None
        account = _account(owner)
    if not secrets.compare_digest(account.session_fingerprint, fingerprint):
        return None
    return account


def create_shop_for_owner(
    sessions: sessionmaker[Session],
    owner_id: int,
    *,
    name: str,
    email: str,
    timezone: str,
    b2b: bool,
) -> ShopSummary:
    """The first-run shop (or any later one): the shop, its default sequence, the membership."""
    with write_session(sessions) as s:
        if s.get(Owner, owner_id) is None:
            raise AccountError(f"owner {owner_id} does not exist")
        try:
            shop = create_shop(s, name=name, email=email, timezone=timezone, b2b=b2b)
        except ShopError as exc:
            raise AccountError(str(exc)) from exc
        s.add(Membership(owner_id=owner_id, shop_id=shop.id, role=Role.OWNER))
        s.flush()
        return _summary(shop)


def add_membership(session: Session, owner_id: int, shop: Shop) -> None:
    """Make the owner a member of a shop created in the caller's transaction."""
    session.add(Membership(owner_id=owner_id, shop_id=shop.id, role=Role.OWNER))
    session.flush()


def unusable_password_hash() -> str:
    """For an owner who signs in through a platform (Shopify's admin), not with a password:
    the hash of a random secret nobody knows. "Forgot password" gives them one if they want
    to use the pages outside the admin. Slow (scrypt): compute it outside any transaction."""
    return _hash(secrets.token_urlsafe(32))


def shop_owner(
    session: Session, shop_id: int, *, email: str, password_hash: str, now: datetime
) -> OwnerAccount:
    """The owner who signs in to a shop installed from a platform: its first member, else a new
    owner with the platform account's email (made a member). An email that already has an
    account elsewhere is never taken over — that would hand someone else's shops to whoever
    can name their email on a platform — so such an owner gets the shop's own address instead."""
    member = first_member(session, shop_id)
    if member is not None:
        return member
    candidate = email.strip().lower()
    taken = session.scalar(select(Owner.id).where(Owner.email == candidate))
    if taken is not None or "@" not in candidate:
        candidate = f"shop-{shop_id}@owners.relance.invalid"
    owner = _add_owner(session, candidate, password_hash, now)
    session.add(Membership(owner_id=owner.id, shop_id=shop_id, role=Role.OWNER))
    session.flush()
    return _account(owner)


def first_member(session: Session, shop_id: int) -> OwnerAccount | None:
    """The shop's first owner (the one who installed or created it)."""
    member = session.scalar(
        select(Owner)
        .join(Membership, Membership.owner_id == Owner.id)
        .where(Membership.shop_id == shop_id)
        .order_by(Membership.id)
        .limit(1)
    )
    return _account(member) if member is not None else None


def shop_summary(session: Session, shop_id: int) -> ShopSummary:
    shop = session.get(Shop, shop_id)
    if shop is None:
        raise AccountError(f"shop: shop {shop_id} does not exist")
    return _summary(shop)


def shops_of_owner(sessions: sessionmaker[Session], owner_id: int) -> list[ShopSummary]:
    with sessions() as s:
        shops = s.scalars(
            select(Shop)
            .join(Membership, Membership.shop_id == Shop.id)
            .where(Membership.owner_id == owner_id)
            .order_by(Shop.id)
        ).all()
        return [_summary(shop) for shop in shops]


def shop_of_member(sessions: sessionmaker[Session], owner_id: int, shop_id: int) -> ShopSummary:
    """The shop, if the owner is a member of it; NotAMember otherwise (missing shops too)."""
    with sessions() as s:
        shop = s.scalar(
            select(Shop)
            .join(Membership, Membership.shop_id == Shop.id)
            .where(Membership.owner_id == owner_id, Shop.id == shop_id)
        )
        if shop is None:
            raise NotAMember(f"shop: you are not a member of shop {shop_id}")
        return _summary(shop)


def request_password_reset(
    sessions: sessionmaker[Session],
    transport: MailTransport,
    *,
    email: str,
    signing_key: str,
    link_for: Callable[[str], str],
    mail_from: str | None,
    now: datetime,
) -> bool:
    """Mail a reset link to the owner with that email, if there is one. The caller says the
    same thing either way (whether an email has an account is nobody's business); the result
    is only for logs and tests."""
    with sessions() as s:
        owner = s.scalar(select(Owner).where(Owner.email == email.strip().lower()))
        if owner is None:
            return False
        sender = mail_from or _shop_sender(s, owner.id) or owner.email
        payload = {"o": owner.id, "p": _hash_fingerprint(owner.password_hash)}
        owner_email = owner.email
    payload["t"] = int(now.timestamp())
    token = URLSafeSerializer(signing_key, salt=_RESET_SALT).dumps(payload)
    link = link_for(token)
    minutes = int(RESET_VALID_FOR.total_seconds() // 60)
    body = (
        "Someone (we hope you) asked to reset the password of your Relance account.\n\n"
        f"Choose a new password here, within {minutes} minutes:\n{link}\n\n"
        "The link works once. If you did not ask, ignore this email: nothing changes."
    )
    result = transport.send(
        OutgoingMail(
            message_id=_account_mail_id(),
            to_email=owner_email,
            to_name=None,
            from_email=sender,
            from_name="Relance",
            reply_to=None,
            subject="Reset your Relance password",
            text=body,
            html="",
            step="password_reset",
            invoice_numbers=(),
            reminder_ids=(),
            categories=("relance-account",),
        )
    )
    return result.outcome is DeliveryOutcome.SENT


def reset_password(
    sessions: sessionmaker[Session],
    *,
    token: str,
    new_password: str,
    signing_key: str,
    now: datetime,
) -> OwnerAccount:
    """Set a new password with a reset token: refused if forged, expired or already used."""
    _check_password(new_password)
    check_reset_token(sessions, token, signing_key, now)  # before the slow hash
    new_hash = _hash(new_password)
    with write_session(sessions) as s:
        owner = _owner_of_token(s, token, signing_key, now)
        owner.password_hash = new_hash
        return _account(owner)


def check_reset_token(
    sessions: sessionmaker[Session], token: str, signing_key: str, now: datetime
) -> None:
    """AccountError if the token is forged, expired or already used (then no form is shown)."""
    with sessions() as s:
        _owner_of_token(s, token, signing_key, now)


def _owner_of_token(session: Session, token: str, signing_key: str, now: datetime) -> Owner:
    owner_id, fingerprint = _read_reset_token(token, signing_key, now)
    owner = session.get(Owner, owner_id)
    if owner is None or not secrets.compare_digest(
        _hash_fingerprint(owner.password_hash), fingerprint
    ):
        raise AccountError("token: this reset link was already used; ask for a new one")
    return owner


def _read_reset_token(token: str, signing_key: str, now: datetime) -> tuple[int, str]:
    try:
        data: Any = URLSafeSerializer(signing_key, salt=_RESET_SALT).loads(token)
    except BadSignature as exc:
        raise AccountError("token: this reset link is not valid; ask for a new one") from exc
    if not isinstance(data, dict) or not {"o", "p", "t"} <= data.keys():
        raise AccountError("token: this reset link is not valid; ask for a new one")
    issued = datetime.fromtimestamp(int(data["t"]), UTC)
    if now - issued > RESET_VALID_FOR or issued - now > timedelta(minutes=5):
        raise AccountError("token: this reset link has expired; ask for a new one")
    return int(data["o"]), str(data["p"])


def _checked(email: str, password: str) -> tuple[str, str]:
    """The normalized email and the password's hash (hashed before any transaction opens)."""
    try:
        email = validate_email(email, "email").lower()
    except ShopError as exc:
        raise AccountError(str(exc)) from exc
    _check_password(password)
    return email, _hash(password)


def _add_owner(session: Session, email: str, password_hash: str, now: datetime) -> Owner:
    taken = session.scalar(select(func.count()).select_from(Owner).where(Owner.email == email))
    if taken:
        raise AccountError(f"email: an account already exists for {email}")
    owner = Owner(email=email, password_hash=password_hash, created_at=now, updated_at=now)
    session.add(owner)
    session.flush()
    return owner


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password: at least {MIN_PASSWORD_LENGTH} characters, please")


def _lock_owners(session: Session) -> None:
    """Two first sign-ups at once must not both win. SQLite: the write session already holds
    the database's write lock; PostgreSQL: lock the owner table for the transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE owner IN SHARE ROW EXCLUSIVE MODE"))


def _shop_sender(session: Session, owner_id: int) -> str | None:
    shop = session.scalar(
        select(Shop)
        .join(Membership, Membership.shop_id == Shop.id)
        .where(Membership.owner_id == owner_id)
        .order_by(Shop.id)
        .limit(1)
    )
    return (shop.sender_email or shop.owner_email) if shop is not None else None


def _account_mail_id() -> int:
    """Account mail is no reminder Message: a negative id keeps it out of the Message id space
    (the outbox file name, SendGrid events' relance_message_id, which ignore it)."""
    return -secrets.randbits(48) - 1


def _hash(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


@cache
def _dummy_hash() -> str:
    """What an unknown email is checked against, so it costs the same as a known one."""
    return _hash(secrets.token_urlsafe(16))


def _hash_fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]


def _account(owner: Owner) -> OwnerAccount:
    return OwnerAccount(owner.id, owner.email, _hash_fingerprint(owner.password_hash))


def _summary(shop: Shop) -> ShopSummary:
    return ShopSummary(shop.id, shop.name, shop.timezone, shop.currency)
