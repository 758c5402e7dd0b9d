"""The store itself: tz-aware UTC only, encrypted secrets, WAL, migrations that match the models."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography.fernet import Fernet
from sqlalchemy import insert, select, text
from sqlalchemy.exc import StatementError

from connector.config import Settings
from connector.crypto import SecretBox, SecretError, local_key
from connector.services import Services
from connector.store.base import Base
from connector.store.db import write_session
from connector.store.models import Connection, Customer, Shop


def test_naive_datetimes_are_refused(services: Services, shop: Shop) -> None:
    with (
        pytest.raises(StatementError, match="naive datetime"),
        write_session(services.sessions) as s,
    ):
        s.merge(shop).updated_at = datetime(2026, 1, 1)  # noqa: DTZ001 - the point of the test


def test_datetimes_come_back_aware_utc(services: Services, shop: Shop) -> None:
    paris_noon = datetime(2026, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    with write_session(services.sessions) as s:
        s.merge(shop).updated_at = paris_noon
    with services.sessions() as s:
        value = s.get(Shop, shop.id).updated_at  # type: ignore[union-attr]
    assert value.tzinfo is not None and value.utcoffset() == timedelta(0)
    assert value == paris_noon and value.hour == 10


def test_schema_matches_models(services: Services) -> None:
    with services.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_sqlite_runs_in_wal_mode(sqlite_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    svc = Services.build(
        Settings.from_env({"DATABASE_URL": sqlite_url, "RELANCE_VAR_DIR": str(tmp_path)})
    )
    with svc.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    svc.close()


def test_secrets_round_trip_and_rotate() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = SecretBox([old]).encrypt_json({"api_key": "rk_live_123"})
    assert "rk_live_123" not in token
    rotated_box = SecretBox([new, old])
    assert rotated_box.decrypt_json(token) == {"api_key": "rk_live_123"}
    rotated = rotated_box.rotate(token)
    assert SecretBox([new]).decrypt_json(rotated) == {"api_key": "rk_live_123"}
    with pytest.raises(SecretError):
        SecretBox([new]).decrypt(token)


def test_local_key_is_generated_once_and_private(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = local_key(tmp_path)
    assert local_key(tmp_path) == first
    assert (tmp_path / "secret.key").stat().st_mode & 0o077 == 0
    Fernet(first.encode())  # a valid key


def test_search_keys_are_written_with_their_columns(services: Services, shop: Shop) -> None:
    """The ORM (validates) and a Core INSERT that leaves the keys out (column defaults) both
    store the folded copy the owner's search reads."""
    with write_session(services.sessions) as s:
        conn = Connection(shop_id=shop.id, platform="csv", external_account="")
        s.add(conn)
        s.flush()
        orm = Customer(shop_id=shop.id, connection_id=conn.id, external_id="a", email="É@X.fr")
        orm.name = "Élodie Martin"
        s.add(orm)
        s.execute(
            insert(Customer),
            [{"shop_id": shop.id, "connection_id": conn.id, "external_id": "b", "name": "ZOË"}],
        )
    with services.sessions() as s:
        keys = s.execute(
            select(Customer.external_id, Customer.name_key, Customer.email_key).order_by(
                Customer.external_id
            )
        ).all()
    assert keys == [("a", "elodie martin", "e@x.fr"), ("b", "zoe", None)]
