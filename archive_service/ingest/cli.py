"""``archive worker``: run a Celery worker for the configured broker.

Register with ``app.command("worker")(worker)``; also runnable as
``python -m archive_service.ingest.cli``.
"""

from __future__ import annotations

from typing import Annotated

import typer

EXIT_NOT_CONFIGURED = 2


def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="tasks run at once (default: ARCHIVE_WORKERS)")
    ] = None,
    pool: Annotated[str, typer.Option(help="Celery pool: prefork, threads or solo")] = "prefork",
    loglevel: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR")] = "INFO",
    beat: Annotated[
        bool,
        typer.Option(help="also send the periodic fixity and audit-checkpoint tasks (ONE worker)"),
    ] = False,
) -> None:
    """Process deposits and fixity runs from the broker (ARCHIVE_BROKER_URL) until stopped."""
    from archive_service.config import get_settings
    from archive_service.db.migrate import DatabaseNotMigrated, require_up_to_date
    from archive_service.db.session import Database

    settings = get_settings()
    if not settings.broker_url:
        typer.echo(
            "Chưa cấu hình hàng đợi (ARCHIVE_BROKER_URL, ví dụ redis://127.0.0.1:6379/0): "
            "không có broker thì `archive serve` tự xử lý gói nộp lưu, không cần worker.",
            err=True,
        )
        raise typer.Exit(EXIT_NOT_CONFIGURED)
    database = Database(settings.effective_database_url())
    try:
        require_up_to_date(database.engine)
    except DatabaseNotMigrated as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_NOT_CONFIGURED) from exc
    finally:
        database.dispose()

    from archive_service.logging import configure_logging
    from workers.celery_app import celery_app

    configure_logging(level=loglevel)
    celery_app.worker_main(
        [
            "worker",
            f"--loglevel={loglevel}",
            f"--pool={pool}",
            f"--concurrency={concurrency or settings.workers}",
            *(["--beat"] if beat else []),
        ]
    )


if __name__ == "__main__":
    typer.run(worker)
