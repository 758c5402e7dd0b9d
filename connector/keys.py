"""The keys that open the connections' stored secrets: checked when a process starts (one
decryption per stored secret, cheap), and rotated onto the newest key.

At start: if no stored secret opens with the configured keys, the process refuses to start (the
key was lost or replaced: running would answer every webhook with an error and send reminders no
platform re-check backs). If only some fail, it starts and those connections are marked broken
(``connection_health``) while every other shop carries on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select

from connector.connection_health import ConnectionProblem, clear_unreadable, mark_broken
from connector.crypto import SecretBox, SecretError
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Connection

UNREADABLE_DETAIL = "its stored secrets cannot be decrypted with the configured keys"


class SecretsUnusable(SecretError):
    """Not one stored secret opens with the configured keys: the process must not start."""


@dataclass(frozen=True, slots=True)
class ConnectionSecrets:
    connection_id: int
    shop_id: int
    platform: str
    active: bool
    readable: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "connection": self.connection_id,
            "shop": self.shop_id,
            "platform": self.platform,
            "active": self.active,
            "readable": self.readable,
        }


@dataclass(frozen=True, slots=True)
class SecretsReport:
    connections: list[ConnectionSecrets] = field(default_factory=list)

    @property
    def unreadable(self) -> list[ConnectionSecrets]:
        return [c for c in self.connections if not c.readable]

    def as_dict(self) -> dict[str, object]:
        return {
            "connections": len(self.connections),
            "unreadable": len(self.unreadable),
            "details": [c.as_dict() for c in self.connections],
        }


@dataclass(frozen=True, slots=True)
class RotationReport:
    rotated_connections: int
    rotated_secrets: int
    unreadable: list[int]

    def as_dict(self) -> dict[str, object]:
        return {
            "rotated_connections": self.rotated_connections,
            "rotated_secrets": self.rotated_secrets,
            "unreadable": self.unreadable,
        }


def _tokens(conn: Connection) -> Iterable[str]:
    return (t for t in (conn.credentials_enc, conn.webhook_secret_enc) if t)


def _readable(box: SecretBox, conn: Connection) -> bool:
    try:
        if conn.credentials_enc:
            box.decrypt_json(conn.credentials_enc)
        if conn.webhook_secret_enc:
            box.decrypt(conn.webhook_secret_enc)
    except (SecretError, ValueError):  # ValueError: a token that opens but is not JSON
        return False
    return True


def check_secrets(svc: Services) -> SecretsReport:
    """Every connection holding secrets, and whether the configured keys open them all."""
    box = svc.secrets
    with svc.sessions() as s:
        rows = s.scalars(select(Connection).order_by(Connection.id)).all()
        return SecretsReport(
            [
                ConnectionSecrets(c.id, c.shop_id, c.platform, c.active, _readable(box, c))
                for c in rows
                if any(_tokens(c))
            ]
        )


def require_usable_secrets(svc: Services) -> SecretsReport:
    """The start-up check every long-lived or platform-calling command runs first (serve, web,
    worker, tick, sync). Raises SecretsUnusable when nothing opens; otherwise marks the active
    connections that do not open as broken, lifts the mark from those that open again."""
    report = check_secrets(svc)
    unreadable = report.unreadable
    if unreadable and len(unreadable) == len(report.connections):
        raise SecretsUnusable(
            f"{len(unreadable)} connection secrets cannot be decrypted with the configured "
            "keys: restore var/secret.key or RELANCE_SECRET_KEYS"
        )
    for conn in unreadable:
        if conn.active:
            mark_broken(
                svc, conn.connection_id, ConnectionProblem.SECRET_UNREADABLE, UNREADABLE_DETAIL
            )
    clear_unreadable(svc, [c.connection_id for c in report.connections if c.readable])
    return report


def rotate_secrets(svc: Services) -> RotationReport:
    """Re-encrypt every stored secret with the newest key (the first of RELANCE_SECRET_KEYS),
    in one transaction; a secret no configured key opens is left as it is and reported."""
    box = svc.secrets
    rotated_connections = rotated_secrets = 0
    unreadable: list[int] = []
    with write_session(svc.sessions) as s:
        rows = s.scalars(select(Connection).order_by(Connection.id).with_for_update()).all()
        for conn in rows:
            if not any(_tokens(conn)):
                continue
            if not _readable(box, conn):
                unreadable.append(conn.id)
                continue
            if conn.credentials_enc:
                conn.credentials_enc = box.rotate(conn.credentials_enc)
                rotated_secrets += 1
            if conn.webhook_secret_enc:
                conn.webhook_secret_enc = box.rotate(conn.webhook_secret_enc)
                rotated_secrets += 1
            rotated_connections += 1
    return RotationReport(rotated_connections, rotated_secrets, unreadable)
