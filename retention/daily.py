"""The daily retention task: finish storage work left undone, recompute terms computed with an
older schedule, write hold events into AIPs, extend permanent locks, mark the dossiers due for
review.

In order: retention changes left pending and dossiers computed with another schedule than the
one in force (``recompute_all``), hold events not in their dossier's AIP yet — the dossier was
busy or storage failed when the hold was placed or released (``write_waiting_hold_events``),
storage locks of dossiers not locked yet (``apply_pending_locks``), legal holds not yet in line
with the holds (``sync_legal_holds``), permanent dossiers whose governance lock runs out soon
(``extend_permanent_locks``), then ``mark_due``. Each part is idempotent; a part that fails for
one dossier is logged and retried the next day. Run it once a day (``archive retention daily``
from cron or a systemd timer).

**The clock.** Everything the task decides follows ``now`` (default: the current time), which
it passes on to every part — a simulation or a test drives the task through the years by giving
``now``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime

from archive_service.config import Settings
from archive_service.db.base import utcnow
from archive_service.db.session import Database
from archive_service.storage.ocfl import OcflRepository
from retention.changes import RetentionChanges
from retention.clock import vietnam_today
from retention.holds import sync_legal_holds, unsynced_hold_dossiers
from retention.locks import apply_pending_locks, extend_permanent_locks
from retention.recompute import RecomputeReport, recompute_all
from retention.review import mark_due
from retention.schedule import Schedule, load_schedule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DailyReport:
    """What one run of the daily task did, by dossier code."""

    today: date
    recomputed: RecomputeReport | None = None
    hold_events_written: list[str] = field(default_factory=list)
    locked: list[str] = field(default_factory=list)
    holds_synced: list[str] = field(default_factory=list)
    extended: list[str] = field(default_factory=list)
    marked_due: list[str] = field(default_factory=list)


def run_daily(
    database: Database,
    repository: OcflRepository,
    settings: Settings,
    *,
    now: datetime | None = None,
    schedule: Schedule | None = None,
) -> DailyReport:
    """One run of the daily task at ``now`` (default: the current time), under ``schedule``
    (default: the configured schedule file)."""
    now = now or utcnow()
    today = vietnam_today(now)
    schedule = schedule or load_schedule(settings.retention_schedule_path)
    recomputed = recompute_all(database, repository, settings, schedule, now=now)
    changes = RetentionChanges(database, repository, settings)
    hold_events = changes.write_waiting_hold_events(now=now)
    locked = [r.dossier_code for r in apply_pending_locks(database, repository, settings, now=now)]
    with database.read_session() as session:
        unsynced = unsynced_hold_dossiers(session)
    synced = []
    for code in unsynced:
        try:
            result = sync_legal_holds(database, repository, code)
        except Exception:
            log.exception("dossier %s: legal holds not synced; the next run tries again", code)
            continue
        if result is not None and result.synced:
            synced.append(code)
    extended = [
        r.dossier_code for r in extend_permanent_locks(database, repository, settings, now=now)
    ]
    marked = mark_due(database, today)
    return DailyReport(
        today,
        recomputed=recomputed,
        hold_events_written=hold_events,
        locked=locked,
        holds_synced=synced,
        extended=extended,
        marked_due=marked,
    )
