"""The disposal workflow (Circular 05/2025 art. 48–50): propose → approve → execute.

- **Propose** (archivist or admin): a list of dossier codes and a reason. Every dossier must
  exist, have a disposal date already past (``is_due``: permanent dossiers never are), have no
  active hold, and be on no other list still open — otherwise the whole request is refused and
  nothing is written.
- **Approve** (the approver — the ``admin`` role acts as approver) with the council decision
  number, date and signer. The proposer can never approve their own list, whatever their role.
- **Execute** (archivist or admin; only an approved list): each dossier is destroyed as
  ``retention.destroy`` describes — re-checked first (a hold or a moved date since the proposal
  skips it, with the reason), then its stored versions deleted on every copy, then its rows
  removed, leaving its destruction record. Execution is **synchronous and idempotent**: the
  request runs it to the end; if it is interrupted, or a storage copy refuses a deletion, running
  it again finishes it. A storage error leaves the item ``destroying`` and is reported.

Each step is audited; refusals change nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive_service.db.base import utcnow
from archive_service.db.session import Database
from archive_service.dossiers.models import Dossier
from archive_service.integrity.audit import record_audit
from archive_service.security.models import Role
from archive_service.security.service import Principal
from retention.assign import stored_term
from retention.clock import vietnam_today
from retention.destroy import Storage, decide, delete_stored, remove_rows
from retention.disposal_views import DestructionRecordView, DisposalView, disposal_view, record_view
from retention.errors import (
    ApproverRoleRequired,
    DisposalNotApproved,
    DisposalNotFound,
    DisposalStatusConflict,
    DossierAlreadyProposed,
    DossierHeld,
    DossierNotDue,
    DossierNotFound,
    ProposerCannotApprove,
)
from retention.holds import active_hold_count
from retention.models import (
    DestructionRecord,
    DisposalItem,
    DisposalProposal,
    ItemStatus,
    ProposalStatus,
)
from retention.policy import is_due

log = logging.getLogger(__name__)

#: Items of lists in these states still hold their dossier: no second list may take it.
OPEN_ITEM_STATUSES = (ItemStatus.PROPOSED.value, ItemStatus.DESTROYING.value)
APPROVER_ROLE = Role.ADMIN


class DisposalService:
    """Disposal lists of one archive: its database and its storage copies."""

    def __init__(self, database: Database, storage: Storage) -> None:
        self.database = database
        self.storage = storage

    # --- propose, approve, read

    def propose(
        self,
        principal: Principal,
        dossier_codes: Sequence[str],
        reason: str,
        *,
        today: date | None = None,
        remote_addr: str | None = None,
    ) -> DisposalView:
        """A new disposal list of ``dossier_codes`` (each due, not held, on no open list)."""
        today = today or vietnam_today()
        codes = list(dict.fromkeys(dossier_codes))
        with self.database.session() as session:
            dossiers = [_checked_for_proposal(session, code, today) for code in codes]
            proposal = DisposalProposal(
                status=ProposalStatus.PROPOSED.value,
                reason=reason,
                proposed_by=principal.actor,
                proposed_at=utcnow(),
            )
            session.add(proposal)
            session.flush()
            for dossier in dossiers:
                term = stored_term(dossier)
                assert term is not None and dossier.disposal_date is not None
                session.add(
                    DisposalItem(
                        proposal_id=proposal.id,
                        dossier_code=dossier.dossier_code,
                        title=dossier.title,
                        retention_code=term.text,
                        disposal_date=dossier.disposal_date,
                        status=ItemStatus.PROPOSED.value,
                    )
                )
            session.flush()
            record_audit(
                session,
                actor=principal.actor,
                role=principal.role,
                action="disposal.proposed",
                target_type="disposal",
                target_id=str(proposal.id),
                remote_addr=remote_addr,
                detail={"dossier_codes": codes, "reason": reason, "today": today.isoformat()},
            )
            proposal_id = proposal.id
        return self.get(proposal_id)

    def approve(
        self,
        principal: Principal,
        proposal_id: int,
        *,
        decision_number: str,
        decision_date: date,
        signer: str,
        remote_addr: str | None = None,
    ) -> DisposalView:
        """Approve the list with the council decision; never by its proposer."""
        if principal.role is not APPROVER_ROLE:
            raise ApproverRoleRequired(
                "Chỉ người có thẩm quyền duyệt (vai trò admin) được duyệt danh sách hủy."
            )
        with self.database.session() as session:
            proposal = _proposal_for_update(session, proposal_id)
            if proposal.proposed_by == principal.actor:
                raise ProposerCannotApprove(
                    f"Danh sách hủy số {proposal_id} do chính {principal.actor} lập: người lập "
                    "danh sách không được tự duyệt; cần một người có thẩm quyền khác."
                )
            if proposal.status != ProposalStatus.PROPOSED.value:
                raise DisposalStatusConflict(
                    f"Danh sách hủy số {proposal_id} đang ở trạng thái {proposal.status}: "
                    "chỉ danh sách mới lập (proposed) mới được duyệt."
                )
            proposal.decision_number = decision_number
            proposal.decision_date = decision_date
            proposal.signer = signer
            proposal.approved_by = principal.actor
            proposal.approved_at = utcnow()
            proposal.status = ProposalStatus.APPROVED.value
            record_audit(
                session,
                actor=principal.actor,
                role=principal.role,
                action="disposal.approved",
                target_type="disposal",
                target_id=str(proposal_id),
                remote_addr=remote_addr,
                detail={
                    "decision_number": decision_number,
                    "decision_date": decision_date.isoformat(),
                    "signer": signer,
                    "proposed_by": proposal.proposed_by,
                },
            )
        return self.get(proposal_id)

    def get(self, proposal_id: int, errors: Sequence[str] = ()) -> DisposalView:
        with self.database.read_session() as session:
            proposal = session.get(DisposalProposal, proposal_id)
            if proposal is None:
                raise DisposalNotFound(f"Không có danh sách hủy số {proposal_id}.")
            items = session.scalars(
                select(DisposalItem)
                .where(DisposalItem.proposal_id == proposal_id)
                .order_by(DisposalItem.id)
            ).all()
            rows = session.execute(
                select(DestructionRecord.dossier_code, DestructionRecord.id).where(
                    DestructionRecord.proposal_id == proposal_id
                )
            )
            records = {code: record_id for code, record_id in rows}
            return disposal_view(proposal, items, records, errors)

    def records(self, proposal_id: int) -> list[DestructionRecordView]:
        """The destruction records of a list (the destroyed dossiers and those being destroyed)."""
        self.get(proposal_id)
        with self.database.read_session() as session:
            rows = session.scalars(
                select(DestructionRecord)
                .where(DestructionRecord.proposal_id == proposal_id)
                .order_by(DestructionRecord.id)
            )
            return [record_view(row) for row in rows]

    def records_of_dossier(self, dossier_code: str) -> list[DestructionRecordView]:
        """Destruction records of a dossier code (what is left once it is destroyed)."""
        with self.database.read_session() as session:
            rows = session.scalars(
                select(DestructionRecord)
                .where(DestructionRecord.dossier_code == dossier_code)
                .order_by(DestructionRecord.id)
            )
            return [record_view(row) for row in rows]

    # --- execute

    def execute(
        self,
        principal: Principal,
        proposal_id: int,
        *,
        today: date | None = None,
        now: datetime | None = None,
        remote_addr: str | None = None,
    ) -> DisposalView:
        """Run (or finish) the execution of an approved list; see the module docstring.

        ``today`` and ``now`` (the clock of the due and lock checks, and the time recorded as
        destruction time) default to the real ones; a simulation passes its own."""
        today = today or vietnam_today()
        self._start(principal, proposal_id, remote_addr)
        errors: list[str] = []
        with self.database.read_session() as session:
            item_ids = session.scalars(
                select(DisposalItem.id)
                .where(
                    DisposalItem.proposal_id == proposal_id,
                    DisposalItem.status.in_(OPEN_ITEM_STATUSES),
                )
                .order_by(DisposalItem.id)
            ).all()
        for item_id in item_ids:
            try:
                self._execute_item(principal, proposal_id, item_id, today, now)
            except Exception as exc:
                log.exception("disposal %s: item %s not finished", proposal_id, item_id)
                errors.append(self._record_failure(principal, proposal_id, item_id, exc))
        self._finish(principal, proposal_id)
        return self.get(proposal_id, errors)

    def _start(self, principal: Principal, proposal_id: int, remote_addr: str | None) -> None:
        with self.database.session() as session:
            proposal = _proposal_for_update(session, proposal_id)
            if proposal.status == ProposalStatus.PROPOSED.value:
                raise DisposalNotApproved(
                    f"Danh sách hủy số {proposal_id} chưa được duyệt: không thực hiện hủy."
                )
            if proposal.status != ProposalStatus.APPROVED.value:
                return  # executing (a re-run finishes it) or executed (nothing left to do)
            proposal.status = ProposalStatus.EXECUTING.value
            proposal.executed_by = principal.actor
            proposal.execution_started_at = utcnow()
            record_audit(
                session,
                actor=principal.actor,
                role=principal.role,
                action="disposal.execution_started",
                target_type="disposal",
                target_id=str(proposal_id),
                remote_addr=remote_addr,
                detail={"decision_number": proposal.decision_number},
            )

    def _execute_item(
        self,
        principal: Principal,
        proposal_id: int,
        item_id: int,
        today: date,
        now: datetime | None,
    ) -> None:
        with self.database.session() as session:
            proposal = _proposal_for_update(session, proposal_id)
            item = session.get(DisposalItem, item_id, with_for_update=True)
            assert item is not None
            if item.status == ItemStatus.PROPOSED.value:
                decide(session, proposal, item, principal, today, now or utcnow())
            if item.status != ItemStatus.DESTROYING.value:
                return
        record = self._record_of(proposal_id, item_id)
        delete_stored(self.storage, record.aip_object_id)
        with self.database.session() as session:
            proposal = _proposal_for_update(session, proposal_id)
            item = session.get(DisposalItem, item_id, with_for_update=True)
            current = session.get(DestructionRecord, record.id, with_for_update=True)
            assert item is not None and current is not None
            if item.status == ItemStatus.DESTROYING.value:
                remove_rows(session, proposal, item, current, principal, now or utcnow())

    def _record_of(self, proposal_id: int, item_id: int) -> DestructionRecord:
        with self.database.read_session() as session:
            item = session.get(DisposalItem, item_id)
            assert item is not None
            record = session.scalar(
                select(DestructionRecord).where(
                    DestructionRecord.proposal_id == proposal_id,
                    DestructionRecord.dossier_code == item.dossier_code,
                )
            )
            assert record is not None, f"item {item_id} is destroying without a record"
            return record

    def _record_failure(
        self, principal: Principal, proposal_id: int, item_id: int, error: Exception
    ) -> str:
        with self.database.session() as session:
            item = session.get(DisposalItem, item_id)
            code = item.dossier_code if item else str(item_id)
            message = f"Hồ sơ {code}: chưa hủy xong ({error}); chạy lại lệnh thực hiện để hoàn tất."
            record_audit(
                session,
                actor=principal.actor,
                role=principal.role,
                action="dossier.destruction_failed",
                target_type="dossier",
                target_id=code,
                detail={"proposal_id": proposal_id, "error": str(error)[:500]},
            )
        return message

    def _finish(self, principal: Principal, proposal_id: int) -> None:
        with self.database.session() as session:
            proposal = _proposal_for_update(session, proposal_id)
            if proposal.status != ProposalStatus.EXECUTING.value:
                return
            statuses = session.scalars(
                select(DisposalItem.status).where(DisposalItem.proposal_id == proposal_id)
            ).all()
            if any(status in OPEN_ITEM_STATUSES for status in statuses):
                return
            proposal.status = ProposalStatus.EXECUTED.value
            proposal.executed_at = utcnow()
            record_audit(
                session,
                actor=principal.actor,
                role=principal.role,
                action="disposal.executed",
                target_type="disposal",
                target_id=str(proposal_id),
                detail={
                    "decision_number": proposal.decision_number,
                    "destroyed": statuses.count(ItemStatus.DESTROYED.value),
                    "skipped": statuses.count(ItemStatus.SKIPPED.value),
                },
            )


def _proposal_for_update(session: Session, proposal_id: int) -> DisposalProposal:
    proposal = session.get(DisposalProposal, proposal_id, with_for_update=True)
    if proposal is None:
        raise DisposalNotFound(f"Không có danh sách hủy số {proposal_id}.")
    return proposal


def _checked_for_proposal(session: Session, code: str, today: date) -> Dossier:
    dossier = session.scalar(select(Dossier).where(Dossier.dossier_code == code).with_for_update())
    if dossier is None:
        raise DossierNotFound(f"Không có hồ sơ '{code}' trong kho lưu trữ.")
    if dossier.disposal_date is None:
        raise DossierNotDue(f"Hồ sơ {code} có thời hạn bảo quản vĩnh viễn: không được hủy.")
    if not is_due(dossier.disposal_date, today):
        raise DossierNotDue(
            f"Hồ sơ {code} chưa hết thời hạn bảo quản: phải giữ đến hết ngày "
            f"{dossier.disposal_date.strftime('%d/%m/%Y')}."
        )
    holds = active_hold_count(session, dossier.id)
    if holds:
        raise DossierHeld(
            f"Hồ sơ {code} đang có {holds} lệnh giữ: không được đưa vào danh sách hủy."
        )
    open_list = session.scalar(
        select(DisposalItem.proposal_id).where(
            DisposalItem.dossier_code == code, DisposalItem.status.in_(OPEN_ITEM_STATUSES)
        )
    )
    if open_list is not None:
        raise DossierAlreadyProposed(
            f"Hồ sơ {code} đã có trong danh sách hủy số {open_list} chưa thực hiện xong."
        )
    return dossier
