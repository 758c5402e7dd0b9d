"""Migrations on a store that holds data: `relance db upgrade` from the first revision keeps
every row and reference, on SQLite (where a batch migration recreates tables) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from connector.store.db import make_engine
from connector.store.migrate import alembic_config, current_heads, upgrade
from tests.conftest import scratch_postgres

_SEED = [
    "INSERT INTO shop (id, name, owner_email, locale, timezone, currency, default_b2b,"
    " terms_mode, terms_days, ecb_rate_bp, b2b_margin_bp, indemnity_minor, window_start,"
    " window_end, business_days_only, holiday_country, thank_you_enabled, created_at,"
    " updated_at) VALUES (1, 'Atelier', 'o@shop.example', 'fr', 'Europe/Paris', 'EUR', false,"
    " 'net', 30, 215, 1000, 4000, '09:00:00', '18:00:00', true, 'FR', false,"
    " '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
    "INSERT INTO connection (id, shop_id, platform, external_account, settings,"
    " sync_interval_minutes, active, created_at, updated_at) VALUES (1, 1, 'csv', '', '{}', 15,"
    " true, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
    "INSERT INTO customer (id, shop_id, connection_id, external_id, email, is_b2b, excluded,"
    " created_at, updated_at) VALUES (1, 1, 1, 'c-1', 'c@client.example', false, false,"
    " '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
    "INSERT INTO sequence (id, shop_id, name, is_default, created_at, updated_at)"
    " VALUES (1, 1, 'default', true, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
    "INSERT INTO step (id, sequence_id, key, position, offset_days, channel, tone,"
    " show_penalties, sends_letter, hands_off, active, created_at, updated_at) VALUES"
    " (1, 1, 'reminder_1', 1, 1, 'email', 'polite', false, false, false, true,"
    " '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
    "INSERT INTO invoice (id, shop_id, connection_id, customer_id, external_id, number,"
    " currency, total_minor, amount_due_minor, status, issued_at, due_at, created_at,"
    " updated_at) VALUES (1, 1, 1, 1, 'F-1', 'F-1', 'EUR', 12000, 12000, 'open',"
    " '2026-01-01 00:00:00', '2026-01-31 00:00:00', '2026-01-01 00:00:00',"
    " '2026-01-01 00:00:00')",
    "INSERT INTO message (id, shop_id, customer_id, channel, local_day, state, attempts,"
    " created_at, updated_at) VALUES (7, 1, 1, 'email', '2026-02-01', 'sent', 1,"
    " '2026-02-01 00:00:00', '2026-02-01 00:00:00')",
    "INSERT INTO reminder (id, shop_id, invoice_id, step_id, step_key, channel, state, due_on,"
    " message_id, created_at, updated_at) VALUES (3, 1, 1, 1, 'reminder_1', 'email', 'sent',"
    " '2026-02-01', 7, '2026-02-01 00:00:00', '2026-02-01 00:00:00')",
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database nothing has migrated yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'relance.db'}"
        return
    with scratch_postgres("relance_migrate") as url:
        yield url


def test_upgrade_keeps_sent_reminders_and_their_messages(empty_database_url: str) -> None:
    url = empty_database_url
    upgrade(url, "0001")
    engine = make_engine(url)
    with engine.begin() as conn:
        for statement in _SEED:
            conn.execute(text(statement))
    engine.dispose()

    upgrade(url)  # what `relance db upgrade` runs

    engine = make_engine(url)
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            == (current_heads(url)[0])
        )
        assert conn.execute(text("SELECT id, kind, invoice_id FROM message")).all() == [
            (7, "reminder", None)
        ]
        assert conn.execute(text("SELECT id, message_id FROM reminder")).all() == [(3, 7)]
        # 0025: the day its step counted from, the invoice's due date in the shop's time zone.
        counted = conn.execute(text("SELECT counted_from FROM reminder")).scalar()
        assert str(counted) == "2026-01-31"
        if engine.dialect.name == "sqlite":
            assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()

    command.downgrade(alembic_config(url), "0001")  # and back, with the data still there
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id, message_id FROM reminder")).all() == [(3, 7)]
    engine.dispose()


def _stored(url: str) -> list[tuple[int, str]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, scope FROM webhook_event ORDER BY id")).all()
    engine.dispose()
    return [(row[0], row[1]) for row in rows]


def test_shopify_deliveries_move_to_one_app_wide_scope_without_a_conflict(
    empty_database_url: str,
) -> None:
    url = empty_database_url
    upgrade(url, "0003")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(_SEED[0]))  # the shop
        for cid, platform in ((1, "shopify"), (2, "shopify"), (3, "stripe")):
            conn.execute(
                text(
                    "INSERT INTO connection (id, shop_id, platform, external_account, settings,"
                    " sync_interval_minutes, active, created_at, updated_at) VALUES (:id, 1,"
                    " :platform, :account, '{}', 15, true, '2026-01-01 00:00:00',"
                    " '2026-01-01 00:00:00')"
                ),
                {"id": cid, "platform": platform, "account": f"shop-{cid}"},
            )
        # ev-1 stored under both Shopify connections (a replay the old scope let through).
        for eid, scope, cid, key in (
            (1, "shopify:1", 1, "ev-1"),
            (2, "shopify:2", 2, "ev-1"),
            (3, "shopify:2", 2, "ev-2"),
            (4, "stripe:3", 3, "ev-1"),
        ):
            conn.execute(
                text(
                    "INSERT INTO webhook_event (id, scope, shop_id, connection_id, platform,"
                    " dedupe_key, topic, received_at, outcome, attempts, headers, raw_body)"
                    " VALUES (:id, :scope, 1, :cid, :platform, :key, 'orders/paid',"
                    " '2026-01-01 00:00:00', 'applied', 1, '{}', :body)"
                ),
                {
                    "id": eid,
                    "scope": scope,
                    "cid": cid,
                    "platform": scope.split(":")[0],
                    "key": key,
                    "body": b"{}",
                },
            )
    engine.dispose()

    upgrade(url)
    assert _stored(url) == [(1, "shopify"), (2, "shopify:2"), (3, "shopify"), (4, "stripe:3")]

    command.downgrade(alembic_config(url), "0003")
    assert _stored(url) == [(1, "shopify:1"), (2, "shopify:2"), (3, "shopify:2"), (4, "stripe:3")]


def test_search_keys_are_backfilled_for_the_rows_already_stored(empty_database_url: str) -> None:
    """0024: the invoices and customers stored before it get their folded search keys."""
    url = empty_database_url
    upgrade(url, "0020")
    engine = make_engine(url)
    with engine.begin() as conn:
        for statement in _SEED[:3] + _SEED[5:6]:
            conn.execute(text(statement))
        conn.execute(
            text("UPDATE customer SET name = 'Élodie Martin', company = 'ÉTS Œuvre', email = NULL")
        )
    engine.dispose()
    upgrade(url, "0024")
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(
            text("SELECT name_key, company_key, email_key FROM customer")
        ).all() == [("elodie martin", "ets œuvre", None)]
        assert conn.execute(text("SELECT number_key FROM invoice")).all() == [("f-1",)]
    engine.dispose()


def test_reminders_under_the_current_plan_keep_the_instalment_they_counted_from(
    empty_database_url: str,
) -> None:
    """0025 backfills ``counted_from``: the invoice's due date, except for a reminder made under
    the plan the invoice is on (its day less its step's offset is an instalment's day). Counted
    from the invoice instead, that reminder's offset would put the plan's later steps behind
    the invoice, and a formal notice could go before the reminders that lead to it."""
    url = empty_database_url
    upgrade(url, "0001")
    engine = make_engine(url)
    with engine.begin() as conn:
        for statement in _SEED:
            conn.execute(text(statement))
    engine.dispose()
    upgrade(url, "0024")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO step (id, sequence_id, key, position, offset_days, channel, tone,"
                " show_penalties, sends_letter, hands_off, active, created_at, updated_at) VALUES"
                " (2, 1, 'reminder_2', 2, 7, 'email', 'firm', false, false, false, true,"
                " '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )
        # The plan: instalments due 20 February and 20 March (Paris midnight, in UTC).
        for position, due_at in ((1, "2026-02-19 23:00:00"), (2, "2026-03-19 23:00:00")):
            conn.execute(
                text(
                    "INSERT INTO instalment (shop_id, invoice_id, position, due_at, amount_minor,"
                    " currency, paid_minor, created_at) VALUES (1, 1, :position, :due_at, 6000,"
                    " 'EUR', 0, '2026-02-02 00:00:00')"
                ),
                {"position": position, "due_at": due_at},
            )
        conn.execute(
            text(
                "INSERT INTO message (id, shop_id, customer_id, channel, local_day, state,"
                " attempts, created_at, updated_at) VALUES (8, 1, 1, 'email', '2026-02-27',"
                " 'sent', 1, '2026-02-27 00:00:00', '2026-02-27 00:00:00')"
            )
        )
        # reminder_2 of the first instalment: 20 February + 7 days.
        conn.execute(
            text(
                "INSERT INTO reminder (id, shop_id, invoice_id, step_id, step_key, channel, state,"
                " due_on, message_id, created_at, updated_at) VALUES (4, 1, 1, 2, 'reminder_2',"
                " 'email', 'sent', '2026-02-27', 8, '2026-02-27 00:00:00',"
                " '2026-02-27 00:00:00')"
            )
        )
    engine.dispose()

    upgrade(url)

    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, counted_from FROM reminder ORDER BY id")).all()
    engine.dispose()
    # reminder_1 went before the plan, from the invoice's due date; reminder_2 from the
    # first instalment.
    assert [(rid, str(day)) for rid, day in rows] == [(3, "2026-01-31"), (4, "2026-02-20")]


@pytest.mark.postgres
def test_rendered_bodies_are_written_with_lz4_on_postgresql() -> None:
    """The bodies a SENDING mark writes are compressed with lz4 (half pglz's server CPU), a
    new value as a stored one's is read back whole; a downgrade gives them the default."""
    with scratch_postgres("relance_migrate") as url:
        upgrade(url)
        engine = make_engine(url)
        body = "Bonjour, votre facture F-1 reste due. " * 200  # compressed: over ~2 kB
        query = text(
            "SELECT attrelid::regclass::text || '.' || attname, attcompression FROM pg_attribute"
            " WHERE attname IN ('body_html', 'body_text')"
            " AND attrelid IN ('message'::regclass, 'reminder'::regclass)"
        )
        try:
            with engine.begin() as conn:
                lz4 = conn.execute(
                    text(
                        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings"
                        " WHERE name = 'default_toast_compression'"
                    )
                ).scalar()
                if not lz4:
                    pytest.skip("this PostgreSQL was built without lz4")
                assert {name: c for name, c in conn.execute(query).all()} == {
                    "message.body_html": "l",
                    "message.body_text": "l",
                    "reminder.body_text": "l",
                }
                for statement in _SEED[:-1]:  # up to the message (the reminder's is older)
                    conn.execute(text(statement))
                conn.execute(text("UPDATE message SET body_html = :b WHERE id = 7"), {"b": body})
                stored = conn.execute(
                    text("SELECT pg_column_compression(body_html), body_html FROM message")
                ).one()
                assert tuple(stored) == ("lz4", body)
            command.downgrade(alembic_config(url), "0026")
            with engine.begin() as conn:
                assert {c for _, c in conn.execute(query).all()} == {""}
        finally:
            engine.dispose()
