"""HTTP routes of retention: ``GET /api/v1/retention/schedule``, and the installation of every
retention route (holds, term changes, due list, disposals, reports).

``install_retention(app, api)`` loads the configured schedule (``Settings.
retention_schedule_path``) into ``app.state.retention_schedule`` — so a schedule file with errors
stops the service at start with ``ScheduleInvalid`` — builds the retention services on the
application's database and repository (``app.state.retention_holds`` …), answers their refusals
in the API's error shape (``RETENTION_ERRORS``) and mounts the routers under ``api``. Services
that need the schedule read it from there (``schedule_in_force``).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel, Field

from archive_service.config import Settings
from archive_service.errors import error_responses, install_domain_errors
from archive_service.integrity.repair import open_replica_store
from archive_service.security.api import require
from archive_service.security.models import Role
from archive_service.security.service import Principal
from retention.change_errors import CHANGE_ERRORS
from retention.changes import RetentionChanges
from retention.changes_api import router as changes_router
from retention.destroy import Storage
from retention.disposal import DisposalService
from retention.disposal_api import router as disposal_router
from retention.errors import RETENTION_ERRORS
from retention.holds import HoldService
from retention.holds_api import router as holds_router
from retention.report_api import router as report_router
from retention.schedule import Schedule, load_schedule

router = APIRouter(prefix="/retention", tags=["retention"])

TAG = {
    "name": "retention",
    "description": "Thời hạn bảo quản: danh mục thời hạn theo thủ tục, lĩnh vực, căn cứ pháp lý; "
    "lệnh giữ; xem xét và hủy hồ sơ hết hạn; báo cáo.",
}


class ScheduleRowView(BaseModel):
    """One row of the schedule."""

    line: int = Field(description="line of the row in the schedule file")
    procedure_code: str = Field(description="TTHC procedure code, 'sector:<code>' or '*'")
    scope: str = Field(description="procedure | sector | default")
    retention: str = Field(description="01–07, or 'declared' (the declared term stands)")
    years: int | None = Field(description="years of the term; null when permanent or declared")
    name: str
    legal_basis: str
    note: str


class ScheduleView(BaseModel):
    """The retention schedule in force."""

    version: str
    effective: date | None
    source: str = Field(description="file name of the schedule")
    sha256: str = Field(description="SHA-256 of the schedule file")
    rows: list[ScheduleRowView]


def install_retention(app: FastAPI, api: APIRouter) -> None:
    """Load the configured schedule into ``app.state`` and mount the retention routes."""
    settings: Settings = app.state.settings
    app.state.retention_schedule = load_schedule(settings.retention_schedule_path)
    database, repository = app.state.database, app.state.repository
    app.state.retention_changes = RetentionChanges(database, repository, settings)
    app.state.retention_holds = HoldService(database, repository, app.state.retention_changes)
    app.state.retention_disposals = DisposalService(
        database, Storage(repository, replica=open_replica_store(settings))
    )
    install_domain_errors(app, {**RETENTION_ERRORS, **CHANGE_ERRORS})
    tags = list(app.openapi_tags or [])
    app.openapi_tags = tags if TAG in tags else [*tags, TAG]
    api.include_router(router)
    api.include_router(holds_router)
    api.include_router(changes_router)
    api.include_router(disposal_router)
    api.include_router(report_router)


def schedule_in_force(request: Request) -> Schedule:
    """The schedule the application loaded at start."""
    schedule: Schedule = request.app.state.retention_schedule
    return schedule


@router.get(
    "/schedule",
    response_model=ScheduleView,
    summary="The retention schedule in force, with the legal basis of each row",
    responses=error_responses(401, 403),
)
def get_schedule(
    _principal: Annotated[Principal, Depends(require(Role.ARCHIVIST, Role.AUDITOR))],
    schedule: Annotated[Schedule, Depends(schedule_in_force)],
) -> ScheduleView:
    """Rows in file order: procedure code (or sector, or ``*``), term, legal basis, note."""
    return ScheduleView.model_validate(schedule.as_dict())
