"""The fixity report of a period: coverage, objects and bytes checked, failures, repairs, and the
damage still open (objects whose last check found them damaged and that no repair restored)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from archive_service.dossiers.models import Dossier, StoredObject
from archive_service.integrity.fixity_models import CheckOutcome, FixityCheck, FixityRun
from archive_service.integrity.fixity_targets import current_primary_objects, overdue_objects
from archive_service.integrity.fixity_views import CheckView, check_view

LISTED = 1000
DAMAGED = (CheckOutcome.MISMATCH.value, CheckOutcome.MISSING.value)


class ReportedCheck(CheckView):
    """A failed or repaired check, with its run."""

    run_id: int


class DamagedObject(BaseModel):
    """An object whose last completed check found it damaged: it stays here until repaired."""

    key: str
    dossier_code: str | None
    last_outcome: str
    last_checked_at: datetime | None


class FixityReport(BaseModel):
    """Fixity over ``period_from``..``period_to``."""

    period_from: datetime
    period_to: datetime
    cycle_days: float
    runs: dict[str, int] = Field(description="runs started in the period, by status")
    objects_in_archive: int
    bytes_in_archive: int
    objects_checked: int = Field(description="archive objects read to the end in the period")
    bytes_checked: int
    checks: int = Field(description="checks in the period, every outcome")
    coverage: float = Field(description="objects_checked / objects_in_archive (0..1)")
    coverage_percent: float
    objects_overdue: int = Field(description="objects not proven intact within one cycle")
    failures_total: int
    failures: list[ReportedCheck] = Field(description="newest first (at most 1000)")
    repairs_total: int
    repairs: list[ReportedCheck] = Field(description="newest first (at most 1000)")
    damaged_now: list[DamagedObject] = Field(description="damage not repaired (at most 1000)")


def fixity_report(
    session: Session, period_from: datetime, period_to: datetime, *, cycle_days: float
) -> FixityReport:
    """The report of checks made from ``period_from`` to ``period_to`` (inclusive)."""
    in_period = FixityCheck.checked_at.between(period_from, period_to)
    runs = {
        str(row[0]): int(row[1])
        for row in session.execute(
            select(FixityRun.status, func.count(FixityRun.id))
            .where(FixityRun.started_at.between(period_from, period_to))
            .group_by(FixityRun.status)
        )
    }
    current = current_primary_objects().subquery()
    objects, size = session.execute(
        select(func.count(current.c.id), func.coalesce(func.sum(current.c.size), 0))
    ).one()
    checked = session.scalar(
        select(func.count(func.distinct(FixityCheck.stored_object_id)))
        .join(current, current.c.id == FixityCheck.stored_object_id)
        .where(in_period, FixityCheck.outcome != CheckOutcome.ERROR.value)
    )
    checks, bytes_checked = session.execute(
        select(
            func.count(FixityCheck.id), func.coalesce(func.sum(FixityCheck.actual_size), 0)
        ).where(in_period)
    ).one()
    failed = and_(in_period, FixityCheck.outcome != CheckOutcome.OK.value)
    repaired = and_(in_period, FixityCheck.repair.is_not(None))
    coverage = (checked or 0) / objects if objects else 1.0
    return FixityReport(
        period_from=period_from,
        period_to=period_to,
        cycle_days=cycle_days,
        runs=runs,
        objects_in_archive=int(objects),
        bytes_in_archive=int(size),
        objects_checked=int(checked or 0),
        bytes_checked=int(bytes_checked or 0),
        checks=int(checks),
        coverage=coverage,
        coverage_percent=round(coverage * 100, 2),
        objects_overdue=overdue_objects(session, cycle_days),
        failures_total=_count(session, failed),
        failures=_listed(session, failed),
        repairs_total=_count(session, repaired),
        repairs=_listed(session, repaired),
        damaged_now=damaged_now(session),
    )


def damaged_now(session: Session, limit: int = LISTED) -> list[DamagedObject]:
    """Current objects whose last completed check found them damaged, by key."""
    rows = session.execute(
        current_primary_objects()
        .add_columns(Dossier.dossier_code)
        .outerjoin(Dossier, Dossier.id == StoredObject.dossier_id)
        .where(StoredObject.last_outcome.in_(DAMAGED))
        .order_by(StoredObject.key)
        .limit(limit)
    ).all()
    return [
        DamagedObject(
            key=row[0].key,
            dossier_code=row[1],
            last_outcome=row[0].last_outcome or "",
            last_checked_at=row[0].last_checked_at,
        )
        for row in rows
    ]


def _count(session: Session, condition: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count(FixityCheck.id)).where(condition)) or 0)


def _listed(session: Session, condition: ColumnElement[bool]) -> list[ReportedCheck]:
    rows = session.execute(
        select(FixityCheck, Dossier.dossier_code)
        .outerjoin(Dossier, Dossier.id == FixityCheck.dossier_id)
        .where(condition)
        .order_by(FixityCheck.checked_at.desc(), FixityCheck.id.desc())
        .limit(LISTED)
    ).all()
    return [
        ReportedCheck(**check_view(row[0], row[1]).model_dump(), run_id=row[0].run_id)
        for row in rows
    ]
