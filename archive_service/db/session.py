"""Engine and sessions: SQLite (WAL) for the embedded default, PostgreSQL in production."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

from archive_service.db.sqlite_writers import (
    connection_factory,
    release_writer_lock,
    take_writer_lock,
)

#: Seconds an SQLite writer waits for the write lock before giving up.
SQLITE_BUSY_TIMEOUT = 30.0


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys, a busy timeout and, for a database
    file, the writer lock of ``sqlite_writers``."""
    if url.startswith("sqlite"):
        connect_args: dict[str, Any] = {
            "timeout": SQLITE_BUSY_TIMEOUT,
            "check_same_thread": False,
        }
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            connect_args["factory"] = connection_factory(database, SQLITE_BUSY_TIMEOUT)
        engine = create_engine(url, connect_args=connect_args)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


_WAL, _SYNCHRONOUS = "archive_wal", "archive_synchronous"  # keys of a connection's info


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    # Let SQLAlchemy, not the driver, open transactions (so BEGIN IMMEDIATE below is used).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    record.info[_WAL] = str(mode).lower() == "wal"  # refused on some file systems
    cursor.execute("PRAGMA synchronous=FULL")
    record.info[_SYNCHRONOUS] = "FULL"
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


READ_ONLY = "archive_read_only"
#: Execution option of a transaction whose commit is not flushed to disk on its own
#: (``Database.transient_session``).
TRANSIENT = "archive_transient"


def _sqlite_begin_immediate(connection: Any) -> None:
    # Writers take the write lock at BEGIN, so concurrent writers queue instead of failing
    # mid-transaction; read-only sessions use a plain deferred BEGIN and never wait for writers.
    options = connection.get_execution_options()
    if options.get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")
        return
    dbapi_connection = connection.connection.dbapi_connection
    take_writer_lock(dbapi_connection)
    try:
        # In WAL mode NORMAL commits without syncing the log (the next FULL commit syncs it);
        # in any other mode it could corrupt the database on a power failure.
        info = connection.info
        wanted = "NORMAL" if options.get(TRANSIENT) and info.get(_WAL) else "FULL"
        if info.get(_SYNCHRONOUS) != wanted:  # set only when it changes
            connection.exec_driver_sql(f"PRAGMA synchronous={wanted}")
            info[_SYNCHRONOUS] = wanted
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        release_writer_lock(dbapi_connection)
        raise


class Database:
    """One database: its engine, a session factory, and read-only sessions and connections."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.read_engine = self.engine.execution_options(**{READ_ONLY: True})
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)
        self.transient_sessions = sessionmaker(
            self.engine.execution_options(**{TRANSIENT: True}), expire_on_commit=False
        )

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on any error."""
        with self.sessions() as session, session.begin():
            yield session

    @contextmanager
    def transient_session(self) -> Iterator[Session]:
        """``session``, but on SQLite in WAL mode its commit is not flushed to disk on its own:
        a power failure of the machine (not a crash of a process) may undo it, never leaving
        the database inconsistent, and the next ordinary commit makes it durable too. Elsewhere
        (PostgreSQL, whose server can restart while workers on other hosts go on) it is an
        ordinary session. Only for what nobody relies on once the machine has restarted: a
        deposit's lease. Never for audit entries: a checkpoint may sign them at once."""
        with self.transient_sessions() as session, session.begin():
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reading only: on SQLite it does not wait for the write lock."""
        with self.read_sessions() as session, session.begin():
            yield session

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """A plain connection for reading only (on SQLite it does not wait for the write lock).

        For the few small SELECTs of every request (API key, deposit status): no ORM session,
        identity map or unit of work to set up, about a third of a read session's CPU."""
        with self.read_engine.connect() as connection:
            yield connection

    def dispose(self) -> None:
        self.engine.dispose()
