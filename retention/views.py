"""Read models of retention shown with a dossier and listed by the retention routes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from archive_service.dossiers.models import Dossier
from retention.assign import stored_term
from retention.policy import due_from


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class RetentionView(_View):
    """The dossier's retention: term, disposal date and why, review status, storage lock."""

    retention: str = Field(description="01–06 or 07:<years>", examples=["06"])
    code: str = Field(examples=["06"])
    years: int | None = Field(description="null: permanent", examples=[10])
    label: str = Field(examples=["10 năm"])
    permanent: bool
    disposal_date: date | None = Field(description="last day the dossier must be kept")
    due_from: date | None = Field(description="first day it may be reviewed for disposal")
    review_status: str | None = Field(description="under_review ('Xem xét hủy') or null")
    active_holds: int
    basis: list[dict[str, Any]] = Field(description="what each source says, and which applies")
    schedule_version: str | None = Field(description="schedule version the term was decided on")
    schedule_checked: str | None = Field(
        description="schedule version the term was last computed with (recomputed on change)"
    )
    schedule_sha256: str | None = Field(description="SHA-256 of that schedule file")
    override: dict[str, Any] | None = Field(
        description="an archivist's shortening: by, at, reason, reference, and the term the "
        "policy gave (a later computation replaces the decision only if longer than that)"
    )
    locks_applied_at: datetime | None = Field(description="when storage locks were applied")
    locked_until: datetime | None
    lock_mode: str | None = Field(examples=["COMPLIANCE"])


def retention_view(dossier: Dossier, active_holds: int) -> RetentionView | None:
    """The retention of ``dossier`` (``None`` when none was assigned)."""
    term = stored_term(dossier)
    if term is None:
        return None
    basis = dossier.retention_basis or {}
    return RetentionView(
        retention=term.text,
        code=term.code,
        years=term.years,
        label=term.label,
        permanent=term.permanent,
        disposal_date=dossier.disposal_date,
        due_from=due_from(dossier.disposal_date),
        review_status=dossier.review_status,
        active_holds=active_holds,
        basis=list(basis.get("basis", [])),
        schedule_version=basis.get("schedule_version"),
        schedule_checked=dossier.retention_schedule_version,
        schedule_sha256=dossier.retention_schedule_sha256,
        override=basis.get("override"),
        locks_applied_at=dossier.locks_applied_at,
        locked_until=dossier.locked_until,
        lock_mode=dossier.lock_mode,
    )
