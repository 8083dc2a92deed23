"""Destroying one dossier of an approved disposal list, in three idempotent steps.

1. **Decide** (one transaction, the dossier row locked): a dossier that no longer exists, got a
   hold, whose term or disposal date moved since the list was proposed, that is not due, or whose
   storage lock has not run out is **skipped** with the reason. Otherwise its destruction record
   is written — the SHA-256 list of every stored object version the catalogue knows — and the
   item becomes ``destroying``: from now on no hold can be placed, the dossier will go.
2. **Delete** every stored version of every key under the dossier's OCFL object, on every
   storage copy (the primary store and the replica when one is configured), listing again until
   nothing is left. A version already gone is fine.
3. **Remove** (one transaction) the dossier's rows — documents, stored objects, PREMIS events,
   holds, the dossier (its search entry) — and mark the record destroyed and the item done.

An execution interrupted anywhere is finished by running it again: step 1 is skipped for an item
already ``destroying``, steps 2 and 3 tolerate what an earlier run already did. Audit entries are
never deleted: the trail still verifies afterwards.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from archive_service.dossiers.models import Document, Dossier, PremisEventRecord, StoredObject
from archive_service.integrity.audit import record_audit
from archive_service.security.service import Principal
from archive_service.storage.base import ObjectNotFound, ObjectStore
from archive_service.storage.ocfl import OcflRepository
from retention.holds import active_hold_count
from retention.models import (
    DestructionRecord,
    DisposalItem,
    DisposalProposal,
    DossierHold,
    ItemStatus,
)
from retention.policy import is_due
from retention.terms import PERMANENT_CODE

#: Listing and deleting again when a listing still finds versions (a server's listing may lag).
DELETE_ROUNDS = 5


@dataclass(frozen=True)
class Storage:
    """The storage copies of the archive: the primary repository and the replica, if any."""

    repository: OcflRepository
    replica: ObjectStore | None = None

    @property
    def copies(self) -> list[tuple[str, ObjectStore]]:
        stores = [("primary", self.repository.store)]
        if self.replica is not None:
            stores.append(("replica", self.replica))
        return stores


def decide(
    session: Session,
    proposal: DisposalProposal,
    item: DisposalItem,
    principal: Principal,
    today: date,
    now: datetime,
) -> DestructionRecord | None:
    """Step 1 for a ``proposed`` item: skip it (``None``) or record what will be destroyed."""
    dossier = session.scalar(
        select(Dossier).where(Dossier.dossier_code == item.dossier_code).with_for_update()
    )
    reason = _skip_reason(session, dossier, item, today, now)
    if reason is not None:
        item.status = ItemStatus.SKIPPED.value
        item.skip_reason = reason
        item.processed_at = now
        record_audit(
            session,
            actor=principal.actor,
            role=principal.role,
            action="dossier.destruction_skipped",
            target_type="dossier",
            target_id=item.dossier_code,
            detail={"proposal_id": proposal.id, "reason": reason},
        )
        return None
    assert dossier is not None
    objects = _stored_objects(session, dossier.id)
    record = _record(proposal, dossier, objects, principal, now)
    session.add(record)
    item.status = ItemStatus.DESTROYING.value
    session.flush()
    record_audit(
        session,
        actor=principal.actor,
        role=principal.role,
        action="dossier.destruction_started",
        target_type="dossier",
        target_id=dossier.dossier_code,
        detail={
            "proposal_id": proposal.id,
            "decision_number": proposal.decision_number,
            "record_id": record.id,
            "objects": record.object_count,
            "objects_sha256": objects_digest(record.objects),
        },
    )
    return record


def delete_stored(storage: Storage, aip_object_id: str) -> int:
    """Step 2: delete every version of every key under the object, on every copy; how many."""
    prefix = storage.repository.object_root(aip_object_id) + "/"
    deleted = 0
    for _name, store in storage.copies:
        for _ in range(DELETE_ROUNDS):
            versions = list(store.list_versions(prefix))
            if not versions:
                break
            for info in versions:
                try:
                    store.delete(info.key, version_id=info.version_id)
                except ObjectNotFound:
                    continue
                deleted += 1
        else:
            left = sum(1 for _ in store.list_versions(prefix))
            raise RuntimeError(f"{left} phiên bản dưới {prefix} vẫn còn sau khi xóa")
    return deleted


def remove_rows(
    session: Session,
    proposal: DisposalProposal,
    item: DisposalItem,
    record: DestructionRecord,
    principal: Principal,
    now: datetime,
) -> None:
    """Step 3: the dossier's rows go; the record and the audit entries stay."""
    dossier_id = session.scalar(
        select(Dossier.id).where(Dossier.dossier_code == item.dossier_code).with_for_update()
    )
    if dossier_id is not None:
        for table in (Document, StoredObject, PremisEventRecord, DossierHold):
            session.execute(delete(table).where(table.dossier_id == dossier_id))
        session.execute(delete(Dossier).where(Dossier.id == dossier_id))
    record.destroyed_at = now
    item.status = ItemStatus.DESTROYED.value
    item.processed_at = now
    record_audit(
        session,
        actor=principal.actor,
        role=principal.role,
        action="dossier.destroyed",
        target_type="dossier",
        target_id=item.dossier_code,
        detail={
            "proposal_id": proposal.id,
            "decision_number": proposal.decision_number,
            "decision_date": proposal.decision_date.isoformat() if proposal.decision_date else None,
            "record_id": record.id,
            "objects": record.object_count,
            "bytes": record.total_bytes,
            "objects_sha256": objects_digest(record.objects),
        },
    )


