"""Read models of the disposal workflow: due dossiers, disposal lists, destruction records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from retention.models import DestructionRecord, DisposalItem, DisposalProposal


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class DueDossier(_View):
    """A dossier past its disposal date ("Xem xét hủy")."""

    dossier_code: str
    title: str
    agency_id: str
    retention: str = Field(examples=["06"])
    disposal_date: date
    review_status: str | None
    active_holds: int


class DisposalItemView(_View):
    """One dossier of a disposal list and what became of it."""

    dossier_code: str
    title: str
    retention: str
    disposal_date: date = Field(description="the disposal date it was proposed on")
    status: str = Field(description="proposed | destroying | destroyed | skipped")
    skip_reason: str | None
    processed_at: datetime | None
    destruction_record_id: int | None


class DisposalView(_View):
    """A disposal list: who proposed it, the approval decision, the execution."""

    id: int
    status: str = Field(description="proposed | approved | executing | executed")
    reason: str
    proposed_by: str
    proposed_at: datetime
    decision_number: str | None
    decision_date: date | None
    signer: str | None
    approved_by: str | None
    approved_at: datetime | None
    executed_by: str | None
    execution_started_at: datetime | None
    executed_at: datetime | None
    items: list[DisposalItemView]
    errors: list[str] = Field(
        default_factory=list, description="storage errors of this execution (a re-run finishes)"
    )


class DestroyedObject(_View):
    """One stored object version destroyed, by SHA-256."""

    storage: str
    key: str
    version_id: str
    size: int
    sha256: str


class DestructionRecordView(_View):
    """All that is left of a destroyed dossier."""

    id: int
    proposal_id: int
    dossier_code: str
    title: str
    agency_id: str
    file_code: str
    procedure_code: str
    aip_object_id: str
    end_date: date
    retention_code: str
    retention_years: int | None
    disposal_date: date
    retention_basis: dict[str, Any]
    decision_number: str
    decision_date: date
    signer: str
    proposed_by: str
    approved_by: str
    executed_by: str
    object_count: int
    total_bytes: int
    objects: list[DestroyedObject]
    started_at: datetime
    destroyed_at: datetime | None


def disposal_view(
    proposal: DisposalProposal,
    items: Sequence[DisposalItem],
    records: dict[str, int],
    errors: Sequence[str] = (),
) -> DisposalView:
    """``records``: destruction record id by dossier code."""
    return DisposalView(
        id=proposal.id,
        status=proposal.status,
        reason=proposal.reason,
        proposed_by=proposal.proposed_by,
        proposed_at=proposal.proposed_at,
        decision_number=proposal.decision_number,
        decision_date=proposal.decision_date,
        signer=proposal.signer,
        approved_by=proposal.approved_by,
        approved_at=proposal.approved_at,
        executed_by=proposal.executed_by,
        execution_started_at=proposal.execution_started_at,
        executed_at=proposal.executed_at,
        items=[
            DisposalItemView(
                dossier_code=item.dossier_code,
                title=item.title,
                retention=item.retention_code,
                disposal_date=item.disposal_date,
                status=item.status,
                skip_reason=item.skip_reason,
                processed_at=item.processed_at,
                destruction_record_id=records.get(item.dossier_code),
            )
            for item in items
        ],
        errors=list(errors),
    )


def record_view(record: DestructionRecord) -> DestructionRecordView:
    return DestructionRecordView(
        id=record.id,
        proposal_id=record.proposal_id,
        dossier_code=record.dossier_code,
        title=record.title,
        agency_id=record.agency_id,
        file_code=record.file_code,
        procedure_code=record.procedure_code,
        aip_object_id=record.aip_object_id,
        end_date=record.end_date,
        retention_code=record.retention_code,
        retention_years=record.retention_years,
        disposal_date=record.disposal_date,
        retention_basis=record.retention_basis,
        decision_number=record.decision_number,
        decision_date=record.decision_date,
        signer=record.signer,
        proposed_by=record.proposed_by,
        approved_by=record.approved_by,
        executed_by=record.executed_by,
        object_count=record.object_count,
        total_bytes=record.total_bytes,
        objects=[DestroyedObject(**entry) for entry in record.objects],
        started_at=record.started_at,
        destroyed_at=record.destroyed_at,
    )
