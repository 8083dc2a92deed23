"""The Celery application: broker from the settings, tasks in ``workers.tasks``.

Delivery is at-least-once and the task body is idempotent: a task is acknowledged only after it
ran (``task_acks_late``), a task whose worker process died is handed out again
(``task_reject_on_worker_lost``), and a worker takes one task at a time
(``worker_prefetch_multiplier=1``) so nothing waits behind a long deposit.
"""

from __future__ import annotations

from celery import Celery

from archive_service.config import Settings, get_settings

TASK_PROCESS_DEPOSIT = "archive.process_deposit"


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
    )
    return app


def create_celery(settings: Settings) -> Celery:
    """A Celery application for the settings' broker; ``BrokerNotConfigured`` without one."""
    if not settings.broker_url:
        raise BrokerNotConfigured(
            "Chưa cấu hình hàng đợi: đặt ARCHIVE_BROKER_URL (redis://… hoặc amqp://…)"
        )
    return configure_celery(Celery("archive", include=["workers.tasks"]), settings)


#: The application ``celery -A workers.celery_app`` and ``archive worker`` run.
celery_app = configure_celery(Celery("archive", include=["workers.tasks"]), get_settings())
