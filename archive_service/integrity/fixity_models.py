"""Tables of fixity: runs (what was checked, when, how it ended) and one row per object check.

A ``StoredObject`` is the reference (size and SHA-256 read back at ingest); it also carries the
time and outcome of its last completed check (``last_checked_at``, ``last_outcome``), which the
scheduler and the metrics read.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from archive_service.db.base import Base, utcnow

_BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class RunStatus(StrEnum):
    """``failed``: some object is damaged or could not be read; ``error``: the run itself broke."""

    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"


class CheckOutcome(StrEnum):
    """What one check found: ``error`` means the bytes could not be read (never a pass)."""

    OK = "ok"
    MISMATCH = "mismatch"
    MISSING = "missing"
    ERROR = "error"


class RepairOutcome(StrEnum):
    """What a repair from the replica did."""

    REPAIRED = "repaired"
    FAILED = "failed"


class FixityRun(Base):
    """One fixity run over a scope: all objects, a dossier, an agency, or those due now."""

    __tablename__ = "fixity_runs"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    scope: Mapped[str] = mapped_column(String(20))  # all | dossier | agency | scheduled
    scope_value: Mapped[str | None] = mapped_column(String(200), default=None)
    requested_by: Mapped[str] = mapped_column(String(200))  # actor: "key:<id>", "system" …
    status: Mapped[str] = mapped_column(String(20), index=True, default=RunStatus.RUNNING)
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    objects_total: Mapped[int] = mapped_column(Integer, default=0)  # in scope at the start
    bytes_total: Mapped[int] = mapped_column(BigInteger, default=0)
    objects_ok: Mapped[int] = mapped_column(Integer, default=0)
    objects_mismatch: Mapped[int] = mapped_column(Integer, default=0)
    objects_missing: Mapped[int] = mapped_column(Integer, default=0)
    objects_error: Mapped[int] = mapped_column(Integer, default=0)
    objects_repaired: Mapped[int] = mapped_column(Integer, default=0)
    bytes_checked: Mapped[int] = mapped_column(BigInteger, default=0)
    coverage: Mapped[float] = mapped_column(Float, default=0.0)
    detail: Mapped[str | None] = mapped_column(Text, default=None)


class FixityCheck(Base):
    """One object re-read and re-hashed: expected (database, inventory) and actual values."""

    __tablename__ = "fixity_checks"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("fixity_runs.id", ondelete="CASCADE"), index=True
    )
    stored_object_id: Mapped[int | None] = mapped_column(
        ForeignKey("stored_objects.id", ondelete="SET NULL"), index=True, default=None
    )
    dossier_id: Mapped[int | None] = mapped_column(
        ForeignKey("dossiers.id", ondelete="SET NULL"), index=True, default=None
    )
    storage: Mapped[str] = mapped_column(String(50))
    key: Mapped[str] = mapped_column(String(1024))
    version_id: Mapped[str] = mapped_column(String(200), default="")  # the version read
    aip_version: Mapped[str] = mapped_column(String(20))
    expected_sha256: Mapped[str] = mapped_column(String(64))
    expected_size: Mapped[int] = mapped_column(BigInteger)
    inventory_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    actual_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    actual_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    outcome: Mapped[str] = mapped_column(String(20), index=True)
    checked_at: Mapped[datetime] = mapped_column(index=True)
    duration_ms: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text, default=None)
    repair: Mapped[str | None] = mapped_column(String(20), default=None, index=True)
    repair_detail: Mapped[str | None] = mapped_column(Text, default=None)
