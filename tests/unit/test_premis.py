"""PREMIS 3 writing and reading: schema-valid, streamed, deterministic, read back unchanged."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from lxml import etree

from archive_service.packages.premis import (
    PREMIS_NS,
    SIGNATURE_NS,
    AgentRole,
    AgentType,
    EventType,
    FileFormat,
    LinkedAgent,
    LinkedObject,
    ObjectCategory,
    ObjectRole,
    Outcome,
    PremisAgent,
    PremisEvent,
    PremisObject,
    Relationship,
    SignatureNote,
    read_agents,
    read_events,
    write_premis,
)
from archive_service.packages.schemas import SchemaName, validate
from archive_service.packages.xmlsafe import parse_xml_bytes

P = {"p": PREMIS_NS, "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
AIP = "urn:G09:uuid-6C1B0E5A-92D4-4F0B-8C37-2E9A5D1F4B68"
WHEN = datetime(2024, 7, 1, 2, 30, 15, 250999, tzinfo=UTC)
SOFTWARE = PremisAgent(
    "archive-service/0.1.0", "archive-service", AgentType.SOFTWARE, version="0.1.0"
)
ARCHIVE = PremisAgent("LTDT", "Lưu trữ điện tử", AgentType.ORGANIZATION, notes=("Phông G09",))


def a_file(n: int, **changes: object) -> PremisObject:
    values: dict[str, object] = {
        "identifier": f"{AIP}/representations/rep1/data/240610-0001.{n}.pdf",
        "sha256": f"{n:064x}",
        "size": 1000 + n,
        "format": FileFormat("Acrobat PDF 1.7", "1.7"),
        "original_name": f"240610-0001.{n}.pdf",
        "content_location": f"representations/rep1/data/240610-0001.{n}.pdf",
    }
    values.update(changes)
    return PremisObject(**values)  # type: ignore[arg-type]


def an_event(**changes: object) -> PremisEvent:
    values: dict[str, object] = {
        "identifier": "0B6F3A52-7D1C-4E8A-9F20-5C4B3A2D1E0F",
        "event_type": EventType.NORMALIZATION,
        "date_time": WHEN,
        "detail": "Chuyển đổi sang PDF/A-2b",
        "outcome": Outcome.SUCCESS,
        "outcome_detail": "Hợp lệ PDF/A-2b",
        "agents": (
            LinkedAgent(SOFTWARE.identifier, AgentRole.EXECUTING_PROGRAM),
            LinkedAgent(ARCHIVE.identifier, AgentRole.IMPLEMENTER),
        ),
        "objects": (
            LinkedObject(a_file(1).identifier, ObjectRole.SOURCE),
            LinkedObject(f"{AIP}/representations/rep2/data/x.pdf", ObjectRole.OUTCOME),
        ),
    }
    values.update(changes)
    return PremisEvent(**values)  # type: ignore[arg-type]


def premis_bytes(objects: object, events: object = (), agents: object = ()) -> bytes:
    out = io.BytesIO()
    write_premis(out, objects=objects, events=events, agents=agents)  # type: ignore[arg-type]
    return out.getvalue()


def parsed(data: bytes) -> etree._Element:
    return parse_xml_bytes(data, "PREMIS.xml").getroot()


def test_objects_events_and_agents_validate_against_premis_3() -> None:
    entity = PremisObject(
        AIP,
        category=ObjectCategory.INTELLECTUAL_ENTITY,
        relationships=(Relationship("structural", "includes", (f"{AIP}/representations/rep1",)),),
        linking_events=("0B6F3A52-7D1C-4E8A-9F20-5C4B3A2D1E0F",),
    )
    representation = PremisObject(
        f"{AIP}/representations/rep1",
        category=ObjectCategory.REPRESENTATION,
        content_location="representations/rep1",
    )
    signed = a_file(2, signature=SignatureNote(signer="UBND xã Quảng Tâm", note="chưa kiểm tra"))
    data = premis_bytes(
        [entity, representation, a_file(1, format=FileFormat("PDF/A-2b", None, "fmt/476")), signed],
        [an_event(), an_event(identifier="e2", detail=None, outcome=None, outcome_detail=None)],
        [SOFTWARE, ARCHIVE],
    )
    root = parsed(data)
    assert validate(root, SchemaName.PREMIS, "PREMIS.xml") == []
    categories = root.xpath("p:object/@xsi:type", namespaces=P)
    assert categories == [
        "premis:intellectualEntity",
        "premis:representation",
        "premis:file",
        "premis:file",
    ]


def test_a_file_object_carries_fixity_size_format_location_and_name() -> None:
    root = parsed(premis_bytes([a_file(3, format=FileFormat("PDF/A-2b", "2b", "fmt/476"))]))
    obj = root.find("p:object", P)
    assert obj.findtext("p:objectIdentifier/p:objectIdentifierValue", namespaces=P) == (
        f"{AIP}/representations/rep1/data/240610-0001.3.pdf"
    )
    characteristics = obj.find("p:objectCharacteristics", P)
    assert characteristics.findtext("p:fixity/p:messageDigestAlgorithm", namespaces=P) == "SHA-256"
    assert characteristics.findtext("p:fixity/p:messageDigest", namespaces=P) == f"{3:064x}"
    assert characteristics.findtext("p:size", namespaces=P) == "1003"
    file_format = characteristics.find("p:format", P)
    assert file_format.findtext("p:formatDesignation/p:formatName", namespaces=P) == "PDF/A-2b"
    assert file_format.findtext("p:formatRegistry/p:formatRegistryName", namespaces=P) == "PRONOM"
    assert file_format.findtext("p:formatRegistry/p:formatRegistryKey", namespaces=P) == "fmt/476"
    assert obj.findtext("p:originalName", namespaces=P) == "240610-0001.3.pdf"
    assert obj.findtext("p:storage/p:contentLocation/p:contentLocationValue", namespaces=P) == (
        "representations/rep1/data/240610-0001.3.pdf"
    )


def test_digests_are_written_lower_case() -> None:
    root = parsed(premis_bytes([a_file(1, sha256="AB" * 32)]))
    assert root.findtext(".//p:messageDigest", namespaces=P) == "ab" * 32


def test_no_pronom_registry_without_an_identified_format() -> None:
    root = parsed(premis_bytes([a_file(1)]))
    assert root.find(".//p:formatRegistry", P) is None
    assert root.findtext(".//p:formatName", namespaces=P) == "Acrobat PDF 1.7"


def test_a_signature_placeholder_only_for_files_said_to_be_signed() -> None:
    root = parsed(
        premis_bytes([a_file(1), a_file(2, signature=SignatureNote(signer="Nguyễn Văn A"))])
    )
    unsigned, signed = root.findall("p:object", P)
    assert unsigned.find("p:signatureInformation", P) is None
    marker = signed.find(
        f"p:signatureInformation/p:signatureInformationExtension/{{{SIGNATURE_NS}}}signed", P
    )
    assert marker is not None
    assert marker.get("inspected") == "false"
    assert marker.findtext(f"{{{SIGNATURE_NS}}}signer") == "Nguyễn Văn A"


def test_a_file_object_without_fixity_is_refused() -> None:
    with pytest.raises(ValueError, match="sha256, size and format"):
        premis_bytes([a_file(1, sha256=None)])
    with pytest.raises(ValueError, match="sha256, size and format"):
        premis_bytes([a_file(1, format=None)])


def test_a_document_needs_an_object() -> None:
    with pytest.raises(ValueError, match="at least one object"):
        premis_bytes([], [an_event()])


def test_event_date_times_are_vietnam_time_with_milliseconds() -> None:
    root = parsed(premis_bytes([a_file(1)], [an_event()]))
    assert root.findtext(".//p:eventDateTime", namespaces=P) == "2024-07-01T09:30:15.250+07:00"


def test_vocabularies_name_their_authority() -> None:
    root = parsed(premis_bytes([a_file(1)], [an_event()], [SOFTWARE]))
    event_type = root.find(".//p:eventType", P)
    assert event_type.text == "normalization"
    assert event_type.get("authorityURI") == "http://id.loc.gov/vocabulary/preservation/eventType"
    roles = root.xpath(".//p:linkingAgentRole/text()", namespaces=P)
    assert roles == ["executing program", "implementer"]
    assert root.xpath(".//p:linkingObjectRole/text()", namespaces=P) == ["source", "outcome"]
    assert root.findtext(".//p:agentType", namespaces=P) == "software"


def test_events_and_agents_read_back_as_written() -> None:
    event = an_event(
        date_time=datetime(2024, 7, 1, 9, 30, 15, 250000, tzinfo=timezone(timedelta(hours=7)))
    )
    bare = PremisEvent("e2", EventType.FIXITY_CHECK, event.date_time)
    root = parsed(premis_bytes([a_file(1)], [event, bare], [SOFTWARE, ARCHIVE]))
    events = list(read_events(root))
    assert events == [
        PremisEvent(
            identifier=event.identifier,
            event_type="normalization",
            date_time=event.date_time,
            detail=event.detail,
            outcome="success",
            outcome_detail=event.outcome_detail,
            agents=tuple(LinkedAgent(a.identifier, str(a.role)) for a in event.agents),
            objects=tuple(LinkedObject(o.identifier, str(o.role)) for o in event.objects),
        ),
        PremisEvent("e2", "fixity check", event.date_time),
    ]
    assert list(read_agents(root)) == [
        PremisAgent("archive-service/0.1.0", "archive-service", "software", version="0.1.0"),
        PremisAgent("LTDT", "Lưu trữ điện tử", "organization", notes=("Phông G09",)),
    ]


def test_the_same_input_gives_the_same_bytes() -> None:
    def write() -> bytes:
        return premis_bytes([a_file(1), a_file(2)], [an_event()], [SOFTWARE])

    assert write() == write()
    assert write().startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<premis:premis ')


def test_objects_are_streamed_from_a_generator_without_repeating_namespaces() -> None:
    produced = 0

    def files() -> Iterator[PremisObject]:
        nonlocal produced
        for n in range(1, 301):
            produced += 1
            yield a_file(n)

    data = premis_bytes(files(), [an_event()], [SOFTWARE])
    assert produced == 300
    root = parsed(data)
    assert len(root.findall("p:object", P)) == 300
    assert validate(root, SchemaName.PREMIS, "PREMIS.xml") == []
    assert data.count(b"xmlns:premis=") == 1  # declared once, on the root
