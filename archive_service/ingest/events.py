"""The PREMIS events of an ingest: what the archive did to a SIP before it became an AIP.

Each event says honestly how it went: ``ingestion`` (the SIP was received), ``fixity check``
(every SHA-256 the SIP's METS declares was recomputed and matched), ``validation`` (schemas and
rules; ``warning`` when the check found warnings) and ``virus check``, recorded as *not
performed* while no scanner is configured (the format checks give the real one otherwise).
``build_aip`` adds ``information package creation``.
Identifiers are UUID-5 of the deposit id, so a retried deposit describes the same events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid5

from archive_service.packages.aip_writer import ArchiveIdentity, archive_agent, software_agent
from archive_service.packages.models import SipPackage
from archive_service.packages.premis import (
    AgentRole,
    EventType,
    LinkedAgent,
    LinkedObject,
    ObjectRole,
    Outcome,
    PremisEvent,
)
from archive_service.packages.problems import Problem

NOT_PERFORMED = "not performed"
NO_SCANNER = "no scanner configured"


@dataclass(frozen=True)
class IngestFacts:
    """What the pipeline knows when it builds the events of a deposit."""

    deposit_id: str
    agency_id: str
    received_at: datetime
    checked_at: datetime
    warnings: Sequence[Problem]
    virus_check: PremisEvent | None = None  # the scan's event; None: no scanner configured


def aip_uuid_for(deposit_id: str) -> UUID:
    """The AIP UUID of a deposit that creates a new dossier (the same on every retry)."""
    return uuid5(UUID(deposit_id), "aip")


def _event_id(deposit_id: str, event_type: EventType) -> str:
    return str(uuid5(UUID(deposit_id), f"event:{event_type}"))


def ingest_events(
    sip: SipPackage, facts: IngestFacts, archive: ArchiveIdentity
) -> list[PremisEvent]:
    """The events of checking ``sip``, in the order they happened."""
    archive_id = archive_agent(archive).identifier
    software_id = software_agent(archive).identifier
    by_archive = (
        LinkedAgent(archive_id, AgentRole.IMPLEMENTER),
        LinkedAgent(software_id, AgentRole.EXECUTING_PROGRAM),
    )
    on_sip = (LinkedObject(sip.object_id, ObjectRole.SOURCE),)
    declared = len(sip.documents) + len(sip.metadata_files) + len(sip.schema_files)

    def event(
        kind: EventType,
        at: datetime,
        detail: str,
        outcome: str,
        outcome_detail: str | None = None,
        agents: tuple[LinkedAgent, ...] = by_archive,
    ) -> PremisEvent:
        return PremisEvent(
            identifier=_event_id(facts.deposit_id, kind),
            event_type=kind,
            date_time=at,
            detail=detail,
            outcome=outcome,
            outcome_detail=outcome_detail,
            agents=agents,
            objects=on_sip,
        )

    warnings = "; ".join(f"{p.code}: {p.path}" for p in facts.warnings) or None
    return [
        event(
            EventType.INGESTION,
            facts.received_at,
            f"Tiếp nhận gói nộp lưu SIP {sip.object_id} của cơ quan {facts.agency_id} "
            f"(lượt nộp {facts.deposit_id}, hồ sơ {sip.dossier_code})",
            Outcome.SUCCESS,
        ),
        event(
            EventType.FIXITY_CHECK,
            facts.checked_at,
            f"Tính lại SHA-256 của {declared} tệp trong gói SIP và so với giá trị khai báo "
            "trong METS",
            Outcome.SUCCESS,
            agents=(LinkedAgent(software_id, AgentRole.EXECUTING_PROGRAM),),
        ),
        event(
            EventType.VALIDATION,
            facts.checked_at,
            "Kiểm tra gói SIP theo lược đồ XSD, quy tắc METS, trường bắt buộc và danh mục mã",
            Outcome.WARNING if warnings else Outcome.SUCCESS,
            warnings,
            agents=(LinkedAgent(software_id, AgentRole.VALIDATOR),),
        ),
        facts.virus_check
        or event(
            EventType.VIRUS_CHECK,
            facts.checked_at,
            "Kiểm tra virus các tệp của gói SIP",
            NOT_PERFORMED,
            NO_SCANNER,
            agents=(LinkedAgent(software_id, AgentRole.EXECUTING_PROGRAM),),
        ),
    ]
