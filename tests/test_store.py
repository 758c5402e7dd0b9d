"""The store itself: tz-aware UTC only, encrypted secrets, WAL, migrations that match the models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import cast
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography.fernet import Fernet
from sqlalchemy import DateTime, Table, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import StatementError

from connector.config import Settings
from connector.crypto import SecretBox, SecretError, local_key
from connector.ledger import ensure_csv_connection
from connector.services import Services
from connector.store.base import Base, UTCDateTime
from connector.store.bulk import insert_rows, update_rows
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


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 6, 1, 8, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 2, 30, 0, 123456, tzinfo=ZoneInfo("Europe/Paris")),
        datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Paris")),
        datetime(1, 1, 2, 0, 0, 0, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(9999, 12, 31, 20, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-3))),
    ],
)
def test_the_one_call_bind_stores_what_the_type_chain_stored(value: datetime) -> None:
    """UTCDateTime binds with one function per value; on SQLite it must write the very text
    the decorator's chain wrote (process_bind_param, then SQLite's DATETIME format), or the
    text comparisons of the engine's queries would drift."""
    dialect = sqlite.dialect()
    chain = DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
    assert chain is not None
    fast = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert fast(value) == chain(UTCDateTime().process_bind_param(value, dialect))
    pg = postgresql.dialect()
    assert UTCDateTime().dialect_impl(pg).bind_processor(pg)(value) == value.astimezone(UTC)


@pytest.mark.parametrize(
    "stored",
    [
        "2026-06-01 08:00:00.000000",  # as the store writes every instant
        "2026-03-29 01:30:00.123456",
        "0001-01-01 18:29:59.000001",
        "9999-12-31 23:59:59.999999",
        "2026-06-01T08:00:00.000000",
        "2026-06-01 08:00:00",  # written by hand, or by SQLite's own CURRENT_TIMESTAMP
        "2026-06-01 08:00",
        "2026-06-01",
        "2026-06-01 08:00:00+02:00",
        "2026-06-01 08:00:00.1+0200",  # the store's length, with an offset of its own
        "2026-06-01 08:00:00.000000-05:30",
    ],
)
def test_the_one_call_read_returns_what_the_type_chain_returned(stored: str) -> None:
    """UTCDateTime reads SQLite's text with one function per value; it must return what the
    decorator's chain returned (SQLite's DATETIME parse, then process_result_value): the same
    instant, aware, in UTC."""
    dialect = sqlite.dialect()
    chain = DateTime(timezone=True).dialect_impl(dialect).result_processor(dialect, None)
    assert chain is not None
    fast = UTCDateTime().dialect_impl(dialect).result_processor(dialect, None)
    assert fast is not None
    expected = UTCDateTime().process_result_value(chain(stored), dialect)
    got = fast(stored)
    assert got == expected and got is not None and expected is not None
    assert got.tzinfo is UTC and expected.utcoffset() == timedelta(0)
    assert (got.isoformat(), got.fold) == (expected.astimezone(UTC).isoformat(), expected.fold)
    assert fast(None) is None


#: A customer without a name, company or email: its folded search keys (which the ledger's row
#: builder sets, like every column with a default on this path) are empty too.
NO_SEARCH_KEYS = {"name_key": None, "company_key": None, "email_key": None}


def test_naive_datetimes_are_refused_by_a_batch_insert_too(services: Services, shop: Shop) -> None:
    """The sync's executemany path (connector.store.bulk) binds through the same processors."""
    table = cast(Table, Customer.__table__)
    now = datetime.now(UTC)
    shared = {"shop_id": shop.id, "connection_id": _connection(services, shop)}
    shared |= {"excluded": False, "is_b2b": False, "updated_at": now} | NO_SEARCH_KEYS
    with pytest.raises(ValueError, match="naive datetime"), write_session(services.sessions) as s:
        insert_rows(
            s, table, [{"external_id": "c1", "created_at": now.replace(tzinfo=None)}], shared
        )
    with services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == 0


def test_a_batch_insert_names_the_defaulted_column_it_was_not_given(
    services: Services, shop: Shop
) -> None:
    """Python-side defaults (created_at, excluded…) are not applied on that path: a caller
    that forgets one is told which, before anything is written."""
    table = cast(Table, Customer.__table__)
    shared = {"shop_id": shop.id, "connection_id": _connection(services, shop)}
    with pytest.raises(ValueError, match="is_b2b") as raised, write_session(services.sessions) as s:
        insert_rows(s, table, [{"external_id": "c1"}], shared)
    assert "created_at" in str(raised.value) and "excluded" in str(raised.value)


