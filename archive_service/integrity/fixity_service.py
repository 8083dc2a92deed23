"""Fixity as a service (no HTTP): verify a dossier now, start runs in the background, read runs
and the report. The API, the CLI and the Celery tasks call it.

On-demand runs (``start_run``) are executed by a ``RunDispatcher``: a thread of this process on
the embedded default, a Celery task (``archive.fixity_run``) when a broker is configured.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select

from archive_service.config import Settings
from archive_service.db import models as _every_table  # noqa: F401 - foreign keys resolve
from archive_service.db.base import utcnow
from archive_service.db.migrate import require_up_to_date
from archive_service.db.session import Database
from archive_service.integrity.fixity import FixityEngine, OnCheck, RunOutcome, scope_of
from archive_service.integrity.fixity_check import Pace
from archive_service.integrity.fixity_models import FixityRun, RunStatus
from archive_service.integrity.fixity_report import FixityReport, fixity_report
from archive_service.integrity.fixity_targets import (
    FixityScope,
    ScopeKind,
    dossier_exists,
    scope_size,
)
from archive_service.integrity.fixity_views import (
    ChecksShown,
    CheckView,
    RunDetail,
    RunPage,
    RunView,
    iter_checks,
    run_detail,
    run_page,
    run_view,
)
from archive_service.integrity.repair import open_replica_store
from archive_service.integrity.scheduler import run_due, stoppable
from archive_service.security.models import Agency
from archive_service.storage.base import ObjectStore
from archive_service.storage.ocfl import OcflRepository
from archive_service.storage.setup import open_archive_repository

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger(__name__)

TASK_FIXITY_RUN = "archive.fixity_run"
TASK_FIXITY_TICK = "archive.fixity_tick"


class FixityError(Exception):
    """Base of what the fixity service refuses."""


class FixityRunNotFound(FixityError):
    """No fixity run with this id."""


class UnknownDossier(FixityError):
    """No archived dossier with this code."""


class UnknownAgency(FixityError):
    """No agency with this id."""


class RunDispatcher(Protocol):
    """Executes started runs somewhere."""

    def submit(self, run_id: int) -> None: ...

    def close(self) -> None: ...


class FixityService:
    """Fixity of one archive: its database, its OCFL storage root, its replica (if any)."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        repository: OcflRepository,
        *,
        replica: ObjectStore | None = None,
        dispatcher: RunDispatcher | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.engine = FixityEngine(database, repository, replica=replica)
        self._dispatcher = dispatcher
        self._dispatcher_lock = threading.Lock()

    @property
    def dispatcher(self) -> RunDispatcher:
        """Where started runs go (made on first use: Celery or a thread of this process)."""
        with self._dispatcher_lock:
            if self._dispatcher is None:
                self._dispatcher = make_run_dispatcher(self.settings, self)
            return self._dispatcher

    def verify_dossier(self, dossier_code: str, *, actor: str) -> RunDetail:
        """Check every object of a dossier now; the run with every one of its checks."""
        outcome = self.run(FixityScope.dossier(dossier_code), actor=actor)
        return self.get_run(outcome.run_id, limit=None)

    def run(
        self,
        scope: FixityScope,
        *,
        actor: str,
        pace: Pace | None = None,
        on_check: OnCheck | None = None,
    ) -> RunOutcome:
        """Run over ``scope`` here and now (the CLI); ``start_run`` runs in the background."""
        self._require_scope(scope)
        return self.engine.run(scope, requested_by=actor, pace=pace, on_check=on_check)

    def start_run(self, scope: FixityScope, *, actor: str) -> RunView:
        """Create a run over ``scope`` and hand it to the dispatcher; the run as it starts."""
        self._require_scope(scope)
        run_id = self.engine.start(scope, requested_by=actor)
        self.dispatcher.submit(run_id)
        return self.get_run(run_id, ChecksShown.NONE)

    def execute_run(self, run_id: int, *, stop: threading.Event | None = None) -> RunOutcome:
        """Execute a started run (the body of the background task); a finished run is left."""
        with self.database.read_session() as session:
            run = session.get(FixityRun, run_id)
            if run is None:
                raise FixityRunNotFound(f"Không có lượt kiểm tra tính toàn vẹn {run_id}")
            status, scope = RunStatus(run.status), scope_of(run)
        if status is not RunStatus.RUNNING:
            return RunOutcome(run_id, status)
        return self.engine.execute(run_id, scope, pace=stoppable(stop) if stop else None)

    def run_due(self, stop: threading.Event | None = None) -> RunOutcome | None:
        """One scheduler tick (see ``scheduler.py``)."""
        return run_due(self.engine, self.settings, stop=stop)

    def get_run(
        self,
        run_id: int,
        shown: ChecksShown = ChecksShown.ALL,
        *,
        limit: int | None = 1000,
        offset: int = 0,
    ) -> RunDetail:
        """A run with the checks ``shown`` (``limit`` ``None``: all of them)."""
        with self.database.read_session() as session:
            run = session.get(FixityRun, run_id)
            if run is None:
                raise FixityRunNotFound(f"Không có lượt kiểm tra tính toàn vẹn {run_id}")
            return run_detail(session, run, shown, limit=limit, offset=offset)

    def get_run_view(self, run_id: int) -> RunView:
        with self.database.read_session() as session:
            run = session.get(FixityRun, run_id)
            if run is None:
                raise FixityRunNotFound(f"Không có lượt kiểm tra tính toàn vẹn {run_id}")
            return run_view(run)

    def iter_checks(self, run_id: int) -> Iterator[CheckView]:
        """Every check of a run, in key order (streamed from the database)."""
        with self.database.read_session() as session:
            yield from iter_checks(session, run_id)

    def size_of(self, scope: FixityScope) -> tuple[int, int]:
        """(objects, bytes) a run over ``scope`` would check now."""
        with self.database.read_session() as session:
            return scope_size(session, scope)

    def list_runs(self, *, status: str | None = None, limit: int = 50, offset: int = 0) -> RunPage:
        with self.database.read_session() as session:
            return run_page(session, status=status, limit=limit, offset=offset)

    def report(
        self, period_from: datetime | None = None, period_to: datetime | None = None
    ) -> FixityReport:
        """The report of ``period_from``..``period_to`` (default: the last cycle until now)."""
        period_to = period_to or utcnow()
        cycle = self.settings.fixity_cycle_days
        period_from = period_from or period_to - timedelta(days=cycle)
        with self.database.read_session() as session:
            return fixity_report(session, period_from, period_to, cycle_days=cycle)

    def close(self) -> None:
        """Stop the background runs of this process (if any were started)."""
        with self._dispatcher_lock:
            dispatcher, self._dispatcher = self._dispatcher, None
        if dispatcher is not None:
            dispatcher.close()

    def _require_scope(self, scope: FixityScope) -> None:
        with self.database.read_session() as session:
            if scope.kind is ScopeKind.DOSSIER and not dossier_exists(session, scope.value or ""):
                raise UnknownDossier(f"Không có hồ sơ '{scope.value}' trong kho lưu trữ")
            if (
                scope.kind is ScopeKind.AGENCY
                and session.scalar(select(Agency.id).where(Agency.id == scope.value)) is None
            ):
                raise UnknownAgency(f"Không có cơ quan '{scope.value}'")


