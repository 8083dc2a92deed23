"""Deposit tasks run in child processes of the service (the embedded default on several cores).

The pipeline is CPU-bound Python (validation, PDF/A checks, XML), so threads of one process share
one core. With ``ARCHIVE_PIPELINE_PROCESSES`` > 0 and no broker, ``ProcessPipeline`` sends each
task body to a pool of that many child processes, each with its own database connections and
repository; the in-process dispatcher keeps scheduling (timers, retries) in the server process.

Nothing here weakens crash safety: the children run the same ``DepositPipeline.process`` under the
same leases as Celery workers do. A child that dies mid-task breaks the pool; the pool is replaced
and the task runs again once the dead child's lease has expired (the pipeline's ``claim`` says how
long that is), finishing or undoing what the child left, exactly as after a crash of the service.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import CancelledError, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from archive_service.config import Settings
from archive_service.db.session import Database
from archive_service.ingest.pipeline import DepositPipeline
from archive_service.logging import configure_logging
from archive_service.storage.setup import open_archive_repository

log = logging.getLogger(__name__)

#: Wait before running again a task whose child process died: its lease decides the rest.
BROKEN_POOL_DELAY_SECONDS = 1.0
#: Longest ``start`` waits for every child to be ready (then the rest start as tasks come).
START_TIMEOUT_SECONDS = 60.0
_START_POLL_SECONDS = 0.05

_child_pipeline: DepositPipeline | None = None


def _start_child(settings: Settings) -> None:
    """Initializer of a child process: logging, database connections and repository, and what
    each process looks up once (``DepositPipeline.start``)."""
    global _child_pipeline
    configure_logging()
    database = Database(settings.effective_database_url())
    _child_pipeline = DepositPipeline(settings, database, open_archive_repository(settings))
    _child_pipeline.start()


def _child_id() -> int:
    return os.getpid()


def _process_in_child(deposit_id: str) -> float | None:
    assert _child_pipeline is not None, "child process not initialised"
    return _child_pipeline.process(deposit_id)


class ProcessPipeline:
    """``DepositPipeline.process`` run in a pool of ``processes`` child processes.

    ``start`` starts the children and waits until they are ready, so that the first deposits do
    not wait for them (each child imports the pipeline's libraries: about 1.5 s of CPU); without
    it, the first task starts them. ``close`` stops them after the tasks being run finish.
    """

    def __init__(self, settings: Settings, processes: int) -> None:
        self._settings = settings
        self._processes = processes
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False

    def process(self, deposit_id: str) -> float | None:
        """Run the task body of ``deposit_id`` in a child; seconds until it runs again or None."""
        pool = self._current_pool()
        try:
            return pool.submit(_process_in_child, deposit_id).result()
        except BrokenProcessPool:
            log.error("deposit %s: a pipeline process died; the task runs again", deposit_id)
            self._replace(pool)
            return BROKEN_POOL_DELAY_SECONDS

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> frozenset[int]:
        """Start every child and wait until each has initialised, for at most ``timeout``
        seconds; the process ids of the children that are ready by then (the others go on
        starting, and take tasks once ready)."""
        ready: set[int] = set()
        deadline = time.monotonic() + timeout
        try:
            pool = self._current_pool()
        except RuntimeError:  # closed already
            return frozenset()
        try:
            # One call per missing child: while none is idle, each call starts a child; a
            # child takes calls only once initialised, so the children that answered are ready.
            while len(ready) < self._processes:
                calls = [pool.submit(_child_id) for _ in range(self._processes - len(ready))]
                done, _ = wait(calls, timeout=max(0.0, deadline - time.monotonic()))
                ready.update(call.result() for call in done)
                if len(ready) == self._processes or time.monotonic() >= deadline:
                    break
                time.sleep(_START_POLL_SECONDS)
        except BrokenProcessPool:
            log.error("a pipeline process could not start; the first task tries again")
            self._replace(pool)
            return frozenset()
        except (RuntimeError, CancelledError):  # closed while starting
            return frozenset(ready)
        if len(ready) < self._processes:
            log.warning(
                "pipeline processes: %d of %d ready after %.0f s; the others are still starting",
                len(ready),
                self._processes,
                timeout,
            )
        return frozenset(ready)

    def close(self) -> None:
        """Stop the children once their current tasks end."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _current_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("pipeline processes are stopped")
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self._processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_child,
                    initargs=(self._settings,),
                )
            return self._pool

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:
                self._pool = None
        broken.shutdown(wait=False, cancel_futures=True)
