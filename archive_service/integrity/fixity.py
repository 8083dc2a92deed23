"""The fixity engine: runs over a scope, one dossier at a time, every object re-read and re-hashed.

A run is a ``FixityRun`` row created first (``start``: scope, objects and bytes in it) and then
executed (``execute``), in this process or in a worker. For each dossier the engine reads its
OCFL inventory once, checks every current object (``fixity_check.check_object``), repairs the
damaged ones from the replica when one is configured (``repair.py``), raises an alert for every
failure (a log line at ERROR level; the metrics and the report read the rows) and writes
everything in one transaction (``fixity_record.record_group``).

How a run ends: ``passed`` when every object was read and found intact; ``failed`` when any
object was damaged, missing or could not be read (``error``); ``error`` when the run itself
broke (database failure, interrupted process) — never ``passed`` unless every byte was read.
When the store stops answering mid-run, the objects not yet read are recorded as ``error``
without waiting for each one to time out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update

from archive_service.db.base import utcnow
from archive_service.db.session import Database
from archive_service.integrity.audit import record_audit
from archive_service.integrity.fixity_check import (
    CheckResult,
    Pace,
    Reference,
    check_object,
    store_unreachable,
)
from archive_service.integrity.fixity_inventory import InventoryDigests
from archive_service.integrity.fixity_models import CheckOutcome, FixityRun, RunStatus
from archive_service.integrity.fixity_record import CheckedObject, record_group
from archive_service.integrity.fixity_targets import (
    DossierGroup,
    FixityScope,
    ScopeKind,
    groups,
    scope_size,
)
from archive_service.integrity.repair import RepairResult, ReplicaRepairer
from archive_service.storage.base import ObjectStore
from archive_service.storage.ocfl import OcflRepository

log = logging.getLogger(__name__)

#: A running run's row is touched at least this often; runs silent for longer are stale.
HEARTBEAT_SECONDS = 60.0
STALE_AFTER = timedelta(minutes=15)

OnCheck = Callable[[CheckResult], None]


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended."""

    run_id: int
    status: RunStatus


class FixityStopped(Exception):
    """The process is stopping: the run ends (as ``error``) and its objects stay due."""


class ByteBudget:
    """A ``Pace`` that keeps reading at or below ``bytes_per_second`` on average (0: no limit)."""

    def __init__(self, bytes_per_second: int) -> None:
        self.bytes_per_second = bytes_per_second
        self._started = time.monotonic()
        self._bytes = 0

    def __call__(self, count: int) -> None:
        if self.bytes_per_second <= 0:
            return
        self._bytes += count
        ahead = self._bytes / self.bytes_per_second - (time.monotonic() - self._started)
        if ahead > 0:
            time.sleep(ahead)


class FixityEngine:
    """Runs fixity checks on the archive's OCFL storage root, repairing from ``replica``."""

    def __init__(
        self,
        database: Database,
        repository: OcflRepository,
        *,
        replica: ObjectStore | None = None,
    ) -> None:
        self.database = database
        self.repository = repository
        self.store = repository.store
        self.repairer = ReplicaRepairer(self.store, replica) if replica is not None else None

    def run(
        self,
        scope: FixityScope,
        *,
        requested_by: str,
        pace: Pace | None = None,
        on_check: OnCheck | None = None,
    ) -> RunOutcome:
        """``start`` then ``execute``, here and now."""
        run_id = self.start(scope, requested_by=requested_by)
        return self.execute(run_id, scope, pace=pace, on_check=on_check)

    def start(self, scope: FixityScope, *, requested_by: str) -> int:
        """Create the run (status ``running``) with the size of its scope; return its id."""
        now = utcnow()
        with self.database.session() as session:
            objects, size = scope_size(session, scope)
            run = FixityRun(
                scope=scope.kind.value,
                scope_value=scope.value,
                requested_by=requested_by,
                status=RunStatus.RUNNING.value,
                started_at=now,
                updated_at=now,
                objects_total=objects,
                bytes_total=size,
            )
            session.add(run)
            session.flush()
            return run.id

    def execute(
        self,
        run_id: int,
        scope: FixityScope,
        *,
        pace: Pace | None = None,
        on_check: OnCheck | None = None,
    ) -> RunOutcome:
        """Check every object of ``scope`` for run ``run_id`` and finish the run."""
        try:
            _Execution(self, run_id, pace, on_check).check_all(scope)
        except FixityStopped as exc:
            log.warning("fixity run %s stopped: %s", run_id, exc)
            return self._finish(run_id, str(exc))
        except Exception as exc:
            log.exception("fixity run %s broke off", run_id)
            return self._finish(run_id, f"Lượt kiểm tra dừng vì lỗi: {type(exc).__name__}: {exc}")
        return self._finish(run_id, None)

    def _finish(self, run_id: int, broke_off: str | None) -> RunOutcome:
        with self.database.session() as session:
            run = session.get(FixityRun, run_id, with_for_update=True)
            if run is None:
                raise LookupError(f"fixity run {run_id} does not exist")
            status = finish_run(run, broke_off)
            record_audit(
                session,
                actor=run.requested_by,
                action="fixity.run",
                target_type="fixity_run",
                target_id=str(run.id),
                detail={
                    "scope": run.scope,
                    "scope_value": run.scope_value,
                    "status": status.value,
                    "ok": run.objects_ok,
                    "mismatch": run.objects_mismatch,
                    "missing": run.objects_missing,
                    "error": run.objects_error,
                    "repaired": run.objects_repaired,
                    "bytes": run.bytes_checked,
                },
            )
        log_run_end(run_id, status)
        return RunOutcome(run_id, status)


