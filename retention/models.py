"""Tables of retention: holds on dossiers, retention changes, disposal proposals and their items,
destruction records, and how far the replica's copies follow the storage locks.

The retention state of a dossier itself (term, disposal date, basis, review status, storage lock)
lives in columns of ``dossiers`` (``archive_service.dossiers.models.Dossier``).

A destruction record outlives the dossier it describes: it keeps no foreign key to it, and it is
the only row left of a disposed dossier (with the audit entries, which are never deleted).
"""

from __future__ import annotations

from datetime import date, datetime
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


class ReviewStatus(StrEnum):
    """``dossiers.review_status``: ``under_review`` ("Xem xét hủy") once past its disposal date."""

    UNDER_REVIEW = "under_review"


class ProposalStatus(StrEnum):
    """Where a disposal list is: proposed → approved → executing → executed."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    EXECUTING = "executing"
    EXECUTED = "executed"


class ItemStatus(StrEnum):
    """One dossier of a disposal list: waiting, being destroyed, destroyed, or skipped."""

    PROPOSED = "proposed"
    DESTROYING = "destroying"
    DESTROYED = "destroyed"
    SKIPPED = "skipped"


class DossierHold(Base):
    """A hold (lệnh giữ, phong tỏa) on a dossier: while active, no disposal, no shortening."""

    __tablename__ = "dossier_holds"

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(
        ForeignKey("dossiers.id", ondelete="CASCADE"), index=True
    )
    dossier_code: Mapped[str] = mapped_column(String(100), index=True)
    reason: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(String(200), default="")
    placed_by: Mapped[str] = mapped_column(String(200))
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_by: Mapped[str | None] = mapped_column(String(200), default=None)
    released_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    release_reason: Mapped[str | None] = mapped_column(Text, default=None)
    #: When storage last matched this hold (legal hold on every object version); ``None``: to do.
    storage_synced_at: Mapped[datetime | None] = mapped_column(default=None)
    #: The PREMIS events of placing and releasing it (``premis_events.event_id``), and the AIP
    #: version whose ``PREMIS.xml`` first carries each (``None``: not written into the AIP yet).
    placed_event_id: Mapped[str | None] = mapped_column(String(100), default=None)
    placed_in_aip: Mapped[str | None] = mapped_column(String(20), default=None)
    released_event_id: Mapped[str | None] = mapped_column(String(100), default=None)
    released_in_aip: Mapped[str | None] = mapped_column(String(20), default=None)

    @property
    def active(self) -> bool:
        return self.released_at is None


class ChangeOrigin(StrEnum):
    """What a metadata-only AIP version records: a term changed after ingest — under a new
    schedule, or by an archivist's decision — or a hold placed or released."""

    SCHEDULE = "schedule"
    ARCHIVIST = "archivist"
    HOLD = "hold"
    RELEASE = "release"


#: The origins that change the dossier's term (the others only add an event to its AIP).
TERM_ORIGINS = (ChangeOrigin.SCHEDULE, ChangeOrigin.ARCHIVIST)
HOLD_ORIGINS = (ChangeOrigin.HOLD, ChangeOrigin.RELEASE)


class ChangeStatus(StrEnum):
    """``pending`` until the new AIP version is stored and recorded, then ``done``;
    ``abandoned`` when the dossier moved on before (its new version was never written)."""

    PENDING = "pending"
    DONE = "done"
    ABANDONED = "abandoned"


_PENDING = text("status = 'pending'")


