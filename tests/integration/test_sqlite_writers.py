"""The SQLite writer lock: writers queue on it and get in as soon as it is free; readers and
ended transactions (commit, rollback, failure) never hold it."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from archive_service.db import sqlite_writers
from archive_service.db.session import Database


@pytest.fixture()
def database(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'archive.db'}")
    with database.session() as session:
        session.execute(text("CREATE TABLE t (n INTEGER)"))
    return database


def lock_is_free(database_file: Path) -> bool:
    """Whether another open file description can take the writer lock right now."""
    descriptor = os.open(str(database_file) + sqlite_writers.LOCK_SUFFIX, os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(descriptor)
    return True


def test_a_writer_holds_the_lock_until_commit_and_readers_never_take_it(
    database: Database, tmp_path: Path
) -> None:
    file = tmp_path / "archive.db"
    with database.read_session() as session:
        session.execute(text("SELECT count(*) FROM t"))
        assert lock_is_free(file)
    with database.session() as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
        assert not lock_is_free(file)
    assert lock_is_free(file)


def test_rollback_and_a_failed_transaction_release_the_lock(
    database: Database, tmp_path: Path
) -> None:
    with pytest.raises(OperationalError), database.session() as session:
        session.execute(text("INSERT INTO missing_table VALUES (1)"))
    assert lock_is_free(tmp_path / "archive.db")
    with database.session() as session:
        session.execute(text("INSERT INTO t VALUES (2)"))
        session.rollback()
        assert lock_is_free(tmp_path / "archive.db")
    with database.read_session() as session:
        assert session.scalar(text("SELECT count(*) FROM t")) == 0


def test_a_second_writer_waits_for_the_first_and_then_writes(database: Database) -> None:
    first_in, let_go = threading.Event(), threading.Event()
    order: list[str] = []

    def first() -> None:
        with database.session() as session:
            session.execute(text("INSERT INTO t VALUES (1)"))
            first_in.set()
            let_go.wait(30)
            order.append("first commits")

    thread = threading.Thread(target=first)
    thread.start()
    assert first_in.wait(30)
    second = threading.Thread(target=lambda: _write(database, order))
    second.start()
    second.join(0.3)
    assert second.is_alive()  # queued behind the first writer, not failed
    let_go.set()
    thread.join(30)
    second.join(30)
    assert order == ["first commits", "second wrote"]
    with database.read_session() as session:
        assert session.scalar(text("SELECT count(*) FROM t")) == 2


def _write(database: Database, order: list[str]) -> None:
    with database.session() as session:
        session.execute(text("INSERT INTO t VALUES (2)"))
    order.append("second wrote")


def test_waiting_longer_than_the_busy_timeout_is_database_is_locked(tmp_path: Path) -> None:
    path = str(tmp_path / "x.db")
    factory = sqlite_writers.connection_factory(path, busy_timeout=0.05)
    holder = sqlite3.connect(path, factory=factory, isolation_level=None)
    other = sqlite3.connect(path, factory=factory, isolation_level=None)
    sqlite_writers.take_writer_lock(holder)
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        sqlite_writers.take_writer_lock(other)
    holder.rollback()  # releases it
    sqlite_writers.take_writer_lock(other)
    other.close()
    holder.close()
