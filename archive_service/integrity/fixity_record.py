"""What a fixity run writes for each dossier, in one transaction: a row per check, the objects'
last check, the dossier's PREMIS events, the audit of repairs, and the run's running totals.

**Decision — PREMIS events.** Each run records one ``fixity check`` event per dossier (the
number of objects re-hashed and every failure, by key), plus one ``replication`` event per object
restored from the replica. Writing a new AIP version for every check would multiply versions
(and, on S3, locked copies) for no gain, so these events accumulate in the database
(``premis_events``, shown with the dossier) and ``waiting_aip_history`` hands them to whoever
writes the dossier's next AIP version — a deposit of a ``SUPPLEMENT`` or ``REPLACEMENT``, a hold
or a retention change — which puts those not yet there into its PREMIS file.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from archive_service import SOFTWARE_NAME, __version__
from archive_service.db.base import utcnow
from archive_service.dossiers.models import PremisEventRecord, StoredObject
from archive_service.integrity.audit import record_audit
from archive_service.integrity.fixity_check import CheckResult
from archive_service.integrity.fixity_models import CheckOutcome, FixityCheck, FixityRun
from archive_service.integrity.fixity_targets import DossierGroup
from archive_service.integrity.repair import RepairResult
from archive_service.packages.premis import (
    AgentRole,
    AgentType,
    EventType,
    LinkedAgent,
    Outcome,
    PremisAgent,
    PremisEvent,
)

SYSTEM_ACTOR = "system"
# Core statements run once per batch of rows (executemany): far cheaper than ORM objects.
_INSERT_CHECK = insert(cast(Table, FixityCheck.__table__))
_OBJECTS = cast(Table, StoredObject.__table__)
_UPDATE_STATUS = (
    update(_OBJECTS)
    .where(_OBJECTS.c.id == bindparam("object_id"))
    .values(last_checked_at=bindparam("checked_at"), last_outcome=bindparam("outcome"))
)
#: Agent named on fixity events: this software.
FIXITY_AGENT = f"{SOFTWARE_NAME}/{__version__}"
#: Failures named one by one in a PREMIS event's detail (the rest are counted).
FAILURES_NAMED = 20
FIXITY_EVENT_TYPES = (str(EventType.FIXITY_CHECK), str(EventType.REPLICATION))


@dataclass(frozen=True)
class CheckedObject:
    """One check and, when the object was damaged and a replica exists, its repair."""

    result: CheckResult
    repair: RepairResult | None = None

    @property
    def outcome_now(self) -> CheckOutcome:
        """The object's state after this run: the re-check's outcome once repaired."""
        if self.repair is not None and self.repair.recheck is not None:
            return self.repair.recheck.outcome
        return self.result.outcome


def record_group(
    session: Session, run_id: int, group: DossierGroup, checked: Sequence[CheckedObject]
) -> None:
    """Persist the checks of one dossier and everything that follows from them."""
    if not checked:
        return
    session.execute(_INSERT_CHECK, [_check_row(run_id, item) for item in checked])
    completed = [item for item in checked if item.result.outcome is not CheckOutcome.ERROR]
    if completed:
        session.execute(_UPDATE_STATUS, [_object_status(item) for item in completed])
    for item in checked:
        repair = item.repair
        if repair is not None and repair.repaired and repair.version_id:
            session.execute(  # the newest version now holds the bytes: it is the reference
                update(StoredObject)
                .where(StoredObject.id == item.result.reference.stored_object_id)
                .values(version_id=repair.version_id)
            )
    if group.dossier_id is not None:
        session.add(_fixity_event(run_id, group, checked))
        for item in checked:
            if item.repair is not None:
                session.add(_replication_event(group, item))
    for item in checked:
        if item.repair is not None:
            _audit_repair(session, run_id, group, item)
    _add_to_run(session, run_id, checked)


def waiting_aip_history(
    session: Session, dossier_id: int
) -> tuple[list[PremisEvent], list[PremisAgent]]:
    """The dossier's fixity and replication events (``pending_aip_events``) and the software
    agents they name: what the writer of its next AIP version adds to the PREMIS file."""
    events = pending_aip_events(session, dossier_id)
    named = dict.fromkeys(link.identifier for event in events for link in event.agents)
    return events, [_software(identifier) for identifier in named]


def _software(identifier: str) -> PremisAgent:
    """The agent ``<name>/<version>`` of this software, at the version that acted."""
    name, _, version = identifier.partition("/")
    return PremisAgent(
        identifier=identifier, name=name, agent_type=AgentType.SOFTWARE, version=version or None
    )


def pending_aip_events(session: Session, dossier_id: int) -> list[PremisEvent]:
    """Fixity and replication events of a dossier, oldest first, as PREMIS events to write into
    its next AIP version (the writers skip those an earlier version already carries)."""
    rows = session.scalars(
        select(PremisEventRecord)
        .where(
            PremisEventRecord.dossier_id == dossier_id,
            PremisEventRecord.deposit_id.is_(None),
            PremisEventRecord.event_type.in_(FIXITY_EVENT_TYPES),
        )
        .order_by(PremisEventRecord.at, PremisEventRecord.id)
    )
    return [
        PremisEvent(
            identifier=row.event_id,
            event_type=row.event_type,
            date_time=row.at,
            detail=row.detail,
            outcome=row.outcome,
            agents=(LinkedAgent(row.agent or FIXITY_AGENT, AgentRole.EXECUTING_PROGRAM),),
        )
        for row in rows
    ]


def _check_row(run_id: int, item: CheckedObject) -> dict[str, Any]:
    result, repair = item.result, item.repair
    reference = result.reference
    return {
        "run_id": run_id,
        "stored_object_id": reference.stored_object_id,
        "dossier_id": reference.dossier_id,
        "storage": reference.storage,
        "key": reference.key,
        "version_id": result.version_id,
        "aip_version": reference.aip_version,
        "expected_sha256": reference.sha256,
        "expected_size": reference.size,
        "inventory_sha256": result.inventory_sha256,
        "actual_sha256": result.actual_sha256,
        "actual_size": result.actual_size,
        "outcome": result.outcome.value,
        "checked_at": result.checked_at,
        "duration_ms": result.duration_ms,
        "detail": result.detail,
        "repair": repair.outcome.value if repair else None,
        "repair_detail": repair.detail if repair else None,
    }


def _object_status(item: CheckedObject) -> dict[str, Any]:
    return {
        "object_id": item.result.reference.stored_object_id,
        "checked_at": item.result.checked_at,
        "outcome": item.outcome_now.value,
    }


def _fixity_event(
    run_id: int, group: DossierGroup, checked: Sequence[CheckedObject]
) -> PremisEventRecord:
    counts = {outcome: 0 for outcome in CheckOutcome}
    for item in checked:
        counts[item.result.outcome] += 1
    repaired = sum(1 for item in checked if item.repair is not None and item.repair.repaired)
    failures = [item.result for item in checked if not item.result.ok]
    detail = (
        f"Lượt kiểm tra tính toàn vẹn {run_id}: tính lại SHA-256 của {len(checked)} đối tượng "
        f"lưu trữ của hồ sơ {group.dossier_code}, so với giá trị ghi khi nộp lưu và với "
        f"inventory OCFL: {counts[CheckOutcome.OK]} khớp, {counts[CheckOutcome.MISMATCH]} sai "
        f"khác, {counts[CheckOutcome.MISSING]} bị mất, {counts[CheckOutcome.ERROR]} không đọc "
        f"được; khôi phục từ bản sao: {repaired}."
    )
    for failure in failures[:FAILURES_NAMED]:
        detail += f" [{failure.outcome.value}] {failure.reference.key}: {failure.detail}."
    if len(failures) > FAILURES_NAMED:
        detail += f" … và {len(failures) - FAILURES_NAMED} lỗi khác."
    return PremisEventRecord(
        dossier_id=group.dossier_id,
        event_id=str(uuid.uuid4()),
        event_type=str(EventType.FIXITY_CHECK),
        at=max(item.result.checked_at for item in checked),
        outcome=str(Outcome.FAILURE if failures else Outcome.SUCCESS),
        detail=detail,
        agent=FIXITY_AGENT,
    )


def _replication_event(group: DossierGroup, item: CheckedObject) -> PremisEventRecord:
    assert item.repair is not None
    at: datetime = item.repair.recheck.checked_at if item.repair.recheck else utcnow()
    return PremisEventRecord(
        dossier_id=group.dossier_id,
        event_id=str(uuid.uuid4()),
        event_type=str(EventType.REPLICATION),
        at=at,
        outcome=str(Outcome.SUCCESS if item.repair.repaired else Outcome.FAILURE),
        detail=f"Khôi phục đối tượng từ kho bản sao ({item.result.outcome.value} khi kiểm tra): "
        f"{item.repair.detail}",
        agent=FIXITY_AGENT,
    )


def _audit_repair(session: Session, run_id: int, group: DossierGroup, item: CheckedObject) -> None:
    assert item.repair is not None
    record_audit(
        session,
        actor=SYSTEM_ACTOR,
        action="fixity.repaired" if item.repair.repaired else "fixity.repair_failed",
        target_type="dossier" if group.dossier_code else "stored_object",
        target_id=group.dossier_code or item.result.reference.key[:200],
        detail={
            "run_id": run_id,
            "key": item.result.reference.key,
            "found": item.result.outcome.value,
            "expected_sha256": item.result.reference.sha256,
            "version_id": item.repair.version_id,
            "detail": item.repair.detail,
        },
    )


def _add_to_run(session: Session, run_id: int, checked: Sequence[CheckedObject]) -> None:
    run = session.get(FixityRun, run_id, with_for_update=True)
    if run is None:
        raise LookupError(f"fixity run {run_id} does not exist")
    for item in checked:
        outcome = item.result.outcome
        if outcome is CheckOutcome.OK:
            run.objects_ok += 1
        elif outcome is CheckOutcome.MISMATCH:
            run.objects_mismatch += 1
        elif outcome is CheckOutcome.MISSING:
            run.objects_missing += 1
        else:
            run.objects_error += 1
        if item.repair is not None and item.repair.repaired:
            run.objects_repaired += 1
        if item.result.actual_size is not None:
            run.bytes_checked += item.result.actual_size
    run.updated_at = utcnow()
