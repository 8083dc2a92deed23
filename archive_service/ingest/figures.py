"""How the deposits stand now, for ``/metrics``: how many in each status, how many wait (and
for how long), how many go round again after a failed attempt, and the oldest one not finished.

The count by status visits every deposit (a scan of the status index, or of the table: measured
at about 0.2–0.35 s for 2 million rows on PostgreSQL, 0.1 s for 1 million on SQLite), once per
scrape. The rest looks at the unfinished deposits alone, which the status index finds, however
large the archive grows. The three queries are not one snapshot: a deposit that moves between
them may be counted in one figure and not in another for that scrape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archive_service.ingest.models import Deposit, DepositStatus

_UNFINISHED = Deposit.status.in_([status.value for status in DepositStatus if not status.final])


@dataclass(frozen=True)
class DepositFigures:
    """The deposits now; a status or a wait with no deposit is absent from the mappings."""

    by_status: Mapping[str, int]
    waiting: Mapping[str, int]  # unfinished deposits by what they wait for (``WaitingFor``)
    waiting_since: Mapping[str, datetime]  # the start of the longest wait, by what it is for
    retrying: int  # unfinished deposits with a failed attempt behind them (due again later)
    oldest_unfinished: datetime | None  # when the oldest unfinished deposit was received


def deposit_figures(session: Session) -> DepositFigures:
    """Read the figures in ``session`` (three queries)."""
    by_status = {
        str(status): int(count)
        for status, count in session.execute(
            select(Deposit.status, func.count()).group_by(Deposit.status)
        )
    }
    waits = session.execute(
        select(Deposit.waiting_for, func.count(), func.min(Deposit.waiting_since))
        .where(_UNFINISHED, Deposit.waiting_for.is_not(None))
        .group_by(Deposit.waiting_for)
    ).all()
    retrying, oldest = session.execute(
        select(func.count(Deposit.failure_reason), func.min(Deposit.received_at)).where(_UNFINISHED)
    ).one()
    return DepositFigures(
        by_status=by_status,
        waiting={str(what): int(count) for what, count, _ in waits},
        waiting_since={str(what): since for what, _, since in waits if since is not None},
        retrying=int(retrying),
        oldest_unfinished=oldest,
    )
