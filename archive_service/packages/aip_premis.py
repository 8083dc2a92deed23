"""The PREMIS content of an AIP: the package, its representations and files as objects, and
the ``information package creation`` event (what goes where: see ``aip_writer``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime

from archive_service.packages.aip_identity import (
    ArchiveIdentity,
    archive_agent,
    premis_identifier,
    software_agent,
)
from archive_service.packages.aip_items import AipRepresentation
from archive_service.packages.mets import PRESERVATION_DIR, IdSource
from archive_service.packages.premis import (
    AgentRole,
    EventType,
    LinkedAgent,
    LinkedObject,
    ObjectCategory,
    ObjectRole,
    Outcome,
    PremisAgent,
    PremisEvent,
    PremisObject,
    Relationship,
)

PREMIS_PATH = f"{PRESERVATION_DIR}/PREMIS.xml"

#: Object identifier → identifiers of the events that name it, in event order.
EventLinks = Mapping[str, Sequence[str]]


def event_links(events: Sequence[PremisEvent]) -> dict[str, list[str]]:
    """Object identifier → identifiers of the events that name it, in event order."""
    links: dict[str, list[str]] = {}
    for event in events:
        for linked in event.objects:
            found = links.setdefault(linked.identifier, [])
            if event.identifier not in found:
                found.append(event.identifier)
    return links


def unique_agents(agents: Sequence[PremisAgent]) -> list[PremisAgent]:
    """The agents without repetition: the first of each identifier, in order."""
    seen: dict[str, PremisAgent] = {}
    for agent in agents:
        seen.setdefault(agent.identifier, agent)
    return list(seen.values())


def creation_event(
    ids: IdSource,
    *,
    created: datetime,
    object_id: str,
    sip_object_id: str,
    archive: ArchiveIdentity,
) -> PremisEvent:
    """``information package creation``: the AIP ``object_id``, made from the SIP."""
    return PremisEvent(
        identifier=str(
            ids.uuid(
                f"event:{EventType.INFORMATION_PACKAGE_CREATION}:{sip_object_id}:"
                f"{created.isoformat()}"
            )
        ),
        event_type=EventType.INFORMATION_PACKAGE_CREATION,
        date_time=created,
        detail=f"Tạo gói lưu trữ AIP {object_id} từ gói nộp lưu SIP {sip_object_id}",
        outcome=Outcome.SUCCESS,
        agents=(
            LinkedAgent(archive_agent(archive).identifier, AgentRole.IMPLEMENTER),
            LinkedAgent(software_agent(archive).identifier, AgentRole.EXECUTING_PROGRAM),
        ),
        objects=(
            LinkedObject(sip_object_id, ObjectRole.SOURCE),
            LinkedObject(object_id, ObjectRole.OUTCOME),
        ),
    )


def package_object(
    object_id: str,
    sip_object_id: str,
    representations: Sequence[AipRepresentation],
    links: EventLinks,
) -> PremisObject:
    """The AIP as an intellectual entity that includes its representations."""
    return PremisObject(
        identifier=object_id,
        category=ObjectCategory.INTELLECTUAL_ENTITY,
        original_name=sip_object_id,
        relationships=(
            Relationship(
                "structural",
                "includes",
                tuple(premis_identifier(object_id, r.folder) for r in representations),
            ),
        ),
        linking_events=tuple(links.get(object_id, ())),
    )


def representation_objects(
    object_id: str, rep: AipRepresentation, links: EventLinks
) -> Iterator[PremisObject]:
    """The representation, then one object per data file (what ``PREMIS_<rep>.xml`` holds)."""
    rep_id = premis_identifier(object_id, rep.folder)
    yield PremisObject(
        identifier=rep_id,
        category=ObjectCategory.REPRESENTATION,
        original_name=rep.name,
        content_location=rep.folder,
        relationships=(
            Relationship("structural", "is included in", (object_id,)),
            *((rep.derivation,) if rep.derivation else ()),
        ),
        linking_events=tuple(links.get(rep_id, ())),
    )
    for rep_file in rep.files:
        identifier = premis_identifier(object_id, rep_file.item.path)
        yield PremisObject(
            identifier=identifier,
            sha256=rep_file.item.sha256,
            size=rep_file.item.size,
            format=rep_file.format,
            original_name=rep_file.original_name,
            content_location=rep_file.item.path,
            signature=rep_file.signature,
            relationships=(
                Relationship("structural", "is included in", (rep_id,)),
                *((rep_file.derivation,) if rep_file.derivation else ()),
            ),
            linking_events=tuple(links.get(identifier, ())),
        )
