"""Scheduled fixity: which objects are due, and the tick that checks them.

Every tick (``fixity_tick_seconds``, hourly by default) checks

- the share of the archive that spreads one full pass evenly over the cycle
  (``objects × tick / cycle``, rounded up), oldest-proven first — an object is proven by its
  last completed fixity check, or by the read-back at ingest before its first check;
- plus every object not proven within the last cycle (``fixity_cycle_days``, 90 by default),

within a byte budget: a tick reads at most ``fixity_bytes_per_second × tick`` bytes (at least one
object), at that rate. When the budget cannot keep up with the cycle the objects left overdue are
logged at ERROR level (and shown by ``/metrics`` and the report).

The tick runs in a Celery beat task with a broker (``workers/fixity_tasks.py``) and in a thread
of the service on the embedded default (``FixityScheduler``, started by the application).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select

from archive_service.config import Settings
from archive_service.db.base import utcnow
from archive_service.db.session import Database
from archive_service.dossiers.models import StoredObject
from archive_service.integrity.fixity import (
    ByteBudget,
    FixityEngine,
    FixityStopped,
    RunOutcome,
    close_stale_runs,
)
from archive_service.integrity.fixity_check import Pace
from archive_service.integrity.fixity_models import FixityRun, RunStatus
from archive_service.integrity.fixity_targets import (
    FixityScope,
    ScopeKind,
    current_primary_objects,
    last_verified,
    overdue_objects,
)

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"
#: First tick after the service starts (then every ``fixity_tick_seconds``).
FIRST_TICK_SECONDS = 60.0


def due_objects(database: Database, settings: Settings, now: datetime | None = None) -> list[int]:
    """Ids of the stored objects one tick checks, oldest-proven first (see the module doc)."""
    now = now or utcnow()
    cycle = timedelta(days=settings.fixity_cycle_days)
    tick = settings.fixity_tick_seconds
    overdue_before = now - cycle
    byte_cap = settings.fixity_bytes_per_second * tick or math.inf
    chosen: list[int] = []
    taken_bytes = overdue_chosen = 0
    budget_spent = False
    with database.read_session() as session:
        objects = session.scalar(
            select(func.count()).select_from(current_primary_objects().subquery())
        )
        quota = math.ceil((objects or 0) * tick / cycle.total_seconds())
        query = (
            current_primary_objects()
            .with_only_columns(StoredObject.id, StoredObject.size, last_verified())
            .order_by(last_verified(), StoredObject.id)
            .execution_options(yield_per=1000)
        )
        for object_id, size, verified in session.execute(query):
            overdue = verified < overdue_before
            if len(chosen) >= quota and not overdue:
                break
            if chosen and taken_bytes + size > byte_cap:
                budget_spent = overdue
                break
            chosen.append(object_id)
            taken_bytes += size
            overdue_chosen += overdue
        left_overdue = overdue_objects(session, settings.fixity_cycle_days, now) - overdue_chosen
    if budget_spent and left_overdue > 0:
        log.error(
            "FIXITY ALERT: %d object(s) not proven intact within %s days stay due: the byte "
            "budget (ARCHIVE_FIXITY_BYTES_PER_SECOND=%d) is too small for the archive",
            left_overdue,
            settings.fixity_cycle_days,
            settings.fixity_bytes_per_second,
        )
    return chosen


def run_due(
    engine: FixityEngine,
    settings: Settings,
    *,
    stop: threading.Event | None = None,
    now: datetime | None = None,
) -> RunOutcome | None:
    """One tick: close interrupted runs, then check the objects due (``None``: nothing to do,
    or a scheduled run of another process is still going)."""
    database = engine.database
    close_stale_runs(database)
    if _scheduled_run_going(database):
        log.info("fixity tick skipped: a scheduled run is still going")
        return None
    due = due_objects(database, settings, now)
    if not due:
        return None
    pace: Pace = ByteBudget(settings.fixity_bytes_per_second)
    if stop is not None:
        pace = stoppable(stop, pace)
    return engine.run(FixityScope.objects(due), requested_by=SYSTEM_ACTOR, pace=pace)


class FixityScheduler:
    """A thread that calls ``tick`` after ``first_delay`` seconds, then every ``interval``."""

    def __init__(
        self,
        tick: Callable[[threading.Event], object],
        interval: float,
        first_delay: float = FIRST_TICK_SECONDS,
    ) -> None:
        self._tick = tick
        self._interval = interval
        self._first_delay = min(first_delay, interval)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fixity-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Stop ticking; a run in progress stops at its next read (and ends as ``error``)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        delay = self._first_delay
        while not self._stop.wait(delay):
            try:
                self._tick(self._stop)
            except Exception:
                log.exception("fixity tick failed; the next tick tries again")
            delay = self._interval


def run_every(interval: float, work: Callable[[], object], failure: str) -> Callable[[], None]:
    """Call ``work`` every ``interval`` seconds in a thread of this process (the first time
    after ``FIRST_TICK_SECONDS`` at most); an exception is logged as ``failure`` with its
    traceback and the next tick tries again. Returns the stop."""

    def tick(_stop: threading.Event) -> None:
        try:
            work()
        except Exception:  # the next tick tries again; the failure must be seen
            log.exception(failure)

    clock = FixityScheduler(tick, interval)
    clock.start()
    return clock.stop


def _scheduled_run_going(database: Database) -> bool:
    with database.read_session() as session:
        going = session.scalar(
            select(FixityRun.id).where(
                FixityRun.scope == ScopeKind.SCHEDULED.value,
                FixityRun.status == RunStatus.RUNNING.value,
            )
        )
    return going is not None


def stoppable(stop: threading.Event, pace: Pace | None = None) -> Pace:
    """A ``Pace`` that ends the run (``FixityStopped``) once ``stop`` is set."""

    def paced(count: int) -> None:
        if stop.is_set():
            raise FixityStopped("Dịch vụ đang dừng: lượt kiểm tra bị ngắt")
        if pace is not None:
            pace(count)

    return paced
