"""HTTP routes of holds: ``POST/GET /api/v1/dossiers/{code}/holds``, ``DELETE …/holds/{id}``.

Archivists and admins place and release holds (who: the caller's key); auditors may list them.
Each placing and release is also written into the dossier's AIP (``placed_in_aip``,
``released_in_aip`` name the version; empty while it waits for the daily task).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, Field

from archive_service.errors import error_responses
from archive_service.security.api import require
from archive_service.security.models import Role
from archive_service.security.service import Principal
from retention.holds import HoldService, HoldView
from retention.http import client_address

router = APIRouter(prefix="/dossiers", tags=["retention"])

Archivist = Annotated[Principal, Depends(require(Role.ARCHIVIST))]
Reader = Annotated[Principal, Depends(require(Role.ARCHIVIST, Role.AUDITOR))]


class HoldRequest(BaseModel):
    """Why the dossier is held, and the document that orders it."""

    reason: str = Field(min_length=1, max_length=2000, examples=["Phục vụ thanh tra"])
    reference: str = Field(
        "", max_length=200, examples=["Công văn số 123/TTr ngày 01/03/2035 của Thanh tra tỉnh"]
    )


class ReleaseRequest(BaseModel):
    """Why the hold is lifted (optional)."""

    reason: str | None = Field(None, max_length=2000, examples=["Kết thúc thanh tra"])


def hold_service(request: Request) -> HoldService:
    service: HoldService = request.app.state.retention_holds
    return service


Service = Annotated[HoldService, Depends(hold_service)]


@router.post(
    "/{dossier_code}/holds",
    status_code=201,
    response_model=HoldView,
    summary="Place a hold on a dossier (no disposal, no shortening; S3 legal hold; in the AIP)",
    responses=error_responses(401, 403, 404, 409, 422),
)
def place_hold(
    request: Request, principal: Archivist, service: Service, dossier_code: str, body: HoldRequest
) -> HoldView:
    """Records the hold, a PREMIS event and an audit entry, then sets a legal hold on every
    stored object version of the dossier, then writes the event into a new AIP version."""
    return service.place(
        principal,
        dossier_code,
        reason=body.reason,
        reference=body.reference,
        remote_addr=client_address(request),
    )


@router.get(
    "/{dossier_code}/holds",
    response_model=list[HoldView],
    summary="Holds of a dossier, active and released",
    responses=error_responses(401, 403, 404),
)
def list_holds(_principal: Reader, service: Service, dossier_code: str) -> list[HoldView]:
    return service.list(dossier_code)


@router.delete(
    "/{dossier_code}/holds/{hold_id}",
    response_model=HoldView,
    summary="Release a hold (legal holds lifted when no hold is left; recorded in the AIP)",
    responses=error_responses(401, 403, 404, 409),
)
def release_hold(
    request: Request,
    principal: Archivist,
    service: Service,
    dossier_code: str,
    hold_id: int,
    body: Annotated[ReleaseRequest | None, Body()] = None,
) -> HoldView:
    return service.release(
        principal,
        dossier_code,
        hold_id,
        reason=body.reason if body else None,
        remote_addr=client_address(request),
    )
