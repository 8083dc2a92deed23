"""Tasks: thin wrappers that call the deposit service and the audit checkpoint.

Each worker process opens its own service (database engine, storage) on first use, after the
fork. When a worker starts, it resubmits every unfinished deposit, each due when its lease or its
back-off ends: a deposit whose worker was killed is finished by the restarted worker without
waiting for the broker to hand the lost task out again.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery.signals import worker_ready

from archive_service.config import get_settings
from archive_service.ingest.dispatch import TASK_ERROR_DELAY_SECONDS
from archive_service.ingest.errors import DepositNotFound
from archive_service.ingest.service import DepositService, open_deposit_service
from archive_service.integrity.checkpoints import run_checkpoint
from archive_service.storage.setup import open_archive_store
from workers.celery_app import TASK_AUDIT_CHECKPOINT, TASK_PROCESS_DEPOSIT, celery_app

log = logging.getLogger(__name__)

_services: dict[int, DepositService] = {}


def deposit_service() -> DepositService:
    """This process's deposit service (one per process: engines do not survive a fork)."""
    pid = os.getpid()
    if pid not in _services:
        _services[pid] = open_deposit_service(get_settings())
    return _services[pid]


@celery_app.task(name=TASK_PROCESS_DEPOSIT)
def process_deposit(deposit_id: str) -> None:
    """Advance one deposit; schedule its next run when it needs one."""
    service = deposit_service()
    try:
        delay = service.process(deposit_id)
    except DepositNotFound:
        log.warning("deposit %s no longer exists", deposit_id)
        return
    except Exception:
        log.exception("deposit %s: task failed; it will run again", deposit_id)
        delay = TASK_ERROR_DELAY_SECONDS
    if delay is not None:
        service.dispatcher.submit(deposit_id, delay)


@celery_app.task(name=TASK_AUDIT_CHECKPOINT)
def audit_checkpoint() -> None:
    """Sign the audit entries written since the last checkpoint and store the checkpoint."""
    service = deposit_service()
    run_checkpoint(service.settings, service.database, open_archive_store(service.settings))


@worker_ready.connect
def resume_unfinished(**_: Any) -> None:
    """Sweep the staging area and resubmit every unfinished deposit."""
    service = open_deposit_service(get_settings())
    try:
        service.sweep_staging()
        pending = service.pending()
        for item in pending:
            service.dispatcher.submit(item.deposit_id, item.due_in)
        log.info("resubmitted %d unfinished deposit(s)", len(pending))
    finally:
        service.close()
