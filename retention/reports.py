"""Retention reports: permanent dossiers of a year, and the state of retention across the archive.

**Permanent dossiers** (``permanent_dossiers(year)``): the permanent dossiers whose end date falls
in ``year`` — the list used to register them for transfer to the historical archive (prepared at
least 12 months ahead, so by default the year after next is not asked for: the caller chooses)
and for the yearly safety-copy list. Each row gives what the lists need: code, file code, title,
agency, procedure, dates, documents, the AIP and its stored size.

**The retention report** (``retention_report(today)``): dossiers by retention code, dossiers
becoming due by month (the month their review may start, from ``today`` on, for
``months_ahead`` months; overdue ones are counted apart), dossiers under review, and the holds.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import extract, func, select

from archive_service.db.session import Database
from archive_service.dossiers.models import Dossier, StoredObject
from retention.assign import term_of
from retention.clock import vietnam_today
from retention.models import DossierHold, ReviewStatus
from retention.policy import due_from
from retention.terms import PERMANENT_CODE


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class PermanentDossier(_View):
    """A permanent dossier, as the transfer registration and the safety-copy lists need it."""

    dossier_code: str
    file_code: str
    title: str
    agency_id: str
    procedure_code: str
    procedure_name: str
    start_date: date
    end_date: date
    total_doc: int
    aip_object_id: str
    aip_version: str
    stored_bytes: int


class CodeCount(_View):
    retention: str = Field(examples=["06"])
    label: str = Field(examples=["10 năm"])
    dossiers: int


class MonthCount(_View):
    month: str = Field(description="YYYY-MM: the month review may start", examples=["2035-01"])
    dossiers: int


class HoldLine(_View):
    hold_id: int
    dossier_code: str
    reason: str
    reference: str
    placed_by: str
    placed_at: datetime


class RetentionReport(_View):
    """The state of retention across the archive on ``today``."""

    today: date
    dossiers: int
    by_retention: list[CodeCount]
    without_retention: int
    overdue: int = Field(description="past their disposal date, not yet destroyed")
    under_review: int
    upcoming_by_month: list[MonthCount]
    active_holds: int
    held_dossiers: int
    holds: list[HoldLine]


PERMANENT_CSV_COLUMNS = tuple(PermanentDossier.model_fields)


def permanent_dossiers(database: Database, year: int) -> list[PermanentDossier]:
    """Permanent dossiers whose end date falls in ``year``, by agency and code."""
    sizes = (
        select(StoredObject.dossier_id, func.sum(StoredObject.size).label("bytes"))
        .group_by(StoredObject.dossier_id)
        .subquery()
    )
    with database.read_session() as session:
        rows = session.execute(
            select(Dossier, func.coalesce(sizes.c.bytes, 0))
            .outerjoin(sizes, sizes.c.dossier_id == Dossier.id)
            .where(
                Dossier.retention_code == PERMANENT_CODE,
                extract("year", Dossier.end_date) == year,
            )
            .order_by(Dossier.agency_id, Dossier.dossier_code)
        ).all()
        return [
            PermanentDossier(
                dossier_code=row.dossier_code,
                file_code=row.file_code,
                title=row.title,
                agency_id=row.agency_id,
                procedure_code=row.procedure_code,
                procedure_name=row.procedure_name,
                start_date=row.start_date,
                end_date=row.end_date,
                total_doc=row.total_doc,
                aip_object_id=row.aip_object_id,
                aip_version=row.aip_version,
                stored_bytes=int(stored),
            )
            for row, stored in rows
        ]


def permanent_csv(rows: list[PermanentDossier]) -> str:
    """The permanent list as CSV (UTF-8 text, header first)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=PERMANENT_CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row.model_dump(mode="json"))
    return out.getvalue()


def retention_report(
    database: Database, today: date | None = None, *, months_ahead: int = 24
) -> RetentionReport:
    """Counts by retention code, dossiers becoming due by month, review and holds."""
    today = today or vietnam_today()
    horizon = _month_index(today) + months_ahead
    with database.read_session() as session:
        dossiers = session.execute(
            select(
                Dossier.retention_code,
                Dossier.retention_years,
                Dossier.disposal_date,
                Dossier.review_status,
            )
        ).all()
        holds = session.scalars(
            select(DossierHold)
            .where(DossierHold.released_at.is_(None))
            .order_by(DossierHold.placed_at, DossierHold.id)
        ).all()
        hold_lines = [
            HoldLine(
                hold_id=hold.id,
                dossier_code=hold.dossier_code,
                reason=hold.reason,
                reference=hold.reference,
                placed_by=hold.placed_by,
                placed_at=hold.placed_at,
            )
            for hold in holds
        ]
    terms: Counter[tuple[str, str]] = Counter()
    months: Counter[str] = Counter()
    without = overdue = under_review = 0
    for code, years, disposal, review in dossiers:
        term = term_of(code, years)
        if term is None:
            without += 1
            continue
        terms[(term.text, term.label)] += 1
        under_review += review == ReviewStatus.UNDER_REVIEW.value
        start = due_from(disposal)
        if start is None:
            continue
        if start <= today:
            overdue += 1
        elif _month_index(start) < horizon:
            months[f"{start.year:04d}-{start.month:02d}"] += 1
    return RetentionReport(
        today=today,
        dossiers=len(dossiers),
        by_retention=[
            CodeCount(retention=text, label=label, dossiers=count)
            for (text, label), count in sorted(terms.items())
        ],
        without_retention=without,
        overdue=overdue,
        under_review=under_review,
        upcoming_by_month=[
            MonthCount(month=month, dossiers=count) for month, count in sorted(months.items())
        ],
        active_holds=len(hold_lines),
        held_dossiers=len({line.dossier_code for line in hold_lines}),
        holds=hold_lines,
    )


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1
