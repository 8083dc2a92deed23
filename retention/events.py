"""PREMIS events of retention, recorded on the dossier in the database (``premis_events``).

**Decision — event type.** The LoC ``eventType`` vocabulary has no "retention" or "hold" type;
the archive records ``policy assignment`` (assigning or changing a policy that applies to an
object) for retention decisions, holds and their release. The events of a term change after
ingest (a longer term under a new schedule, an archivist's shortening) and of holds placed or
released are also written into the AIP, in a new version's ``PREMIS.xml`` (``retention.changes``,
``retention.hold_changes``); the others — the term assigned at ingest, a shorter term not
applied — are in the catalogue only, shown with the dossier.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from archive_service import SOFTWARE_NAME, __version__
from archive_service.db.base import utcnow
from archive_service.dossiers.models import PremisEventRecord
from archive_service.packages.premis import Outcome

#: LoC preservation ``eventType`` of retention decisions and holds.
POLICY_ASSIGNMENT = "policy assignment"
#: Agent named on events the software decides alone.
RETENTION_AGENT = f"{SOFTWARE_NAME}/{__version__}"


def record_policy_event(
    session: Session,
    dossier_id: int,
    detail: str,
    *,
    agent: str = RETENTION_AGENT,
    outcome: Outcome = Outcome.SUCCESS,
    event_id: str | None = None,
    at: datetime | None = None,
) -> PremisEventRecord:
    """Add a ``policy assignment`` event to the dossier, in the caller's transaction."""
    record = PremisEventRecord(
        dossier_id=dossier_id,
        event_id=event_id or str(uuid.uuid4()),
        event_type=POLICY_ASSIGNMENT,
        at=at or utcnow(),
        outcome=str(outcome),
        detail=detail,
        agent=agent,
    )
    session.add(record)
    return record
