"""Audit checkpoints on a clock: in-process on the embedded default, Celery beat otherwise."""

from __future__ import annotations

from collections.abc import Callable

from archive_service.config import Settings
from archive_service.db.session import Database
from archive_service.integrity.checkpoints import run_checkpoint
from archive_service.integrity.scheduler import run_every
from archive_service.storage.base import ObjectStore


def start_checkpoint_background(
    settings: Settings, database: Database, store: ObjectStore
) -> Callable[[], None]:
    """Checkpoint the audit chain every ``audit_checkpoint_interval_seconds`` in a thread of this
    process when no broker is configured (with a broker, beat sends the task); return the stop."""
    if settings.broker_url:
        return lambda: None
    return run_every(
        settings.audit_checkpoint_interval_seconds,
        lambda: run_checkpoint(settings, database, store),
        "AUDIT CHECKPOINT FAILED",
    )
