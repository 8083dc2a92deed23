"""Fill the replica: copy to it what it does not hold yet, verified, under the primary's lock,
and keep the copies' locks up with the primary's.

``sync_replica`` visits the current stored objects the replica is not known to hold
(``stored_objects.replica_sha256`` differs from the object's SHA-256; ``full``: every current
object). Each is looked up on the replica and, when absent or different, copied from the
primary — verified against the SHA-256 recorded at ingest — and recorded as held, in batches,
so an interrupted sync loses little and the next one starts where it stopped.

**Locks on the copies.** A copy of a file of a version directory (``…/vN/…``, never rewritten)
carries the retention the primary version has at that moment, when the replica enforces Object
Lock. The object's root files (``inventory.json``, its sidecar) are rewritten by every new
version and are never locked on the replica. Legal holds are not copied: they come and go on
the primary, and a hold left on a copy after its release would keep it from being destroyed.
A primary whose lock cannot be read makes that object a failure of this sync (tried again by
the next), never an unlocked copy. The lock each copy carries is recorded
(``retention.models.ReplicaRetention``), and a retention extended later on the primary is
extended on the copies by the same sync, after the copying (``replica_retention``: never
shortened, never a legal hold). A replica without Object Lock gets no lock at all.

**One sync at a time** (``one_sync_at_a_time``): two syncs would copy the same objects twice
(on a versioned, locked replica: two locked versions). On PostgreSQL a session advisory lock
guards it across hosts; on SQLite a file lock beside the database, on the one host SQLite serves.

``replica_sha256`` and ``replica_retention`` record what *the* replica holds: after pointing
``ARCHIVE_REPLICA_STORAGE_URL`` at another store, run ``archive replica sync --full`` (it also
reads again the lock each copy of a version file carries).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, or_, update

from archive_service.db.session import Database
from archive_service.dossiers.models import StoredObject
from archive_service.integrity.fixity_targets import current_primary_objects
from archive_service.integrity.repair import Protection, copy_verified
from archive_service.integrity.replica_retention import (
    active_until,
    follow_retention,
    is_version_file,
    record_retained,
    retention_behind,
)
from archive_service.storage import lockrules
from archive_service.storage.base import (
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    StoreBusy,
)
from archive_service.storage.setup import database_locks

log = logging.getLogger(__name__)

#: Objects whose replica state is written to the database in one transaction.
SYNC_BATCH = 200
#: The named lock one sync holds (``storage.setup.database_locks``).
SYNC_LOCK_NAME = "replica-sync"


class SyncBusy(Exception):
    """Another replica sync is running."""


@dataclass(frozen=True)
class ReplicaSync:
    """What ``sync_replica`` did: objects copied, found already there, and keys that failed;
    copies whose retention was extended to the primary's, and keys whose could not be."""

    copied: int
    present: int
    failed: tuple[str, ...]
    extended: int = 0
    not_extended: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Every object visited is on the replica, under the primary's retention."""
        return not self.failed and not self.not_extended


@contextmanager
def one_sync_at_a_time(database: Database) -> Iterator[None]:
    """Hold the replica-sync lock for the block; ``SyncBusy`` when another holds it."""
    locks = database_locks(database.url)
    with ExitStack() as held:
        try:
            if locks is not None:  # an in-memory database: one process, nothing to share
                held.enter_context(locks.exclusive(SYNC_LOCK_NAME, timeout=0))
        except StoreBusy:
            raise SyncBusy("một lượt đồng bộ bản sao khác đang chạy") from None
        yield


def sync_replica(
    database: Database, primary: ObjectStore, replica: ObjectStore, *, full: bool = False
) -> ReplicaSync:
    """Bring the replica up to date (see the module text)."""
    query = current_primary_objects()
    if not full:
        query = query.where(copy_behind())
    with database.read_session() as session:
        wanted = [
            (row.id, row.key, row.version_id, row.sha256, row.size)
            for row in session.scalars(query.order_by(StoredObject.id))
        ]
    locks = replica.capabilities.object_lock  # without Object Lock: no lock to give or follow
    copied = present = 0
    failed: list[str] = []
    caught_up: list[tuple[int, str]] = []
    carried: dict[int, datetime | None] = {}  # the lock each copy of a version file carries
    for row_id, key, version_id, sha256, size in wanted:
        try:
            was_copied, carries = _bring_over(primary, replica, key, version_id, sha256, size)
            copied += was_copied
            present += not was_copied
            caught_up.append((row_id, sha256))
            if locks and is_version_file(key):
                carried[row_id] = carries
        except (StorageError, OSError) as exc:
            log.error("replica copy of %s failed: %s", key, exc)
            failed.append(key)
        if len(caught_up) >= SYNC_BATCH:
            _record_replica_state(database, caught_up, carried)
            caught_up, carried = [], {}
    _record_replica_state(database, caught_up, carried)
    followed = follow_retention(database, primary, replica)
    return ReplicaSync(copied, present, tuple(failed), followed.extended, followed.failed)


def copy_behind() -> ColumnElement[bool]:
    """Stored objects the replica is not known to hold (never synced, or other bytes since)."""
    return or_(
        StoredObject.replica_sha256.is_(None), StoredObject.replica_sha256 != StoredObject.sha256
    )


def not_on_replica() -> ColumnElement[bool]:
    """Stored objects the replica has not caught up with: not known to hold them, or holding a
    copy whose lock is behind its dossier's (``/metrics``: ``archive_replica_objects_behind``)."""
    return or_(copy_behind(), retention_behind())


def _bring_over(
    primary: ObjectStore, replica: ObjectStore, key: str, version_id: str, sha256: str, size: int
) -> tuple[bool, datetime | None]:
    """Copy one object unless the replica holds it; whether it was copied, and the end of the
    lock its copy carries (``None``: none, or not known)."""
    held = _replica_copy(replica, key)
    if held is not None and held.sha256 == sha256:
        return False, active_until(held.retention)
    locks = replica.capabilities.object_lock
    lock = _lock_for_copy(primary, key, version_id) if locks else Protection()
    copy_verified(primary, replica, key, sha256=sha256, size=size, protection=lock)
    # A new version carries the lock it is written with; a store without versions may keep the
    # lock of a copy it held before (``FilesystemStore``): ``follow_retention`` reads it then.
    return True, active_until(lock.retention) if replica.capabilities.versioning else None


def _lock_for_copy(primary: ObjectStore, key: str, version_id: str) -> Protection:
    """The primary version's active retention, for a file of a version directory; errors
    reading it propagate (the object is then a failure of this sync, not an unlocked copy)."""
    if not is_version_file(key):
        return Protection()
    retention = primary.stat(key, version_id=version_id or None).retention
    return Protection(retention if lockrules.is_active(retention) else None)


def _replica_copy(replica: ObjectStore, key: str) -> ObjectInfo | None:
    try:
        return replica.stat(key)
    except ObjectNotFound:
        return None


def _record_replica_state(
    database: Database, caught_up: list[tuple[int, str]], carried: dict[int, datetime | None]
) -> None:
    """What the replica holds now, and the lock each copy of a version file carries."""
    if not caught_up:
        return
    with database.session() as session:
        session.execute(
            update(StoredObject),
            [{"id": row_id, "replica_sha256": sha256} for row_id, sha256 in caught_up],
        )
        record_retained(session, carried)
