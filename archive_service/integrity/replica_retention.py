"""The replica's copies follow the primary's storage lock when it is extended later (D-39).

A copy of a version file gets the primary version's retention when it is copied
(``replica_sync``). When the archive later extends a dossier's lock on the primary — a longer
term written as a new AIP version, a permanent lock renewed (``retention.locks``) — the
``dossiers.locked_until`` it records *after* locking the primary runs ahead of what the copies
are known to carry (``replica_retention.retained_until``, ``retention.models.ReplicaRetention``).
Every sync visits those copies (``retention_behind``) and gives each the retention the primary
version carries now, read from the primary as for a copy: never shorter than what the copy
has (``retention.locks.lock_object``: a lock is never weakened), and never a legal hold (D-36).
What was set is made durable before it is recorded, in batches. A copy the replica refuses to
extend, a primary whose lock cannot be read or is behind its record, is a failure of the sync,
tried again by the next; a crash anywhere leaves the record behind, so the next sync does it
again (setting the same retention twice changes nothing). A copy found missing or holding
other bytes is marked not held: the next sync copies it again, under the primary's lock.

Root files (``inventory.json`` and its sidecar, rewritten by every version) stay unlocked on the
replica, and **a replica without Object Lock can carry no retention: there is nothing to do**.
For both only the record moves on to the dossier's lock date, with no storage request.

Only dossiers whose current version is locked (``locks_applied_at``) with a lock still in force
are followed: while a new version waits for its locks, the old copies already carry the old date.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, delete, exists, insert, or_, select, update
from sqlalchemy.orm import Session

from archive_service.db.base import utcnow
from archive_service.db.session import Database
from archive_service.dossiers.models import Dossier, StoredObject
from archive_service.ingest.catalogue import PRIMARY_STORAGE
from archive_service.integrity.fixity_targets import is_current
from archive_service.storage import lockrules
from archive_service.storage.base import (
    MetadataBarrier,
    ObjectNotFound,
    ObjectStore,
    Retention,
    StorageError,
)
from archive_service.storage.concurrency import each, parallel_requests
from retention.locks import lock_object
from retention.models import ReplicaRetention
from retention.targets import ObjectVersion

log = logging.getLogger(__name__)

#: Copies whose retention is set, made durable and recorded together.
FOLLOW_BATCH = 200
_VERSION_DIRECTORY = re.compile(r"/v\d+/")


@dataclass(frozen=True)
class Followed:
    """What ``follow_retention`` did: copies whose retention was extended, keys that failed."""

    extended: int
    failed: tuple[str, ...]


@dataclass(frozen=True)
class _Copy:
    row_id: int
    key: str
    version_id: str
    sha256: str
    locked_until: datetime


@dataclass(frozen=True)
class _Outcome:
    retained: datetime | None = None
    extended: bool = False
    failure: str | None = None
    lost: bool = False  # the replica no longer holds the copy: copy it again


class PrimaryLockBehind(StorageError):
    """The primary version carries a shorter retention than its dossier's recorded lock."""


def is_version_file(key: str) -> bool:
    """A file of a version directory (``…/vN/…``), never rewritten: locked on the replica."""
    return _VERSION_DIRECTORY.search(key) is not None


def active_until(retention: Retention | None) -> datetime | None:
    """The date an active retention runs to; ``None`` when there is none in force."""
    return retention.until if retention is not None and lockrules.is_active(retention) else None


def _lock_behind(now: datetime) -> ColumnElement[bool]:
    """On ``StoredObject`` joined to its ``Dossier`` and (outer) ``ReplicaRetention``."""
    return and_(
        Dossier.locks_applied_at.is_not(None),
        Dossier.locked_until > now,
        or_(
            ReplicaRetention.retained_until.is_(None),
            ReplicaRetention.retained_until < Dossier.locked_until,
        ),
    )


def retention_behind(now: datetime | None = None) -> ColumnElement[bool]:
    """SQL condition on ``StoredObject``: its dossier's lock is later than the replica copy is
    known to follow (counted by ``archive_replica_objects_behind``)."""
    return exists(
        select(Dossier.id)
        .outerjoin(ReplicaRetention, ReplicaRetention.stored_object_id == StoredObject.id)
        .where(Dossier.id == StoredObject.dossier_id, _lock_behind(now or utcnow()))
    )


def _behind_query(now: datetime) -> Select[int, str, str, str, datetime | None]:
    """Current objects held by the replica whose copy's lock is behind (see the module text)."""
    return (
        select(
            StoredObject.id,
            StoredObject.key,
            StoredObject.version_id,
            StoredObject.sha256,
            Dossier.locked_until,
        )
        .join(Dossier, Dossier.id == StoredObject.dossier_id)
        .outerjoin(ReplicaRetention, ReplicaRetention.stored_object_id == StoredObject.id)
        .where(
            StoredObject.storage == PRIMARY_STORAGE,
            is_current(),
            StoredObject.replica_sha256 == StoredObject.sha256,
            _lock_behind(now),
        )
        .order_by(StoredObject.id)
    )


