"""What the filesystem store keeps beside the bytes of a key: digest, metadata, retention, hold.

The records live in one SQLite database (``records.sqlite3``, write-ahead log) in the sidecar
directory, outside the storage root, so the tree itself stays clean. One change is one
transaction: durable when it returns (the log is flushed), unless made with ``durable=False`` —
then it is visible at once to every reader (atomic, never torn) but only made durable by the
next durable change or by ``sync``, one flush for a whole batch. ``write_many`` changes many
records in one transaction. Locking the objects of a dossier therefore costs few transactions
and one flush, not one of each per object.

Each thread (and each process after a fork) has its own connection; changes of one key are
serialised by the caller (the store holds the key's directory lock).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from archive_service.storage.base import Retention, RetentionMode

DATABASE_NAME = "records.sqlite3"
#: How long a change waits for another process's transaction on the records.
BUSY_TIMEOUT_SECONDS = 60.0
_UPSERT = (
    "INSERT INTO records (key, record) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET record = excluded.record"
)
_KEYS_PER_QUERY = 500  # below SQLite's oldest limit of 999 parameters per statement


@dataclass(frozen=True)
class Record:
    """What the sidecar remembers of one key."""

    sha256: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    retention: Retention | None = None
    legal_hold: bool = False

    @property
    def describes_only_bytes(self) -> bool:
        """No metadata, retention or legal hold: nothing a missing record would not say."""
        return not self.metadata and self.retention is None and not self.legal_hold

    def to_json(self) -> str:
        retention = self.retention and {
            "mode": self.retention.mode.value,
            "until": self.retention.until.isoformat(),
        }
        return json.dumps(
            {
                "sha256": self.sha256,
                "metadata": dict(self.metadata),
                "retention": retention,
                "legal_hold": self.legal_hold,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> Record:
        data = json.loads(text)
        retention = data.get("retention")
        return cls(
            sha256=data.get("sha256"),
            metadata=data.get("metadata") or {},
            retention=retention
            and Retention(
                RetentionMode(retention["mode"]), datetime.fromisoformat(retention["until"])
            ),
            legal_hold=bool(data.get("legal_hold")),
        )


class Sidecar:
    """The records of one store's keys (see the module text)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.database = directory / DATABASE_NAME
        self._local = threading.local()

    def read(self, key: str) -> Record:
        """The record of ``key``; an empty one when it has none."""
        row = (
            self._connection()
            .execute("SELECT record FROM records WHERE key = ?", (key,))
            .fetchone()
        )
        return Record.from_json(row[0]) if row else Record()

    def write(self, key: str, record: Record, *, durable: bool = True) -> None:
        """Replace the record of ``key``."""
        self._change(_UPSERT, (key, record.to_json()), durable)

    def read_many(self, keys: Iterable[str]) -> dict[str, Record]:
        """The record of each of ``keys`` (an empty one for a key that has none)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, Record] = {}
        connection = self._connection()
        for start in range(0, len(wanted), _KEYS_PER_QUERY):
            chunk = wanted[start : start + _KEYS_PER_QUERY]
            marks = ", ".join("?" * len(chunk))
            rows = connection.execute(
                f"SELECT key, record FROM records WHERE key IN ({marks})", chunk
            )
            found.update((key, Record.from_json(text)) for key, text in rows)
        return {key: found.get(key, Record()) for key in wanted}

    def write_many(self, records: Mapping[str, Record], *, durable: bool = True) -> None:
        """Replace the record of each key of ``records``, all in one transaction."""
        if not records:
            return
        rows = [(key, record.to_json()) for key, record in records.items()]
        connection = self._connection()
        connection.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        with _transaction(connection):
            connection.executemany(_UPSERT, rows)

    def remove(self, key: str) -> None:
        """Drop the record of ``key`` (nothing is written when it has none)."""
        connection = self._connection()
        if connection.execute("SELECT 1 FROM records WHERE key = ?", (key,)).fetchone():
            self._change("DELETE FROM records WHERE key = ?", (key,), durable=True)

    def keys(self) -> list[str]:
        """Every key that has a record, in order."""
        rows = self._connection().execute("SELECT key FROM records ORDER BY key")
        return [key for (key,) in rows]

    def sync(self) -> None:
        """Make every change made so far durable (one flush of the log)."""
        connection = self._connection()
        connection.execute("PRAGMA synchronous=FULL")
        with _transaction(connection):
            connection.execute("UPDATE barrier SET count = count + 1")

    def check(self) -> None:
        """Raise ``OSError`` (or ``sqlite3.Error``) unless records can be written."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise PermissionError(f"{self.directory} is not writable")
        self._connection()

    def _change(self, statement: str, parameters: tuple[str, ...], durable: bool) -> None:
        connection = self._connection()
        connection.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        connection.execute(statement, parameters)

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection (a new one in a forked child), the schema created."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None and self._local.pid == os.getpid():
            return connection
        self.directory.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            self.database,
            timeout=BUSY_TIMEOUT_SECONDS,
            isolation_level=None,  # autocommit: each statement is its own transaction
            check_same_thread=False,
        )
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(
            "CREATE TABLE IF NOT EXISTS records (key TEXT PRIMARY KEY, record TEXT NOT NULL)"
        )
        connection.execute("CREATE TABLE IF NOT EXISTS barrier (count INTEGER NOT NULL)")
        connection.execute(
            "INSERT INTO barrier (count) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM barrier)"
        )
        self._local.connection, self._local.pid = connection, os.getpid()
        return connection


@contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``; rolled back when anything fails, the commit too, so
    that no failure leaves the connection holding the write lock of every other writer."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
