"""Changes of a dossier's term after ingest, and hold events, each written as a new AIP version.

Four kinds (``ChangeOrigin``): a longer term computed under a new schedule
(``retention.recompute``), a shortening decided by an archivist (``RetentionChanges.
shorten``), and the event of a hold placed or released (``retention.hold_changes``, decided by
``decide_hold_event``, written by ``write_hold_events``). All go the way of a deposit:

1. **decide** — one transaction, the dossier row locked: the checks (a refusal changes nothing),
   then a ``retention_changes`` row ``pending``. The dossier must not be busy: no deposit of it
   packaging or storing, no other pending change (a partial unique index), no destruction under
   way. While the change is pending, deposits of the dossier wait (``change_pending``);
2. **store and record** — one transaction holding the change and the dossier rows: the new
   OCFL version with the message ``retention <change id>`` (``revision.write_revision``:
   ``PREMIS.xml`` with the ``policy assignment`` event, ``METS.xml`` pointing at it, content
   files unchanged), read back; then its stored objects, the PREMIS event, the dossier's version
   and term, an audit entry, the change ``done``. Two runs finishing the same change are
   serialised by the row locks: the second finds it done. After the commit, storage locks are
   applied to the new version (``retention.locks``; never shortened).

A run that dies after step 1, or after storage committed in step 2, is finished by
``finish_pending`` (the daily task and the recomputation at start run it first): a head version
whose message names the change is recorded, never written twice; otherwise the version is
written then. A change whose dossier moved on meanwhile (its catalogued version is no longer the
one the change was decided on) is ``abandoned``, with an audit entry; so is a change whose
dossier is being destroyed. An abandoned hold change leaves its event waiting: the next run
decides it again on the version then current.

**Hold events** never change the term. A hold takes effect at once (``retention.holds``); its
event is written into the AIP in the same request when the dossier is free, otherwise by the
next ``write_hold_events`` of the dossier — the daily task's, or the request of a later hold or
release. ``write_hold_events`` first finishes any change of the dossier still pending, then
writes the waiting events one version each, oldest first; it stops at the first that cannot be
written (storage, a deposit writing the dossier, an AIP whose head in storage is not the version
the catalogue knows), leaving the rest waiting.

**Decision — shortening.** Only an archivist or an admin, always with a reason; refused while
any hold is active, when the term asked for is not shorter than the one in force (terms are
lengthened by the policy only: a new schedule or a new version of the dossier), and when the new
disposal date falls before the last day of a storage lock still in force — a COMPLIANCE lock
cannot be released early, so a dossier locked until its disposal date can only be shortened
once that lock has run out; the long GOVERNANCE lock of a permanent dossier allows any term that
ends after it. Locks already applied stay as they are: a lock is never shortened.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from archive_service.config import Settings
from archive_service.db.base import utcnow
from archive_service.db.session import Database
from archive_service.dossiers.models import Dossier
from archive_service.ingest.readback import head_message, read_back_head
from archive_service.ingest.status import deposit_writing
from archive_service.integrity.audit import record_audit
from archive_service.integrity.fixity_record import waiting_aip_history
from archive_service.packages.fields import format_date
from archive_service.security.models import Role
from archive_service.security.service import Principal
from archive_service.storage.ocfl import OcflRepository
from retention.assign import policy_baseline, stored_decision
from retention.change_errors import (
    ArchivistRequired,
    DossierBusy,
    InvalidRetention,
    NotShorter,
    ReasonRequired,
    RetentionNotAssigned,
    StorageLockForbids,
)
from retention.clock import last_locked_day, vietnam_today
from retention.errors import DossierHeld, DossierNotFound
from retention.events import POLICY_ASSIGNMENT
from retention.hold_changes import (
    WaitingDossier,
    audit_written,
    dossiers_with_waiting_hold_events,
    hold_change,
    is_hold_change,
    waiting_hold_events,
)
from retention.holds import active_hold_count
from retention.locks import lock_dossier
from retention.models import (
    TERM_ORIGINS,
    ChangeOrigin,
    ChangeStatus,
    DisposalItem,
    ItemStatus,
    RetentionChange,
)
from retention.policy import (
    BasisEntry,
    ChangeKind,
    RetentionDecision,
    Source,
    change_kind,
    disposal_date,
    may_shorten,
)
from retention.revision import record_revision, version_message, write_revision
from retention.terms import InvalidTerm, Term, parse_term

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"
#: At most this many hold events of one dossier are written by one ``write_hold_events``.
HOLD_ROUNDS = 20
_SHORTENING_ROLES = frozenset({Role.ARCHIVIST, Role.ADMIN})


class ChangeView(BaseModel):
    """A change of a dossier's term and where it stands."""

    model_config = ConfigDict(frozen=True)

    id: str
    dossier_code: str
    origin: str = Field(examples=["archivist", "schedule"])
    status: str = Field(description="pending (new AIP version not recorded yet), done, abandoned")
    previous_retention: str | None = Field(examples=["01"])
    previous_disposal_date: date | None
    retention: str = Field(examples=["07:70"])
    disposal_date: date | None
    reason: str
    reference: str
    actor: str = Field(examples=["key:12", "system"])
    base_version: str = Field(description="AIP version the change was decided on")
    aip_version: str | None = Field(description="AIP version the change wrote")
    event_id: str = Field(description="identifier of its PREMIS policy assignment event")
    created_at: datetime
    finished_at: datetime | None