def follow_retention(
    database: Database, primary: ObjectStore, replica: ObjectStore, *, now: datetime | None = None
) -> Followed:
    """Bring the retention of the replica's copies up to the primary's (see the module text)."""
    now = now or utcnow()
    with database.read_session() as session:
        behind = [
            _Copy(row_id, key, version_id, sha256, locked_until)
            for row_id, key, version_id, sha256, locked_until in session.execute(_behind_query(now))
            if locked_until is not None  # always, by the query
        ]
    locks = replica.capabilities.object_lock
    extended, failed = 0, []
    for start in range(0, len(behind), FOLLOW_BATCH):
        batch = behind[start : start + FOLLOW_BATCH]
        outcomes = each(
            batch, lambda copy: _follow(primary, replica, copy, locks), parallel_requests(replica)
        )
        if any(outcome.extended for outcome in outcomes) and isinstance(replica, MetadataBarrier):
            replica.sync_metadata()  # durable before the database says the copies follow
        retained: dict[int, datetime | None] = {}
        lost: list[int] = []
        for copy, outcome in zip(batch, outcomes, strict=True):
            if outcome.failure is not None:
                log.error("replica retention of %s not extended: %s", copy.key, outcome.failure)
                failed.append(copy.key)
                if outcome.lost:
                    lost.append(copy.row_id)
                continue
            extended += outcome.extended
            retained[copy.row_id] = outcome.retained
        with database.session() as session:
            record_retained(session, retained, now)
            if lost:
                session.execute(
                    update(StoredObject)
                    .where(StoredObject.id.in_(lost))
                    .values(replica_sha256=None)
                )
    return Followed(extended, tuple(failed))


def _follow(primary: ObjectStore, replica: ObjectStore, copy: _Copy, locks: bool) -> _Outcome:
    """One copy: nothing to set (root file, replica without Object Lock), already covered, or
    extended to the primary version's retention; errors become a failure of this copy."""
    if not locks or not is_version_file(copy.key):
        return _Outcome(copy.locked_until)  # never locked there: only the record follows
    try:
        wanted = _primary_retention(primary, copy)
        primary_until = active_until(wanted)
        if wanted is None or primary_until is None or primary_until < copy.locked_until:
            shown = primary_until.isoformat() if primary_until else "không còn hiệu lực"
            raise PrimaryLockBehind(
                f"khóa trên kho chính ({shown}) ngắn hơn khóa đã ghi của hồ sơ "
                f"({copy.locked_until.isoformat()})"
            )
        held = replica.stat(copy.key)
        if held.sha256 != copy.sha256:
            return _Outcome(failure=f"bản sao có SHA-256 khác ({held.sha256})", lost=True)
        current = active_until(held.retention)
        if current is not None and current >= wanted.until:
            return _Outcome(current)  # covered already: a lock is never shortened
        lock_object(replica, ObjectVersion(copy.key, held.version_id), wanted)
        return _Outcome(wanted.until, extended=True)
    except ObjectNotFound:
        return _Outcome(failure="bản sao không còn trên kho sao", lost=True)
    except (StorageError, OSError) as exc:
        return _Outcome(failure=str(exc) or type(exc).__name__)


def _primary_retention(primary: ObjectStore, copy: _Copy) -> Retention | None:
    """The retention of the primary version the copy was made from. A primary file that is
    gone is a failure of this copy (``StorageError``), not a lost copy: the replica may hold the
    last good one, which a repair restores."""
    try:
        return primary.stat(copy.key, version_id=copy.version_id or None).retention
    except ObjectNotFound as exc:
        raise StorageError(f"không đọc được đối tượng trên kho chính: {exc}") from exc


def record_retained(
    session: Session, retained: Mapping[int, datetime | None], now: datetime | None = None
) -> None:
    """Record how far each copy follows (``{stored object id: date}``), replacing what was;
    objects deleted meanwhile (a destroyed dossier) are left out."""
    if not retained:
        return
    ids: Sequence[int] = list(retained)
    existing = set(session.scalars(select(StoredObject.id).where(StoredObject.id.in_(ids))))
    session.execute(delete(ReplicaRetention).where(ReplicaRetention.stored_object_id.in_(ids)))
    rows = [
        {"stored_object_id": row_id, "retained_until": until, "recorded_at": now or utcnow()}
        for row_id, until in retained.items()
        if row_id in existing
    ]
    if rows:
        session.execute(insert(ReplicaRetention), rows)
