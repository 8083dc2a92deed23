"""Storage enforcement of retention: every stored object of a dossier is locked in storage.

- A dossier with a disposal date: retention in ``Settings.retention_lock_mode`` (COMPLIANCE by
  default) until the end of its disposal date in Vietnam (``clock.end_of_day``), so that nobody —
  not even an administrator of the bucket — can delete a version before the law allows.
- A permanent dossier: GOVERNANCE retention for ``Settings.permanent_lock_years`` from now,
  extended by ``extend_permanent_locks`` (a scheduled task) once fewer than
  ``permanent_lock_renew_days`` remain.
- **A disposal date already past needs no lock**: stores refuse retention dates in the past, and
  the dossier may already be disposed of. It is recorded as locked (``locks_applied_at``) with
  no ``locked_until``.
- Active holds of the dossier set an S3 legal hold on the objects of new versions too.

The objects are the dossier's ``stored_objects`` rows (every committed and recorded key version).
On the filesystem store they are given their retention in batches (``set_retention_many``:
one transaction of the sidecar records per 128 directories); those a lock already covers, and
legal holds, are then kept, extended or set one by one.
On a store without versions (the filesystem, which enforces the same rules in code) the root
``inventory.json`` and its sidecar are rewritten by each new version, so they are not locked:
everything they say is also in the locked ``vN/inventory.json`` copy.

**Crash safety.** Locks are applied only *after* the transaction that catalogues a version (a
lock on a failed deposit's leftovers would stop their clean-up), by a step that is idempotent
(setting the same or a longer retention again changes nothing) and re-run until it succeeds: the
pipeline runs it after archiving and again whenever the deposit's task runs (``pending()`` lists
archived deposits whose dossier is not locked yet); ``apply_pending_locks`` sweeps them too.
``locks_applied_at`` is written only when every object is locked, and only if no newer version
was catalogued meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from archive_service.config import Settings
from archive_service.db.base import utcnow
from archive_service.db.session import Database
from archive_service.dossiers.models import Dossier
from archive_service.ingest.models import Deposit, DepositStatus
from archive_service.integrity.audit import record_audit
from archive_service.storage.base import (
    MetadataBarrier,
    ObjectLocked,
    ObjectStore,
    Retention,
    RetentionBatch,
    RetentionMode,
)
from archive_service.storage.concurrency import each, parallel_requests
from archive_service.storage.ocfl import OcflRepository
from retention.clock import add_years, end_of_day, vietnam_today
from retention.holds import active_hold_count, sync_legal_holds
from retention.targets import ObjectVersion, lock_targets
from retention.terms import PERMANENT_CODE

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"


@dataclass(frozen=True)
class LockResult:
    """What locking a dossier did: how many object versions, which retention, legal hold or not."""

    dossier_code: str
    aip_version: str
    objects: int
    retention: Retention | None
    legal_hold: bool
    recorded: bool  # False when a newer version was catalogued meanwhile (it is locked later)


def retention_for(
    retention_code: str | None,
    disposal_date: date | None,
    settings: Settings,
    now: datetime,
    *,
    current_until: datetime | None = None,
) -> Retention | None:
    """The retention a dossier's objects need at ``now``; ``None`` when nothing is to be locked.

    ``current_until`` (a permanent dossier's lock so far) is never shortened.
    """
    if retention_code is None:
        return None
    if retention_code == PERMANENT_CODE:
        horizon = end_of_day(add_years(vietnam_today(now), settings.permanent_lock_years))
        if current_until is not None and current_until > horizon:
            horizon = current_until
        return Retention(RetentionMode.GOVERNANCE, horizon)
    if disposal_date is None:
        return None
    until = end_of_day(disposal_date)
    if until <= now:
        return None
    return Retention(RetentionMode(settings.retention_lock_mode.upper()), until)


def has_active_hold(session: Session, dossier_id: int) -> bool:
    """Whether the dossier has a hold not released."""
    return active_hold_count(session, dossier_id) > 0


def lock_object(store: ObjectStore, target: ObjectVersion, wanted: Retention) -> None:
    """Give one object version ``wanted`` retention, or keep a lock that already covers it.

    A version under an active COMPLIANCE lock (a dossier whose term became permanent) keeps
    COMPLIANCE and is extended to the wanted date: a lock is never weakened. A version under an
    active GOVERNANCE lock that should now be COMPLIANCE (a permanent dossier an archivist gave
    a term) keeps GOVERNANCE — changing the mode would mean bypassing it — extended likewise.
    On a ``MetadataBarrier`` store the caller makes the lock durable (``sync_metadata``).
    """
    try:
        _set_retention(store, target, wanted)
        return
    except ObjectLocked:
        current = store.stat(target.key, version_id=target.version_id).retention
        if current is None:
            raise
    if current.until >= wanted.until:
        return  # covered already, in the same or a mode that cannot be changed without bypass
    _set_retention(store, target, Retention(current.mode, wanted.until))


def _set_retention(store: ObjectStore, target: ObjectVersion, retention: Retention) -> None:
    """Set a retention; on a ``MetadataBarrier`` store without a flush each (the caller's
    ``sync_metadata`` makes the batch durable)."""
    if isinstance(store, MetadataBarrier):
        store.set_retention(target.key, retention, version_id=target.version_id, durable=False)
    else:
        store.set_retention(target.key, retention, version_id=target.version_id)


def _set_legal_hold(store: ObjectStore, target: ObjectVersion) -> None:
    """Set a legal hold, batched like ``_set_retention``."""
    if isinstance(store, MetadataBarrier):
        store.set_legal_hold(target.key, True, version_id=target.version_id, durable=False)
    else:
        store.set_legal_hold(target.key, True, version_id=target.version_id)


def lock_dossier(
    database: Database,
    repository: OcflRepository,
    settings: Settings,
    dossier_code: str,
    *,
    now: datetime | None = None,
    renew: bool = False,
) -> LockResult | None:
    """Lock every stored object version of the dossier as its retention requires.

    ``None`` when there is nothing to do: no such dossier, no retention assigned, or already
    locked (unless ``renew``, which extends a permanent dossier's lock). Storage errors propagate
    and leave ``locks_applied_at`` empty: running again finishes the work.
    """
    now = now or utcnow()
    with database.read_session() as session:
        dossier = session.scalar(select(Dossier).where(Dossier.dossier_code == dossier_code))
        if dossier is None or dossier.retention_code is None:
            return None
        if dossier.locks_applied_at is not None and not renew:
            return None
        version, applied = dossier.aip_version, dossier.locks_applied_at
        wanted = retention_for(
            dossier.retention_code,
            dossier.disposal_date,
            settings,
            now,
            current_until=dossier.locked_until if dossier.lock_mode else None,
        )
        held = has_active_hold(session, dossier.id)
        targets = lock_targets(session, dossier, repository)
    store = repository.store
    one_by_one = _lock_in_one_batch(store, targets, wanted)

    def lock(target: ObjectVersion) -> None:
        if wanted is not None and target in one_by_one:
            lock_object(store, target, wanted)
        if held:
            _set_legal_hold(store, target)

    each(targets, lock, parallel_requests(store))
    if isinstance(store, MetadataBarrier):
        store.sync_metadata()  # every lock durable before the database says they are applied
    if held and not _still_held(database, dossier_code):
        # Released after we looked: the release may have lifted the legal holds before we set
        # them again, so bring storage to the holds as they are now.
        sync_legal_holds(database, repository, dossier_code)
    recorded = _record_locked(database, dossier_code, version, applied, wanted, len(targets), now)
    return LockResult(dossier_code, version, len(targets), wanted, held, recorded)


def _lock_in_one_batch(
    store: ObjectStore, targets: Sequence[ObjectVersion], wanted: Retention | None
) -> set[ObjectVersion]:
    """Give ``targets`` ``wanted`` retention in one batch where the store can
    (``RetentionBatch``; on a ``MetadataBarrier`` store made durable by the caller's
    ``sync_metadata``); the targets left to ``lock_object``: every one elsewhere, else those
    the batch refused (an active lock, which is kept or extended one by one)."""
    versioned = any(target.version_id is not None for target in targets)
    if wanted is None or versioned or not isinstance(store, RetentionBatch):
        return set(targets)
    keys = [target.key for target in targets]
    refused = set(
        store.set_retention_many(keys, wanted, durable=not isinstance(store, MetadataBarrier))
    )
    return {target for target in targets if target.key in refused}


def _still_held(database: Database, dossier_code: str) -> bool:
    with database.read_session() as session:
        dossier = session.scalar(select(Dossier).where(Dossier.dossier_code == dossier_code))
        return dossier is not None and has_active_hold(session, dossier.id)


def _record_locked(
    database: Database,
    dossier_code: str,
    version: str,
    applied: datetime | None,
    wanted: Retention | None,
    objects: int,
    now: datetime,
) -> bool:
    """Write ``locks_applied_at`` (compare-and-set on the version and the previous value)."""
    values: dict[str, object] = {"locks_applied_at": now}
    if wanted is not None:
        values |= {"locked_until": wanted.until, "lock_mode": wanted.mode.value}
    unchanged = (
        Dossier.locks_applied_at.is_(None)
        if applied is None
        else Dossier.locks_applied_at == applied
    )
    with database.session() as session:
        result = session.execute(
            update(Dossier)
            .where(Dossier.dossier_code == dossier_code, Dossier.aip_version == version, unchanged)
            .values(**values)
        )
        recorded = getattr(result, "rowcount", 0) == 1
        if recorded:
            record_audit(
                session,
                actor=SYSTEM_ACTOR,
                action="retention.locks_applied",
                target_type="dossier",
                target_id=dossier_code,
                detail={
                    "aip_version": version,
                    "objects": objects,
                    "mode": wanted.mode.value if wanted else None,
                    "until": wanted.until.isoformat() if wanted else None,
                },
            )
    return recorded


def apply_pending_locks(
    database: Database,
    repository: OcflRepository,
    settings: Settings,
    *,
    now: datetime | None = None,
) -> list[LockResult]:
    """Lock every dossier whose current version is not locked yet (as of ``now``); errors are
    logged and left for the next run."""
    with database.read_session() as session:
        codes = session.scalars(
            select(Dossier.dossier_code).where(
                Dossier.locks_applied_at.is_(None), Dossier.retention_code.is_not(None)
            )
        ).all()
    return _lock_each(database, repository, settings, codes, renew=False, now=now)


def extend_permanent_locks(
    database: Database,
    repository: OcflRepository,
    settings: Settings,
    *,
    now: datetime | None = None,
) -> list[LockResult]:
    """Extend the governance lock of every permanent dossier whose lock runs out within
    ``permanent_lock_renew_days`` to ``permanent_lock_years`` from ``now``."""
    now = now or utcnow()
    renew_before = now + timedelta(days=settings.permanent_lock_renew_days)
    with database.read_session() as session:
        codes = session.scalars(
            select(Dossier.dossier_code).where(
                Dossier.retention_code == PERMANENT_CODE,
                Dossier.locks_applied_at.is_not(None),
                or_(Dossier.locked_until.is_(None), Dossier.locked_until < renew_before),
            )
        ).all()
    return _lock_each(database, repository, settings, codes, renew=True, now=now)


def _lock_each(
    database: Database,
    repository: OcflRepository,
    settings: Settings,
    codes: Sequence[str],
    *,
    renew: bool,
    now: datetime | None = None,
) -> list[LockResult]:
    results = []
    for code in codes:
        try:
            result = lock_dossier(database, repository, settings, code, now=now, renew=renew)
        except Exception:
            log.exception("dossier %s: storage locks not applied; the next run tries again", code)
            continue
        if result is not None:
            results.append(result)
    return results


def deposits_awaiting_locks(session: Session) -> list[str]:
    """Archived deposits whose dossier version they wrote is not locked in storage yet."""
    return list(
        session.scalars(
            select(Deposit.id)
            .join(Dossier, Dossier.dossier_code == Deposit.dossier_code)
            .where(
                Deposit.status == DepositStatus.ARCHIVED.value,
                Deposit.aip_version == Dossier.aip_version,
                Dossier.locks_applied_at.is_(None),
                Dossier.retention_code.is_not(None),
            )
            .order_by(Deposit.received_at)
        )
    )


def lock_deposit_dossier(
    database: Database, repository: OcflRepository, settings: Settings, deposit_id: str
) -> LockResult | None:
    """Lock the dossier an archived deposit wrote (``None``: nothing to lock)."""
    with database.read_session() as session:
        deposit = session.get(Deposit, deposit_id)
        if deposit is None or deposit.status != DepositStatus.ARCHIVED or not deposit.dossier_code:
            return None
        dossier_code = deposit.dossier_code
    return lock_dossier(database, repository, settings, dossier_code)
