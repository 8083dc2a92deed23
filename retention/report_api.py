"""HTTP routes of retention reports: ``GET /api/v1/retention/permanent?year=`` (JSON or CSV)
and ``GET /api/v1/reports/retention``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from archive_service.errors import error_responses
from archive_service.security.api import require
from archive_service.security.models import Role
from archive_service.security.service import Principal
from retention.reports import (
    PermanentDossier,
    RetentionReport,
    permanent_csv,
    permanent_dossiers,
    retention_report,
)

router = APIRouter(tags=["retention"])

Reader = Annotated[Principal, Depends(require(Role.ARCHIVIST, Role.AUDITOR))]
CSV_TYPE = "text/csv; charset=utf-8"


@router.get(
    "/retention/permanent",
    response_model=list[PermanentDossier],
    summary="Permanent dossiers ending in a year (transfer registration, safety copies)",
    responses={
        200: {"content": {"application/json": {}, "text/csv": {}}},
        **error_responses(401, 403, 422),
    },
)
def permanent(
    request: Request,
    _principal: Reader,
    year: Annotated[int, Query(ge=1900, le=2200, description="year of the dossiers' end date")],
    output: Annotated[
        Literal["json", "csv"] | None, Query(alias="format", description="json or csv")
    ] = None,
) -> list[PermanentDossier] | Response:
    """JSON by default; CSV with ``format=csv`` or ``Accept: text/csv``."""
    rows = permanent_dossiers(request.app.state.database, year)
    wants_csv = output == "csv" or (
        output is None and "text/csv" in request.headers.get("accept", "")
    )
    if not wants_csv:
        return rows
    return Response(
        permanent_csv(rows),
        media_type=CSV_TYPE,
        headers={"Content-Disposition": f'attachment; filename="vinh-vien-{year}.csv"'},
    )


@router.get(
    "/reports/retention",
    response_model=RetentionReport,
    summary="Dossiers by retention code, disposals by month, review, holds",
    responses=error_responses(401, 403, 422),
)
def report(
    request: Request,
    _principal: Reader,
    months_ahead: Annotated[int, Query(ge=1, le=600)] = 24,
) -> RetentionReport:
    return retention_report(request.app.state.database, months_ahead=months_ahead)
