"""A retention change written into the dossier's AIP, and recorded in the catalogue.

The new OCFL version differs from the one before by two files only: ``PREMIS.xml``, which gains
the change's ``policy assignment`` event (a new term, or a hold placed or released) and the
agent who decided it, and the root
``METS.xml``, whose PREMIS reference describes the new file (``packages.aip_revision``). Every
other file is the previous version's, not stored again. The version's message is
``retention <change id>``: as with deposits, a head version with that message means storage
committed and only the database part is left (``write_revision`` then writes nothing).

``record_revision`` is that database part, in the caller's transaction: the stored objects read
back, the PREMIS event, the dossier's new version and retention record, the change marked done.
A hold's event is already in the catalogue (recorded with the hold): only the hold learns which
AIP version carries it, and the term is left as it is.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from archive_service import SOFTWARE_NAME, __version__
from archive_service.config import Settings
from archive_service.db.base import utcnow
from archive_service.dossiers.models import Dossier
from archive_service.ingest.catalogue import record_stored_keys
from archive_service.ingest.readback import StoredVersion, head_message
from archive_service.packages.aip_identity import ArchiveIdentity, archive_agent, software_agent
from archive_service.packages.aip_revision import revise_aip
from archive_service.packages.mets import VN_TZ
from archive_service.packages.premis import (
    AgentRole,
    AgentType,
    LinkedAgent,
    LinkedObject,
    ObjectRole,
    Outcome,
    PremisAgent,
    PremisEvent,
)
from archive_service.storage.ocfl import OcflRepository
from retention.assign import apply_record
from retention.events import POLICY_ASSIGNMENT, RETENTION_AGENT, record_policy_event
from retention.hold_changes import event_time, is_hold_change, mark_written
from retention.models import ChangeOrigin, ChangeStatus, RetentionChange


def version_message(change_id: str) -> str:
    """The OCFL version message that marks a version as written by this change."""
    return f"retention {change_id}"


def archive_identity(settings: Settings) -> ArchiveIdentity:
    return ArchiveIdentity(
        archive_code=settings.archive_code,
        archive_name=settings.archive_name,
        fonds_code=settings.fonds_code,
        software_name=SOFTWARE_NAME,
        software_version=__version__,
    )


def change_event(
    change: RetentionChange, object_id: str, archive: ArchiveIdentity
) -> tuple[PremisEvent, list[PremisAgent]]:
    """The change's ``policy assignment`` event on the AIP, and the agents it names."""
    software = software_agent(archive)
    if change.origin == ChangeOrigin.ARCHIVIST or is_hold_change(change):
        decider = PremisAgent(
            identifier=change.actor,
            name=f"Người làm lưu trữ (khóa {change.actor})",
            agent_type=AgentType.PERSON,
        )
        role: AgentRole = AgentRole.AUTHORIZER
    else:
        decider, role = archive_agent(archive), AgentRole.IMPLEMENTER
    event = PremisEvent(
        identifier=change.event_id,
        event_type=POLICY_ASSIGNMENT,
        date_time=event_time(change),
        detail=change.detail,
        outcome=Outcome.SUCCESS,
        agents=(
            LinkedAgent(decider.identifier, role),
            LinkedAgent(software.identifier, AgentRole.EXECUTING_PROGRAM),
        ),
        objects=(LinkedObject(object_id, ObjectRole.OUTCOME),),
    )
    return event, [decider, software]


def write_revision(
    repository: OcflRepository,
    settings: Settings,
    change: RetentionChange,
    object_id: str,
    waiting: tuple[Sequence[PremisEvent], Sequence[PremisAgent]] = ((), ()),
) -> None:
    """Store the change as a new version of the dossier's OCFL object, unless it already is;
    ``waiting`` events recorded since the last version (fixity checks, repairs) and their agents
    go into it too, before the change's own event (those already in the AIP are skipped)."""
    message = version_message(change.id)
    if head_message(repository, object_id) == message:
        return
    event, agents = change_event(change, object_id, archive_identity(settings))
    waiting_events, waiting_agents = waiting
    work_root = settings.staging_dir / "retention"
    work_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_root) as work:
        revision = revise_aip(
            repository.opener(object_id),
            events=[*waiting_events, event],
            agents=[*agents, *waiting_agents],
            at=change.created_at.astimezone(VN_TZ),
            work_dir=Path(work),
            max_xml_bytes=settings.limits.max_xml_bytes,
        )
        repository.add_version(
            object_id,
            revision.files,
            message=message,
            user_name=settings.archive_name,
            user_address=f"urn:archive:{settings.archive_code}",
            created=datetime.now(VN_TZ),
        )


def record_revision(
    session: Session,
    dossier: Dossier,
    change: RetentionChange,
    stored: StoredVersion,
    today: date,
) -> None:
    """Record the stored version and apply the change to the dossier (caller's transaction)."""
    record_stored_keys(session, dossier.id, stored)
    if is_hold_change(change):
        mark_written(session, change, stored.version)
    else:
        archivist = change.origin == ChangeOrigin.ARCHIVIST
        record_policy_event(
            session,
            dossier.id,
            change.detail,
            agent=change.actor if archivist else RETENTION_AGENT,
            outcome=Outcome.SUCCESS,
            event_id=change.event_id,
            at=change.created_at,
        )
        apply_record(dossier, change.decision, today)
        if change.origin == ChangeOrigin.SCHEDULE:
            dossier.retention_schedule_version = change.schedule_version
            dossier.retention_schedule_sha256 = change.schedule_sha256
    dossier.aip_version = stored.version
    dossier.locks_applied_at = None  # the new version's objects are locked after the commit
    change.status = ChangeStatus.DONE.value
    change.aip_version = stored.version
    change.finished_at = utcnow()
