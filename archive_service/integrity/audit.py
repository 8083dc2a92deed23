"""The single way to write the audit trail: append one entry in the caller's transaction.

Entries are never changed or removed; the ORM refuses to update or delete them. Identity numbers
in ``detail`` are masked before they are written, because the trail can never be corrected.

Each entry is chained to the one before (``integrity.chain``). Appending takes the chain lock
for the rest of the caller's transaction, so two transactions never get the same ``seq``: on
PostgreSQL a transaction-level advisory lock, on SQLite the write lock every writing session
already holds from ``BEGIN IMMEDIATE``. Write the audit entry late in a transaction: every
other auditing transaction waits for it to end.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper, Session

from archive_service.db.base import utcnow
from archive_service.integrity.chain import GENESIS_HASH, EntryContent, canonical_json
from archive_service.integrity.models import AuditEntry
from archive_service.security.masking import mask_value

MAX_ACTOR, MAX_ACTION, MAX_TARGET_TYPE, MAX_TARGET_ID, MAX_REMOTE_ADDR = 200, 100, 50, 200, 100

#: Key of the PostgreSQL advisory lock that serialises appends to the chain ("AUDITCHN").
CHAIN_LOCK_KEY = 0x415544495443484E
#: The newest entry's ``seq`` and hash, read by every append: built once, compiled once.
_CHAIN_HEAD = select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)


class AuditTrailIsAppendOnly(Exception):
    """Something tried to change or delete an audit entry."""


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    role: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    remote_addr: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append an audit entry (who, what, on what, from where, when) to ``session``'s transaction.

    ``actor`` is ``key:<id>``, ``system`` or ``cli:<user>``; ``action`` a dotted verb such as
    ``deposit.received``. The entry is flushed, so it has its id; it is committed or rolled back
    together with the caller's work. ``detail`` must be JSON (it is stored as it is hashed).
    """
    _check("actor", actor, MAX_ACTOR, required=True)
    _check("action", action, MAX_ACTION, required=True)
    _check("target_type", target_type, MAX_TARGET_TYPE)
    _check("target_id", target_id, MAX_TARGET_ID)
    _check("remote_addr", remote_addr, MAX_REMOTE_ADDR)
    detail_json: dict[str, Any] = json.loads(canonical_json(mask_value(dict(detail or {}))))
    lock_chain(session)
    head_seq, head_hash = chain_head(session)
    content = EntryContent(
        seq=head_seq + 1,
        at=utcnow(),
        actor=actor,
        role=str(role) if role is not None else None,
        action=action,
        target_type=target_type,
        target_id=target_id,
        remote_addr=remote_addr,
        detail=detail_json,
        prev_hash=head_hash,
    )
    entry = AuditEntry(
        seq=content.seq,
        at=content.at,
        actor=content.actor,
        role=content.role,
        action=content.action,
        target_type=content.target_type,
        target_id=content.target_id,
        remote_addr=content.remote_addr,
        detail=detail_json,
        prev_hash=content.prev_hash,
        entry_hash=content.digest(),
    )
    session.add(entry)
    session.flush()
    return entry


def lock_chain(session: Session) -> None:
    """Hold the chain lock until ``session``'s transaction ends (PostgreSQL; see module doc)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})


def chain_head(session: Session) -> tuple[int, str]:
    """``seq`` and ``entry_hash`` of the newest entry; ``(0, GENESIS_HASH)`` for an empty trail."""
    row = session.execute(_CHAIN_HEAD).first()
    return (row.seq, row.entry_hash) if row is not None else (0, GENESIS_HASH)


def _check(name: str, value: str | None, limit: int, *, required: bool = False) -> None:
    if required and not value:
        raise ValueError(f"audit entry needs a non-empty {name}")
    if value is not None and len(value) > limit:
        raise ValueError(f"audit {name} longer than {limit} characters: {value[:40]!r}…")


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _refuse_change(_mapper: Mapper[Any], _connection: Connection, entry: AuditEntry) -> None:
    raise AuditTrailIsAppendOnly(f"audit entry {entry.id} cannot be changed or deleted")
