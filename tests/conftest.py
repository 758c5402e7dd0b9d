"""Shared fixtures: a migrated store on SQLite (always) and PostgreSQL (when reachable —
mandatory in CI through RELANCE_REQUIRE_POSTGRES=1), Services, a shop, the Flask app."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from connector.config import Settings
from connector.services import Services
from connector.shops import create_shop
from connector.store.base import Base
from connector.store.db import write_session
from connector.store.migrate import upgrade
from connector.store.models import Shop

PG_ADMIN_URL = os.environ.get(
    "RELANCE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_PG = os.environ.get("RELANCE_REQUIRE_POSTGRES") == "1"


def _pg_url(admin_url: str, dbname: str) -> str:
    url = make_url(admin_url.replace("postgresql://", "postgresql+psycopg://", 1))
    return url.set(database=dbname).render_as_string(hide_password=False)


@contextmanager
def scratch_postgres(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for the duration (skipped, or failed in CI, when no
    server answers), dropped afterwards."""
    admin = _pg_url(PG_ADMIN_URL, make_url(PG_ADMIN_URL).database or "test")
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required here but unreachable at {PG_ADMIN_URL}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    try:
        yield _pg_url(PG_ADMIN_URL, name)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh database for this test session, migrated once, dropped at the end."""
    with scratch_postgres("relance_test") as url:
        upgrade(url)
        yield url


#: Tables the migrations seed with shipped data, the same for every shop: kept between tests.
REFERENCE_TABLES = frozenset({"ecb_rate"})


def _truncate(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(
        f'"{t.name}"' for t in Base.metadata.sorted_tables if t.name not in REFERENCE_TABLES
    )
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using it runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'relance.db'}"
        upgrade(url)
        return url
    url = request.getfixturevalue("postgres_database")
    _truncate(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'relance.db'}"
    upgrade(url)
    return url


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    _truncate(postgres_database)
    return postgres_database


def make_env(database_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "RELANCE_VAR_DIR": str(var_dir),
        "RELANCE_SECRET_KEYS": Fernet.generate_key().decode(),
        "RELANCE_CLAIM_LEASE_SECONDS": "300",
        **extra,
    }


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return make_env(database_url, tmp_path / "var")


@pytest.fixture
def services(env: dict[str, str]) -> Iterator[Services]:
    svc = Services.build(Settings.from_env(env))
    yield svc
    svc.close()


@pytest.fixture
def shop(services: Services) -> Shop:
    with write_session(services.sessions) as s:
        shop = create_shop(s, name="Atelier Dupont", email="compta@dupont.example")
        # The identification a posted letter needs (R123-237 Code de commerce).
        shop.legal_name = "Atelier Dupont SARL"
        shop.legal_form = "SARL au capital de 10 000 €"
        shop.siren = "732829320"
        shop.rcs_city = "Paris"
        shop.registered_office = "12 rue des Lilas\n75011 Paris"
        shop.signatory_name, shop.signatory_role = "Claire Dupont", "Gérante"
        return shop


@pytest.fixture
def app(services: Services):  # type: ignore[no-untyped-def]
    from connector.web import create_app

    flask_app = create_app(services=services)
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


pytest_plugins = ["tests.support.pages"]