def change_view(change: RetentionChange) -> ChangeView:
    previous, decision = change.previous or {}, change.decision or {}
    return ChangeView(
        id=change.id,
        dossier_code=change.dossier_code,
        origin=change.origin,
        status=change.status,
        previous_retention=previous.get("retention"),
        previous_disposal_date=_day(previous.get("disposal_date")),
        retention=str(decision.get("retention")),
        disposal_date=_day(decision.get("disposal_date")),
        reason=change.reason,
        reference=change.reference,
        actor=change.actor,
        base_version=change.base_version,
        aip_version=change.aip_version,
        event_id=change.event_id,
        created_at=change.created_at,
        finished_at=change.finished_at,
    )


def change_pending(session: Session, dossier_id: int) -> bool:
    """Whether a retention change of the dossier is pending (its writer slot is taken)."""
    return bool(
        session.scalar(
            select(
                exists().where(
                    RetentionChange.dossier_id == dossier_id,
                    RetentionChange.status == ChangeStatus.PENDING.value,
                )
            )
        )
    )


def busy_reason(session: Session, dossier: Dossier) -> str | None:
    """Why no new version of the dossier may be written now; ``None`` when it may."""
    if change_pending(session, dossier.id):
        return (
            f"Hồ sơ {dossier.dossier_code} đang có một thay đổi (thời hạn hoặc lệnh giữ) chưa "
            "được ghi xong vào gói AIP."
        )
    writing = deposit_writing(session, dossier.dossier_code)
    if writing is not None:
        return f"Hồ sơ {dossier.dossier_code} đang được ghi phiên bản mới (lần nộp {writing})."
    destroying = _destroying(session, dossier.dossier_code)
    if destroying is not None:
        return f"Hồ sơ {dossier.dossier_code} đang được hủy theo danh sách hủy số {destroying}."
    return None


def _destroying(session: Session, dossier_code: str) -> int | None:
    """The disposal list destroying the dossier now, if one is."""
    return session.scalar(
        select(DisposalItem.proposal_id).where(
            DisposalItem.dossier_code == dossier_code,
            DisposalItem.status == ItemStatus.DESTROYING.value,
        )
    )


def new_change(
    dossier: Dossier,
    *,
    origin: ChangeOrigin,
    previous: RetentionDecision,
    record: dict[str, Any],
    detail: str,
    reason: str,
    actor: str,
    at: datetime,
    **extra: Any,
) -> RetentionChange:
    """A pending change of ``dossier`` to the retention ``record`` (not added to a session)."""
    change_id = str(uuid.uuid4())
    return RetentionChange(
        id=change_id,
        dossier_id=dossier.id,
        dossier_code=dossier.dossier_code,
        origin=origin.value,
        status=ChangeStatus.PENDING.value,
        base_version=dossier.aip_version,
        previous={"retention": previous.term.text, "disposal_date": _iso(previous.disposal_date)},
        decision=record,
        event_id=str(uuid.uuid5(uuid.UUID(change_id), f"event:{POLICY_ASSIGNMENT}")),
        detail=detail,
        reason=reason,
        actor=actor,
        created_at=at,
        **extra,
    )


