"""HTTP routes of term changes: ``POST /api/v1/dossiers/{code}/retention`` (an archivist
shortens the term) and ``GET /api/v1/dossiers/{code}/retention/changes`` (every change after
ingest: schedule recomputations and archivists' decisions)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from archive_service.errors import error_responses
from archive_service.security.api import require
from archive_service.security.models import Role
from archive_service.security.service import Principal
from retention.changes import ChangeView, RetentionChanges
from retention.http import client_address
from retention.models import ChangeStatus

router = APIRouter(prefix="/dossiers", tags=["retention"])

Archivist = Annotated[Principal, Depends(require(Role.ARCHIVIST))]
Reader = Annotated[Principal, Depends(require(Role.ARCHIVIST, Role.AUDITOR))]


class ShortenRequest(BaseModel):
    """The shorter term, why, and the document deciding it."""

    retention: str = Field(
        description="01–06, or 07 with `years` (also written 07:<years>)", examples=["07"]
    )
    years: int | None = Field(None, description="years of a 07 term (2–70)", examples=[15])
    reason: str = Field(
        "", max_length=2000, description="required", examples=["Hội đồng xác định giá trị"]
    )
    reference: str = Field(
        "", max_length=200, examples=["Biên bản số 12/BB-HĐXĐGT ngày 02/03/2035"]
    )


def change_service(request: Request) -> RetentionChanges:
    service: RetentionChanges = request.app.state.retention_changes
    return service


Service = Annotated[RetentionChanges, Depends(change_service)]


@router.post(
    "/{dossier_code}/retention",
    response_model=ChangeView,
    summary="Shorten a dossier's term (archivist, with a reason; never while held)",
    responses={
        202: {"description": "decided; the new AIP version is written by the daily task"},
        **error_responses(401, 403, 404, 409, 422),
    },
)
def shorten(
    request: Request,
    response: Response,
    principal: Archivist,
    service: Service,
    dossier_code: str,
    body: ShortenRequest,
) -> ChangeView:
    """Refused (nothing changes) without a reason (422 ``REASON_REQUIRED``), for a term that is
    not shorter (409 ``NOT_SHORTER``), while a hold is active (409 ``DOSSIER_HELD``), while a new
    version is being written (409 ``DOSSIER_BUSY``) and when the new disposal date falls before
    the storage lock in force (409 ``STORAGE_LOCKED``). Otherwise: a new AIP version whose
    PREMIS carries the decision, an audit entry, the term stored; storage locks unchanged."""
    view = service.shorten(
        principal,
        dossier_code,
        retention=body.retention,
        years=body.years,
        reason=body.reason,
        reference=body.reference,
        remote_addr=client_address(request),
    )
    if view.status == ChangeStatus.PENDING:
        response.status_code = 202
    return view


@router.get(
    "/{dossier_code}/retention/changes",
    response_model=list[ChangeView],
    summary="Changes of a dossier's term after ingest, oldest first",
    responses=error_responses(401, 403, 404),
)
def list_changes(_principal: Reader, service: Service, dossier_code: str) -> list[ChangeView]:
    return service.history(dossier_code)
