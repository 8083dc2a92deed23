"""Retention of an archived dossier version: computed when the deposit is catalogued, stored on
the dossier row, recorded as a PREMIS event and in the audit trail — in the caller's transaction.

- A new dossier takes the decision of ``decide_retention`` (declared term, schedule, documents).
- A new version (supplement, replacement) recomputes it: a longer term is applied at once; a
  shorter one is **not** applied (shortening needs an archivist with a reason): the stored term
  stays and the event says so (outcome ``warning``).
- Any new version must be locked again in storage, so ``locks_applied_at`` is cleared; the lock
  step (``retention.locks``) runs after the transaction commits.
- The facts the policy read (``dossiers.retention_facts``) and the schedule's version and SHA-256
  are stored with the term: ``retention.recompute`` recomputes a dossier when the schedule in
  force differs.
- **Archivist decisions stand.** When an archivist shortened the term (``retention.shorten``),
  the stored record keeps the term the policy gave before (``override.policy``); a new
  computation is compared with *that* term, so it replaces the archivist's decision only when
  the policy itself now asks for a longer term — never to restore the term the archivist
  shortened.

The event is a ``policy assignment`` (``retention.events``).
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Any

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
from retention.terms import OTHER_CODE, Term, parse_term

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


def policy_baseline(dossier: Dossier) -> RetentionDecision | None:
    """What a new computation is compared with: the stored decision, or — when an archivist
    shortened it — the term the policy gave before (``retention_basis.override.policy``)."""
    policy = ((dossier.retention_basis or {}).get("override") or {}).get("policy")
    if not policy:
        return stored_decision(dossier)
    disposal = policy.get("disposal_date")
    return RetentionDecision(
        term=parse_term(str(policy["retention"])),
        disposal_date=date.fromisoformat(disposal) if disposal else None,
        basis=(),
    )


def is_override(dossier: Dossier) -> bool:
    """Whether the stored term is an archivist's decision."""
    return bool((dossier.retention_basis or {}).get("override"))


_DOCUMENT_REFERENCE = re.compile(r"^tài liệu (\S+)")


def stored_facts(dossier: Dossier) -> DossierRetentionFacts:
    """The facts of the dossier's current version, as the policy read them.

    A dossier catalogued before the facts were stored: its columns, and the longest document
    term its stored basis names (the only document term that can weigh in the result).
    """
    if dossier.retention_facts:
        return DossierRetentionFacts.from_dict(dossier.retention_facts)
    documents = []
    for entry in (dossier.retention_basis or {}).get("basis", []):
        if entry.get("source") == "document" and entry.get("retention"):
            found = _DOCUMENT_REFERENCE.match(str(entry.get("reference", "")))
            documents.append((found.group(1) if found else "?", str(entry["retention"])))
    return DossierRetentionFacts(
        maintenance=dossier.maintenance,
        end_date=dossier.end_date,
        procedure_code=dossier.procedure_code,
        sector_code=dossier.sector_code,
        document_terms=tuple(documents),
    )


def stamp_schedule(dossier: Dossier, schedule: Schedule | None) -> None:
    """Record the schedule the dossier's term was (re)computed with."""
    dossier.retention_schedule_version = schedule.version if schedule else None
    dossier.retention_schedule_sha256 = schedule.sha256 if schedule else None


def apply_record(dossier: Dossier, record: dict[str, Any], today: date) -> None:
    """Store a retention record (``RetentionDecision.as_dict``, maybe with ``override``)."""
    disposal = record.get("disposal_date")
    dossier.retention_code = str(record["code"])
    dossier.retention_years = record.get("years")
    dossier.disposal_date = date.fromisoformat(disposal) if disposal else None
    dossier.retention_basis = record
    if not is_due(dossier.disposal_date, today):
        dossier.review_status = None  # no longer due: a lengthened term ends the review


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
    facts = DossierRetentionFacts.from_sip(sip)
    computed = decide_retention(facts, schedule)
    previous = stored_decision(dossier)
    baseline = policy_baseline(dossier)
    dossier.retention_facts = facts.as_dict()
    stamp_schedule(dossier, schedule)
    dossier.locks_applied_at = None
    kind = ChangeKind.LENGTHEN if baseline is None else change_kind(baseline, computed)
    if previous is not None and baseline is not None and kind is ChangeKind.SHORTEN:
        detail = (
            f"Phiên bản {dossier.aip_version}: thời hạn tính lại là {computed.term} "
            f"({computed.summary()}), ngắn hơn thời hạn đã xác định {baseline.term}; "
            f"không tự động rút ngắn — giữ thời hạn đang áp dụng {previous.term}."
        )
        _record(session, dossier, deposit_id, at, detail, Outcome.WARNING, previous, "kept")
        return previous
    if previous is not None and kind is ChangeKind.UNCHANGED and is_override(dossier):
        return previous  # the archivist's decision stands
    _store(dossier, computed, at)
    if previous is None:
        detail = f"Xác định thời hạn bảo quản khi lưu trữ: {computed.summary()}"
        _record(session, dossier, deposit_id, at, detail, Outcome.SUCCESS, computed, "assigned")
    elif kind is ChangeKind.LENGTHEN:
        detail = (
            f"Phiên bản {dossier.aip_version}: kéo dài thời hạn từ {previous.term} — "
            f"{computed.summary()}"
        )
        _record(session, dossier, deposit_id, at, detail, Outcome.SUCCESS, computed, "lengthened")
    return computed


def _store(dossier: Dossier, decision: RetentionDecision, at: datetime) -> None:
    apply_record(dossier, decision.as_dict(), vietnam_today(at))


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
