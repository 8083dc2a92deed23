"""The daily review: dossiers past their disposal date become "Xem xét hủy" (``under_review``).

``mark_due(database, today)`` sets ``review_status = under_review`` on every dossier whose
disposal date is before ``today`` (a Vietnamese calendar day) and that has no active hold, and
clears it on dossiers that are no longer due (their term was lengthened); each change is audited.
Held dossiers are not marked; a dossier marked before it got a hold stays listed, with its holds,
and cannot be disposed of while held. ``due_dossiers`` is what ``GET /api/v1/retention/due`` shows.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from archive_service.db.session import Database
from archive_service.dossiers.models import Dossier
from archive_service.integrity.audit import record_audit
from retention.assign import stored_term
from retention.clock import vietnam_today
from retention.disposal_views import DueDossier
from retention.holds import active_hold_count
from retention.models import DossierHold, ReviewStatus

SYSTEM_ACTOR = "system"
UNDER_REVIEW = ReviewStatus.UNDER_REVIEW.value


def mark_due(database: Database, today: date | None = None) -> list[str]:
    """Mark the dossiers due for review on ``today``; return the codes newly marked."""
    today = today or vietnam_today()
    held = exists().where(DossierHold.dossier_id == Dossier.id, DossierHold.released_at.is_(None))
    with database.session() as session:
        due = session.scalars(
            select(Dossier)
            .where(
                Dossier.disposal_date.is_not(None),
                Dossier.disposal_date < today,
                Dossier.review_status.is_(None),
                ~held,
            )
            .order_by(Dossier.disposal_date, Dossier.dossier_code)
            .with_for_update()
        ).all()
        for dossier in due:
            dossier.review_status = UNDER_REVIEW
            _audit(session, dossier, "retention.marked_due", today)
        no_longer = session.scalars(
            select(Dossier)
            .where(
                Dossier.review_status == UNDER_REVIEW,
                or_(Dossier.disposal_date.is_(None), Dossier.disposal_date >= today),
            )
            .with_for_update()
        ).all()
        for dossier in no_longer:
            dossier.review_status = None
            _audit(session, dossier, "retention.review_ended", today)
        return [dossier.dossier_code for dossier in due]


def due_dossiers(database: Database) -> list[DueDossier]:
    """Dossiers under review, the longest overdue first."""
    with database.read_session() as session:
        rows = session.scalars(
            select(Dossier)
            .where(and_(Dossier.review_status == UNDER_REVIEW, Dossier.disposal_date.is_not(None)))
            .order_by(Dossier.disposal_date, Dossier.dossier_code)
        ).all()
        return [
            DueDossier(
                dossier_code=row.dossier_code,
                title=row.title,
                agency_id=row.agency_id,
                retention=_term_text(row),
                disposal_date=row.disposal_date,
                review_status=row.review_status,
                active_holds=active_hold_count(session, row.id),
            )
            for row in rows
            if row.disposal_date is not None
        ]


def _term_text(dossier: Dossier) -> str:
    term = stored_term(dossier)
    assert term is not None
    return term.text


def _audit(session: Session, dossier: Dossier, action: str, today: date) -> None:
    record_audit(
        session,
        actor=SYSTEM_ACTOR,
        action=action,
        target_type="dossier",
        target_id=dossier.dossier_code,
        detail={
            "disposal_date": dossier.disposal_date.isoformat() if dossier.disposal_date else None,
            "today": today.isoformat(),
        },
    )
