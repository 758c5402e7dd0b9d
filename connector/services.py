"""Wiring: settings → engine, sessions, secrets, mail transport (the dunning runner made of
them and of the webhook apply step: connector.runners).

Built explicitly by the CLI, the web app factory and the worker; nothing happens at import.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from connector.config import Settings
from connector.crypto import SecretBox, secret_box
from connector.mail.base import MailTransport
from connector.mail.factory import transport_from_env
from connector.store.db import make_engine, session_factory
from connector.store.models import Connection


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    _secrets: SecretBox | None = field(default=None, repr=False)
    _intake_engine: Engine | None = field(default=None, repr=False)

    @classmethod
    def build(cls, settings: Settings) -> Services:
        settings.var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        engine = make_engine(settings.database_url)
        return cls(settings, engine, session_factory(engine))

    @property
    def intake_engine(self) -> Engine:
        """The webhook intake's engine: on PostgreSQL a pool without the pre-ping round trip
        (the intake retries once on a dropped connection instead); elsewhere the main one."""
        if self._intake_engine is None:
            self._intake_engine = (
                make_engine(self.settings.database_url, pre_ping=False)
                if self.engine.dialect.name == "postgresql"
                else self.engine
            )
        return self._intake_engine

    @property
    def secrets(self) -> SecretBox:
        if self._secrets is None:
            self._secrets = secret_box(self.settings, self.connections_with_secrets)
        return self._secrets

    def connections_with_secrets(self) -> int:
        """How many connections hold encrypted secrets (a lost key file must not be replaced)."""
        with self.sessions() as s:
            held = s.scalar(
                select(func.count(Connection.id)).where(
                    or_(
                        Connection.credentials_enc.is_not(None),
                        Connection.webhook_secret_enc.is_not(None),
                    )
                )
            )
        return int(held or 0)

    def transport(self) -> MailTransport:
        return transport_from_env(self.settings.env, default_outbox=self.settings.outbox_dir)

    def close(self) -> None:
        if self._intake_engine is not None and self._intake_engine is not self.engine:
            self._intake_engine.dispose()
        self.engine.dispose()
