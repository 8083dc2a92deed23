"""Holds on dossiers: placing and releasing them, in the database and on every stored object."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retention.models import DossierHold


def active_hold_count(session: Session, dossier_id: int) -> int:
    """How many holds of the dossier are not released."""
    return int(
        session.scalar(
            select(func.count(DossierHold.id)).where(
                DossierHold.dossier_id == dossier_id, DossierHold.released_at.is_(None)
            )
        )
        or 0
    )
