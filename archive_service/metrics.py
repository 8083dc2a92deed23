"""``GET /metrics``: Prometheus text format (0.0.4), read from the database at each scrape.

Everything comes from the database, so the figures are the same whichever process (server,
Celery worker, CLI) did the work. Fixity counters add up the finished and running runs; gauges
describe the archive now (with a replica, how many objects it still lacks). The deposits'
gauges come from ``ingest.figures``, the audit trail's from ``integrity.audit_log``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from archive_service.config import Settings
from archive_service.db.base import utcnow
from archive_service.db.session import Database
from archive_service.dossiers.models import StoredObject
from archive_service.ingest.figures import deposit_figures
from archive_service.ingest.models import DepositStatus, WaitingFor
from archive_service.integrity.audit_log import audit_metrics
from archive_service.integrity.fixity_models import CheckOutcome, FixityRun, RunStatus
from archive_service.integrity.fixity_targets import current_primary_objects, last_verified
from archive_service.integrity.replica_sync import not_on_replica

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DAMAGED = (CheckOutcome.MISMATCH.value, CheckOutcome.MISSING.value)

router = APIRouter(tags=["ops"])

Labels = Mapping[str, str]


@dataclass(frozen=True)
class Metric:
    """One metric family: name, type, help text and its samples."""

    name: str
    kind: str  # counter | gauge
    help: str
    samples: list[tuple[Labels, float]] = field(default_factory=list)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    summary="Prometheus metrics (deposits, fixity, audit trail)",
    responses={200: {"content": {CONTENT_TYPE: {}}}},
)
def metrics(request: Request) -> PlainTextResponse:
    """Deposits by status, their waits and retries; objects and bytes checked, failures, cycle
    coverage, age of the oldest unchecked object; audit chain length and last checkpoint time."""
    database: Database = request.app.state.database
    settings: Settings = request.app.state.settings
    with database.read_session() as session:
        families = collect(session, settings)
    return PlainTextResponse(render(families), media_type=CONTENT_TYPE)


def collect(session: Session, settings: Settings) -> list[Metric]:
    """Every metric family, read from the database."""
    return [
        *deposit_metrics(session),
        *fixity_metrics(session, settings),
        *_replica(session, settings),
        *_audit(session),
    ]


def deposit_metrics(session: Session) -> list[Metric]:
    """Gauges of the deposits now: by status, waiting, retrying, the oldest unfinished one.

    A wait has no limit of its own (D-47): ``archive_deposits_longest_wait_seconds`` growing
    without end is the sign of a writer that never lets go, to alert on."""
    figures = deposit_figures(session)
    now = utcnow()
    return [
        _gauges(
            "archive_deposits",
            "Deposits by status",
            [({"status": s.value}, figures.by_status.get(s.value, 0)) for s in DepositStatus],
        ),
        _gauges(
            "archive_deposits_waiting",
            "Unfinished deposits waiting, by what for (dossier: another deposit of the dossier "
            "or a retention change; storage: another writer of its AIP)",
            [({"waiting_for": w.value}, figures.waiting.get(w.value, 0)) for w in WaitingFor],
        ),
        _gauges(
            "archive_deposits_longest_wait_seconds",
            "How long the longest current wait has lasted, by what for (0: none)",
            [
                ({"waiting_for": w.value}, _age(now, figures.waiting_since.get(w.value)))
                for w in WaitingFor
            ],
        ),
        _gauge(
            "archive_deposits_retrying",
            "Unfinished deposits with a failed attempt behind them (tried again after a pause)",
            figures.retrying,
        ),
        _gauge(
            "archive_deposits_oldest_unfinished_age_seconds",
            "Time since the oldest deposit not archived, rejected or failed yet was received "
            "(0: none)",
            _age(now, figures.oldest_unfinished),
        ),
    ]


def _replica(session: Session, settings: Settings) -> list[Metric]:
    """With a replica configured: the current objects it is not known to hold yet (the sync's
    backlog; it should come back to 0 within ``replica_sync_seconds`` of a deposit)."""
    if not settings.replica_storage_url:
        return []
    behind = _objects_where(session, not_on_replica())
    return [
        _gauge(
            "archive_replica_objects_behind",
            "Current objects the replica is not known to hold yet, or whose copy's lock is behind",
            behind,
        )
    ]


def fixity_metrics(session: Session, settings: Settings) -> list[Metric]:
    """Counters of fixity runs and gauges of the stored objects."""
    totals = session.execute(
        select(
            func.coalesce(func.sum(FixityRun.objects_ok), 0),
            func.coalesce(func.sum(FixityRun.objects_mismatch), 0),
            func.coalesce(func.sum(FixityRun.objects_missing), 0),
            func.coalesce(func.sum(FixityRun.objects_error), 0),
            func.coalesce(func.sum(FixityRun.objects_repaired), 0),
            func.coalesce(func.sum(FixityRun.bytes_checked), 0),
            func.max(FixityRun.finished_at),
        )
    ).one()
    ok, mismatch, missing, error, repaired, checked_bytes, last_end = totals
    runs = {
        str(row[0]): int(row[1])
        for row in session.execute(
            select(FixityRun.status, func.count(FixityRun.id)).group_by(FixityRun.status)
        )
    }
    now = utcnow()
    cycle_start = now - timedelta(days=settings.fixity_cycle_days)
    current = current_primary_objects().subquery()
    objects, stored_bytes = session.execute(
        select(func.count(current.c.id), func.coalesce(func.sum(current.c.size), 0))
    ).one()
    objects = int(objects)
    in_cycle = _objects_where(session, StoredObject.last_checked_at >= cycle_start)
    damaged = _objects_where(session, StoredObject.last_outcome.in_(DAMAGED))
    overdue = _objects_where(session, last_verified() < cycle_start)
    never_checked_since = session.scalar(
        select(func.min(current.c.stored_at)).where(current.c.last_checked_at.is_(None))
    )
    oldest_proof = session.scalar(
        select(func.min(func.coalesce(current.c.last_checked_at, current.c.stored_at)))
    )
    return [
        _counter(
            "archive_fixity_checks_total",
            "Object checks by outcome (ok, mismatch, missing, error)",
            [
                ({"outcome": CheckOutcome.OK.value}, ok),
                ({"outcome": CheckOutcome.MISMATCH.value}, mismatch),
                ({"outcome": CheckOutcome.MISSING.value}, missing),
                ({"outcome": CheckOutcome.ERROR.value}, error),
            ],
        ),
        _counter(
            "archive_fixity_objects_checked_total",
            "Objects read to the end and compared (ok, mismatch or missing)",
            [({}, ok + mismatch + missing)],
        ),
        _counter(
            "archive_fixity_bytes_checked_total",
            "Bytes re-read and re-hashed",
            [({}, checked_bytes)],
        ),
        _counter(
            "archive_fixity_failures_total",
            "Checks that did not prove the object intact (mismatch, missing, error)",
            [({}, mismatch + missing + error)],
        ),
        _counter(
            "archive_fixity_repairs_total", "Objects restored from the replica", [({}, repaired)]
        ),
        _counter(
            "archive_fixity_runs_total",
            "Fixity runs by status",
            [({"status": status.value}, runs.get(status.value, 0)) for status in RunStatus],
        ),
        _gauge(
            "archive_fixity_last_run_end_timestamp_seconds",
            "Unix time the newest fixity run ended",
            last_end.timestamp() if last_end else None,
        ),
        _gauge("archive_stored_objects", "Objects in the primary store", objects),
        _gauge("archive_stored_bytes", "Bytes in the primary store", stored_bytes),
        _gauge(
            "archive_fixity_cycle_coverage_ratio",
            f"Share of objects checked within the cycle ({settings.fixity_cycle_days:g} days)",
            in_cycle / objects if objects else 1.0,
        ),
        _gauge(
            "archive_fixity_objects_overdue",
            "Objects not proven intact within the cycle (by a check or the ingest read-back)",
            overdue,
        ),
        _gauge(
            "archive_fixity_objects_damaged",
            "Objects whose last check found them damaged or missing, not repaired",
            damaged,
        ),
        _gauge(
            "archive_fixity_oldest_unchecked_age_seconds",
            "Age of the oldest object never checked by a fixity run (0: none)",
            _age(now, never_checked_since),
        ),
        _gauge(
            "archive_fixity_oldest_proof_age_seconds",
            "Time since the least recently proven object was last proven intact",
            _age(now, oldest_proof),
        ),
    ]


def render(families: Iterable[Metric]) -> str:
    """The Prometheus text exposition of ``families`` (families without samples are left out)."""
    lines: list[str] = []
    for family in families:
        if not family.samples:
            continue
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for labels, value in family.samples:
            lines.append(f"{family.name}{_labels(labels)} {_number(value)}")
    return "\n".join(lines) + "\n"


def _audit(session: Session) -> list[Metric]:
    return [
        _gauge(name, "Audit trail: " + name.removeprefix("archive_audit_").replace("_", " "), value)
        for name, value in audit_metrics(session).items()
    ]


def _counter(name: str, help_text: str, samples: list[tuple[Labels, float]]) -> Metric:
    return _family(name, "counter", help_text, samples)


def _gauges(name: str, help_text: str, samples: list[tuple[Labels, float]]) -> Metric:
    """A gauge with one sample per set of labels."""
    return _family(name, "gauge", help_text, samples)


def _family(name: str, kind: str, help_text: str, samples: list[tuple[Labels, float]]) -> Metric:
    return Metric(name, kind, help_text, [(labels, float(value)) for labels, value in samples])


def _gauge(name: str, help_text: str, value: float | None) -> Metric:
    return Metric(name, "gauge", help_text, [] if value is None else [({}, float(value))])


def _objects_where(session: Session, condition: ColumnElement[bool]) -> int:
    """How many current objects meet ``condition``."""
    query = current_primary_objects().where(condition).subquery()
    return int(session.scalar(select(func.count()).select_from(query)) or 0)


def _age(now: datetime, since: datetime | None) -> float:
    return max((now - since).total_seconds(), 0.0) if since is not None else 0.0


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{name}="{_escape_label(value)}"' for name, value in sorted(labels.items()))
    return "{" + inner + "}"


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if value.is_integer() else repr(value)
