"""PREMIS 3 preservation metadata: objects, events and agents, written as a stream and read back.

Files are written element by element (``xmlstream.xml_document``), so a PREMIS file describing
thousands of files never exists in memory as one tree or one string. The same inputs always give
the same bytes.

Vocabularies follow the Library of Congress preservation vocabularies (``eventType``,
``eventRelatedAgentRole``, ``eventRelatedObjectRole``, ``agentType``); the object category is the
``xsi:type`` of ``<object>`` (``file``, ``representation``, ``intellectualEntity``), as the PREMIS 3
schema requires.

**Decision — signatures.** An inspected signed file carries one ``signatureInformation`` per
signature, each holding one ``signature`` (encoding, signer, method, value, validation rules,
properties). A signed file whose signatures were not inspected carries a placeholder: a
``signatureInformationExtension`` holding ``<sig:signed inspected="false">`` (namespace
``urn:vn:archive:premis-signature:1``) with the signer and a note when known. Unsigned files
carry nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from lxml import etree

from archive_service.packages.mets import PREMIS_NS, XSI_NS, mets_datetime, qname
from archive_service.packages.xmlstream import BinaryWriter, xml_document

SIGNATURE_NS = "urn:vn:archive:premis-signature:1"
PREMIS_VERSION = "3.0"
NSMAP: dict[str | None, str] = {"premis": PREMIS_NS, "xsi": XSI_NS}

_LOC = "http://id.loc.gov/vocabulary/preservation/"


class EventType(StrEnum):
    """Event types of the LoC ``eventType`` vocabulary that the archive records."""

    INGESTION = "ingestion"
    ACCESSION = "accession"
    FIXITY_CHECK = "fixity check"
    MESSAGE_DIGEST_CALCULATION = "message digest calculation"
    VIRUS_CHECK = "virus check"
    FORMAT_IDENTIFICATION = "format identification"
    VALIDATION = "validation"
    DIGITAL_SIGNATURE_VALIDATION = "digital signature validation"
    NORMALIZATION = "normalization"
    INFORMATION_PACKAGE_CREATION = "information package creation"
    METADATA_MODIFICATION = "metadata modification"
    MIGRATION = "migration"
    REPLICATION = "replication"
    DELETION = "deletion"


class AgentRole(StrEnum):
    """LoC ``eventRelatedAgentRole``."""

    IMPLEMENTER = "implementer"
    VALIDATOR = "validator"
    EXECUTING_PROGRAM = "executing program"
    AUTHORIZER = "authorizer"


class ObjectRole(StrEnum):
    """LoC ``eventRelatedObjectRole``."""

    SOURCE = "source"
    OUTCOME = "outcome"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    WARNING = "warning"


class AgentType(StrEnum):
    """LoC ``agentType``."""

    SOFTWARE = "software"
    ORGANIZATION = "organization"
    PERSON = "person"
    HARDWARE = "hardware"


class ObjectCategory(StrEnum):
    """PREMIS object category, written as the ``xsi:type`` of ``<object>``."""

    FILE = "file"
    REPRESENTATION = "representation"
    INTELLECTUAL_ENTITY = "intellectualEntity"


@dataclass(frozen=True)
class LinkedAgent:
    """An agent taking part in an event, and its role."""

    identifier: str
    role: AgentRole | str
    identifier_type: str = "local"


@dataclass(frozen=True)
class LinkedObject:
    """An object an event acted on (``source``) or produced (``outcome``)."""

    identifier: str
    role: ObjectRole | str
    identifier_type: str = "local"


@dataclass(frozen=True)
class PremisEvent:
    """One preservation action: what, when, how it went, who did it, on which objects."""

    identifier: str
    event_type: EventType | str
    date_time: datetime
    detail: str | None = None
    outcome: Outcome | str | None = None
    outcome_detail: str | None = None
    agents: tuple[LinkedAgent, ...] = ()
    objects: tuple[LinkedObject, ...] = ()
    identifier_type: str = "UUID"


@dataclass(frozen=True)
class PremisAgent:
    """A person, organisation or program that carries out events."""

    identifier: str
    name: str
    agent_type: AgentType | str
    version: str | None = None
    notes: tuple[str, ...] = ()
    identifier_type: str = "local"


@dataclass(frozen=True)
class FileFormat:
    """A format designation, with its PRONOM id when identified (``fmt/354``)."""

    name: str
    version: str | None = None
    pronom_id: str | None = None


@dataclass(frozen=True)
class PremisSignature:
    """One inspected signature, as a PREMIS ``signature`` element holds it."""

    encoding: str
    method: str
    value: str
    validation_rules: str
    signer: str | None = None
    properties: tuple[str, ...] = ()


@dataclass(frozen=True)
class SignatureNote:
    """A signed file: its inspected ``signatures``, or — none inspected — a placeholder with
    the signer and a note."""

    signer: str | None = None
    note: str | None = None
    signatures: tuple[PremisSignature, ...] = ()


@dataclass(frozen=True)
class Relationship:
    """A PREMIS relationship (``structural``/``includes``, ``derivation``/``has source`` …)."""

    type: str
    sub_type: str
    related: tuple[str, ...]
    related_type: str = "local"


@dataclass(frozen=True)
class PremisObject:
    """A file, representation or intellectual entity.

    Files need ``sha256``, ``size`` and ``format``; ``signature`` is given only for signed files.
    ``linking_events`` are identifiers of events of type ``UUID`` (as every event here has).
    """

    identifier: str
    category: ObjectCategory = ObjectCategory.FILE
    sha256: str | None = None
    size: int | None = None
    format: FileFormat | None = None
    original_name: str | None = None
    content_location: str | None = None
    signature: SignatureNote | None = None
    relationships: tuple[Relationship, ...] = ()
    linking_events: tuple[str, ...] = ()
    identifier_type: str = "local"


# --------------------------------------------------------------------------- writing


def premis_qname(tag: str) -> str:
    """Clark name ``{PREMIS namespace}tag``."""
    return qname(tag, PREMIS_NS)


def write_premis(
    out: BinaryWriter,
    *,
    objects: Iterable[PremisObject],
    events: Iterable[PremisEvent] = (),
    agents: Iterable[PremisAgent] = (),
) -> None:
    """Write a ``<premis version="3.0">`` document into ``out``, one element at a time.

    ``objects`` (at least one) may be a generator: each object is built, written and dropped.
    """
    written = 0
    root = premis_qname("premis")
    with xml_document(out, root, {"version": PREMIS_VERSION}, NSMAP) as stream:
        for obj in objects:
            stream.emit(object_element(obj))
            written += 1
        for event in events:
            stream.emit(event_element(event))
        for agent in agents:
            stream.emit(agent_element(agent))
    if not written:
        raise ValueError("a PREMIS document needs at least one object")


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    child = etree.SubElement(parent, premis_qname(tag))
    for name, value in attrs.items():
        child.set(name, value)
    if text is not None:
        child.text = text
    return child


def _authority(element: etree._Element, vocabulary: str) -> etree._Element:
    element.set("authority", vocabulary)
    element.set("authorityURI", _LOC + vocabulary)
    return element


def _identifier(parent: etree._Element, prefix: str, id_type: str, value: str) -> None:
    holder = _sub(parent, f"{prefix}Identifier")
    _sub(holder, f"{prefix}IdentifierType", id_type)
    _sub(holder, f"{prefix}IdentifierValue", value)


def object_element(obj: PremisObject) -> etree._Element:
    """``<object xsi:type="…">`` in the element order of the PREMIS 3 schema."""
    element = etree.Element(premis_qname("object"), nsmap=NSMAP)  # type: ignore[arg-type]
    element.set(f"{{{XSI_NS}}}type", f"premis:{obj.category.value}")
    _identifier(element, "object", obj.identifier_type, obj.identifier)
    if obj.category is ObjectCategory.FILE:
        _characteristics(element, obj)
    if obj.original_name is not None:
        _sub(element, "originalName", obj.original_name)
    if obj.content_location is not None:
        location = _sub(_sub(element, "storage"), "contentLocation")
        _sub(location, "contentLocationType", "relative path")
        _sub(location, "contentLocationValue", obj.content_location)
    if obj.signature is not None and obj.category is ObjectCategory.FILE:
        _signature_information(element, obj.signature)
    for relationship in obj.relationships:
        _relationship(element, relationship)
    for event_id in obj.linking_events:
        _identifier(element, "linkingEvent", "UUID", event_id)
    return element


def _characteristics(element: etree._Element, obj: PremisObject) -> None:
    if obj.sha256 is None or obj.size is None or obj.format is None:
        raise ValueError(f"PREMIS file object {obj.identifier!r} needs sha256, size and format")
    characteristics = _sub(element, "objectCharacteristics")
    _sub(characteristics, "compositionLevel", "0")
    fixity = _sub(characteristics, "fixity")
    _authority(_sub(fixity, "messageDigestAlgorithm", "SHA-256"), "cryptographicHashFunctions")
    _sub(fixity, "messageDigest", obj.sha256.lower())
    _sub(characteristics, "size", str(obj.size))
    file_format = _sub(characteristics, "format")
    designation = _sub(file_format, "formatDesignation")
    _sub(designation, "formatName", obj.format.name)
    if obj.format.version:
        _sub(designation, "formatVersion", obj.format.version)
    if obj.format.pronom_id:
        registry = _sub(file_format, "formatRegistry")
        _sub(registry, "formatRegistryName", "PRONOM")
        _sub(registry, "formatRegistryKey", obj.format.pronom_id)
        _sub(registry, "formatRegistryRole", "specification")


def _signature_information(element: etree._Element, note: SignatureNote) -> None:
    """One ``signatureInformation`` per inspected signature, else the placeholder."""
    if not note.signatures:
        _signature_placeholder(element, note)
    for signature in note.signatures:
        holder = _sub(_sub(element, "signatureInformation"), "signature")
        _sub(holder, "signatureEncoding", signature.encoding)
        if signature.signer:
            _sub(holder, "signer", signature.signer)
        _sub(holder, "signatureMethod", signature.method)
        _sub(holder, "signatureValue", signature.value)
        _sub(holder, "signatureValidationRules", signature.validation_rules)
        for value in signature.properties:
            _sub(holder, "signatureProperties", value)


def _signature_placeholder(element: etree._Element, note: SignatureNote) -> None:
    extension = _sub(_sub(element, "signatureInformation"), "signatureInformationExtension")
    signed = etree.SubElement(extension, f"{{{SIGNATURE_NS}}}signed", nsmap={"sig": SIGNATURE_NS})
    signed.set("inspected", "false")
    if note.signer:
        etree.SubElement(signed, f"{{{SIGNATURE_NS}}}signer").text = note.signer
    if note.note:
        etree.SubElement(signed, f"{{{SIGNATURE_NS}}}note").text = note.note


def _relationship(element: etree._Element, relationship: Relationship) -> None:
    holder = _sub(element, "relationship")
    _authority(_sub(holder, "relationshipType", relationship.type), "relationshipType")
    _authority(_sub(holder, "relationshipSubType", relationship.sub_type), "relationshipSubType")
    for related in relationship.related:
        _identifier(holder, "relatedObject", relationship.related_type, related)


def event_element(event: PremisEvent) -> etree._Element:
    """``<event>``: identifier, type, date-time, detail, outcome, linked agents and objects."""
    element = etree.Element(premis_qname("event"), nsmap=NSMAP)  # type: ignore[arg-type]
    _identifier(element, "event", event.identifier_type, event.identifier)
    _authority(_sub(element, "eventType", str(event.event_type)), "eventType")
    _sub(element, "eventDateTime", mets_datetime(event.date_time))
    if event.detail:
        _sub(_sub(element, "eventDetailInformation"), "eventDetail", event.detail)
    if event.outcome or event.outcome_detail:
        information = _sub(element, "eventOutcomeInformation")
        if event.outcome:
            _sub(information, "eventOutcome", str(event.outcome))
        if event.outcome_detail:
            _sub(
                _sub(information, "eventOutcomeDetail"),
                "eventOutcomeDetailNote",
                event.outcome_detail,
            )
    for agent in event.agents:
        holder = _sub(element, "linkingAgentIdentifier")
        _sub(holder, "linkingAgentIdentifierType", agent.identifier_type)
        _sub(holder, "linkingAgentIdentifierValue", agent.identifier)
        _authority(_sub(holder, "linkingAgentRole", str(agent.role)), "eventRelatedAgentRole")
    for linked in event.objects:
        holder = _sub(element, "linkingObjectIdentifier")
        _sub(holder, "linkingObjectIdentifierType", linked.identifier_type)
        _sub(holder, "linkingObjectIdentifierValue", linked.identifier)
        _authority(_sub(holder, "linkingObjectRole", str(linked.role)), "eventRelatedObjectRole")
    return element


def agent_element(agent: PremisAgent) -> etree._Element:
    """``<agent>``: identifier, name, type, version, notes."""
    element = etree.Element(premis_qname("agent"), nsmap=NSMAP)  # type: ignore[arg-type]
    _identifier(element, "agent", agent.identifier_type, agent.identifier)
    _sub(element, "agentName", agent.name)
    _authority(_sub(element, "agentType", str(agent.agent_type)), "agentType")
    if agent.version:
        _sub(element, "agentVersion", agent.version)
    for note in agent.notes:
        _sub(element, "agentNote", note)
    return element


# --------------------------------------------------------------------------- reading


def _text(element: etree._Element, path: str) -> str | None:
    found = element.find(path, {"p": PREMIS_NS})
    if found is None or found.text is None:
        return None
    return found.text.strip()


def _all(element: etree._Element, path: str) -> list[etree._Element]:
    return list(element.iterfind(path, {"p": PREMIS_NS}))


def read_events(root: etree._Element) -> Iterator[PremisEvent]:
    """The events of a parsed PREMIS document, in document order."""
    for element in _all(root, "p:event"):
        yield PremisEvent(
            identifier=_text(element, "p:eventIdentifier/p:eventIdentifierValue") or "",
            identifier_type=_text(element, "p:eventIdentifier/p:eventIdentifierType") or "",
            event_type=_text(element, "p:eventType") or "",
            date_time=datetime.fromisoformat(_text(element, "p:eventDateTime") or ""),
            detail=_text(element, "p:eventDetailInformation/p:eventDetail"),
            outcome=_text(element, "p:eventOutcomeInformation/p:eventOutcome"),
            outcome_detail=_text(
                element,
                "p:eventOutcomeInformation/p:eventOutcomeDetail/p:eventOutcomeDetailNote",
            ),
            agents=tuple(
                LinkedAgent(
                    identifier=_text(link, "p:linkingAgentIdentifierValue") or "",
                    identifier_type=_text(link, "p:linkingAgentIdentifierType") or "",
                    role=_text(link, "p:linkingAgentRole") or "",
                )
                for link in _all(element, "p:linkingAgentIdentifier")
            ),
            objects=tuple(
                LinkedObject(
                    identifier=_text(link, "p:linkingObjectIdentifierValue") or "",
                    identifier_type=_text(link, "p:linkingObjectIdentifierType") or "",
                    role=_text(link, "p:linkingObjectRole") or "",
                )
                for link in _all(element, "p:linkingObjectIdentifier")
            ),
        )


def read_agents(root: etree._Element) -> Iterator[PremisAgent]:
    """The agents of a parsed PREMIS document."""
    for element in _all(root, "p:agent"):
        yield PremisAgent(
            identifier=_text(element, "p:agentIdentifier/p:agentIdentifierValue") or "",
            identifier_type=_text(element, "p:agentIdentifier/p:agentIdentifierType") or "",
            name=_text(element, "p:agentName") or "",
            agent_type=_text(element, "p:agentType") or "",
            version=_text(element, "p:agentVersion"),
            notes=tuple(n.text or "" for n in _all(element, "p:agentNote")),
        )


def read_file_formats(root: etree._Element) -> dict[str, FileFormat]:
    """Content location → format designation of every file object of a parsed PREMIS document."""
    formats: dict[str, FileFormat] = {}
    for element in _all(root, "p:object"):
        location = _text(element, "p:storage/p:contentLocation/p:contentLocationValue")
        characteristics = "p:objectCharacteristics/p:format"
        name = _text(element, f"{characteristics}/p:formatDesignation/p:formatName")
        if location is None or name is None:
            continue
        formats[location] = FileFormat(
            name=name,
            version=_text(element, f"{characteristics}/p:formatDesignation/p:formatVersion"),
            pronom_id=_text(element, f"{characteristics}/p:formatRegistry/p:formatRegistryKey"),
        )
    return formats
