"""The replica sync task (thin: it calls ``replica_schedule.sync_and_report``); Celery beat sends
it every ``replica_sync_seconds`` when a replica is configured (``celery_app.beat_schedule``)."""

from __future__ import annotations

from archive_service.integrity.repair import open_replica_store
from archive_service.integrity.replica_schedule import TASK_REPLICA_SYNC, sync_and_report
from archive_service.storage.setup import open_archive_store
from workers.celery_app import celery_app
from workers.tasks import deposit_service


@celery_app.task(name=TASK_REPLICA_SYNC)
def replica_sync() -> None:
    """Copy to the replica what it does not hold yet."""
    service = deposit_service()
    replica = open_replica_store(service.settings)
    if replica is not None:
        store = open_archive_store(service.settings)
        sync_and_report(service.settings, service.database, store, replica)
