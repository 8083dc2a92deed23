"""What the auditor API and the CLI show of fixity: runs, their checks, pages of runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import Session

from archive_service.dossiers.models import Dossier
from archive_service.integrity.fixity_models import CheckOutcome, FixityCheck, FixityRun

CHECK_PAGE = 1000


class _View(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class RunView(_View):
    """A fixity run: its scope, how it ended, its counts."""

    id: int
    scope: str = Field(examples=["dossier"])
    scope_value: str | None = Field(default=None, examples=["000.00.19.H56-240610-0001"])
    requested_by: str
    status: str = Field(examples=["passed"], description="running, passed, failed or error")
    started_at: datetime
    finished_at: datetime | None
    objects_total: int = Field(description="objects in the scope when the run started")
    bytes_total: int
    objects_checked: int = Field(0, description="objects read to the end (ok, mismatch, missing)")
    objects_ok: int
    objects_mismatch: int
    objects_missing: int
    objects_error: int = Field(description="objects that could not be read: never a pass")
    objects_repaired: int
    bytes_checked: int
    coverage: float = Field(description="objects_checked / objects_total")
    detail: str | None = None


class CheckView(_View):
    """One object re-read and re-hashed."""

    key: str
    dossier_code: str | None = None
    version_id: str
    aip_version: str
    outcome: str = Field(examples=["ok"], description="ok, mismatch, missing or error")
    expected_sha256: str = Field(description="recorded at ingest")
    inventory_sha256: str | None = Field(description="the OCFL inventory's digest (content)")
    actual_sha256: str | None
    expected_size: int
    actual_size: int | None
    checked_at: datetime
    duration_ms: int
    detail: str | None = None
    repair: str | None = Field(default=None, description="repaired or failed (from the replica)")
    repair_detail: str | None = None


class RunDetail(RunView):
    """A run and (some of) its checks."""

    checks: list[CheckView] = Field(default_factory=list)


class RunPage(_View):
    items: list[RunView]
    total: int
    limit: int
    offset: int


class ChecksShown(StrEnum):
    """Which checks a run's view lists."""

    NONE = "none"
    FAILED = "failed"
    ALL = "all"


def run_view(run: FixityRun) -> RunView:
    completed = run.objects_ok + run.objects_mismatch + run.objects_missing
    return RunView.model_validate(run).model_copy(update={"objects_checked": completed})


def run_detail(
    session: Session,
    run: FixityRun,
    shown: ChecksShown = ChecksShown.ALL,
    *,
    limit: int | None = CHECK_PAGE,
    offset: int = 0,
) -> RunDetail:
    """The run with the checks ``shown`` (in key order, paged)."""
    checks: list[CheckView] = []
    if shown is not ChecksShown.NONE:
        query = _checks_query(run.id, failed_only=shown is ChecksShown.FAILED)
        checks = [_check_view(row) for row in session.execute(query.limit(limit).offset(offset))]
    return RunDetail(**run_view(run).model_dump(), checks=checks)


def iter_checks(session: Session, run_id: int) -> Iterator[CheckView]:
    """Every check of a run, streamed in pages (for report files)."""
    offset = 0
    while True:
        rows = session.execute(_checks_query(run_id).limit(CHECK_PAGE).offset(offset)).all()
        yield from (_check_view(row) for row in rows)
        if len(rows) < CHECK_PAGE:
            return
        offset += CHECK_PAGE


def run_page(session: Session, *, status: str | None, limit: int, offset: int) -> RunPage:
    """Runs, newest first."""
    query = select(FixityRun)
    if status:
        query = query.where(FixityRun.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(FixityRun.id.desc()).limit(limit).offset(offset))
    return RunPage(items=[run_view(r) for r in rows], total=total, limit=limit, offset=offset)


def _checks_query(run_id: int, *, failed_only: bool = False) -> Select[FixityCheck, str | None]:
    query = (
        select(FixityCheck, Dossier.dossier_code)
        .outerjoin(Dossier, Dossier.id == FixityCheck.dossier_id)
        .where(FixityCheck.run_id == run_id)
        .order_by(FixityCheck.dossier_id, FixityCheck.key, FixityCheck.id)
    )
    if failed_only:
        query = query.where(FixityCheck.outcome != CheckOutcome.OK.value)
    return query


def check_view(check: FixityCheck, dossier_code: str | None) -> CheckView:
    return CheckView.model_validate(check).model_copy(update={"dossier_code": dossier_code})


def _check_view(row: Row[FixityCheck, str | None]) -> CheckView:
    return check_view(row[0], row[1])
