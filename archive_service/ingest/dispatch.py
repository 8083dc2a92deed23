"""How deposits reach a worker: a thread pool in this process, or Celery over a broker.

Both run the same task body (``DepositService.process``), which answers how long to wait before
the deposit needs another run (a retry with back-off, a lease still held elsewhere) or ``None``.

- ``InProcessDispatcher`` (no broker: the embedded default) runs tasks on ``settings.workers``
  threads and schedules the next run itself. ``start`` resubmits every deposit not at its end —
  after a crash this is what finishes the work — and sweeps the staging area.
- ``CeleryDispatcher`` sends ``workers.tasks.process_deposit``; the Celery workers reschedule
  and, when they start, resubmit unfinished deposits themselves (``workers.tasks``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from archive_service.config import Settings
from archive_service.ingest.errors import DepositNotFound
from archive_service.ingest.views import PendingDeposit

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger(__name__)

#: Wait before running a task again whose body raised (the database was unreachable …).
TASK_ERROR_DELAY_SECONDS = 5.0


class DepositRunner(Protocol):
    """What a dispatcher runs (``DepositService``)."""

    def prepare(self) -> None: ...

    def process(self, deposit_id: str) -> float | None: ...

    def pending(self) -> Sequence[PendingDeposit]: ...

    def sweep_staging(self) -> list[Path]: ...


class TaskDispatcher(Protocol):
    """Sends deposits to be processed."""

    def submit(self, deposit_id: str, delay: float = 0.0) -> None:
        """Have ``deposit_id`` processed once ``delay`` seconds have passed."""
        ...

    def start(self, runner: DepositRunner) -> None:
        """Begin running tasks (and resume unfinished deposits when this process runs them)."""
        ...

    def close(self) -> None:
        """Stop; tasks being run finish first, scheduled ones are dropped (they resume later)."""
        ...

    def on_task_end(self, listener: Callable[[str], None]) -> None:
        """Have ``listener(deposit_id)`` called (on any thread) whenever a task of a deposit
        ends in this process."""
        ...


class InProcessDispatcher:
    """Tasks on a thread pool of this process; at ``start``, readies the runner (its pipeline
    processes, D-43) and resumes unfinished deposits.

    A deposit has at most one task here at a time: queued or running, or waiting for its time
    (an earlier submission moves the time forward). A submission while its task runs makes it
    run once more afterwards, so nothing submitted is ever lost.
    """

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._runner: DepositRunner | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._changed = threading.Condition()
        self._busy: set[str] = set()  # queued or running
        self._again: set[str] = set()  # submitted while busy
        self._waiting: dict[str, tuple[float, threading.Timer]] = {}  # due (monotonic), timer
        self._early: list[tuple[str, float]] = []  # submitted before start
        self._closed = False
        self._listeners: list[Callable[[str], None]] = []

    def on_task_end(self, listener: Callable[[str], None]) -> None:
        self._listeners.append(listener)

    def start(self, runner: DepositRunner) -> None:
        with self._changed:
            if self._pool is not None:
                raise RuntimeError("dispatcher already started")
            self._runner = runner
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="deposit")
            early, self._early = self._early, []
        runner.prepare()
        runner.sweep_staging()
        for pending in runner.pending():
            self.submit(pending.deposit_id, pending.due_in)
        for deposit_id, delay in early:
            self.submit(deposit_id, delay)

    def submit(self, deposit_id: str, delay: float = 0.0) -> None:
        with self._changed:
            if self._closed:
                return
            if self._pool is None:
                self._early.append((deposit_id, delay))
            elif deposit_id in self._busy:
                self._again.add(deposit_id)
            elif delay <= 0:
                self._cancel_wait(deposit_id)
                self._enqueue(deposit_id)
            else:
                self._wait(deposit_id, delay)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no task is queued, running or waiting; ``False`` on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._busy and not self._waiting, timeout)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            for _, timer in self._waiting.values():
                timer.cancel()
            self._waiting.clear()
            pool = self._pool
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    # Called with the lock held.

    def _enqueue(self, deposit_id: str) -> None:
        assert self._pool is not None
        self._busy.add(deposit_id)
        self._pool.submit(self._run, deposit_id)

    def _wait(self, deposit_id: str, delay: float) -> None:
        due = time.monotonic() + delay
        current = self._waiting.get(deposit_id)
        if current is not None and current[0] <= due:
            return
        self._cancel_wait(deposit_id)
        timer = threading.Timer(delay, self._due, (deposit_id,))
        timer.daemon = True
        self._waiting[deposit_id] = (due, timer)
        timer.start()

    def _cancel_wait(self, deposit_id: str) -> None:
        current = self._waiting.pop(deposit_id, None)
        if current is not None:
            current[1].cancel()

    # Worker threads.

    def _due(self, deposit_id: str) -> None:
        with self._changed:
            current = self._waiting.get(deposit_id)
            if current is None or current[1] is not threading.current_thread():
                return  # replaced by an earlier time, or closed
            del self._waiting[deposit_id]
            if deposit_id in self._busy:
                self._again.add(deposit_id)
            elif not self._closed:
                self._enqueue(deposit_id)
            self._changed.notify_all()

    def _run(self, deposit_id: str) -> None:
        assert self._runner is not None
        delay: float | None = None
        try:
            delay = self._runner.process(deposit_id)
        except DepositNotFound:
            log.warning("deposit %s no longer exists", deposit_id)
        except Exception:
            log.exception("deposit %s: task failed; it will run again", deposit_id)
            delay = TASK_ERROR_DELAY_SECONDS
        finally:
            with self._changed:
                self._busy.discard(deposit_id)
                if deposit_id in self._again:
                    self._again.discard(deposit_id)
                    delay = 0.0
                self._changed.notify_all()
            for listener in self._listeners:
                listener(deposit_id)
        if delay is not None:
            self.submit(deposit_id, delay)


class CeleryDispatcher:
    """Sends ``process_deposit`` tasks to the broker named by the settings."""

    def __init__(self, settings: Settings) -> None:
        from workers.celery_app import TASK_PROCESS_DEPOSIT, create_celery

        self._app: Celery = create_celery(settings)
        self._task = TASK_PROCESS_DEPOSIT

    def start(self, runner: DepositRunner) -> None:
        """Nothing to start here: the workers resume unfinished deposits when they start."""

    def on_task_end(self, listener: Callable[[str], None]) -> None:
        """Tasks end in the worker processes: nothing to tell (status requests poll)."""

    def submit(self, deposit_id: str, delay: float = 0.0) -> None:
        self._app.send_task(self._task, args=[deposit_id], countdown=delay if delay > 0 else None)

    def close(self) -> None:
        self._app.close()


def make_dispatcher(settings: Settings) -> TaskDispatcher:
    """Celery when a broker is configured, else the in-process thread pool."""
    if settings.broker_url:
        return CeleryDispatcher(settings)
    return InProcessDispatcher(max(settings.workers, settings.effective_pipeline_processes()))
