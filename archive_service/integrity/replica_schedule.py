"""Replica sync on a clock: in-process on the embedded default, Celery beat otherwise.

Every ``replica_sync_seconds`` (15 minutes by default; 0: never, only ``archive replica sync``)
the objects stored since the last sync are copied to the replica (``replica_sync``): a
deposit is on two stores within one interval of being archived, and a retention extended on the
primary reaches the copies within one interval of being recorded. A copy or an extension that
fails is logged at ERROR level and tried again at the next tick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from archive_service.config import Settings
from archive_service.db.session import Database
from archive_service.integrity.repair import open_replica_store
from archive_service.integrity.replica_sync import (
    ReplicaSync,
    SyncBusy,
    one_sync_at_a_time,
    sync_replica,
)
from archive_service.integrity.scheduler import run_every
from archive_service.storage.base import ObjectStore

log = logging.getLogger(__name__)

TASK_REPLICA_SYNC = "archive.replica_sync"


def replica_scheduled(settings: Settings) -> bool:
    """Whether a replica is configured and synced on a clock."""
    return bool(settings.replica_storage_url) and settings.replica_sync_seconds > 0


def sync_and_report(
    settings: Settings, database: Database, primary: ObjectStore, replica: ObjectStore
) -> ReplicaSync | None:
    """One scheduled sync (``None``: another is still running); what could not be copied, or
    whose retention could not be extended, is logged at ERROR level."""
    try:
        with one_sync_at_a_time(database):
            result = sync_replica(database, primary, replica)
    except SyncBusy:
        log.info("replica sync skipped: another sync is still running")
        return None
    if result.failed:
        log.error(
            "REPLICA SYNC: %d object(s) not copied to the replica (next tick tries again): %s",
            len(result.failed),
            ", ".join(result.failed[:5]),
        )
    if result.not_extended:
        log.error(
            "REPLICA SYNC: retention of %d replica copy(ies) not extended (next tick tries "
            "again): %s",
            len(result.not_extended),
            ", ".join(result.not_extended[:5]),
        )
    if result.copied or result.extended:
        log.info(
            "replica sync: %d object(s) copied, %d copy(ies) under a longer retention",
            result.copied,
            result.extended,
        )
    return result


def start_replica_background(
    settings: Settings, database: Database, primary: ObjectStore
) -> Callable[[], None]:
    """Sync the replica every ``replica_sync_seconds`` in a thread of this process when no
    broker is configured (with a broker, beat sends the task); return the stop."""
    replica = open_replica_store(settings) if replica_scheduled(settings) else None
    if settings.broker_url or replica is None:
        return lambda: None
    return run_every(
        settings.replica_sync_seconds,
        lambda: sync_and_report(settings, database, primary, replica),
        "REPLICA SYNC FAILED",
    )