class RetentionChanges:
    """Writes retention changes as new AIP versions; see the module docstring."""

    def __init__(self, database: Database, repository: OcflRepository, settings: Settings):
        self.database = database
        self.repository = repository
        self.settings = settings

    # ------------------------------------------------------------------ archivist

    def shorten(
        self,
        principal: Principal,
        dossier_code: str,
        *,
        retention: str,
        years: int | None = None,
        reason: str,
        reference: str = "",
        remote_addr: str | None = None,
        now: datetime | None = None,
    ) -> ChangeView:
        """Shorten the dossier's term as an archivist decides; the change is written at once
        (``status`` ``pending`` when storage failed: the daily task finishes it)."""
        if principal.role not in _SHORTENING_ROLES:
            raise ArchivistRequired("Chỉ người làm lưu trữ (archivist) được rút ngắn thời hạn.")
        reason, reference = reason.strip(), reference.strip()
        if not reason:
            raise ReasonRequired("Rút ngắn thời hạn bảo quản phải ghi lý do.")
        try:
            written = years is None and ":" in retention  # "07:15", as package metadata has it
            term = parse_term(retention) if written else Term.of(retention.strip(), years)
        except InvalidTerm as exc:
            raise InvalidRetention(str(exc)) from exc
        now = now or utcnow()
        with self.database.session() as session:
            dossier = _dossier_for_update(session, dossier_code)
            change = self._shortening(session, dossier, principal, term, reason, reference, now)
            change.role = principal.role.value
            change.remote_addr = remote_addr
            session.add(change)
            change_id = change.id
        return self.finish_logged(change_id, now=now)

    def _shortening(
        self,
        session: Session,
        dossier: Dossier,
        principal: Principal,
        term: Term,
        reason: str,
        reference: str,
        now: datetime,
    ) -> RetentionChange:
        """Check the shortening (raising the refusal) and return the pending change."""
        code = dossier.dossier_code
        previous, baseline = stored_decision(dossier), policy_baseline(dossier)
        if previous is None or baseline is None:
            raise RetentionNotAssigned(f"Hồ sơ {code} chưa được xác định thời hạn bảo quản.")
        holds = active_hold_count(session, dossier.id)
        if holds:
            raise DossierHeld(
                f"Hồ sơ {code} có {holds} lệnh giữ: không được rút ngắn thời hạn bảo quản."
            )
        busy = busy_reason(session, dossier)
        if busy is not None:
            raise DossierBusy(busy + " Thử lại sau.")
        source = reference or "quyết định của người làm lưu trữ"
        new = RetentionDecision(
            term=term,
            disposal_date=disposal_date(dossier.end_date, term),
            basis=(BasisEntry(Source.ARCHIVIST, term, source, f"{term}. {reason}", won=True),),
        )
        if change_kind(previous, new) is not ChangeKind.SHORTEN:
            raise NotShorter(
                f"Thời hạn {term} không ngắn hơn thời hạn đang áp dụng {previous.term}: chỉ "
                "rút ngắn qua yêu cầu này; thời hạn dài hơn do chính sách (danh mục, phiên bản "
                "mới của hồ sơ) tự động áp dụng."
            )
        lock_day = _lock_in_force(dossier, now)
        verdict = may_shorten(previous, new, storage_lock_until=lock_day, has_hold=holds > 0)
        if not verdict.allowed:
            raise StorageLockForbids(
                f"{verdict.reason} Khóa lưu trữ đã áp dụng không bao giờ được rút ngắn."
            )
        record = new.as_dict() | {
            "schedule_version": (dossier.retention_basis or {}).get("schedule_version"),
            "override": {
                "by": principal.actor,
                "at": now.isoformat(),
                "reason": reason,
                "reference": reference,
                "policy": {
                    "retention": baseline.term.text,
                    "disposal_date": _iso(baseline.disposal_date),
                },
            },
        }
        until = (
            "không có ngày hủy"
            if new.disposal_date is None
            else f"bảo quản đến hết ngày {format_date(new.disposal_date)}"
        )
        detail = (
            f"Rút ngắn thời hạn bảo quản từ {previous.term} xuống {term} theo quyết định của "
            f"người làm lưu trữ ({principal.actor}): {reason}"
            + (f" (căn cứ: {reference})" if reference else "")
            + f"; {until}. Khóa lưu trữ đã áp dụng giữ nguyên."
        )
        return new_change(
            dossier,
            origin=ChangeOrigin.ARCHIVIST,
            previous=previous,
            record=record,
            detail=detail,
            reason=reason,
            actor=principal.actor,
            at=now,
            reference=reference,
        )

    def history(self, dossier_code: str) -> list[ChangeView]:
        """Every change of the dossier's term after ingest, oldest first (not hold events: the
        holds show those)."""
        with self.database.read_session() as session:
            dossier_id = session.scalar(
                select(Dossier.id).where(Dossier.dossier_code == dossier_code)
            )
            if dossier_id is None:
                raise DossierNotFound(f"Không có hồ sơ '{dossier_code}' trong kho lưu trữ.")
            changes = session.scalars(
                select(RetentionChange)
                .where(
                    RetentionChange.dossier_id == dossier_id,
                    RetentionChange.origin.in_([origin.value for origin in TERM_ORIGINS]),
                )
                .order_by(RetentionChange.created_at, RetentionChange.id)
            )
            return [change_view(change) for change in changes]

    # ------------------------------------------------------------------ storing and recording

    def finish(self, change_id: str, *, now: datetime | None = None) -> ChangeView | None:
        """Write (unless storage has it) and record a pending change; ``None``: no such change.

        One transaction holds the change and dossier rows locked from the check to the record,
        storage write included, so two runs never write the same change (the second finds it
        done). Storage errors propagate: the transaction rolls back, the change stays pending.
        """
        with self.database.session() as session:
            change = session.get(RetentionChange, change_id, with_for_update=True)
            if change is None:
                return None
            dossier = session.get(Dossier, change.dossier_id, with_for_update=True)
            if change.status != ChangeStatus.PENDING:
                return change_view(change)
            why = self._not_writable(session, change, dossier)
            if why is not None:
                _abandon(session, change, why)
                return change_view(change)
            assert dossier is not None
            object_id = dossier.aip_object_id
            waiting = waiting_aip_history(session, dossier.id)
            write_revision(self.repository, self.settings, change, object_id, waiting)
            stored = read_back_head(self.repository, object_id)
            record_revision(session, dossier, change, stored, vietnam_today(now))
            _audit_done(session, change, dossier)
            view = change_view(change)
        self._lock_logged(view.dossier_code, now)
        return view

    def finish_logged(self, change_id: str, *, now: datetime | None = None) -> ChangeView:
        """``finish``, but a failure is logged and the change is returned still pending."""
        try:
            view = self.finish(change_id, now=now)
        except Exception:
            log.exception("retention change %s: not stored yet; the daily task retries", change_id)
            view = None
        if view is None:
            with self.database.read_session() as session:
                change = session.get(RetentionChange, change_id)
                assert change is not None
                return change_view(change)
        return view

    def finish_pending(self, *, now: datetime | None = None) -> list[ChangeView]:
        """Finish every pending change (oldest first); a failing one is logged and left."""
        with self.database.read_session() as session:
            ids = list(
                session.scalars(
                    select(RetentionChange.id)
                    .where(RetentionChange.status == ChangeStatus.PENDING.value)
                    .order_by(RetentionChange.created_at)
                )
            )
        return [self.finish_logged(change_id, now=now) for change_id in ids]

    # ------------------------------------------------------------------ hold events

    def decide_hold_event(
        self, session: Session, dossier: Dossier, *, now: datetime | None = None
    ) -> str | None:
        """In the caller's transaction, the dossier row locked: a pending change writing the
        oldest waiting hold event of the dossier; its id. ``None``: the dossier is busy (another
        change pending, a deposit writing it, a destruction), its AIP in storage is not the
        version the catalogue knows (the change could only be abandoned), or no event waits."""
        session.flush()  # the hold and its event, when the caller has just added them
        if busy_reason(session, dossier) is not None:
            return None
        if not self._head_is(dossier):
            return None  # the change could only be abandoned: the event waits
        for event in waiting_hold_events(session, dossier.id):
            change = hold_change(session, dossier, event, now or utcnow())
            if change is not None:
                session.add(change)
                return change.id
        return None

    def write_hold_events(self, dossier_code: str, *, now: datetime | None = None) -> bool:
        """Finish the dossier's pending change, then write its waiting hold events, one AIP
        version each; whether none is left waiting. A failure is logged and stops the run."""
        for _ in range(HOLD_ROUNDS):
            change_id, waiting = self._next_hold_change(dossier_code, now)
            if change_id is None:
                return not waiting
            if self.finish_logged(change_id, now=now).status != ChangeStatus.DONE:
                return False
        return False

    def write_waiting_hold_events(self, *, now: datetime | None = None) -> list[str]:
        """``write_hold_events`` for every dossier with a hold event not in its AIP yet; the
        codes of those now fully written."""
        with self.database.read_session() as session:
            waiting = dossiers_with_waiting_hold_events(session)
        written = []
        for dossier in waiting:
            code = dossier.dossier_code
            try:
                if not dossier.change_pending and not self._head_is(dossier):
                    continue  # nothing could be written on it (see decide_hold_event)
                if self.write_hold_events(code, now=now):
                    written.append(code)
            except Exception:
                log.exception("dossier %s: hold events not written into the AIP yet", code)
        return written

    def _next_hold_change(self, dossier_code: str, now: datetime | None) -> tuple[str | None, bool]:
        """The dossier's pending change, or a new one for its oldest waiting hold event; and
        whether any hold event of the dossier is still waiting."""
        with self.database.session() as session:
            dossier = session.scalar(
                select(Dossier).where(Dossier.dossier_code == dossier_code).with_for_update()
            )
            if dossier is None:
                return None, False
            pending = session.scalar(
                select(RetentionChange.id).where(
                    RetentionChange.dossier_id == dossier.id,
                    RetentionChange.status == ChangeStatus.PENDING.value,
                )
            )
            if pending is not None:
                return pending, True
            if not waiting_hold_events(session, dossier.id):
                return None, False
            return self.decide_hold_event(session, dossier, now=now), True

    # ------------------------------------------------------------------ checks

    def _head_is(self, dossier: Dossier | WaitingDossier) -> bool:
        """Whether storage holds the catalogued version as the head of the dossier's AIP (it
        does unless a writer is busy with it or the AIP is damaged); logged when not."""
        if self.repository.head(dossier.aip_object_id) == dossier.aip_version:
            return True
        log.warning(
            "dossier %s: storage does not hold %s as the head of its AIP; hold events wait",
            dossier.dossier_code,
            dossier.aip_version,
        )
        return False

    def _not_writable(
        self, session: Session, change: RetentionChange, dossier: Dossier | None
    ) -> str | None:
        """Why the pending change may not be written any more; ``None`` when it may."""
        if dossier is None:
            return "Hồ sơ không còn trong kho lưu trữ."
        destroying = _destroying(session, dossier.dossier_code)
        if destroying is not None:
            return f"Hồ sơ đang được hủy theo danh sách hủy số {destroying}."
        moved = dossier.aip_version != change.base_version
        if moved or self._storage_moved(change, dossier.aip_object_id):
            return "Hồ sơ đã có phiên bản mới trước khi thay đổi được ghi."
        return None

    def _storage_moved(self, change: RetentionChange, object_id: str) -> bool:
        """Whether storage holds a version the catalogue does not know, written by another."""
        if self.repository.head(object_id) == change.base_version:
            return False
        return head_message(self.repository, object_id) != version_message(change.id)

    def _lock_logged(self, dossier_code: str, now: datetime | None) -> None:
        try:
            lock_dossier(self.database, self.repository, self.settings, dossier_code, now=now)
        except Exception:
            log.exception("dossier %s: storage locks not applied yet; retried daily", dossier_code)


