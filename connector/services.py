"""Wiring: settings → engine, sessions, secrets, mail transport, dunning runner.

Built explicitly by the CLI, the web app factory and the worker; nothing happens at import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from connector.config import Settings
from connector.crypto import SecretBox, secret_box
from connector.dunning.deliver import StatusChecker
from connector.dunning.runner import DunningRunner, RunnerOptions
from connector.mail.base import MailTransport
from connector.mail.factory import transport_from_env
from connector.store.db import make_engine, session_factory


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    _secrets: SecretBox | None = field(default=None, repr=False)

    @classmethod
    def build(cls, settings: Settings) -> Services:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.database_url)
        return cls(settings, engine, session_factory(engine))

    @property
    def secrets(self) -> SecretBox:
        if self._secrets is None:
            self._secrets = secret_box(self.settings)
        return self._secrets

    def transport(self) -> MailTransport:
        return transport_from_env(self.settings.env, default_outbox=self.settings.outbox_dir)

    def runner(
        self,
        *,
        transport: MailTransport | None = None,
        status_checker: StatusChecker | None = None,
        concurrency: int | None = None,
    ) -> DunningRunner:
        s = self.settings
        return DunningRunner(
            self.sessions,
            transport or self.transport(),
            RunnerOptions(
                letters_dir=s.letters_dir,
                claim_lease=timedelta(seconds=s.claim_lease_seconds),
                send_lease=timedelta(seconds=s.send_lease_seconds),
                concurrency=concurrency or s.send_concurrency,
                batch=s.tick_batch,
            ),
            status_checker=status_checker,
        )

    def close(self) -> None:
        self.engine.dispose()
