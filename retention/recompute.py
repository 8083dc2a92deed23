"""Recomputing terms when the retention schedule changes.

Every dossier records the schedule its term was computed with (``dossiers.
retention_schedule_sha256``, the SHA-256 of the schedule file, and its version). When the
service starts (in the background), when ``archive retention recompute`` runs and in the daily
task, every dossier computed with another schedule than the one in force is computed again from
its stored facts (``assign.stored_facts``) — oldest pending changes being finished first:

- **longer**: applied as a change written into a new AIP version (``retention.changes``): an
  audit entry with the reason ``danh mục thời hạn <old> → <new>, dòng …``, a PREMIS
  ``policy assignment`` event in the AIP and the catalogue, storage locks extended;
- **shorter**: not applied (shortening needs an archivist); a ``warning`` event and an audit
  entry ``retention.kept`` say so, no new AIP version;
- **same disposal date**: only the schedule stamp changes.

A dossier busy with a deposit or a destruction is left for the next run. Each dossier is one
transaction that also moves its stamp (or records a pending change), so running again neither
repeats an event nor writes a version twice; a run interrupted anywhere is finished by the next.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from archive_service.config import Settings
from archive_service.db.base import utcnow
from archive_service.db.session import Database
from archive_service.dossiers.models import Dossier
from archive_service.integrity.audit import record_audit
from archive_service.packages.premis import Outcome
from archive_service.storage.ocfl import OcflRepository
from retention.assign import policy_baseline, stamp_schedule, stored_decision, stored_facts
from retention.changes import RetentionChanges, busy_reason, new_change
from retention.events import record_policy_event
from retention.models import ChangeOrigin, ChangeStatus
from retention.policy import ChangeKind, RetentionDecision, change_kind, decide_retention
from retention.schedule import Schedule

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"


class Verdict(StrEnum):
    """What recomputing one dossier did."""

    LENGTHENED = "lengthened"
    KEPT = "kept"  # a shorter term was computed and not applied
    UNCHANGED = "unchanged"
    BUSY = "busy"


@dataclass
class RecomputeReport:
    """What one recomputation run did, by dossier code."""

    schedule_version: str
    schedule_sha256: str
    lengthened: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    unchanged: int = 0
    pending: list[str] = field(default_factory=list)  # decided; storage not done yet
    busy: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def examined(self) -> int:
        return (
            len(self.lengthened)
            + len(self.kept)
            + self.unchanged
            + len(self.pending)
            + len(self.busy)
            + len(self.failed)
        )


def stale_dossiers(database: Database, schedule: Schedule) -> list[str]:
    """Codes of dossiers whose term was computed with another schedule than ``schedule``."""
    with database.read_session() as session:
        return list(
            session.scalars(
                select(Dossier.dossier_code)
                .where(
                    Dossier.retention_code.is_not(None),
                    or_(
                        Dossier.retention_schedule_sha256.is_(None),
                        Dossier.retention_schedule_sha256 != schedule.sha256,
                    ),
                )
                .order_by(Dossier.id)
            )
        )


def recompute_all(
    database: Database,
    repository: OcflRepository,
    settings: Settings,
    schedule: Schedule,
    *,
    now: datetime | None = None,
    stop: threading.Event | None = None,
) -> RecomputeReport:
    """Finish pending changes, then recompute every dossier computed with another schedule."""
    changes = RetentionChanges(database, repository, settings)
    changes.finish_pending(now=now)
    report = RecomputeReport(schedule.version, schedule.sha256)
    for code in stale_dossiers(database, schedule):
        if stop is not None and stop.is_set():
            break
        try:
            verdict, change_id = recompute_dossier(database, schedule, code, now=now)
        except Exception:
            log.exception("dossier %s: term not recomputed; the next run tries again", code)
            report.failed.append(code)
            continue
        if change_id is not None:
            view = changes.finish_logged(change_id, now=now)
            if view.status != ChangeStatus.DONE:
                report.pending.append(code)
                continue
        _count(report, verdict, code)
    if report.examined:
        _audit_run(database, report)
    return report


def recompute_dossier(
    database: Database, schedule: Schedule, dossier_code: str, *, now: datetime | None = None
) -> tuple[Verdict, str | None]:
    """Recompute one dossier under ``schedule`` (one transaction); the id of the pending change
    when its term gets longer."""
    at = now or utcnow()
    with database.session() as session:
        dossier = session.scalar(
            select(Dossier).where(Dossier.dossier_code == dossier_code).with_for_update()
        )
        if dossier is None or dossier.retention_code is None:
            return Verdict.UNCHANGED, None
        if dossier.retention_schedule_sha256 == schedule.sha256:
            return Verdict.UNCHANGED, None
        if busy_reason(session, dossier) is not None:
            return Verdict.BUSY, None
        computed = decide_retention(stored_facts(dossier), schedule)
        previous, baseline = stored_decision(dossier), policy_baseline(dossier)
        assert previous is not None and baseline is not None  # a term is assigned
        kind = change_kind(baseline, computed)
        reason = _reason(dossier, schedule, computed)
        if kind is ChangeKind.UNCHANGED:
            stamp_schedule(dossier, schedule)
            return Verdict.UNCHANGED, None
        if kind is ChangeKind.SHORTEN:
            detail = (
                f"Tính lại thời hạn theo {reason}: thời hạn {computed.term} ({computed.summary()}) "
                f"ngắn hơn thời hạn đã xác định {baseline.term}; không tự động rút ngắn — giữ "
                f"thời hạn đang áp dụng {previous.term}."
            )
            record_policy_event(session, dossier.id, detail, outcome=Outcome.WARNING, at=at)
            _audit_kept(session, dossier, reason, previous, computed, schedule)
            stamp_schedule(dossier, schedule)
            return Verdict.KEPT, None
        change = new_change(
            dossier,
            origin=ChangeOrigin.SCHEDULE,
            previous=previous,
            record=computed.as_dict(),
            detail=(
                f"Tính lại thời hạn theo {reason}: kéo dài thời hạn từ {previous.term} — "
                f"{computed.summary()}"
            ),
            reason=reason,
            actor=SYSTEM_ACTOR,
            at=at,
            schedule_version=schedule.version,
            schedule_sha256=schedule.sha256,
        )
        session.add(change)
        return Verdict.LENGTHENED, change.id


def _reason(dossier: Dossier, schedule: Schedule, computed: RetentionDecision) -> str:
    """``danh mục thời hạn <old> → <new>, dòng 12 (1.000894 — …)``."""
    old = (
        dossier.retention_schedule_version
        or (dossier.retention_basis or {}).get("schedule_version")
        or "?"
    )
    row = computed.schedule_row
    where = row.describe() if row is not None else "không có dòng áp dụng"
    return f"danh mục thời hạn {old} → {schedule.version}, {where}"


def _audit_kept(
    session: Session,
    dossier: Dossier,
    reason: str,
    previous: RetentionDecision,
    computed: RetentionDecision,
    schedule: Schedule,
) -> None:
    record_audit(
        session,
        actor=SYSTEM_ACTOR,
        action="retention.kept",
        target_type="dossier",
        target_id=dossier.dossier_code,
        detail={
            "reason": reason,
            "aip_version": dossier.aip_version,
            "retention": previous.term.text,
            "disposal_date": _iso(previous),
            "computed_retention": computed.term.text,
            "computed_disposal_date": _iso(computed),
            "schedule_version": schedule.version,
            "schedule_sha256": schedule.sha256,
        },
    )


def _iso(decision: RetentionDecision) -> str | None:
    return decision.disposal_date.isoformat() if decision.disposal_date else None


def _count(report: RecomputeReport, verdict: Verdict, code: str) -> None:
    if verdict is Verdict.LENGTHENED:
        report.lengthened.append(code)
    elif verdict is Verdict.KEPT:
        report.kept.append(code)
    elif verdict is Verdict.BUSY:
        report.busy.append(code)
    else:
        report.unchanged += 1


def _audit_run(database: Database, report: RecomputeReport) -> None:
    with database.session() as session:
        record_audit(
            session,
            actor=SYSTEM_ACTOR,
            action="retention.recomputed",
            target_type="schedule",
            target_id=report.schedule_version,
            detail={
                "schedule_sha256": report.schedule_sha256,
                "lengthened": len(report.lengthened),
                "kept": len(report.kept),
                "unchanged": report.unchanged,
                "pending": len(report.pending),
                "busy": len(report.busy),
                "failed": len(report.failed),
            },
        )