def _abandon(session: Session, change: RetentionChange, why: str) -> None:
    """The dossier moved on before the change was written: it is not applied."""
    change.status = ChangeStatus.ABANDONED.value
    change.finished_at = utcnow()
    record_audit(
        session,
        actor=SYSTEM_ACTOR,
        action="retention.change_abandoned",
        target_type="dossier",
        target_id=change.dossier_code,
        detail={"change_id": change.id, "origin": change.origin, "why": why},
    )
    log.warning("retention change %s abandoned: %s", change.id, why)


def _audit_done(session: Session, change: RetentionChange, dossier: Dossier) -> None:
    if is_hold_change(change):
        audit_written(session, change)
        return
    archivist = change.origin == ChangeOrigin.ARCHIVIST
    decision = change.decision or {}
    record_audit(
        session,
        actor=change.actor,
        role=change.role,
        action="retention.shortened" if archivist else "retention.lengthened",
        target_type="dossier",
        target_id=dossier.dossier_code,
        remote_addr=change.remote_addr,
        detail={
            "change_id": change.id,
            "reason": change.reason,
            "reference": change.reference,
            "previous_retention": (change.previous or {}).get("retention"),
            "previous_disposal_date": (change.previous or {}).get("disposal_date"),
            "retention": decision.get("retention"),
            "disposal_date": decision.get("disposal_date"),
            "aip_version": change.aip_version,
            "event_id": change.event_id,
            "schedule_version": change.schedule_version,
            "schedule_sha256": change.schedule_sha256,
        },
    )


def _lock_in_force(dossier: Dossier, now: datetime) -> date | None:
    """The last day of the storage lock still in force on the dossier's objects, if any."""
    if dossier.locked_until is None or dossier.locked_until <= now:
        return None
    return last_locked_day(dossier.locked_until)


def _dossier_for_update(session: Session, dossier_code: str) -> Dossier:
    dossier = session.scalar(
        select(Dossier).where(Dossier.dossier_code == dossier_code).with_for_update()
    )
    if dossier is None:
        raise DossierNotFound(f"Không có hồ sơ '{dossier_code}' trong kho lưu trữ.")
    return dossier


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _day(text: Any) -> date | None:
    return date.fromisoformat(str(text)) if text else None
