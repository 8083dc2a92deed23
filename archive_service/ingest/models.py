"""Tables of the deposit pipeline: one row per deposit, its status and its problems."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from archive_service.db.base import Base, utcnow


class DepositStatus(StrEnum):
    """Where a deposit is: received → checking → packaging → storing → archived, or an end."""

    RECEIVED = "received"
    CHECKING = "checking"
    PACKAGING = "packaging"
    STORING = "storing"
    ARCHIVED = "archived"
    REJECTED = "rejected"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in (DepositStatus.ARCHIVED, DepositStatus.REJECTED, DepositStatus.FAILED)


class WaitingFor(StrEnum):
    """What a deposit waits for, without using an attempt, before its pipeline can go on."""

    DOSSIER = "dossier"  # another deposit of the same dossier is being written
    STORAGE = "storage"  # another writer holds the dossier's OCFL object (D-47)


#: Statuses in which a deposit may write its dossier's OCFL object: at most one deposit per
#: dossier code may be in one of them (a partial unique index), so writers never race.
WRITING_STATUSES = (DepositStatus.PACKAGING, DepositStatus.STORING)
_WRITING = text("status IN ('packaging', 'storing')")


class Deposit(Base):
    """A deposit as received: the staged SIP, who sent it, and how far it got."""

    __tablename__ = "deposits"
    __table_args__ = (
        UniqueConstraint("agency_id", "idempotency_key"),
        UniqueConstraint("agency_id", "sip_sha256"),
        Index(
            "uq_deposits_dossier_code_writing",
            "dossier_code",
            unique=True,
            sqlite_where=_WRITING,
            postgresql_where=_WRITING,
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), default=None)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)
    kind: Mapped[str] = mapped_column(String(10), default="zip")  # zip | plain
    sip_sha256: Mapped[str] = mapped_column(String(64))
    sip_size: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), default=DepositStatus.RECEIVED, index=True)
    dossier_code: Mapped[str | None] = mapped_column(String(100), default=None, index=True)
    record_status: Mapped[str | None] = mapped_column(String(20), default=None)
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    failure_reason: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    waiting_for: Mapped[str | None] = mapped_column(String(20), default=None)  # WaitingFor
    waiting_since: Mapped[datetime | None] = mapped_column(default=None)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    aip_object_id: Mapped[str | None] = mapped_column(String(200), default=None)
    aip_version: Mapped[str | None] = mapped_column(String(20), default=None)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
