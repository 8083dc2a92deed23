"""The audit trail: an append-only, hash-chained table of who did what, when, from where."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from archive_service.db.base import Base, utcnow

_BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class AuditEntry(Base):
    """One audited action. Rows are only ever inserted (never updated or deleted).

    ``seq`` numbers the entries 1, 2, 3 … without gaps; ``entry_hash`` is the SHA-256 of the
    entry's canonical content (see ``integrity.chain``), which includes ``prev_hash``, the
    ``entry_hash`` of the entry before.
    """

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    seq: Mapped[int] = mapped_column(_BIG_ID, unique=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))  # "key:<id>", "system", "cli:<user>"
    role: Mapped[str | None] = mapped_column(String(20), default=None)
    action: Mapped[str] = mapped_column(String(100), index=True)
    target_type: Mapped[str | None] = mapped_column(String(50), default=None)
    target_id: Mapped[str | None] = mapped_column(String(200), default=None, index=True)
    remote_addr: Mapped[str | None] = mapped_column(String(100), default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signed Merkle root over the entries ``first_seq``..``last_seq`` (see ``chain``)."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    archive_code: Mapped[str] = mapped_column(String(50))
    first_seq: Mapped[int] = mapped_column(_BIG_ID, unique=True)
    last_seq: Mapped[int] = mapped_column(_BIG_ID, unique=True)
    merkle_root: Mapped[str] = mapped_column(String(64))
    head_hash: Mapped[str] = mapped_column(String(64))  # entry_hash of last_seq
    signature: Mapped[str] = mapped_column(String(128))  # Ed25519, hex
    key_fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of the raw public key
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    storage_key: Mapped[str] = mapped_column(String(300))
    tsa_token: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # RFC 3161
