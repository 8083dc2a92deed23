"""Tables of archived dossiers: the catalogue, their documents, stored objects and events."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from archive_service.db.base import Base, utcnow


class Dossier(Base):
    """An archived dossier (hồ sơ), one per TTHC dossier code, with its current AIP version."""

    __tablename__ = "dossiers"

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_code: Mapped[str] = mapped_column(String(100), unique=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    aip_object_id: Mapped[str] = mapped_column(String(200), unique=True)
    aip_version: Mapped[str] = mapped_column(String(20))
    file_code: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(Text)
    procedure_code: Mapped[str] = mapped_column(String(50), index=True)
    procedure_name: Mapped[str] = mapped_column(String(500))
    sector_code: Mapped[str] = mapped_column(String(50), index=True)
    final_status: Mapped[str] = mapped_column(String(20), index=True)
    received_at: Mapped[datetime]
    settled_at: Mapped[datetime] = mapped_column(index=True)
    start_date: Mapped[date]
    end_date: Mapped[date]
    maintenance: Mapped[str] = mapped_column(String(10))
    mode: Mapped[str] = mapped_column(String(10))
    applicant_name: Mapped[str] = mapped_column(String(500))
    applicant_id_number: Mapped[str | None] = mapped_column(String(50), default=None)
    total_doc: Mapped[int] = mapped_column(Integer)
    metadata_json: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    archived_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Retention (``retention/``): the effective term and its disposal date (``None``: permanent),
    # why (``RetentionDecision.as_dict``), the review status, and the storage lock applied to
    # the stored objects (``locks_applied_at`` is ``None`` until the current version is locked).
    retention_code: Mapped[str | None] = mapped_column(String(10), default=None, index=True)
    retention_years: Mapped[int | None] = mapped_column(Integer, default=None)
    disposal_date: Mapped[date | None] = mapped_column(default=None, index=True)
    retention_basis: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # What the policy read (``DossierRetentionFacts``) and the schedule (version, SHA-256 of the
    # file) the term was last computed with: a dossier whose schedule digest differs from the
    # schedule in force is recomputed (``retention.recompute``).
    retention_facts: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    retention_schedule_version: Mapped[str | None] = mapped_column(String(100), default=None)
    retention_schedule_sha256: Mapped[str | None] = mapped_column(
        String(64), default=None, index=True
    )
    review_status: Mapped[str | None] = mapped_column(String(20), default=None, index=True)
    locks_applied_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    lock_mode: Mapped[str | None] = mapped_column(String(20), default=None)


class Document(Base):
    """A document of a dossier as it stands in the current AIP version."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("dossier_id", "doc_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"))
    doc_id: Mapped[str] = mapped_column(String(100))
    ordinal: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    logical_path: Mapped[str] = mapped_column(String(1024))
    file_name: Mapped[str] = mapped_column(String(500))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    mime_type: Mapped[str | None] = mapped_column(String(200), default=None)
    format_name: Mapped[str | None] = mapped_column(String(200), default=None)
    pronom_id: Mapped[str | None] = mapped_column(String(50), default=None)
    rendition_path: Mapped[str | None] = mapped_column(String(1024), default=None)
    rendition_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    rendition_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    # The PDF/A rendition step (``ingest/renditions_step``): created, not-needed or failed (a
    # preservation risk, with the reason); ``None`` when the version was archived without it.
    rendition_status: Mapped[str | None] = mapped_column(String(20), default=None, index=True)
    rendition_failure: Mapped[str | None] = mapped_column(Text, default=None)
    # The PDF/A validators that approved the rendition (``veraPDF 1.26.2``,
    # ``archive-service 0.1.0 + pikepdf.pdfa 10.18.0``), from its normalization event.
    rendition_validator: Mapped[str | None] = mapped_column(String(500), default=None)


class StoredObject(Base):
    """One object in storage: what it must hash to and how big it is (fixity's reference)."""

    __tablename__ = "stored_objects"
    __table_args__ = (UniqueConstraint("storage", "key", "version_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int | None] = mapped_column(
        ForeignKey("dossiers.id", ondelete="SET NULL"), index=True, default=None
    )
    storage: Mapped[str] = mapped_column(String(50), default="primary")
    key: Mapped[str] = mapped_column(String(1024))
    version_id: Mapped[str] = mapped_column(String(200), default="")
    aip_version: Mapped[str] = mapped_column(String(20))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Kept by the fixity engine (integrity/fixity.py): the last completed check and its outcome.
    last_checked_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    last_outcome: Mapped[str | None] = mapped_column(String(20), default=None, index=True)
    # Kept by the replica sync (integrity/repair.py): the SHA-256 the replica was last seen, or
    # made, to hold for this key; None or another digest: the replica has not caught up.
    replica_sha256: Mapped[str | None] = mapped_column(String(64), default=None)


class PremisEventRecord(Base):
    """A PREMIS event recorded on a dossier (also written into its AIP)."""

    __tablename__ = "premis_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int | None] = mapped_column(
        ForeignKey("dossiers.id", ondelete="CASCADE"), index=True, default=None
    )
    deposit_id: Mapped[str | None] = mapped_column(ForeignKey("deposits.id"), default=None)
    event_id: Mapped[str] = mapped_column(String(100), unique=True)
    event_type: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime]
    outcome: Mapped[str | None] = mapped_column(String(50), default=None)
    detail: Mapped[str | None] = mapped_column(Text, default=None)
    agent: Mapped[str | None] = mapped_column(String(200), default=None)
