"""One writer at a time per name across hosts: PostgreSQL advisory locks.

The filesystem store locks its OCFL objects itself (``writer_locks``); an S3 bucket has no lock
that dies with its holder. Where the archive's database is PostgreSQL — the production stack,
whose workers may run on several hosts — a writer holds a session-level advisory lock on a
connection of its own for the length of the block. The server drops the lock when that
connection ends, so a killed worker (or its host) never blocks anyone, while a stuck one
(stopped, starved, paused) keeps it and its successor waits instead of undoing its work.

Locks live in PostgreSQL's two-integer key space, the first integer ``LOCK_CLASS``, so they
never meet the single-key locks of the audit trail. Two names whose SHA-256 starts with the
same 32 bits (one chance in 2^32) merely wait for each other. A process must not fork while it
holds one: the child would share, and could end, the holder's connection (the archive never
does).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from archive_service.storage.writer_locks import wait_to_take

#: The first key of every OCFL writer lock ("OCFL" in ASCII).
LOCK_CLASS = 0x4F43464C
_TRY = text("SELECT pg_try_advisory_lock(:lock_class, :key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:lock_class, :key)")


class AdvisoryWriterLocks:
    """Writer locks held in the PostgreSQL database at ``url`` (an SQLAlchemy URL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        # A connection per block, closed at its end: nothing pooled outlives a lock.
        self._engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")

    def __repr__(self) -> str:
        return f"AdvisoryWriterLocks({self._engine.url.render_as_string(hide_password=True)!r})"

    @contextlib.contextmanager
    def exclusive(self, name: str, *, timeout: float) -> Iterator[None]:
        """Be the only holder of ``name`` until the block ends; ``StoreBusy`` when another
        holder keeps it for ``timeout`` seconds."""
        key = {"lock_class": LOCK_CLASS, "key": lock_key(name)}
        with self._engine.connect() as connection:
            wait_to_take(lambda: _taken(connection, key), name, timeout=timeout)
            try:
                yield
            finally:
                # Closing the connection lets go of the lock too, should the unlock fail.
                with contextlib.suppress(SQLAlchemyError):
                    connection.execute(_UNLOCK, key)


def lock_key(name: str) -> int:
    """The second key of ``name``'s lock: the first 32 bits of its SHA-256, signed."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:4], "big", signed=True)


def _taken(connection: Connection, key: dict[str, int]) -> bool:
    return bool(connection.scalar(_TRY, key))