def objects_digest(objects: Sequence[dict[str, Any]]) -> str:
    """SHA-256 of the destroyed-objects list (canonical JSON): it ties the audit to the record."""
    text = json.dumps(list(objects), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _skip_reason(
    session: Session,
    dossier: Dossier | None,
    item: DisposalItem,
    today: date,
    now: datetime,
) -> str | None:
    if dossier is None:
        return "Hồ sơ không còn trong kho lưu trữ."
    holds = active_hold_count(session, dossier.id)
    if holds:
        return f"Hồ sơ có {holds} lệnh giữ sau khi danh sách được lập: không hủy."
    if dossier.retention_code == PERMANENT_CODE or dossier.disposal_date is None:
        return "Thời hạn bảo quản của hồ sơ đã đổi thành vĩnh viễn: không hủy."
    if dossier.disposal_date != item.disposal_date:
        return (
            f"Ngày hết hạn đã đổi từ {item.disposal_date.isoformat()} sang "
            f"{dossier.disposal_date.isoformat()} sau khi danh sách được lập: không hủy."
        )
    if not is_due(dossier.disposal_date, today):
        return f"Hồ sơ chưa đến hạn hủy (hết hạn ngày {dossier.disposal_date.isoformat()})."
    if dossier.locks_applied_at is None:
        return "Khóa lưu trữ của phiên bản hiện tại chưa được áp dụng: chưa hủy, thử lại sau."
    if dossier.locked_until is not None and dossier.locked_until > now:
        return f"Khóa lưu trữ còn hiệu lực đến {dossier.locked_until.isoformat()}: không hủy."
    return None


def _stored_objects(session: Session, dossier_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(StoredObject)
        .where(StoredObject.dossier_id == dossier_id)
        .order_by(StoredObject.storage, StoredObject.key, StoredObject.version_id)
    )
    return [
        {
            "storage": row.storage,
            "key": row.key,
            "version_id": row.version_id,
            "size": row.size,
            "sha256": row.sha256,
        }
        for row in rows
    ]


def _record(
    proposal: DisposalProposal,
    dossier: Dossier,
    objects: list[dict[str, Any]],
    principal: Principal,
    now: datetime,
) -> DestructionRecord:
    assert dossier.disposal_date is not None and dossier.retention_code is not None
    assert proposal.decision_number and proposal.decision_date and proposal.signer
    assert proposal.approved_by is not None
    return DestructionRecord(
        proposal_id=proposal.id,
        dossier_code=dossier.dossier_code,
        title=dossier.title,
        agency_id=dossier.agency_id,
        file_code=dossier.file_code,
        procedure_code=dossier.procedure_code,
        aip_object_id=dossier.aip_object_id,
        end_date=dossier.end_date,
        retention_code=dossier.retention_code,
        retention_years=dossier.retention_years,
        disposal_date=dossier.disposal_date,
        retention_basis=dossier.retention_basis or {},
        decision_number=proposal.decision_number,
        decision_date=proposal.decision_date,
        signer=proposal.signer,
        proposed_by=proposal.proposed_by,
        approved_by=proposal.approved_by,
        executed_by=principal.actor,
        objects=objects,
        object_count=len(objects),
        total_bytes=sum(int(entry["size"]) for entry in objects),
        started_at=now,
    )