def finish_run(run: FixityRun, broke_off: str | None) -> RunStatus:
    """Set the final status, coverage and end time of ``run``; return the status."""
    completed = run.objects_ok + run.objects_mismatch + run.objects_missing
    total = max(run.objects_total, completed + run.objects_error)
    run.coverage = completed / total if total else 1.0
    if broke_off is not None:
        status = RunStatus.ERROR
        run.detail = broke_off
    elif run.objects_mismatch or run.objects_missing or run.objects_error:
        status = RunStatus.FAILED
    else:
        status = RunStatus.PASSED
    run.status = status.value
    run.finished_at = run.updated_at = utcnow()
    return status


def log_run_end(run_id: int, status: RunStatus) -> None:
    if status is RunStatus.PASSED:
        log.info("fixity run %s passed", run_id)
    else:
        log.error("FIXITY ALERT: fixity run %s ended %s", run_id, status.value)


def close_stale_runs(database: Database, older_than: timedelta = STALE_AFTER) -> int:
    """Mark ``error`` the runs still ``running`` whose process stopped touching them."""
    limit = utcnow() - older_than
    with database.session() as session:
        result = session.execute(
            update(FixityRun)
            .where(FixityRun.status == RunStatus.RUNNING.value, FixityRun.updated_at < limit)
            .values(
                status=RunStatus.ERROR.value,
                finished_at=utcnow(),
                detail="Lượt kiểm tra bị gián đoạn: tiến trình chạy nó đã dừng giữa chừng",
            )
        )
        closed = int(getattr(result, "rowcount", 0) or 0)
    if closed:
        log.error("FIXITY ALERT: %d interrupted fixity run(s) marked error", closed)
    return closed


def scope_of(run: FixityRun) -> FixityScope:
    """The scope a stored run was started with (scheduled runs cannot be re-created)."""
    kind = ScopeKind(run.scope)
    if kind is ScopeKind.SCHEDULED:
        raise ValueError(f"fixity run {run.id} checked objects chosen by the scheduler")
    return FixityScope(kind, run.scope_value)


class _Execution:
    """The state of one run being executed."""

    def __init__(
        self, engine: FixityEngine, run_id: int, pace: Pace | None, on_check: OnCheck | None
    ) -> None:
        self.engine = engine
        self.run_id = run_id
        self.pace = pace
        self.on_check = on_check
        self.store_down: str | None = None
        self._heartbeat = time.monotonic()

    def check_all(self, scope: FixityScope) -> None:
        for group in groups(self.engine.database, scope):
            inventory = self.inventory(group)
            checked = [self.check(group, inventory, reference) for reference in group.references]
            with self.engine.database.session() as session:
                record_group(session, self.run_id, group, checked)
            self._heartbeat = time.monotonic()

    def check(
        self, group: DossierGroup, inventory: InventoryDigests, reference: Reference
    ) -> CheckedObject:
        expected = inventory.for_key(reference.key)
        if self.store_down is not None:
            result = _not_read(reference, self.store_down)
        else:
            result = check_object(self.engine.store, reference, expected, pace=self.paced)
            if result.outcome is CheckOutcome.ERROR:
                self.store_down = store_unreachable(self.engine.store)
        repair = None
        if result.damaged and self.engine.repairer is not None:
            repair = self.engine.repairer.repair(result, expected)
        if not result.ok:
            _alert(self.run_id, group, result, repair)
        if self.on_check is not None:
            self.on_check(result)
        self._beat()
        return CheckedObject(result, repair)

    def inventory(self, group: DossierGroup) -> InventoryDigests:
        """The group's inventory digests (not read while the store is down)."""
        if group.ocfl_object_id is None:
            return InventoryDigests.absent()
        if self.store_down is not None:
            root = self.engine.repository.object_root(group.ocfl_object_id)
            return InventoryDigests(root, None, f"kho không truy cập được: {self.store_down}")
        return InventoryDigests.load(self.engine.repository, group.ocfl_object_id)

    def paced(self, count: int) -> None:
        """Called after every buffer read: the caller's pace, and the run's heartbeat."""
        if self.pace is not None:
            self.pace(count)
        self._beat()

    def _beat(self) -> None:
        if time.monotonic() - self._heartbeat < HEARTBEAT_SECONDS:
            return
        self._heartbeat = time.monotonic()
        with self.engine.database.session() as session:
            session.execute(
                update(FixityRun).where(FixityRun.id == self.run_id).values(updated_at=utcnow())
            )


def _not_read(reference: Reference, why: str) -> CheckResult:
    return CheckResult(
        reference,
        CheckOutcome.ERROR,
        utcnow(),
        0,
        detail=f"Không kiểm tra được: kho lưu trữ không truy cập được ({why})",
    )


def _alert(
    run_id: int, group: DossierGroup, result: CheckResult, repair: RepairResult | None
) -> None:
    repaired = repair is not None and repair.repaired
    log.error(
        "FIXITY ALERT: run %s, dossier %s, %s: %s — %s%s",
        run_id,
        group.dossier_code or "-",
        result.reference.key,
        result.outcome.value,
        result.detail,
        " (repaired from the replica)" if repaired else "",
    )
