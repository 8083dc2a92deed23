"""The catalogue rows of an archived dossier, written in the transaction that archives a deposit.

``Dossier`` (one per dossier code, pointing at the current AIP version; it is also the search
index for now), its ``Document`` rows as they stand in that version, a ``StoredObject`` row for
every key read back from storage, and a ``PremisEventRecord`` for every event of the version's
PREMIS file. A new version of a dossier updates its row and replaces its documents; stored
objects and events accumulate.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from archive_service.dossiers.models import Document, Dossier, PremisEventRecord, StoredObject
from archive_service.ingest.format_catalogue import DocumentFormat
from archive_service.ingest.readback import StoredVersion
from archive_service.packages.models import Dossier as DossierMetadata
from archive_service.packages.models import SipPackage
from archive_service.packages.premis import PremisEvent

PRIMARY_STORAGE = "primary"
_BATCH = 500


@dataclass(frozen=True)
class ArchivedVersion:
    """Everything the catalogue records of one stored AIP version."""

    deposit_id: str
    agency_id: str
    sip: SipPackage
    aip_dossier: DossierMetadata  # EAD.xml of the AIP: file_code is the arcFileCode
    stored: StoredVersion
    events: Sequence[PremisEvent]
    formats: Mapping[str, DocumentFormat] = field(default_factory=dict)  # by logical path


def record_archived(session: Session, archived: ArchivedVersion) -> Dossier:
    """Insert or update the dossier and its rows for ``archived``; return the dossier row."""
    sip = archived.sip
    dossier = session.scalars(
        select(Dossier).where(Dossier.dossier_code == sip.dossier_code).with_for_update()
    ).one_or_none()
    values = _dossier_values(archived)
    if dossier is None:
        dossier = Dossier(**values)
        session.add(dossier)
    else:
        for name, value in values.items():
            setattr(dossier, name, value)
        for document in session.scalars(select(Document).where(Document.dossier_id == dossier.id)):
            session.delete(document)
    session.flush()
    session.execute(insert(Document), _document_rows(dossier.id, sip, archived.formats))
    record_stored_keys(session, dossier.id, archived.stored)
    _record_events(session, dossier.id, archived.deposit_id, archived.events)
    session.flush()
    return dossier


def _dossier_values(archived: ArchivedVersion) -> dict[str, Any]:
    sip, aip = archived.sip, archived.aip_dossier
    tthc = sip.tthc
    return {
        "dossier_code": tthc.dossier_code,
        "agency_id": archived.agency_id,
        "aip_object_id": archived.stored.object_id,
        "aip_version": archived.stored.version,
        "file_code": aip.file_code,
        "title": aip.title,
        "procedure_code": tthc.procedure.code,
        "procedure_name": tthc.procedure.name,
        "sector_code": tthc.procedure.sector_code,
        "final_status": tthc.final_status,
        "received_at": tthc.received,
        "settled_at": tthc.finished,
        "start_date": aip.start_date,
        "end_date": aip.end_date,
        "maintenance": aip.maintenance,
        "mode": aip.mode,
        "applicant_name": tthc.applicant.name,
        "applicant_id_number": tthc.applicant.id_number,
        "total_doc": aip.total_doc,
        "metadata_json": {
            "dossier": aip.model_dump(mode="json", by_alias=True, exclude_none=True),
            "tthc": tthc.model_dump(mode="json", by_alias=True, exclude_none=True),
            "record_status": sip.record_status,
            "sip_object_id": sip.object_id,
        },
    }


def _document_rows(
    dossier_id: int, sip: SipPackage, formats: Mapping[str, DocumentFormat]
) -> list[dict[str, Any]]:
    """The documents' rows, for one bulk INSERT: as declared, then what the stored version's
    format and rendition facts say (``DocumentFormat.columns``)."""
    rows = []
    for ordinal, document in enumerate(sip.documents, start=1):
        path = document.file.path
        declared = {
            "dossier_id": dossier_id,
            "doc_id": document.doc_id,
            "ordinal": ordinal,
            "title": document.metadata.title,
            "logical_path": path,
            "file_name": posixpath.basename(path),
            "size": document.file.size,
            "sha256": document.file.sha256,
            "mime_type": document.file.mime_type,
        }
        rows.append(declared | formats.get(path, DocumentFormat()).columns())
    return rows


def _batches(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _BATCH):
        yield values[start : start + _BATCH]


def record_stored_keys(session: Session, dossier_id: int, stored: StoredVersion) -> None:
    """One row per (key, store version); a key rewritten in place (root inventory) is updated.

    Bulk statements (one INSERT and at most one UPDATE), not one ORM object per key."""
    keys = [item.key for item in stored.keys]
    existing: dict[tuple[str, str], int] = {}
    for batch in _batches(keys):
        rows = session.execute(
            select(StoredObject.id, StoredObject.key, StoredObject.version_id).where(
                StoredObject.storage == PRIMARY_STORAGE, StoredObject.key.in_(batch)
            )
        )
        existing.update({(row.key, row.version_id): row.id for row in rows})
    new, changed = [], []
    for item in stored.keys:
        values = {
            "dossier_id": dossier_id,
            "aip_version": stored.version,
            "size": item.size,
            "sha256": item.sha256,
        }
        row_id = existing.get((item.key, item.version_id))
        if row_id is None:
            new.append(
                {"storage": PRIMARY_STORAGE, "key": item.key, "version_id": item.version_id}
                | values
            )
        else:
            changed.append({"id": row_id} | values)
    if new:
        session.execute(insert(StoredObject), new)
    if changed:
        session.execute(update(StoredObject), changed)


def _record_events(
    session: Session, dossier_id: int, deposit_id: str, events: Sequence[PremisEvent]
) -> None:
    """Events not recorded yet (an identifier may recur in a later version's PREMIS file);
    one bulk INSERT."""
    ids = [event.identifier for event in events]
    known: set[str] = set()
    for batch in _batches(ids):
        known |= set(
            session.scalars(
                select(PremisEventRecord.event_id).where(PremisEventRecord.event_id.in_(batch))
            )
        )
    rows = []
    for event in events:
        if event.identifier in known:
            continue
        known.add(event.identifier)
        rows.append(
            {
                "dossier_id": dossier_id,
                "deposit_id": deposit_id,
                "event_id": event.identifier,
                "event_type": str(event.event_type),
                "at": event.date_time,
                "outcome": str(event.outcome) if event.outcome is not None else None,
                "detail": event.detail,
                "agent": event.agents[0].identifier if event.agents else None,
            }
        )
    if rows:
        session.execute(insert(PremisEventRecord), rows)
