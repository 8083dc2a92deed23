"""Retention of an archived dossier version: computed when the deposit is catalogued, stored on
the dossier row, recorded as a PREMIS event and in the audit trail — in the caller's transaction.

- A new dossier takes the decision of ``decide_retention`` (declared term, schedule, documents).
- A new version (supplement, replacement) recomputes it: a longer term is applied at once; a
  shorter one is **not** applied (shortening needs an archivist with a reason): the stored term
  stays and the event says so (outcome ``warning``).
- Any new version must be locked again in storage, so ``locks_applied_at`` is cleared; the lock
  step (``retention.locks``) runs after the transaction commits.

The event is a ``policy assignment`` (``retention.events``).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy.orm import Session

from archive_service.db.base import utcnow
from archive_service.dossiers.models import Dossier
from archive_service.integrity.audit import record_audit
from archive_service.packages.models import SipPackage
from archive_service.packages.premis import Outcome
from retention.clock import vietnam_today
from retention.events import POLICY_ASSIGNMENT, record_policy_event
from retention.policy import (
    ChangeKind,
    DossierRetentionFacts,
    RetentionDecision,
    change_kind,
    decide_retention,
    is_due,
)
from retention.schedule import Schedule
from retention.terms import OTHER_CODE, Term

SYSTEM_ACTOR = "system"


def term_of(retention_code: str | None, retention_years: int | None) -> Term | None:
    """The term of the ``retention_code`` and ``retention_years`` columns (``None``: none)."""
    if retention_code is None:
        return None
    return Term.of(retention_code, retention_years if retention_code == OTHER_CODE else None)


def stored_term(dossier: Dossier) -> Term | None:
    """The term stored on the dossier row, ``None`` when none was ever assigned."""
    return term_of(dossier.retention_code, dossier.retention_years)


def stored_decision(dossier: Dossier) -> RetentionDecision | None:
    """The retention stored on the dossier row, ``None`` when none was ever assigned."""
    term = stored_term(dossier)
    if term is None:
        return None
    return RetentionDecision(term=term, disposal_date=dossier.disposal_date, basis=())


def assign_retention(
    session: Session,
    dossier: Dossier,
    sip: SipPackage,
    schedule: Schedule | None,
    *,
    deposit_id: str,
    at: datetime | None = None,
) -> RetentionDecision:
    """Compute the retention of the version ``sip`` just archived and store it on ``dossier``.

    Returns the decision now in force (the stored one when the new one would shorten it).
    """
    at = at or utcnow()
    computed = decide_retention(DossierRetentionFacts.from_sip(sip), schedule)
    previous = stored_decision(dossier)
    kind = ChangeKind.LENGTHEN if previous is None else change_kind(previous, computed)
    if previous is not None and kind is ChangeKind.SHORTEN:
        detail = (
            f"Phiên bản {dossier.aip_version}: thời hạn tính lại là {computed.term} "
            f"({computed.summary()}), ngắn hơn thời hạn đang áp dụng {previous.term}; "
            "không tự động rút ngắn — giữ thời hạn đang áp dụng."
        )
        _record(session, dossier, deposit_id, at, detail, Outcome.WARNING, previous, "kept")
        dossier.locks_applied_at = None
        return previous
    _store(dossier, computed)
    if previous is None:
        detail = f"Xác định thời hạn bảo quản khi lưu trữ: {computed.summary()}"
        _record(session, dossier, deposit_id, at, detail, Outcome.SUCCESS, computed, "assigned")
    elif kind is ChangeKind.LENGTHEN:
        detail = (
            f"Phiên bản {dossier.aip_version}: kéo dài thời hạn từ {previous.term} — "
            f"{computed.summary()}"
        )
        _record(session, dossier, deposit_id, at, detail, Outcome.SUCCESS, computed, "lengthened")
    dossier.locks_applied_at = None
    return computed


def _store(dossier: Dossier, decision: RetentionDecision) -> None:
    dossier.retention_code = decision.code
    dossier.retention_years = decision.years
    dossier.disposal_date = decision.disposal_date
    dossier.retention_basis = decision.as_dict()
    if not is_due(decision.disposal_date, vietnam_today()):
        dossier.review_status = None  # no longer due: a lengthened term ends the review


def _record(
    session: Session,
    dossier: Dossier,
    deposit_id: str,
    at: datetime,
    detail: str,
    outcome: Outcome,
    decision: RetentionDecision,
    verdict: str,
) -> None:
    session.flush()  # the dossier row has its id
    record_policy_event(
        session,
        dossier.id,
        detail,
        outcome=outcome,
        event_id=str(uuid.uuid5(uuid.UUID(deposit_id), f"event:{POLICY_ASSIGNMENT}")),
        at=at,
    )
    record_audit(
        session,
        actor=SYSTEM_ACTOR,
        action=f"retention.{verdict}",
        target_type="dossier",
        target_id=dossier.dossier_code,
        detail={
            "deposit_id": deposit_id,
            "aip_version": dossier.aip_version,
            "retention": decision.term.text,
            "disposal_date": _iso(decision.disposal_date),
            "schedule_version": decision.schedule_version,
        },
    )


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None