class RetentionChange(Base):
    """A change of a dossier's retention written as a new AIP version (``retention.changes``):
    a new term, or the event of a hold placed or released (``retention.hold_changes``).

    Recorded ``pending`` before storage is touched, like a deposit: the OCFL version it writes
    carries the message ``retention <id>``, so a run interrupted after storage committed is
    finished, never repeated. At most one change per dossier is pending (a partial unique
    index), and a pending change keeps deposits of the dossier waiting: one writer per object.
    """

    __tablename__ = "retention_changes"
    __table_args__ = (
        Index(
            "uq_retention_changes_dossier_pending",
            "dossier_id",
            unique=True,
            sqlite_where=_PENDING,
            postgresql_where=_PENDING,
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    dossier_id: Mapped[int] = mapped_column(
        ForeignKey("dossiers.id", ondelete="CASCADE"), index=True
    )
    dossier_code: Mapped[str] = mapped_column(String(100), index=True)
    origin: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=ChangeStatus.PENDING, index=True)
    #: The AIP version the change was decided on, and the version it wrote.
    base_version: Mapped[str] = mapped_column(String(20))
    aip_version: Mapped[str | None] = mapped_column(String(20), default=None)
    #: ``{"retention", "disposal_date"}`` before; the retention record stored on the dossier after
    #: (for a hold or its release: ``{"hold_id", "at"}``, the hold and the time of its event).
    previous: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    decision: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    event_id: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(String(200), default="")
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(20), default=None)
    remote_addr: Mapped[str | None] = mapped_column(String(100), default=None)
    schedule_version: Mapped[str | None] = mapped_column(String(100), default=None)
    schedule_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class DisposalProposal(Base):
    """A disposal list: proposed by an archivist, approved by another person, then executed."""

    __tablename__ = "disposal_proposals"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default=ProposalStatus.PROPOSED, index=True)
    reason: Mapped[str] = mapped_column(Text)
    proposed_by: Mapped[str] = mapped_column(String(200))
    proposed_at: Mapped[datetime] = mapped_column(default=utcnow)
    decision_number: Mapped[str | None] = mapped_column(String(100), default=None)
    decision_date: Mapped[date | None] = mapped_column(default=None)
    signer: Mapped[str | None] = mapped_column(String(200), default=None)
    approved_by: Mapped[str | None] = mapped_column(String(200), default=None)
    approved_at: Mapped[datetime | None] = mapped_column(default=None)
    executed_by: Mapped[str | None] = mapped_column(String(200), default=None)
    execution_started_at: Mapped[datetime | None] = mapped_column(default=None)
    executed_at: Mapped[datetime | None] = mapped_column(default=None)


class DisposalItem(Base):
    """One dossier of a disposal list, with the disposal date it was proposed (and approved) on."""

    __tablename__ = "disposal_items"
    __table_args__ = (UniqueConstraint("proposal_id", "dossier_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(
        ForeignKey("disposal_proposals.id", ondelete="CASCADE"), index=True
    )
    dossier_code: Mapped[str] = mapped_column(String(100), index=True)
    title: Mapped[str] = mapped_column(Text)
    retention_code: Mapped[str] = mapped_column(String(10))
    disposal_date: Mapped[date]
    status: Mapped[str] = mapped_column(String(20), default=ItemStatus.PROPOSED, index=True)
    skip_reason: Mapped[str | None] = mapped_column(Text, default=None)
    processed_at: Mapped[datetime | None] = mapped_column(default=None)


class DestructionRecord(Base):
    """What is left of a destroyed dossier: who decided, who destroyed, and what, by SHA-256."""

    __tablename__ = "destruction_records"
    __table_args__ = (UniqueConstraint("proposal_id", "dossier_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("disposal_proposals.id"), index=True)
    dossier_code: Mapped[str] = mapped_column(String(100), index=True)
    title: Mapped[str] = mapped_column(Text)
    agency_id: Mapped[str] = mapped_column(String(100))
    file_code: Mapped[str] = mapped_column(String(100))
    procedure_code: Mapped[str] = mapped_column(String(50))
    aip_object_id: Mapped[str] = mapped_column(String(200))
    end_date: Mapped[date]
    retention_code: Mapped[str] = mapped_column(String(10))
    retention_years: Mapped[int | None] = mapped_column(Integer, default=None)
    disposal_date: Mapped[date]
    retention_basis: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    decision_number: Mapped[str] = mapped_column(String(100))
    decision_date: Mapped[date]
    signer: Mapped[str] = mapped_column(String(200))
    proposed_by: Mapped[str] = mapped_column(String(200))
    approved_by: Mapped[str] = mapped_column(String(200))
    executed_by: Mapped[str] = mapped_column(String(200))
    #: ``[{"storage", "key", "version_id", "size", "sha256"}]`` of every object version destroyed.
    objects: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    object_count: Mapped[int] = mapped_column(Integer, default=0)
    total_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    destroyed_at: Mapped[datetime | None] = mapped_column(default=None)


class ReplicaRetention(Base):
    """How far the replica's copy of a stored object follows its dossier's storage lock
    (``archive_service.integrity.replica_retention``): the copy needs nothing while
    ``dossiers.locked_until`` is not later than ``retained_until``.

    For a file of a version directory on a replica with Object Lock: the retention date the copy
    carries (``None``: none). For a root file (never locked on the replica) and on a replica
    without Object Lock: the dossier's lock date when the sync last looked, nothing being set.
    """

    __tablename__ = "replica_retention"

    stored_object_id: Mapped[int] = mapped_column(
        ForeignKey("stored_objects.id", ondelete="CASCADE"), primary_key=True
    )
    retained_until: Mapped[datetime | None] = mapped_column(default=None)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
