"""The daily retention task: finish storage work left undone, extend permanent locks, mark the
dossiers due for review.

In order: storage locks of dossiers not locked yet (``apply_pending_locks``), legal holds not yet
in line with the holds (``sync_legal_holds``), permanent dossiers whose governance lock runs out
soon (``extend_permanent_locks``), then ``mark_due``. Each part is idempotent; a part that fails
for one dossier is logged and retried the next day. Run it once a day (``archive retention
daily`` from cron or a systemd timer).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime

from archive_service.config import Settings
from archive_service.db.base import utcnow
from archive_service.db.session import Database
from archive_service.storage.ocfl import OcflRepository
from retention.clock import vietnam_today
from retention.holds import sync_legal_holds, unsynced_hold_dossiers
from retention.locks import apply_pending_locks, extend_permanent_locks
from retention.review import mark_due

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DailyReport:
    """What one run of the daily task did, by dossier code."""

    today: date
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
) -> DailyReport:
    """One run of the daily task at ``now`` (default: the current time)."""
    now = now or utcnow()
    today = vietnam_today(now)
    locked = [r.dossier_code for r in apply_pending_locks(database, repository, settings)]
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
    return DailyReport(today, locked, synced, extended, marked)
