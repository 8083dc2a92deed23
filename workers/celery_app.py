"""The Celery application: broker from the settings, tasks in ``workers.tasks`` (deposits,
audit checkpoints), ``workers.fixity_tasks`` and ``workers.replica_tasks``, and the beat
schedule of the periodic ones
(run one ``celery -A workers.celery_app beat`` process per archive).

Delivery is at-least-once and the task body is idempotent: a task is acknowledged only after it
ran (``task_acks_late``), a task whose worker process died is handed out again
(``task_reject_on_worker_lost``), and a worker takes one task at a time
(``worker_prefetch_multiplier=1``) so nothing waits behind a long deposit.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from archive_service.config import Settings, get_settings
from archive_service.integrity.fixity_service import TASK_FIXITY_TICK
from archive_service.integrity.replica_schedule import TASK_REPLICA_SYNC, replica_scheduled

TASK_PROCESS_DEPOSIT = "archive.process_deposit"
TASK_AUDIT_CHECKPOINT = "archive.audit_checkpoint"

TASK_MODULES = ["workers.tasks", "workers.fixity_tasks", "workers.replica_tasks"]


class BrokerNotConfigured(RuntimeError):
    """Celery needs ARCHIVE_BROKER_URL; without it the service runs tasks in-process."""


def configure_celery(app: Celery, settings: Settings) -> Celery:
    """Apply the archive's Celery options and the settings' broker to ``app``."""
    app.conf.update(
        broker_url=settings.broker_url,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        beat_schedule=beat_schedule(settings),
    )
    return app


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Periodic tasks: a fixity tick, an audit checkpoint and, with a replica, its sync — each at
    its configured interval."""
    schedule: dict[str, dict[str, Any]] = {
        "fixity-tick": {
            "task": TASK_FIXITY_TICK,
            "schedule": settings.fixity_tick_seconds,
            "options": {"expires": settings.fixity_tick_seconds},
        },
        "audit-checkpoint": {
            "task": TASK_AUDIT_CHECKPOINT,
            "schedule": settings.audit_checkpoint_interval_seconds,
            "options": {"expires": settings.audit_checkpoint_interval_seconds},
        },
    }
    if replica_scheduled(settings):
        schedule["replica-sync"] = {
            "task": TASK_REPLICA_SYNC,
            "schedule": settings.replica_sync_seconds,
            "options": {"expires": settings.replica_sync_seconds},
        }
    return schedule


def create_celery(settings: Settings) -> Celery:
    """A Celery application for the settings' broker; ``BrokerNotConfigured`` without one."""
    if not settings.broker_url:
        raise BrokerNotConfigured(
            "Chưa cấu hình hàng đợi: đặt ARCHIVE_BROKER_URL (redis://… hoặc amqp://…)"
        )
    return configure_celery(Celery("archive", include=TASK_MODULES), settings)


#: The application ``celery -A workers.celery_app`` and ``archive worker`` run.
celery_app = configure_celery(Celery("archive", include=TASK_MODULES), get_settings())
