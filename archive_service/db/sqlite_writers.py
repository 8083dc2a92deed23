"""One writer at a time on an SQLite database, handed over at once instead of after a nap.

SQLite lets one transaction write at a time. A writer that finds the write lock taken waits in
SQLite's busy handler, which sleeps in growing steps (1, 2, 5, 10 … 100 ms) between tries, so
the database stays idle long after the lock is free. The deposit pipeline runs several short
write transactions per deposit in several processes; that idle waiting, not work, bounded its
throughput (the service's cores were a third idle under load).

Writers therefore first take an exclusive ``flock`` on a lock file beside the database
(``<database>-writers.lock``), polled every fraction of a millisecond, and only then ``BEGIN
IMMEDIATE``; ``commit`` and ``rollback`` release it. Readers never take it. The SQLite lock stays
the authority: this only decides who asks next. A process that dies releases its ``flock`` with
its file descriptors. Waiting longer than the busy timeout raises ``sqlite3.OperationalError``
(``database is locked``), as SQLite itself would.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

LOCK_SUFFIX = "-writers.lock"
_FIRST_PAUSE, _LONGEST_PAUSE = 0.0001, 0.001


class _Connection(sqlite3.Connection):
    """An SQLite connection that can hold the database's writer lock (see the module text)."""

    lock_path: Path
    busy_timeout: float

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock_fd: int | None = None
        self._holding = False

    def take_writer_lock(self) -> None:
        """Wait for the writer lock (``OperationalError`` after the busy timeout)."""
        if self._holding:
            return
        if self._lock_fd is None:
            self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline, pause = time.monotonic() + self.busy_timeout, _FIRST_PAUSE
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise sqlite3.OperationalError("database is locked") from None
                time.sleep(pause)
                pause = min(pause * 2, _LONGEST_PAUSE)
            else:
                self._holding = True
                return

    def release_writer_lock(self) -> None:
        """Let the next writer in (nothing happens when the lock is not held)."""
        if self._holding and self._lock_fd is not None:
            self._holding = False
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.release_writer_lock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.release_writer_lock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.release_writer_lock()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None


def connection_factory(database: str, busy_timeout: float) -> type[sqlite3.Connection]:
    """The ``factory`` for ``sqlite3.connect`` of connections to the file ``database``."""
    return type(
        "WriterLockedConnection",
        (_Connection,),
        {"lock_path": Path(database + LOCK_SUFFIX), "busy_timeout": busy_timeout},
    )


def take_writer_lock(dbapi_connection: Any) -> None:
    """Take the writer lock when ``dbapi_connection`` has one (in-memory databases have not)."""
    if isinstance(dbapi_connection, _Connection):
        dbapi_connection.take_writer_lock()


def release_writer_lock(dbapi_connection: Any) -> None:
    """Release the writer lock of ``dbapi_connection`` if it holds it."""
    if isinstance(dbapi_connection, _Connection):
        dbapi_connection.release_writer_lock()
