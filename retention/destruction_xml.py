"""The destruction certificate of a disposal list as XML (namespace
``urn:vn:archive:destruction:1``): the decision, who proposed, approved and executed, and for
each dossier its retention basis and the SHA-256 of every stored object version destroyed;
dossiers skipped are listed with the reason.

The same inputs always give the same bytes (no generation time inside): the document can be
hashed and signed outside the archive.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime

from lxml import etree

from retention.disposal_views import DestructionRecordView, DisposalView

NAMESPACE = "urn:vn:archive:destruction:1"
_NS = f"{{{NAMESPACE}}}"


def destruction_certificate(
    proposal: DisposalView,
    records: Sequence[DestructionRecordView],
    *,
    archive_code: str,
    archive_name: str,
) -> bytes:
    """The certificate of ``proposal`` and its destruction ``records``, UTF-8 XML bytes."""
    root = etree.Element(
        _NS + "destructionCertificate",
        nsmap={None: NAMESPACE},  # type: ignore[dict-item]
        attrib={"archiveCode": archive_code, "archiveName": archive_name},
    )
    _child(
        root,
        "disposal",
        id=str(proposal.id),
        status=proposal.status,
        proposedBy=proposal.proposed_by,
        proposedAt=_text(proposal.proposed_at),
        approvedBy=proposal.approved_by,
        approvedAt=_text(proposal.approved_at),
        executedBy=proposal.executed_by,
        executedAt=_text(proposal.executed_at),
    ).text = proposal.reason
    _child(
        root,
        "decision",
        number=proposal.decision_number,
        date=_text(proposal.decision_date),
        signer=proposal.signer,
    )
    by_code = {record.dossier_code: record for record in records}
    for item in proposal.items:
        record = by_code.get(item.dossier_code)
        if record is None:
            _child(
                root, "skipped", dossierCode=item.dossier_code, status=item.status
            ).text = item.skip_reason
            continue
        dossier = _child(
            root,
            "dossier",
            code=record.dossier_code,
            fileCode=record.file_code,
            agency=record.agency_id,
            procedure=record.procedure_code,
            aipObjectId=record.aip_object_id,
            endDate=_text(record.end_date),
            retention=record.retention_code,
            retentionYears=_text(record.retention_years),
            disposalDate=_text(record.disposal_date),
            destroyedAt=_text(record.destroyed_at),
            objectCount=str(record.object_count),
            totalBytes=str(record.total_bytes),
        )
        _child(dossier, "title").text = record.title
        _child(dossier, "retentionBasis").text = json.dumps(
            record.retention_basis, ensure_ascii=False, sort_keys=True
        )
        for entry in record.objects:
            _child(
                dossier,
                "object",
                storage=entry.storage,
                key=entry.key,
                versionId=entry.version_id,
                size=str(entry.size),
                sha256=entry.sha256,
            )
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _child(parent: etree._Element, name: str, **attributes: str | None) -> etree._Element:
    present = {key: value for key, value in attributes.items() if value is not None}
    return etree.SubElement(parent, _NS + name, attrib=present)


def _text(value: date | datetime | int | None) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, date | datetime) else str(value)
