"""A sidecar transaction that fails, even at its commit, leaves no write lock behind."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from archive_service.storage.sidecar import _transaction


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, timeout=0.1)
    connection.execute("PRAGMA foreign_keys=ON")
    return connection


def test_a_failed_commit_is_rolled_back_and_frees_the_write_lock(tmp_path: Path) -> None:
    database = tmp_path / "records.sqlite3"
    with closing(_connect(database)) as first, closing(_connect(database)) as second:
        first.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        first.execute(
            "CREATE TABLE child (parent INTEGER REFERENCES parent (id) "
            "DEFERRABLE INITIALLY DEFERRED)"
        )
        # A deferred foreign key is checked at COMMIT, which then fails and, left alone,
        # keeps the transaction (and the database's write lock) open.
        with pytest.raises(sqlite3.IntegrityError), _transaction(first):
            first.execute("INSERT INTO child (parent) VALUES (7)")

        assert not first.in_transaction
        assert first.execute("SELECT count(*) FROM child").fetchone() == (0,)
        with _transaction(second):  # another writer gets the lock at once
            second.execute("INSERT INTO parent (id) VALUES (7)")
        assert first.execute("SELECT count(*) FROM parent").fetchone() == (1,)


def test_an_error_inside_is_rolled_back(tmp_path: Path) -> None:
    with closing(_connect(tmp_path / "records.sqlite3")) as connection:
        connection.execute("CREATE TABLE t (x INTEGER)")
        with pytest.raises(RuntimeError), _transaction(connection):
            connection.execute("INSERT INTO t VALUES (1)")
            raise RuntimeError("interrupted")
        assert not connection.in_transaction
        assert connection.execute("SELECT count(*) FROM t").fetchone() == (0,)
