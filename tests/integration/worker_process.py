"""Real ``archive worker`` processes (Celery over a local Redis) for integration tests.

``start_worker`` runs the worker command (``python -m archive_service.ingest.cli``) in its own
process group with the given environment, its output in a log file, and waits until Celery says
it is ready. ``kill`` is a power cut (``SIGKILL`` to the whole group); ``stop`` a normal shutdown.
``settings_environment`` turns ``Settings`` into the ``ARCHIVE_*`` variables a worker reads;
``redis_database`` (from ``tests.service_stack``) claims an empty Redis database for one test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from archive_service.config import Settings
from tests.service_stack import redis_database

__all__ = [
    "WorkerProcess",
    "redis_database",
    "running_worker",
    "settings_environment",
    "start_worker",
]

#: Longest wait for a worker to start or to stop (never reached when all is well).
WORKER_WAIT_SECONDS = 60.0
READY_MARK = " ready."


@dataclass
class WorkerProcess:
    """A started worker: its process (group leader) and its log."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self) -> None:
        """Return once Celery logged that the worker is ready; fail if it exits first."""
        deadline = time.monotonic() + WORKER_WAIT_SECONDS
        while READY_MARK not in self.log():
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker not ready after {WORKER_WAIT_SECONDS} s:\n{self.log()}")
            time.sleep(0.05)

    def wait_exit(self, timeout: float = WORKER_WAIT_SECONDS) -> int:
        """The exit code (``-9`` after ``SIGKILL``) once the worker has ended."""
        return self.process.wait(timeout)

    def kill(self) -> None:
        """Kill the worker and every process it started, at once, like a power cut."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(WORKER_WAIT_SECONDS)

    def stop(self) -> None:
        """Ask for a warm shutdown (tasks in progress finish); kill if it takes too long."""
        if self.process.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(WORKER_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()


def settings_environment(settings: Settings) -> dict[str, str]:
    """The ``ARCHIVE_*`` variables that make a worker use ``settings``."""
    values = {
        "ARCHIVE_DATA_DIR": str(settings.data_dir),
        "ARCHIVE_DATABASE_URL": settings.effective_database_url(),
        "ARCHIVE_STORAGE_URL": settings.effective_storage_url(),
        "ARCHIVE_BROKER_URL": settings.broker_url or "",
        "ARCHIVE_WORKERS": str(settings.workers),
        "ARCHIVE_MAX_ATTEMPTS": str(settings.max_attempts),
        "ARCHIVE_RETRY_DELAY_SECONDS": str(settings.retry_delay_seconds),
        "ARCHIVE_LEASE_SECONDS": str(settings.lease_seconds),
        "ARCHIVE_ARCHIVE_CODE": settings.archive_code,
        "ARCHIVE_FONDS_CODE": settings.fonds_code,
    }
    optional = {
        "ARCHIVE_S3_ENDPOINT": settings.s3_endpoint,
        "ARCHIVE_S3_ACCESS_KEY": settings.s3_access_key,
        "ARCHIVE_S3_SECRET_KEY": (
            settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None
        ),
        "ARCHIVE_S3_REGION": settings.s3_region,
    }
    values.update({name: value for name, value in optional.items() if value})
    return values


def start_worker(
    environment: Mapping[str, str],
    log_path: Path | None = None,
    *,
    pool: str = "solo",
    concurrency: int = 1,
    wait: bool = True,
) -> WorkerProcess:
    """Start ``archive worker`` with ``environment`` (over this process's, minus ``ARCHIVE_*``).

    The log goes to ``log_path`` (default: a new file in the data directory, else in ``/tmp``).
    """
    if log_path is None:
        folder = environment.get("ARCHIVE_DATA_DIR") or tempfile.gettempdir()
        log_path = Path(folder) / f"worker-{uuid.uuid4().hex[:8]}.log"
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")}
    command = [
        sys.executable,
        "-m",
        "archive_service.ingest.cli",
        "--pool",
        pool,
        "--concurrency",
        str(concurrency),
        "--loglevel",
        "INFO",
    ]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            env={**inherited, "PYTHONUNBUFFERED": "1", **environment},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    worker = WorkerProcess(process, log_path)
    if wait:
        try:
            worker.wait_ready()
        except BaseException:
            worker.kill()
            raise
    return worker


@contextmanager
def running_worker(
    environment: Mapping[str, str], log_path: Path | None = None, **options: object
) -> Iterator[WorkerProcess]:
    """A started worker, stopped (or killed) when the block ends."""
    worker = start_worker(environment, log_path, **options)  # type: ignore[arg-type]
    try:
        yield worker
    finally:
        worker.stop()
