"""The events of holds waiting to be written into the dossier's AIP, as retention changes.

Placing or releasing a hold records its ``policy assignment`` event in the catalogue at once
(``retention.holds``); the hold row names the event (``placed_event_id``, ``released_event_id``)
and, once a metadata-only AIP version carries it, that version (``placed_in_aip``,
``released_in_aip``). An event with no version yet is **waiting**. Each waiting event becomes
one change of origin ``hold`` or ``release`` (``hold_change``), written like any retention
change (``retention.changes``): the change carries the catalogue event's identifier, detail and
agent, so the AIP's ``PREMIS.xml`` gets the very event the catalogue shows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from archive_service.dossiers.models import Dossier, PremisEventRecord
from archive_service.integrity.audit import record_audit
from retention.models import (
    HOLD_ORIGINS,
    ChangeOrigin,
    ChangeStatus,
    DossierHold,
    RetentionChange,
)

SYSTEM_ACTOR = "system"

_PLACED_WAITING = and_(
    DossierHold.placed_event_id.is_not(None), DossierHold.placed_in_aip.is_(None)
)
_RELEASED_WAITING = and_(
    DossierHold.released_event_id.is_not(None), DossierHold.released_in_aip.is_(None)
)


@dataclass(frozen=True)
class HoldEvent:
    """A hold's placing (``ChangeOrigin.HOLD``) or release (``RELEASE``) not in the AIP yet."""

    hold_id: int
    origin: ChangeOrigin
    event_id: str
    reason: str
    reference: str


def waiting_hold_events(session: Session, dossier_id: int) -> list[HoldEvent]:
    """The dossier's hold events not written into its AIP yet, oldest first."""
    holds = session.scalars(
        select(DossierHold)
        .where(DossierHold.dossier_id == dossier_id, or_(_PLACED_WAITING, _RELEASED_WAITING))
        .order_by(DossierHold.id)
    )
    found: list[tuple[datetime, HoldEvent]] = []
    for hold in holds:
        if hold.placed_event_id is not None and hold.placed_in_aip is None:
            event = HoldEvent(
                hold.id, ChangeOrigin.HOLD, hold.placed_event_id, hold.reason, hold.reference
            )
            found.append((hold.placed_at, event))
        if hold.released_event_id is not None and hold.released_in_aip is None:
            assert hold.released_at is not None
            reason = hold.release_reason or ""
            event = HoldEvent(hold.id, ChangeOrigin.RELEASE, hold.released_event_id, reason, "")
            found.append((hold.released_at, event))
    found.sort(key=lambda item: (item[0], item[1].hold_id, item[1].origin != ChangeOrigin.HOLD))
    return [event for _, event in found]


@dataclass(frozen=True)
class WaitingDossier:
    """A dossier with hold events waiting: its AIP as the catalogue knows it, and whether a
    change of it is pending."""

    dossier_code: str
    aip_object_id: str
    aip_version: str
    change_pending: bool


def dossiers_with_waiting_hold_events(session: Session) -> list[WaitingDossier]:
    """Dossiers that have a hold event not written into their AIP yet, by code."""
    waiting = select(DossierHold.dossier_id).where(or_(_PLACED_WAITING, _RELEASED_WAITING))
    has_pending = (
        select(RetentionChange.id)
        .where(
            RetentionChange.dossier_id == Dossier.id,
            RetentionChange.status == ChangeStatus.PENDING.value,
        )
        .exists()
    )
    rows = session.execute(
        select(Dossier.dossier_code, Dossier.aip_object_id, Dossier.aip_version, has_pending)
        .where(Dossier.id.in_(waiting))
        .order_by(Dossier.dossier_code)
    )
    return [
        WaitingDossier(code, object_id, version, bool(pending))
        for code, object_id, version, pending in rows
    ]


def hold_change(
    session: Session, dossier: Dossier, event: HoldEvent, at: datetime
) -> RetentionChange | None:
    """A pending change writing ``event`` into the dossier's AIP (not added to the session);
    ``None`` when the catalogue has no such event (it cannot be described)."""
    record = session.scalar(
        select(PremisEventRecord).where(PremisEventRecord.event_id == event.event_id)
    )
    if record is None:
        return None
    return RetentionChange(
        id=str(uuid.uuid4()),
        dossier_id=dossier.id,
        dossier_code=dossier.dossier_code,
        origin=event.origin.value,
        status=ChangeStatus.PENDING.value,
        base_version=dossier.aip_version,
        previous={},
        decision={"hold_id": event.hold_id, "at": record.at.isoformat()},
        event_id=event.event_id,
        detail=record.detail or "",
        reason=event.reason,
        reference=event.reference,
        actor=record.agent or SYSTEM_ACTOR,
        created_at=at,
    )


def is_hold_change(change: RetentionChange) -> bool:
    """Whether the change writes a hold's event (not a new term)."""
    return change.origin in HOLD_ORIGINS


def event_time(change: RetentionChange) -> datetime:
    """When the change's event happened: the hold's placing or release for those, else the
    change itself."""
    at = (change.decision or {}).get("at")
    return datetime.fromisoformat(at) if is_hold_change(change) and at else change.created_at


def mark_written(session: Session, change: RetentionChange, version: str) -> None:
    """The hold's event is in the AIP from ``version`` on (caller's transaction)."""
    if change.origin == ChangeOrigin.HOLD:
        column, written = DossierHold.placed_event_id, {"placed_in_aip": version}
    else:
        column, written = DossierHold.released_event_id, {"released_in_aip": version}
    session.execute(
        update(DossierHold)
        .where(DossierHold.dossier_id == change.dossier_id, column == change.event_id)
        .values(**written)
    )


def audit_written(session: Session, change: RetentionChange) -> None:
    """Audit entry: the hold's event was written into the AIP version the change stored."""
    record_audit(
        session,
        actor=SYSTEM_ACTOR,
        action=(
            "retention.hold_written"
            if change.origin == ChangeOrigin.HOLD
            else "retention.hold_release_written"
        ),
        target_type="dossier",
        target_id=change.dossier_code,
        detail={
            "change_id": change.id,
            "hold_id": (change.decision or {}).get("hold_id"),
            "event_id": change.event_id,
            "aip_version": change.aip_version,
        },
    )