def open_fixity_service(settings: Settings) -> FixityService:
    """A service on the configured database (must be migrated), storage and replica."""
    database = Database(settings.effective_database_url())
    try:
        require_up_to_date(database.engine)
        return FixityService(
            settings,
            database,
            open_archive_repository(settings),
            replica=open_replica_store(settings),
        )
    except BaseException:
        database.dispose()
        raise


class InProcessRuns:
    """Runs executed one at a time by a thread of this process; ``close`` interrupts them."""

    def __init__(self, service: FixityService) -> None:
        self._service = service
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="fixity-run")

    def submit(self, run_id: int) -> None:
        self._pool.submit(self._execute, run_id)

    def close(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _execute(self, run_id: int) -> None:
        try:
            self._service.execute_run(run_id, stop=self._stop)
        except Exception:
            log.exception("fixity run %s could not be executed", run_id)


class CeleryRuns:
    """Sends ``archive.fixity_run`` tasks to the broker named by the settings."""

    def __init__(self, settings: Settings) -> None:
        from workers.celery_app import create_celery

        self._app: Celery = create_celery(settings)

    def submit(self, run_id: int) -> None:
        self._app.send_task(TASK_FIXITY_RUN, args=[run_id])

    def close(self) -> None:
        self._app.close()


def make_run_dispatcher(settings: Settings, service: FixityService) -> RunDispatcher:
    """Celery when a broker is configured, else a thread of this process."""
    if settings.broker_url:
        return CeleryRuns(settings)
    return InProcessRuns(service)
