"""One writer at a time per name across hosts: PostgreSQL advisory locks.

The filesystem store locks its OCFL objects itself (``writer_locks``); an S3 bucket has no lock
that dies with its holder. Where the archive's database is PostgreSQL — the production stack,
whose workers may run on several hosts — a writer holds a session-level advisory lock on a
connection of its own for the length of the block. The server drops the lock when that
connection ends, so a killed worker (or, within about a minute, its lost host) never blocks
anyone, while a stuck one (stopped, starved, paused) keeps it and its successor waits instead
of undoing its work. A writer whose connection ended has lost its lock: it asks
(``confirm``) just before it commits, and stops there (``WriterLockLost``).

The replica sync holds one the same way (``integrity/replica_sync.py``). Locks live in
PostgreSQL's two-integer key space of the archive's database, the first integer
``LOCK_CLASS``, so they never meet the single-key lock of the audit trail. Two names whose
SHA-256 starts with the same 32 bits (one chance in 2^32) merely wait for each other. A process
must not fork while it holds one: the child would share, and could end, the holder's
connection (the archive never does). Connect directly or through a session-mode pool: a
transaction-mode pooler would hand the session, and its locks, to others.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from archive_service.storage.base import HeldLock, WriterLockLost
from archive_service.storage.writer_locks import wait_to_take

#: The first key of every lock held here ("OCFL" in ASCII).
LOCK_CLASS = 0x4F43464C
_TRY = text("SELECT pg_try_advisory_lock(:lock_class, :key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:lock_class, :key)")
_HELD = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
    "AND classid = :lock_class AND objid = :key AND objsubid = 2 AND granted"
)
#: Server and client notice a peer gone silent (a host lost, a network cut) within about a
#: minute, not the two hours of the operating systems' default: the server then drops the
#: lock of a lost worker, and a worker cut off learns that its lock is gone.
_KEEPALIVES = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "options": "-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3",
}


class AdvisoryWriterLocks:
    """Writer locks held in the PostgreSQL database at ``url`` (an SQLAlchemy URL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        # A connection per block, closed at its end: nothing pooled outlives a lock.
        self._engine = create_engine(
            url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args=_KEEPALIVES
        )

    def __repr__(self) -> str:
        return f"AdvisoryWriterLocks({self._engine.url.render_as_string(hide_password=True)!r})"

    @contextlib.contextmanager
    def exclusive(self, name: str, *, timeout: float) -> Iterator[HeldLock]:
        """Be the only holder of ``name`` until the block ends; ``StoreBusy`` when another
        holder keeps it for ``timeout`` seconds."""
        key = {"lock_class": LOCK_CLASS, "key": lock_key(name)}
        with self._engine.connect() as connection:
            wait_to_take(lambda: bool(connection.scalar(_TRY, key)), name, timeout=timeout)
            try:
                yield _SessionLock(connection, name, key)
            finally:
                # Closing the connection lets go of the lock too, should the unlock fail.
                with contextlib.suppress(SQLAlchemyError):
                    connection.execute(_UNLOCK, key)


class _SessionLock:
    """An advisory lock held by the session of ``connection``."""

    def __init__(self, connection: Connection, name: str, key: dict[str, int]) -> None:
        self._connection, self._name = connection, name
        # pg_locks shows the two keys as unsigned 32-bit oids.
        self._oids = {"lock_class": LOCK_CLASS, "key": key["key"] & 0xFFFFFFFF}

    def confirm(self) -> None:
        """``WriterLockLost`` when the session ended (the server restarted, the connection was
        cut or terminated) or no longer holds the lock."""
        try:
            held = self._connection.scalar(_HELD, self._oids)
        except SQLAlchemyError as exc:
            raise WriterLockLost(f"{self._name}: the writer lock was lost: {exc}") from exc
        if not held:
            raise WriterLockLost(f"{self._name}: the writer lock is no longer held")


def lock_key(name: str) -> int:
    """The second key of ``name``'s lock: the first 32 bits of its SHA-256, signed."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:4], "big", signed=True)
