"""HTTP routes of review and disposal.

- ``GET /api/v1/retention/due`` — dossiers under review ("Xem xét hủy");
- ``POST /api/v1/disposals`` — an archivist proposes a list (``dossier_codes``, ``reason``);
- ``POST /api/v1/disposals/{id}/approve`` — the approver (role ``admin``; never the proposer)
  approves with the council decision number, date and signer;
- ``POST /api/v1/disposals/{id}/execute`` — runs (or finishes) the destruction, synchronously;
- ``GET /api/v1/disposals/{id}``, ``…/records``, ``…/certificate.xml`` — the list, its
  destruction records, the certificate as XML;
- ``GET /api/v1/disposals/{id}/certificate.pdf`` — the certificate of an executed list as a
  PDF/A-2b "Biên bản hủy tài liệu";
- ``GET /api/v1/destruction-records?dossier_code=`` — what is left of a destroyed dossier.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from archive_service.config import Settings
from archive_service.errors import error_responses
from archive_service.security.api import require
from archive_service.security.models import Role
from archive_service.security.service import Principal
from retention.certificate_pdf import destruction_certificate_pdf
from retention.destruction_xml import destruction_certificate
from retention.disposal import DisposalService
from retention.disposal_views import DestructionRecordView, DisposalView, DueDossier
from retention.http import client_address
from retention.review import due_dossiers

router = APIRouter(tags=["retention"])

Archivist = Annotated[Principal, Depends(require(Role.ARCHIVIST))]
Approver = Annotated[Principal, Depends(require(Role.ADMIN))]
Reader = Annotated[Principal, Depends(require(Role.ARCHIVIST, Role.AUDITOR))]


class ProposalRequest(BaseModel):
    """The dossiers to dispose of, and why."""

    dossier_codes: list[str] = Field(
        min_length=1, max_length=10_000, examples=[["000.00.19.H56-100610-0001"]]
    )
    reason: str = Field(min_length=1, max_length=2000, examples=["Hồ sơ hết thời hạn bảo quản"])


class ApprovalRequest(BaseModel):
    """The decision of the council (Hội đồng xác định giá trị tài liệu) approving the list."""

    decision_number: str = Field(min_length=1, max_length=100, examples=["15/QĐ-UBND"])
    decision_date: date = Field(examples=["2035-03-01"])
    signer: str = Field(min_length=1, max_length=200, examples=["Chủ tịch Phạm Văn D"])


def disposal_service(request: Request) -> DisposalService:
    service: DisposalService = request.app.state.retention_disposals
    return service


Service = Annotated[DisposalService, Depends(disposal_service)]


@router.get(
    "/retention/due",
    response_model=list[DueDossier],
    summary="Dossiers past their disposal date, under review ('Xem xét hủy')",
    responses=error_responses(401, 403),
)
def list_due(request: Request, _principal: Reader) -> list[DueDossier]:
    return due_dossiers(request.app.state.database)


@router.post(
    "/disposals",
    status_code=201,
    response_model=DisposalView,
    summary="Propose a disposal list (archivist)",
    responses=error_responses(401, 403, 404, 409, 422),
)
def propose(
    request: Request, principal: Archivist, service: Service, body: ProposalRequest
) -> DisposalView:
    """Every dossier must be past its disposal date, without a hold, on no other open list."""
    return service.propose(
        principal, body.dossier_codes, body.reason, remote_addr=client_address(request)
    )


@router.get(
    "/disposals/{proposal_id}",
    response_model=DisposalView,
    summary="A disposal list: decision, execution, what became of each dossier",
    responses=error_responses(401, 403, 404),
)
def get_disposal(_principal: Reader, service: Service, proposal_id: int) -> DisposalView:
    return service.get(proposal_id)


@router.post(
    "/disposals/{proposal_id}/approve",
    response_model=DisposalView,
    summary="Approve a disposal list (the approver: role admin, never the proposer)",
    responses=error_responses(401, 403, 404, 409, 422),
)
def approve(
    request: Request,
    principal: Approver,
    service: Service,
    proposal_id: int,
    body: ApprovalRequest,
) -> DisposalView:
    return service.approve(
        principal,
        proposal_id,
        decision_number=body.decision_number,
        decision_date=body.decision_date,
        signer=body.signer,
        remote_addr=client_address(request),
    )


@router.post(
    "/disposals/{proposal_id}/execute",
    response_model=DisposalView,
    summary="Execute an approved disposal list (idempotent: a re-run finishes it)",
    responses=error_responses(401, 403, 404, 409),
)
def execute(
    request: Request, principal: Archivist, service: Service, proposal_id: int
) -> DisposalView:
    """Destroys each dossier still due and not held; reports skipped ones and storage errors."""
    return service.execute(principal, proposal_id, remote_addr=client_address(request))


@router.get(
    "/disposals/{proposal_id}/records",
    response_model=list[DestructionRecordView],
    summary="Destruction records of a disposal list",
    responses=error_responses(401, 403, 404),
)
def list_records(
    _principal: Reader, service: Service, proposal_id: int
) -> list[DestructionRecordView]:
    return service.records(proposal_id)


@router.get(
    "/disposals/{proposal_id}/certificate.xml",
    summary="The destruction certificate of a disposal list, as XML",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}}, **error_responses(401, 403, 404)},
)
def certificate(
    request: Request, _principal: Reader, service: Service, proposal_id: int
) -> Response:
    return _certificate(request, service, proposal_id, destruction_certificate, "xml")


@router.get(
    "/disposals/{proposal_id}/certificate.pdf",
    summary="The destruction certificate of an executed disposal list, as PDF/A-2b",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **error_responses(401, 403, 404)},
)
def certificate_pdf(
    request: Request, _principal: Reader, service: Service, proposal_id: int
) -> Response:
    """404 ``DISPOSAL_NOT_EXECUTED`` until the list is executed: nothing is certified before."""
    return _certificate(request, service, proposal_id, destruction_certificate_pdf, "pdf")


def _certificate(
    request: Request,
    service: DisposalService,
    proposal_id: int,
    render: Callable[..., bytes],
    extension: Literal["xml", "pdf"],
) -> Response:
    """The certificate of a disposal list rendered by ``render``, as a download."""
    settings: Settings = request.app.state.settings
    body = render(
        service.get(proposal_id),
        service.records(proposal_id),
        archive_code=settings.archive_code,
        archive_name=settings.archive_name,
    )
    return Response(
        body,
        media_type=f"application/{extension}",
        headers={"Content-Disposition": f'attachment; filename="huy-{proposal_id}.{extension}"'},
    )


@router.get(
    "/destruction-records",
    response_model=list[DestructionRecordView],
    summary="Destruction records of a dossier code",
    responses=error_responses(401, 403, 422),
)
def records_of_dossier(
    _principal: Reader,
    service: Service,
    dossier_code: Annotated[str, Query(min_length=1, max_length=100)],
) -> list[DestructionRecordView]:
    return service.records_of_dossier(dossier_code)
