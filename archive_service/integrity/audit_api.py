"""HTTP routes of the audit trail (auditors and admins): list entries, verify the chain.

Both reads are themselves written to the trail (``audit.read``, ``audit.verified``).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from archive_service.config import Settings
from archive_service.db.session import Database
from archive_service.errors import error_responses, unavailable
from archive_service.integrity.audit import record_audit
from archive_service.integrity.audit_log import MAX_PAGE, AuditQuery, Order, search_entries
from archive_service.integrity.audit_verify import report_summary, verify_database
from archive_service.integrity.chain import ChainEntry, VerificationReport
from archive_service.integrity.checkpoints import archive_public_key
from archive_service.security.api import require
from archive_service.security.models import Role
from archive_service.security.service import Principal
from archive_service.storage.base import ObjectStore, StorageError

router = APIRouter(prefix="/audit", tags=["audit"])

Auditor = Annotated[Principal, Depends(require(Role.AUDITOR))]


class AuditEventView(BaseModel):
    """One entry of the trail, with the hashes that chain it."""

    seq: int = Field(examples=[42])
    at: datetime
    actor: str = Field(examples=["key:7"])
    role: str | None = Field(examples=["auditor"])
    action: str = Field(examples=["document.read"])
    target_type: str | None = Field(examples=["document"])
    target_id: str | None = Field(examples=["000.00.12.H12-240610-0001/2"])
    remote_addr: str | None = Field(examples=["203.0.113.9"])
    detail: dict[str, Any]
    prev_hash: str
    entry_hash: str

    @classmethod
    def of(cls, entry: ChainEntry) -> AuditEventView:
        content = entry.content
        return cls(
            seq=content.seq,
            at=content.at,
            actor=content.actor,
            role=content.role,
            action=content.action,
            target_type=content.target_type,
            target_id=content.target_id,
            remote_addr=content.remote_addr,
            detail=dict(content.detail),
            prev_hash=content.prev_hash,
            entry_hash=entry.entry_hash,
        )


class AuditEventPage(BaseModel):
    """A page of entries; pass ``next_cursor`` as ``cursor`` for the next (null: no more)."""

    items: list[AuditEventView]
    next_cursor: int | None


class ProblemView(BaseModel):
    """Where the chain is broken and why."""

    seq: int | None = Field(description="the broken entry, or the first entry of a checkpoint")
    kind: str = Field(examples=["content_hash_mismatch"])
    message: str


class VerificationView(BaseModel):
    """The outcome of verifying the chain, its checkpoints and their stored copies."""

    ok: bool
    entries: int
    checkpoints: int
    head_seq: int | None
    head_hash: str | None
    first_problem: ProblemView | None = Field(description="the first broken entry")
    problems: list[ProblemView]

    @classmethod
    def of(cls, report: VerificationReport) -> VerificationView:
        return cls.model_validate(report.as_json())


@router.get(
    "/events",
    response_model=AuditEventPage,
    summary="List audit entries (auditors)",
    responses=error_responses(401, 403, 422),
)
def list_events(
    request: Request,
    principal: Auditor,
    actor: Annotated[str | None, Query(description="e.g. key:7, system, cli:<user>")] = None,
    action: Annotated[str | None, Query(description="e.g. deposit.received")] = None,
    target_type: Annotated[str | None, Query()] = None,
    target_id: Annotated[str | None, Query()] = None,
    since: Annotated[datetime | None, Query(alias="from", description="at or after")] = None,
    until: Annotated[datetime | None, Query(alias="to", description="before")] = None,
    order: Annotated[Order, Query(description="by seq")] = Order.DESC,
    cursor: Annotated[int | None, Query(ge=0, description="next_cursor of the page before")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> AuditEventPage:
    """Entries matching every filter given, newest first unless ``order=asc``."""
    query = AuditQuery(actor, action, target_type, target_id, since, until, order, cursor, limit)
    database = _database(request)
    with database.read_session() as session:
        page = search_entries(session, query)
    with database.session() as session:
        record_audit(
            session,
            actor=principal.actor,
            role=principal.role,
            action="audit.read",
            remote_addr=_client(request),
            detail={**_query_detail(query), "returned": len(page.entries)},
        )
    return AuditEventPage(
        items=[AuditEventView.of(entry) for entry in page.entries], next_cursor=page.next_cursor
    )


@router.get(
    "/verify",
    response_model=VerificationView,
    summary="Verify the audit chain and its signed checkpoints (auditors)",
    responses=error_responses(401, 403, 503),
)
def verify(request: Request, principal: Auditor) -> VerificationView:
    """Recompute every entry's hash and link, every checkpoint's Merkle root and signature, and
    compare each checkpoint with its copy in storage; name the first broken entry."""
    settings: Settings = request.app.state.settings
    store: ObjectStore = request.app.state.store
    database = _database(request)
    try:
        with database.read_session() as session:
            report = verify_database(session, archive_public_key(settings), store)
    except StorageError as exc:
        raise unavailable(
            f"Không đọc được bản lưu điểm kiểm tra trong kho: {exc}", code="STORAGE_UNAVAILABLE"
        ) from exc
    with database.session() as session:
        record_audit(
            session,
            actor=principal.actor,
            role=principal.role,
            action="audit.verified",
            remote_addr=_client(request),
            detail=report_summary(report),
        )
    return VerificationView.of(report)


def _query_detail(query: AuditQuery) -> dict[str, Any]:
    detail = {name: value for name, value in asdict(query).items() if value is not None}
    for name in ("since", "until"):
        if name in detail:
            detail[name] = detail[name].isoformat()
    detail["order"] = str(query.order)
    return detail


def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None
