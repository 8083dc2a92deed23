"""A metadata-only revision of a stored AIP: the same content, more preservation events.

``revise_aip(open_file, events=…, agents=…, at=…, work_dir=…)`` reads the root ``METS.xml`` and
the ``PREMIS.xml`` it points to from the AIP as it stands (``open_file`` opens a logical path of
the current version) and writes two files into ``work_dir``:

- ``PREMIS.xml``: every object, event and agent it held, then the new ``events`` (one already
  present, by identifier, is not added twice), the ``agents`` it did not name yet, and a
  ``linkingEventIdentifier`` on each object of the file a new event names;
- ``METS.xml``: the same document, with the PREMIS reference's ``SIZE``, ``CHECKSUM`` and
  ``CREATED`` (and its ``digiprovMD``'s ``CREATED``) describing the new PREMIS file, and
  ``metsHdr/@LASTMODDATE`` = ``at``.

Nothing else of the AIP changes: stored as a new OCFL version with these two files as the only
changes, every other file is the previous version's, bytes not stored again. Both files are
written element by element in the writer's layout (``xmlstream``); the same AIP, events and time
always give the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from archive_service.packages import mets
from archive_service.packages.mets import METS_FILE, PREMIS_NS, mets_datetime
from archive_service.packages.mets_reader import read_mets
from archive_service.packages.premis import (
    PremisAgent,
    PremisEvent,
    agent_element,
    event_element,
    premis_qname,
)
from archive_service.packages.xmlsafe import UnsafeXml, parse_xml
from archive_service.packages.xmlstream import attributes, xml_document
from archive_service.storage.base import StorageError
from archive_service.streams import FileSource, HashingWriter, path_opener

#: Opens a logical file of the AIP being revised.
AipOpener = Callable[[str], AbstractContextManager[BinaryIO]]


class AipRevisionError(Exception):
    """The stored AIP cannot be revised: a file is missing, unreadable or not as written."""


@dataclass(frozen=True)
class AipRevision:
    """The changed files of the revision (logical path → source) and the events it added."""

    files: dict[str, FileSource]
    added_events: tuple[str, ...]


def revise_aip(
    open_file: AipOpener,
    *,
    events: Sequence[PremisEvent],
    agents: Sequence[PremisAgent] = (),
    at: datetime,
    work_dir: Path,
    max_xml_bytes: int,
) -> AipRevision:
    """Write the revised ``PREMIS.xml`` and ``METS.xml`` into ``work_dir``; return them."""
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    root_mets = _parse(open_file, METS_FILE, max_xml_bytes)
    premis_path, md_ref = _premis_reference(root_mets)
    premis = _parse(open_file, premis_path, max_xml_bytes)
    added = _add_events(premis, events, agents)
    work_dir.mkdir(parents=True, exist_ok=True)
    premis_source = _write(work_dir / "PREMIS.xml", premis)
    _describe(md_ref, premis_source, at)
    _touch_header(root_mets, at)
    mets_source = _write(work_dir / "METS.xml", root_mets)
    return AipRevision({premis_path: premis_source, METS_FILE: mets_source}, added)


def _parse(open_file: AipOpener, path: str, max_bytes: int) -> etree._Element:
    try:
        with open_file(path) as stream:
            root = parse_xml(stream, path, max_bytes).getroot()
    except UnsafeXml as unsafe:
        raise AipRevisionError(unsafe.problem.message) from unsafe
    except (OSError, StorageError) as error:
        message = f"Gói AIP thiếu tệp '{path}' hoặc không đọc được: {error}"
        raise AipRevisionError(message) from error
    for element in root.iter():
        if len(element) and element.text is not None and not element.text.strip():
            element.text = None  # the layout's indentation: the writer adds its own
    return root


def _premis_reference(root: etree._Element) -> tuple[str, etree._Element]:
    """The path of the PREMIS file the root METS points to, and its ``mdRef`` element."""
    parsed, problems = read_mets(root, METS_FILE)
    if problems:
        raise AipRevisionError("; ".join(problem.message for problem in problems))
    found = [(sid, ref) for sid, ref in parsed.metadata.items() if ref.mdtype == "PREMIS"]
    if len(found) != 1 or found[0][1].path is None:
        raise AipRevisionError(f"{METS_FILE}: cần đúng một mdRef MDTYPE 'PREMIS'")
    section_id, reference = found[0]
    for md_ref in root.iter(mets.qname("mdRef")):
        section = md_ref.getparent()
        if section is not None and section.get("ID") == section_id:
            assert reference.path is not None
            return reference.path, md_ref
    raise AipRevisionError(f"{METS_FILE}: không tìm thấy mdRef của PREMIS")  # pragma: no cover


def _identifier(element: etree._Element, kind: str) -> str | None:
    value = element.find(f"p:{kind}Identifier/p:{kind}IdentifierValue", {"p": PREMIS_NS})
    return None if value is None or value.text is None else value.text.strip()


def _add_events(
    premis: etree._Element, events: Sequence[PremisEvent], agents: Sequence[PremisAgent]
) -> tuple[str, ...]:
    """Append the new events and agents, and link the events from the objects they name."""
    children = [child for child in premis if isinstance(child.tag, str)]
    known_events = {_identifier(c, "event") for c in children if c.tag == premis_qname("event")}
    known_agents = {_identifier(c, "agent") for c in children if c.tag == premis_qname("agent")}
    objects = {_identifier(c, "object"): c for c in children if c.tag == premis_qname("object")}
    new_events = [event for event in events if event.identifier not in known_events]
    last_event = _last(premis, ("object", "event"))
    for event in new_events:
        element = event_element(event)
        last_event.addnext(element)
        last_event = element
        for linked in event.objects:
            target = objects.get(linked.identifier)
            if target is not None:
                _link_event(target, event.identifier)
    last_agent = _last(premis, ("object", "event", "agent"))
    for agent in agents:
        if agent.identifier in known_agents:
            continue
        known_agents.add(agent.identifier)
        element = agent_element(agent)
        last_agent.addnext(element)
        last_agent = element
    return tuple(event.identifier for event in new_events)


def _last(premis: etree._Element, tags: Sequence[str]) -> etree._Element:
    """The last child of ``premis`` whose tag is one of ``tags`` (PREMIS keeps that order)."""
    wanted = {premis_qname(tag) for tag in tags}
    found = [child for child in premis if child.tag in wanted]
    if not found:
        raise AipRevisionError("PREMIS.xml không có đối tượng (object) nào")
    return found[-1]


def _link_event(obj: etree._Element, event_id: str) -> None:
    """Add ``linkingEventIdentifier`` to a PREMIS object, where the schema puts it."""
    link = etree.Element(premis_qname("linkingEventIdentifier"))
    etree.SubElement(link, premis_qname("linkingEventIdentifierType")).text = "UUID"
    etree.SubElement(link, premis_qname("linkingEventIdentifierValue")).text = event_id
    rights = obj.find(premis_qname("linkingRightsStatementIdentifier"))
    if rights is not None:
        rights.addprevious(link)
    else:
        obj.append(link)


def _describe(md_ref: etree._Element, source: FileSource, at: datetime) -> None:
    """The PREMIS reference now describes the new file."""
    assert source.sha256 is not None and source.size is not None
    md_ref.set("SIZE", str(source.size))
    md_ref.set("CREATED", mets_datetime(at))
    md_ref.set("CHECKSUM", source.sha256.upper())
    section = md_ref.getparent()
    if section is not None and section.get("CREATED") is not None:
        section.set("CREATED", mets_datetime(at))


def _touch_header(root: etree._Element, at: datetime) -> None:
    """``metsHdr/@LASTMODDATE`` = ``at``, placed after ``CREATEDATE`` as the writer orders it."""
    header = root.find(mets.qname("metsHdr"))
    if header is None:
        raise AipRevisionError(f"{METS_FILE}: thiếu metsHdr")
    values = [(name, value) for name, value in header.attrib.items() if name != "LASTMODDATE"]
    header.attrib.clear()
    for name, value in values:
        header.set(name, value)
        if name == "CREATEDATE":
            header.set("LASTMODDATE", mets_datetime(at))
    if header.get("LASTMODDATE") is None:
        header.set("LASTMODDATE", mets_datetime(at))


def _write(target: Path, root: etree._Element) -> FileSource:
    """Write ``root`` as a document, child by child, hashing it on the way."""
    nsmap = dict(root.nsmap.items())
    with target.open("wb") as handle:
        writer = HashingWriter(handle)
        with xml_document(writer, str(root.tag), attributes(root), nsmap) as document:
            for child in list(root):
                if isinstance(child.tag, str):
                    document.emit(child)
    return FileSource(open=path_opener(target), size=writer.size, sha256=writer.sha256)
