"""Fixity tasks (thin: they call the fixity service) and their Celery beat entry.

- ``archive.fixity_tick`` — the scheduler's tick: check the objects due now (``scheduler.py``);
  Celery beat sends it every ``fixity_tick_seconds``.
- ``archive.fixity_run`` — execute an on-demand run started by ``POST /api/v1/fixity/runs``.

``workers.celery_app`` includes this module and carries the beat entry; one
``celery -A workers.celery_app beat`` process per archive sends the ticks.
"""

from __future__ import annotations

import logging
import os

from archive_service.config import get_settings
from archive_service.integrity.fixity_service import (
    TASK_FIXITY_RUN,
    TASK_FIXITY_TICK,
    FixityRunNotFound,
    FixityService,
    open_fixity_service,
)
from workers.celery_app import celery_app

log = logging.getLogger(__name__)

_services: dict[int, FixityService] = {}


def fixity_service() -> FixityService:
    """This process's fixity service (one per process: engines do not survive a fork)."""
    pid = os.getpid()
    if pid not in _services:
        _services[pid] = open_fixity_service(get_settings())
    return _services[pid]


@celery_app.task(name=TASK_FIXITY_TICK)
def fixity_tick() -> None:
    """Check the objects due now."""
    outcome = fixity_service().run_due()
    if outcome is not None:
        log.info("scheduled fixity run %s: %s", outcome.run_id, outcome.status.value)


@celery_app.task(name=TASK_FIXITY_RUN)
def fixity_run(run_id: int) -> None:
    """Execute an on-demand run."""
    try:
        outcome = fixity_service().execute_run(run_id)
    except FixityRunNotFound:
        log.warning("fixity run %s no longer exists", run_id)
        return
    log.info("fixity run %s: %s", run_id, outcome.status.value)