def test_a_batch_insert_skips_rows_clashing_on_the_conflict_key(
    services: Services, shop: Shop
) -> None:
    table = cast(Table, Customer.__table__)
    now = datetime(2026, 6, 1, 10, tzinfo=timezone(timedelta(hours=2)))
    shared = {"shop_id": shop.id, "connection_id": _connection(services, shop)}
    shared |= {"excluded": False, "is_b2b": False, "created_at": now, "updated_at": now}
    shared |= {"name_key": None, "company_key": None}
    key = ("connection_id", "external_id")

    def customer(external_id: str, email: str) -> dict[str, object]:
        return {"external_id": external_id, "email": email, "email_key": email}

    with write_session(services.sessions) as s:
        insert_rows(s, table, [customer("c1", "a@x.fr")], shared, conflict_key=key)
        rows = [customer("c1", "b@x.fr"), customer("c2", "c@x.fr")]
        insert_rows(s, table, rows, shared, conflict_key=key)
    with services.sessions() as s:
        stored = s.execute(
            select(Customer.external_id, Customer.email, Customer.created_at).order_by(
                Customer.external_id
            )
        ).all()
    assert [(e, m) for e, m, _ in stored] == [("c1", "a@x.fr"), ("c2", "c@x.fr")]
    assert all(at == now and at.utcoffset() == timedelta(0) for _, _, at in stored)


def test_a_batch_update_stores_what_a_core_update_stores(services: Services, shop: Shop) -> None:
    """``update_rows`` (the ledger batch's changed invoices) against Core's ``update`` given the
    same values: byte for byte the same stored row, an instant with an offset included."""
    table = cast(Table, Customer.__table__)
    created = datetime(2026, 6, 1, 10, tzinfo=UTC)
    shared = {"shop_id": shop.id, "connection_id": _connection(services, shop)}
    shared |= {"excluded": False, "is_b2b": False, "created_at": created, "updated_at": created}
    shared |= NO_SEARCH_KEYS
    with write_session(services.sessions) as s:
        insert_rows(s, table, [{"external_id": "c1"}, {"external_id": "c2"}], shared)
        ids = dict(s.execute(select(table.c.external_id, table.c.id)).all())
    later = datetime(2026, 3, 29, 3, 30, 0, 123456, tzinfo=ZoneInfo("Europe/Paris"))
    values = {"email": "é@x.fr", "email_key": "e@x.fr", "is_b2b": True, "updated_at": later}
    with write_session(services.sessions) as s:
        update_rows(s, table, [{"id": ids["c1"], **values}])
        s.execute(update(table).where(table.c.id == ids["c2"]).values(values))
    with services.engine.connect() as conn:  # as stored: no result processing
        stored = {
            row[0]: row[2:]
            for row in conn.exec_driver_sql(
                "SELECT external_id, id, email, email_key, is_b2b, updated_at, created_at "
                "FROM customer ORDER BY external_id"
            )
        }
    assert stored["c1"] == stored["c2"]
    assert stored["c1"][:2] == ("é@x.fr", "e@x.fr") and stored["c1"][3] != stored["c1"][4]


def test_a_batch_update_refuses_naive_datetimes_and_names_its_onupdate_column(
    services: Services, shop: Shop
) -> None:
    """The same processors as Core's; the row's own ``updated_at`` (set by the ORM on update)
    must be given: a caller that forgets it is told, before anything is written."""
    table = cast(Table, Customer.__table__)
    now = datetime.now(UTC)
    shared = {"shop_id": shop.id, "connection_id": _connection(services, shop)}
    shared |= {"excluded": False, "is_b2b": False, "created_at": now, "updated_at": now}
    shared |= NO_SEARCH_KEYS
    with write_session(services.sessions) as s:
        insert_rows(s, table, [{"external_id": "c1"}], shared)
        customer_id = s.scalar(select(table.c.id))
    with pytest.raises(ValueError, match="updated_at"), write_session(services.sessions) as s:
        update_rows(s, table, [{"id": customer_id, "email": "a@x.fr"}])
    naive = now.replace(tzinfo=None)
    with pytest.raises(ValueError, match="naive datetime"), write_session(services.sessions) as s:
        update_rows(s, table, [{"id": customer_id, "email": "a@x.fr", "updated_at": naive}])
    with services.sessions() as s:
        assert s.scalar(select(Customer.email)) is None


def _connection(services: Services, shop: Shop) -> int:
    with write_session(services.sessions) as s:
        return ensure_csv_connection(s, s.merge(shop)).id
