"""Holds on dossiers (lệnh giữ, phong tỏa): placing and releasing them, in the database and on
every stored object version of the dossier.

A hold is recorded first (one transaction: the hold, a ``policy assignment`` PREMIS event, an
audit entry and, when the dossier is free, a pending change writing the event into the AIP),
then storage is brought in line: an S3 legal hold ON on every stored object version of the
dossier while any hold is active, OFF once the last one is released. While a dossier has an
active hold it can be neither disposed of nor have its term shortened — the database check
alone already forbids it, and the legal hold makes the storage refuse deletion too, even with
the governance bypass.

**In the AIP.** Last, the event is written into the AIP's ``PREMIS.xml`` as a metadata-only
version (``RetentionChanges.write_hold_events``), whose objects get the storage locks and — while
a hold is active — the legal hold (``retention.locks``). The hold is in force whether or not
that succeeds. A change of the dossier left pending is finished first; when storage fails or a
deposit is writing the dossier, the event waits (``HoldView.placed_in_aip`` empty) and the daily
task writes it.

**Crash safety.** Each hold row carries ``storage_synced_at``: empty until storage matched the
holds as they stood. ``sync_legal_holds`` (run after each change and by the daily task) applies
the state and marks the holds synced only if no hold changed meanwhile (otherwise it goes again),
so storage always ends up matching the database.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from archive_service.db.base import utcnow
from archive_service.db.session import Database
from archive_service.dossiers.models import Dossier
from archive_service.integrity.audit import record_audit
from archive_service.security.service import Principal
from archive_service.storage.ocfl import OcflRepository
from retention.errors import (
    DossierBeingDestroyed,
    DossierNotFound,
    HoldAlreadyReleased,
    HoldNotFound,
)
from retention.events import record_policy_event
from retention.models import DisposalItem, DossierHold, ItemStatus
from retention.targets import lock_targets

if TYPE_CHECKING:
    from retention.changes import RetentionChanges

log = logging.getLogger(__name__)

#: How many times storage is brought in line when holds keep changing meanwhile.
SYNC_ROUNDS = 5


def active_hold_count(session: Session, dossier_id: int) -> int:
    """How many holds of the dossier are not released."""
    return int(
        session.scalar(
            select(func.count(DossierHold.id)).where(
                DossierHold.dossier_id == dossier_id, DossierHold.released_at.is_(None)
            )
        )
        or 0
    )


class HoldView(BaseModel):
    """A hold on a dossier, active or released."""

    model_config = ConfigDict(frozen=True)

    id: int
    dossier_code: str
    reason: str
    reference: str
    placed_by: str = Field(examples=["key:12"])
    placed_at: datetime
    active: bool
    released_by: str | None
    released_at: datetime | None
    release_reason: str | None
    storage_synced: bool = Field(description="storage legal holds match the dossier's holds")
    placed_in_aip: str | None = Field(
        None,
        examples=["v2"],
        description="AIP version whose PREMIS.xml first records the placing (null: not yet)",
    )
    released_in_aip: str | None = Field(
        None,
        examples=["v3"],
        description="AIP version whose PREMIS.xml first records the release (null: not yet)",
    )


def hold_view(hold: DossierHold) -> HoldView:
    return HoldView(
        id=hold.id,
        dossier_code=hold.dossier_code,
        reason=hold.reason,
        reference=hold.reference,
        placed_by=hold.placed_by,
        placed_at=hold.placed_at,
        active=hold.active,
        released_by=hold.released_by,
        released_at=hold.released_at,
        release_reason=hold.release_reason,
        storage_synced=hold.storage_synced_at is not None,
        placed_in_aip=hold.placed_in_aip,
        released_in_aip=hold.released_in_aip,
    )


@dataclass(frozen=True)
class SyncResult:
    """What bringing storage in line did: legal hold on or off, on how many object versions."""

    dossier_code: str
    legal_hold: bool
    objects: int
    synced: bool


class HoldService:
    """Holds of archived dossiers: database first, then every stored object version, then the
    event in the AIP (``changes`` writes it)."""

    def __init__(
        self, database: Database, repository: OcflRepository, changes: RetentionChanges
    ) -> None:
        self.database = database
        self.repository = repository
        self.changes = changes

    def place(
        self,
        principal: Principal,
        dossier_code: str,
        *,
        reason: str,
        reference: str = "",
        remote_addr: str | None = None,
    ) -> HoldView:
        """Place a hold (who: ``principal``), then set the legal hold on every object version."""
        with self.database.session() as session:
            dossier = _dossier_for_update(session, dossier_code)
            destroying = session.scalar(
                select(DisposalItem.proposal_id).where(
                    DisposalItem.dossier_code == dossier_code,
                    DisposalItem.status == ItemStatus.DESTROYING.value,
                )
            )
            if destroying is not None:
                raise DossierBeingDestroyed(
                    f"Hồ sơ {dossier_code} đang được hủy theo danh sách hủy số {destroying} đã "
                    "được duyệt: không đặt được lệnh giữ."
                )
            hold = DossierHold(
                dossier_id=dossier.id,
                dossier_code=dossier_code,
                reason=reason,
                reference=reference,
                placed_by=principal.actor,
                placed_at=utcnow(),
            )
            session.add(hold)
            session.flush()
            hold.placed_event_id = str(uuid.uuid4())
            record_policy_event(
                session,
                dossier.id,
                f"Đặt lệnh giữ số {hold.id} đối với hồ sơ {dossier_code}: {reason}"
                + (f" (căn cứ: {reference})" if reference else "")
                + ". Hồ sơ không được hủy hay rút ngắn thời hạn khi còn lệnh giữ.",
                agent=principal.actor,
                event_id=hold.placed_event_id,
                at=hold.placed_at,
            )
            record_audit(
                session,
                actor=principal.actor,
                role=principal.role,
                action="retention.hold_placed",
                target_type="dossier",
                target_id=dossier_code,
                remote_addr=remote_addr,
                detail={"hold_id": hold.id, "reason": reason, "reference": reference},
            )
            self.changes.decide_hold_event(session, dossier)
            hold_id = hold.id
        self._sync_logged(dossier_code)
        self._write_logged(dossier_code)
        return self.get(dossier_code, hold_id)

    def release(
        self,
        principal: Principal,
        dossier_code: str,
        hold_id: int,
        *,
        reason: str | None = None,
        remote_addr: str | None = None,
    ) -> HoldView:
        """Release a hold; the legal holds are lifted once no hold of the dossier is active."""
        with self.database.session() as session:
            dossier = _dossier_for_update(session, dossier_code)
            hold = session.get(DossierHold, hold_id, with_for_update=True)
            if hold is None or hold.dossier_id != dossier.id:
                raise HoldNotFound(f"Hồ sơ {dossier_code} không có lệnh giữ số {hold_id}.")
            if not hold.active:
                raise HoldAlreadyReleased(
                    f"Lệnh giữ số {hold_id} của hồ sơ {dossier_code} đã được gỡ trước đó."
                )
            hold.released_at = utcnow()
            hold.released_by = principal.actor
            hold.release_reason = reason
            hold.storage_synced_at = None
            hold.released_event_id = str(uuid.uuid4())
            remaining = active_hold_count(session, dossier.id) - 1
            record_policy_event(
                session,
                dossier.id,
                f"Gỡ lệnh giữ số {hold_id} đối với hồ sơ {dossier_code}"
                + (f": {reason}" if reason else "")
                + f". Còn {remaining} lệnh giữ.",
                agent=principal.actor,
                event_id=hold.released_event_id,
                at=hold.released_at,
            )
            record_audit(
                session,
                actor=principal.actor,
                role=principal.role,
                action="retention.hold_released",
                target_type="dossier",
                target_id=dossier_code,
                remote_addr=remote_addr,
                detail={"hold_id": hold_id, "reason": reason, "remaining": remaining},
            )
            self.changes.decide_hold_event(session, dossier)
        self._sync_logged(dossier_code)
        self._write_logged(dossier_code)
        return self.get(dossier_code, hold_id)

    def get(self, dossier_code: str, hold_id: int) -> HoldView:
        with self.database.read_session() as session:
            hold = session.get(DossierHold, hold_id)
            if hold is None or hold.dossier_code != dossier_code:
                raise HoldNotFound(f"Hồ sơ {dossier_code} không có lệnh giữ số {hold_id}.")
            return hold_view(hold)

    def list(self, dossier_code: str) -> list[HoldView]:
        """Every hold of the dossier, active and released, oldest first."""
        with self.database.read_session() as session:
            dossier = session.scalar(select(Dossier).where(Dossier.dossier_code == dossier_code))
            if dossier is None:
                raise DossierNotFound(f"Không có hồ sơ '{dossier_code}' trong kho lưu trữ.")
            holds = session.scalars(
                select(DossierHold)
                .where(DossierHold.dossier_id == dossier.id)
                .order_by(DossierHold.placed_at, DossierHold.id)
            )
            return [hold_view(hold) for hold in holds]

    def _sync_logged(self, dossier_code: str) -> None:
        try:
            sync_legal_holds(self.database, self.repository, dossier_code)
        except Exception:
            log.exception(
                "dossier %s: legal holds not synced yet; the daily task retries", dossier_code
            )

    def _write_logged(self, dossier_code: str) -> None:
        """Write the dossier's waiting hold events into its AIP; failures wait for the daily
        task."""
        try:
            self.changes.write_hold_events(dossier_code)
        except Exception:
            log.exception(
                "dossier %s: hold events not in the AIP yet; the daily task retries", dossier_code
            )


def sync_legal_holds(
    database: Database, repository: OcflRepository, dossier_code: str
) -> SyncResult | None:
    """Set the legal hold of every stored object version of the dossier ON while it has an
    active hold, OFF otherwise; mark its holds synced. ``None``: no such dossier."""
    store = repository.store
    for _ in range(SYNC_ROUNDS):
        with database.read_session() as session:
            dossier = session.scalar(select(Dossier).where(Dossier.dossier_code == dossier_code))
            if dossier is None:
                return None
            before = _hold_state(session, dossier.id)
            targets = lock_targets(session, dossier, repository)
        on = any(released is None for _, released in before)
        for target in targets:
            store.set_legal_hold(target.key, on, version_id=target.version_id)
        with database.session() as session:
            if _hold_state(session, dossier.id) != before:
                continue  # a hold changed meanwhile: apply the new state
            session.execute(
                update(DossierHold)
                .where(
                    DossierHold.dossier_id == dossier.id, DossierHold.storage_synced_at.is_(None)
                )
                .values(storage_synced_at=utcnow())
            )
        return SyncResult(dossier_code, on, len(targets), True)
    return SyncResult(dossier_code, on, len(targets), False)


def unsynced_hold_dossiers(session: Session) -> list[str]:
    """Codes of dossiers whose storage legal holds may not match their holds yet."""
    return list(
        session.scalars(
            select(DossierHold.dossier_code)
            .where(DossierHold.storage_synced_at.is_(None))
            .distinct()
            .order_by(DossierHold.dossier_code)
        )
    )


def _hold_state(session: Session, dossier_id: int) -> list[tuple[int, datetime | None]]:
    return [
        (row.id, row.released_at)
        for row in session.execute(
            select(DossierHold.id, DossierHold.released_at)
            .where(DossierHold.dossier_id == dossier_id)
            .order_by(DossierHold.id)
        )
    ]


def _dossier_for_update(session: Session, dossier_code: str) -> Dossier:
    dossier = session.scalar(
        select(Dossier).where(Dossier.dossier_code == dossier_code).with_for_update()
    )
    if dossier is None:
        raise DossierNotFound(f"Không có hồ sơ '{dossier_code}' trong kho lưu trữ.")
    return dossier
