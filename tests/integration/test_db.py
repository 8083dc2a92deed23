"""Migrations build the schema the models describe, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from archive_service.db.migrate import (
    DatabaseNotMigrated,
    current_revision,
    head_revision,
    require_up_to_date,
    upgrade,
)
from archive_service.db.models import Agency, Base, Deposit
from archive_service.db.session import Database


def test_unmigrated_database_is_refused_with_a_clear_message(database_url: str) -> None:
    db = Database(database_url)
    try:
        with pytest.raises(DatabaseNotMigrated, match="archive db upgrade"):
            require_up_to_date(db.engine)
    finally:
        db.dispose()


def test_upgrade_reaches_head_and_matches_the_models(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)  # a second run changes nothing
    db = Database(database_url)
    try:
        assert current_revision(db.engine) == head_revision()
        require_up_to_date(db.engine)
        with db.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        db.dispose()


def test_timestamps_come_back_timezone_aware_in_utc(database: Database) -> None:
    hanoi = timezone(timedelta(hours=7))
    created = datetime(2024, 6, 10, 8, 15, tzinfo=hanoi)
    with database.session() as session:
        session.add(Agency(id="000.00.19.H56", name="UBND xã Quảng Tâm", created_at=created))
    with database.session() as session:
        agency = session.scalars(select(Agency)).one()
        assert agency.created_at == created
        assert agency.created_at.tzinfo is not None
        assert agency.created_at.utcoffset() == timedelta(0)


def test_naive_timestamps_are_refused(database: Database) -> None:
    with pytest.raises(Exception, match="timezone-aware"), database.session() as session:
        session.add(Agency(id="X", name="x", created_at=datetime(2024, 1, 1)))


def test_a_failed_transaction_leaves_nothing(database: Database) -> None:
    with database.session() as session:
        session.add(Agency(id="A", name="a"))
    deposit = {"agency_id": "A", "sip_sha256": "0" * 64, "sip_size": 1}
    with pytest.raises(IntegrityError), database.session() as session:
        session.add(Deposit(id="d1", idempotency_key="k", **deposit))
        session.flush()
        session.add(Deposit(id="d2", idempotency_key="k", **deposit))  # same key, same agency
    with database.session() as session:
        assert session.scalars(select(Deposit)).all() == []
        assert datetime.now(UTC)  # the session still works


def test_read_sessions_do_not_wait_for_a_writer(database: Database) -> None:
    with database.session() as session:
        session.add(Agency(id="A", name="a"))
    with database.session() as writer:
        writer.add(Agency(id="B", name="b"))
        writer.flush()  # the writer holds the write lock until it commits
        with database.read_session() as reader:
            assert [a.id for a in reader.scalars(select(Agency))] == ["A"]


def _commit_flushes_to_disk(session: Session) -> bool:
    """Whether this transaction's commit waits for the disk: SQLite's ``synchronous`` level
    (FULL = 2 syncs the log at every commit, NORMAL = 1 does not) or PostgreSQL's
    ``synchronous_commit``."""
    if session.get_bind().dialect.name == "sqlite":
        level = session.execute(text("PRAGMA synchronous")).scalar_one()
        assert level in (1, 2)
        return bool(level == 2)
    return bool(session.execute(text("SHOW synchronous_commit")).scalar_one() == "on")


def test_only_transient_sessions_on_sqlite_commit_without_waiting_for_the_disk(
    database: Database,
) -> None:
    """On SQLite (WAL), a transient session's commit is visible at once and is not flushed on
    its own; every other writing session, before and after it on the same pooled connection, is
    flushed. On PostgreSQL a transient session is an ordinary one."""
    sqlite = database.engine.dialect.name == "sqlite"
    with database.session() as session:
        session.add(Agency(id="A", name="a"))
        assert _commit_flushes_to_disk(session)
    for _ in range(2):
        with database.transient_session() as session:
            session.execute(update(Agency).values(name="renamed"))
            assert _commit_flushes_to_disk(session) is not sqlite
        with database.read_session() as reader:
            assert reader.scalar(select(Agency.name)) == "renamed"
        with database.session() as session:
            assert _commit_flushes_to_disk(session)
            session.execute(update(Agency).values(name="a"))


def test_a_transient_session_is_flushed_where_sqlite_cannot_use_its_log() -> None:
    """Without write-ahead logging (here: an in-memory database), NORMAL could corrupt the
    database on a power failure: a transient session is then flushed like any other."""
    database = Database("sqlite://")
    try:
        with database.transient_session() as session:
            assert _commit_flushes_to_disk(session)
    finally:
        database.dispose()
