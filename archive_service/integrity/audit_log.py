"""Reading the audit trail: entries and checkpoints as chain values, searches, metrics."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from archive_service.integrity.chain import (
    ChainEntry,
    CheckpointStatement,
    EntryContent,
    SignedCheckpoint,
)
from archive_service.integrity.models import AuditCheckpoint, AuditEntry

STREAM_BATCH = 1000
MAX_PAGE = 500


def chain_entry(row: AuditEntry) -> ChainEntry:
    """A stored entry as the chain sees it."""
    content = EntryContent(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        role=row.role,
        action=row.action,
        target_type=row.target_type,
        target_id=row.target_id,
        remote_addr=row.remote_addr,
        detail=row.detail,
        prev_hash=row.prev_hash,
    )
    return ChainEntry(content, row.entry_hash)


def iter_chain_entries(session: Session, *, after_seq: int = 0) -> Iterator[ChainEntry]:
    """Every entry after ``after_seq`` in ``seq`` order, streamed in batches."""
    statement = (
        select(AuditEntry)
        .where(AuditEntry.seq > after_seq)
        .order_by(AuditEntry.seq)
        .execution_options(yield_per=STREAM_BATCH)
    )
    for row in session.scalars(statement):
        yield chain_entry(row)


def checkpoint_from_row(row: AuditCheckpoint) -> SignedCheckpoint:
    """A stored checkpoint as the chain sees it."""
    statement = CheckpointStatement(
        archive=row.archive_code,
        first_seq=row.first_seq,
        last_seq=row.last_seq,
        merkle_root=row.merkle_root,
        head_hash=row.head_hash,
        created_at=row.created_at,
    )
    return SignedCheckpoint(
        statement=statement,
        signature=row.signature,
        key_fingerprint=row.key_fingerprint,
        storage_key=row.storage_key,
        tsa_token=row.tsa_token,
    )


def load_checkpoints(session: Session) -> list[SignedCheckpoint]:
    """Every checkpoint, oldest first."""
    rows = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.first_seq))
    return [checkpoint_from_row(row) for row in rows]


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    """The checkpoint covering the newest entries, if any."""
    return session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.last_seq.desc()).limit(1)
    ).first()


def audit_metrics(session: Session) -> dict[str, float | None]:
    """Prometheus gauges of the trail, by metric name.

    ``archive_audit_chain_length`` (entries), ``archive_audit_checkpointed_entries`` (entries
    covered by a signed checkpoint) and ``archive_audit_last_checkpoint_timestamp_seconds`` (Unix
    time of the newest checkpoint; ``None`` before the first one).
    """
    length = session.scalar(select(func.max(AuditEntry.seq))) or 0
    latest = latest_checkpoint(session)
    return {
        "archive_audit_chain_length": float(length),
        "archive_audit_checkpointed_entries": float(latest.last_seq if latest else 0),
        "archive_audit_last_checkpoint_timestamp_seconds": (
            latest.created_at.timestamp() if latest else None
        ),
    }


class Order(StrEnum):
    """Direction of a listing by ``seq``."""

    ASC = "asc"
    DESC = "desc"


@dataclass(frozen=True)
class AuditQuery:
    """Filters of an audit listing (all optional, combined with AND) and its keyset page."""

    actor: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    order: Order = Order.DESC
    cursor: int | None = None  # seq: entries after it (asc) or before it (desc)
    limit: int = 50


@dataclass(frozen=True)
class AuditPage:
    """One page of entries and the cursor of the next (``None``: this was the last page)."""

    entries: list[ChainEntry]
    next_cursor: int | None


def search_entries(session: Session, query: AuditQuery) -> AuditPage:
    """Entries matching ``query``, one keyset page at a time."""
    limit = max(1, min(query.limit, MAX_PAGE))
    statement = _filtered(select(AuditEntry), query)
    if query.order is Order.ASC:
        if query.cursor is not None:
            statement = statement.where(AuditEntry.seq > query.cursor)
        statement = statement.order_by(AuditEntry.seq)
    else:
        if query.cursor is not None:
            statement = statement.where(AuditEntry.seq < query.cursor)
        statement = statement.order_by(AuditEntry.seq.desc())
    rows = list(session.scalars(statement.limit(limit + 1)))
    more = len(rows) > limit
    entries = [chain_entry(row) for row in rows[:limit]]
    return AuditPage(entries, entries[-1].seq if more else None)


def _filtered(statement: Select[AuditEntry], query: AuditQuery) -> Select[AuditEntry]:
    equal = {
        AuditEntry.actor: query.actor,
        AuditEntry.action: query.action,
        AuditEntry.target_type: query.target_type,
        AuditEntry.target_id: query.target_id,
    }
    for column, value in equal.items():
        if value is not None:
            statement = statement.where(column == value)
    if query.since is not None:
        statement = statement.where(AuditEntry.at >= query.since)
    if query.until is not None:
        statement = statement.where(AuditEntry.at < query.until)
    return statement
