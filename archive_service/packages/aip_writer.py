"""Build the AIP_hoso of a validated SIP (PACKAGES §3): the tree the archive keeps.

``build_aip`` writes every XML file of the AIP into a work folder, hashing it on the way, and
returns an ``AipTree``: logical path (relative to the AIP root folder) → ``FileSource`` with its
size and SHA-256 known. Documents are not copied: their sources are the SIP's own streams with
the sizes and digests the SIP check verified. The tree is then stored as an OCFL version, or
written out as a folder by ``write_aip_folder``.

Files that can describe many documents (the METS files, PREMIS) are written element by element
(``premis.xml_document``), so memory does not grow with the size of the dossier. The same SIP,
AIP UUID, times and events always give byte-identical files: every METS id is a UUID-5 of the
AIP UUID and a key naming what it stands for (``mets.IdSource``).

**Decisions.**

- ``arcFileCode`` = archive code + ``"."`` + ``fileCode``
  (``LTDT.000.00.19.H56.2024.240311-0042``): the dot is the separator ``fileCode`` itself uses
  between its parts, so the archive code reads as one more leading part.
- A document's AIP ``docCode`` is rebuilt as ``<fileCode>.<ordinal as 7 digits>`` (the form
  plain deposits get), so a SIP ``docCode`` with a wrong year is never copied; ``docOrdinal`` is
  the document's position in the SIP.
- rep1 holds the documents exactly as deposited; renditions go to rep2, each linked to its
  original by a ``normalization`` event (source → outcome) that ``build_aip`` completes.
- Both representation METS files say ``PROFILE`` E-ARK CSIP and have a root div
  ``TYPE="NORMALIZED"``; their divs carry ``ADMID`` (the representation's PREMIS) next to
  ``DMDID``. The root METS has a second header agent, the archive (``ROLE="ARCHIVIST"``) with its
  code as ``IDENTIFICATIONCODE``; the software CREATOR agent's note keeps the fonds code, as in
  the SIP.
- PREMIS: ``PREMIS.xml`` holds the AIP (an intellectual entity), every event and the agents;
  ``PREMIS_<rep>.xml`` holds the representation and one object per data file. Object ids are
  ``<OBJID>/<logical path>``, unique in the archive.
- ``.fetch.txt`` files are kept as deposited (rewriting them to the location of the referenced
  document needs the archive's catalogue, which the caller does not hand in yet).
"""

from __future__ import annotations

import hashlib
import posixpath
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from uuid import UUID

from lxml import etree

from archive_service.packages import mets
from archive_service.packages.container import PackageSource
from archive_service.packages.ead import (
    EAD_PATH,
    document_metadata_name,
    document_specs,
    dossier_fields,
    write_simpledc,
)
from archive_service.packages.fields import AIP_DOSSIER_FIELDS
from archive_service.packages.mets import (
    DATA_DIR,
    DESCRIPTIVE_DIR,
    METS_FILE,
    PRESERVATION_DIR,
    REP1,
    SCHEMAS_DIR,
    XML_MIME,
    XSD_MIME,
    FileRef,
    IdSource,
)
from archive_service.packages.models import PackageFile, SipDocument, SipPackage
from archive_service.packages.premis import (
    AgentRole,
    AgentType,
    BinaryWriter,
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
    XmlStream,
    attributes,
    write_premis,
    xml_document,
)
from archive_service.packages.schemas import schema_files
from archive_service.packages.tthc import TTHC_MDTYPE, TTHC_MDTYPE_VERSION, TTHC_PATH
from archive_service.streams import FileSource, Opener, copy_with_sha256, sha256_of_stream

PACKAGE_TYPE = "AIP"
PREMIS_PATH = f"{PRESERVATION_DIR}/PREMIS.xml"
PREMIS_MDTYPE_VERSION = "3.0"
ARC_FILE_CODE_SEPARATOR = "."
ARC_FILE_CODE_MAX = 100
OCTET_STREAM = "application/octet-stream"
REP2 = "representations/rep2"


@dataclass(frozen=True)
class ArchiveIdentity:
    """Who keeps the AIP: the archive, its fonds, and the software writing the package."""

    archive_code: str
    archive_name: str
    fonds_code: str
    software_name: str
    software_version: str


@dataclass(frozen=True)
class Rendition:
    """A rendition of a document (PDF/A-2b …) to keep in rep2, and the event that made it.

    ``event`` is the ``normalization`` event; ``build_aip`` adds its source (the original in rep1)
    and outcome (the rendition) as linking objects.
    """

    doc_id: str
    source: FileSource
    file_name: str
    mime_type: str
    format_name: str
    pronom_id: str | None
    event: PremisEvent
    format_version: str | None = None


@dataclass(frozen=True)
class FileFacts:
    """What the caller learnt about a document's data file: its format, whether it is signed."""

    format: FileFormat | None = None
    signature: SignatureNote | None = None


@dataclass(frozen=True)
class AipTree:
    """The AIP as logical files, ready to be stored (OCFL) or written out as a folder."""

    object_id: str
    root_name: str
    files: dict[str, FileSource]


def aip_object_id(fonds_code: str, aip_uuid: UUID) -> str:
    """``urn:<fonds>:uuid-<UUID>``: the AIP's ``OBJID`` and OCFL object id."""
    return f"urn:{fonds_code}:{mets.uuid_id(aip_uuid)}"


def aip_root_name(object_id: str) -> str:
    """Folder name of an AIP: its id with ``:`` replaced by ``_``."""
    return object_id.replace(":", "_")


def arc_file_code(archive_code: str, file_code: str) -> str:
    """``arcFileCode`` of a dossier: archive code, ``.``, ``fileCode``."""
    return f"{archive_code}{ARC_FILE_CODE_SEPARATOR}{file_code}"


def aip_document_code(file_code: str, ordinal: int) -> str:
    """``docCode`` of the ``ordinal``-th document (1-based): ``<fileCode>.<7 digits>``."""
    return f"{file_code}.{ordinal:07d}"


def premis_identifier(object_id: str, logical_path: str) -> str:
    """PREMIS identifier of a file (or folder) of an AIP, unique in the archive."""
    return f"{object_id}/{logical_path}"


def representation_path(name: str) -> str:
    return f"representations/{name}"


def representation_premis_path(name: str) -> str:
    """``representations/<rep>/metadata/preservation/PREMIS_<rep>.xml``."""
    return f"{representation_path(name)}/{PRESERVATION_DIR}/PREMIS_{name}.xml"


def software_agent(archive: ArchiveIdentity) -> PremisAgent:
    """The archive software as a PREMIS agent (id ``<name>/<version>``)."""
    return PremisAgent(
        identifier=f"{archive.software_name}/{archive.software_version}",
        name=archive.software_name,
        agent_type=AgentType.SOFTWARE,
        version=archive.software_version,
    )


def archive_agent(archive: ArchiveIdentity) -> PremisAgent:
    """The archive (organisation) as a PREMIS agent, identified by its code."""
    return PremisAgent(
        identifier=archive.archive_code,
        name=archive.archive_name,
        agent_type=AgentType.ORGANIZATION,
        notes=(f"Phông lưu trữ {archive.fonds_code}",),
    )


# --------------------------------------------------------------------------- files


class _HashingWriter:
    """Writes into a file while hashing and counting what passes."""

    def __init__(self, target: BinaryIO) -> None:
        self._target = target
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._target.write(data)
        self._hash.update(data)
        self.size += len(data)
        return len(data)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


def _opener(path: Path) -> Opener:
    def open_file() -> BinaryIO:
        return path.open("rb")

    return open_file


def _disk_source(path: Path) -> FileSource:
    """A file on disk (a bundled schema) with its size and SHA-256."""
    with path.open("rb") as stream:
        sha256, size = sha256_of_stream(stream)
    return FileSource(open=_opener(path), size=size, sha256=sha256)


def _known(source: FileSource) -> FileSource:
    """``source`` with its size and SHA-256, streaming it once when either is missing."""
    if source.size is not None and source.sha256 is not None:
        return replace(source, sha256=source.sha256.lower())
    with source.open() as stream:
        sha256, size = sha256_of_stream(stream)
    return replace(source, size=size, sha256=sha256)


@dataclass(frozen=True)
class _Item:
    """A file of the AIP: its bytes and how METS describes it."""

    path: str
    source: FileSource  # size and sha256 known
    mime_type: str
    created: datetime

    def ref(self, base: str = "") -> FileRef:
        """How a METS file in folder ``base`` refers to this file."""
        href = posixpath.relpath(self.path, base) if base else self.path
        return FileRef(href, self.size, self.sha256, self.mime_type, self.created)

    @property
    def size(self) -> int:
        assert self.source.size is not None
        return self.source.size

    @property
    def sha256(self) -> str:
        assert self.source.sha256 is not None
        return self.source.sha256


@dataclass(frozen=True)
class _RepFile:
    """A data file of a representation, with what PREMIS and METS say of it."""

    item: _Item
    original_name: str
    format: FileFormat
    signature: SignatureNote | None = None
    metadata: _Item | None = None  # EAD_DOC … of the document (rep1)
    holey: bool = False  # a .fetch.txt reference
    derivation: Relationship | None = None


@dataclass(frozen=True)
class _Representation:
    name: str
    files: tuple[_RepFile, ...]
    derivation: Relationship | None = None

    @property
    def folder(self) -> str:
        return representation_path(self.name)

    @property
    def mets_path(self) -> str:
        return f"{self.folder}/{METS_FILE}"

    @property
    def premis_path(self) -> str:
        return representation_premis_path(self.name)


# --------------------------------------------------------------------------- building


def build_aip(
    sip: SipPackage,
    source: PackageSource,
    *,
    aip_uuid: UUID,
    created: datetime,
    archive: ArchiveIdentity,
    events: Sequence[PremisEvent] = (),
    renditions: Sequence[Rendition] = (),
    work_dir: Path,
    agents: Sequence[PremisAgent] = (),
    file_facts: Mapping[str, FileFacts] | None = None,
) -> AipTree:
    """Write the AIP's XML files into ``work_dir`` and return the whole tree.

    ``sip`` is the package ``validate_sip``/``read_sip`` returned for ``source`` (still open).
    ``events`` are the preservation events already carried out (ingestion checks …); an
    ``information package creation`` event is added. ``agents`` are agents those events name
    besides the archive and its software. ``file_facts`` (by docId) gives a data file's
    identified format and marks signed files. Raises ``ValueError`` for inconsistent input.
    """
    if created.tzinfo is None:
        raise ValueError("created must be timezone-aware")
    return _AipBuilder(sip, source, aip_uuid, created, archive, work_dir).build(
        events, renditions, agents, file_facts or {}
    )


class _AipBuilder:
    def __init__(
        self,
        sip: SipPackage,
        source: PackageSource,
        aip_uuid: UUID,
        created: datetime,
        archive: ArchiveIdentity,
        work_dir: Path,
    ) -> None:
        self.sip = sip
        self.source = source
        self.created = created
        self.archive = archive
        self.ids = IdSource(aip_uuid)
        self.object_id = aip_object_id(archive.fonds_code, aip_uuid)
        self.root_name = aip_root_name(self.object_id)
        self.folder = work_dir / self.root_name
        self.items: dict[str, _Item] = {}
        self.data_paths = {document.doc_id: document.file.path for document in sip.documents}
        self.arc_file_code = arc_file_code(archive.archive_code, sip.dossier.file_code)
        if len(self.arc_file_code) > ARC_FILE_CODE_MAX:
            raise ValueError(
                f"arcFileCode '{self.arc_file_code}' is longer than {ARC_FILE_CODE_MAX} characters"
            )

    # files

    def add(self, path: str, source: FileSource, mime_type: str, created: datetime) -> _Item:
        if path in self.items:
            raise ValueError(f"two files of the AIP would have the path {path!r}")
        item = _Item(path, _known(source), mime_type, created)
        self.items[path] = item
        return item

    def write(self, path: str, produce: Callable[[BinaryWriter], None]) -> _Item:
        """Write an XML file of the AIP into the work folder, hashing it on the way."""
        target = self.folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as handle:
            writer = _HashingWriter(handle)
            produce(writer)
        source = FileSource(open=_opener(target), size=writer.size, sha256=writer.sha256)
        return self.add(path, source, XML_MIME, self.created)

    def write_bytes(self, path: str, data: bytes) -> _Item:
        return self.write(path, lambda out: out.write(data))

    def sip_file(self, package_file: PackageFile, mime_type: str | None = None) -> _Item:
        """A file of the SIP, kept byte for byte (its verified digest and size travel along)."""
        source = self.source.file_source(package_file.path, package_file.sha256)
        source = replace(source, size=package_file.size)
        mime = mime_type or package_file.mime_type or OCTET_STREAM
        return self.add(package_file.path, source, mime, self.sip.created)

    # the whole package

    def build(
        self,
        events: Sequence[PremisEvent],
        renditions: Sequence[Rendition],
        agents: Sequence[PremisAgent],
        facts: Mapping[str, FileFacts],
    ) -> AipTree:
        self.check_input(renditions, facts)
        rep1 = self.original_representation(facts)
        rep2 = self.rendition_representation(renditions, rep1)
        rendition_events = [self.completed_event(r) for r in renditions]
        all_events = [*events, *rendition_events, self.creation_event()]
        if rep2 is not None:
            rep1 = self.with_rendition_links(rep1, rep2, renditions)
        links = _event_links(all_events)
        representations = [rep for rep in (rep1, rep2) if rep is not None]
        for rep in representations:
            self.write_representation_premis(rep, links)
            self.write_representation_mets(rep)
        ead = self.write_bytes(
            EAD_PATH,
            write_simpledc(
                dossier_fields(self.sip.dossier, arc_file_code=self.arc_file_code),
                AIP_DOSSIER_FIELDS,
            ),
        )
        tthc = self.sip_file(self.sip_metadata_file(TTHC_PATH), XML_MIME)
        schemas = [
            self.add(f"{SCHEMAS_DIR}/{path.name}", _disk_source(path), XSD_MIME, self.created)
            for path in schema_files(with_premis=True)
        ]
        premis = self.write(
            PREMIS_PATH,
            lambda out: write_premis(
                out,
                objects=[self.package_object(representations, links)],
                events=all_events,
                agents=_unique_agents(
                    [software_agent(self.archive), archive_agent(self.archive), *agents]
                ),
            ),
        )
        self.write(
            METS_FILE,
            lambda out: self.root_mets(out, ead, tthc, premis, schemas, representations),
        )
        return AipTree(
            object_id=self.object_id,
            root_name=self.root_name,
            files={path: item.source for path, item in sorted(self.items.items())},
        )

    def check_input(self, renditions: Sequence[Rendition], facts: Mapping[str, FileFacts]) -> None:
        """Refuse, before writing anything, what does not fit the SIP."""
        unknown = sorted(set(facts) - set(self.data_paths))
        if unknown:
            raise ValueError(f"file facts for documents not in the SIP: {unknown}")
        for rendition in renditions:
            if rendition.doc_id not in self.data_paths:
                raise ValueError(f"rendition of an unknown document {rendition.doc_id!r}")
            name = rendition.file_name
            if (
                not name
                or name in {".", ".."}
                or "/" in name
                or "\\" in name
                or name != name.strip()
            ):
                raise ValueError(f"rendition file name {name!r} must be a plain file name")

    def sip_metadata_file(self, path: str) -> PackageFile:
        for package_file in self.sip.metadata_files:
            if package_file.path == path:
                return package_file
        raise ValueError(f"the SIP has no {path}")

    # representations

    def original_representation(self, facts: Mapping[str, FileFacts]) -> _Representation:
        """rep1: every document as deposited, with its AIP metadata file."""
        files = []
        for ordinal, document in enumerate(self.sip.documents, start=1):
            data = self.sip_file(document.file)
            metadata = self.write_bytes(
                f"{REP1}/{DESCRIPTIVE_DIR}/"
                + document_metadata_name(document.metadata.kind, document.doc_id),
                self.document_metadata(document, ordinal),
            )
            known = facts.get(document.doc_id, FileFacts())
            files.append(
                _RepFile(
                    item=data,
                    original_name=posixpath.basename(document.file.path),
                    format=known.format or FileFormat(name=data.mime_type),
                    signature=known.signature,
                    metadata=metadata,
                    holey=document.fetch_reference is not None,
                )
            )
        return _Representation("rep1", tuple(files))

    def document_metadata(self, document: SipDocument, ordinal: int) -> bytes:
        """EAD_DOC (AIP variant) of a document: its SIP values plus arcFileCode, docOrdinal and
        a rebuilt docCode; fields the AIP table does not have are left out."""
        specs = document_specs(document.metadata.kind, aip=True)
        tags = {spec.tag for spec in specs}
        values: dict[str, str | None] = {
            tag: text for tag, text in document.metadata.values.items() if tag in tags
        }
        if "arcFileCode" in tags:
            values["arcFileCode"] = self.arc_file_code
        if "docOrdinal" in tags:
            values["docOrdinal"] = str(ordinal)
        if "docCode" in tags:
            values["docCode"] = aip_document_code(self.sip.dossier.file_code, ordinal)
        return write_simpledc(values, specs)

    def rendition_representation(
        self, renditions: Sequence[Rendition], rep1: _Representation
    ) -> _Representation | None:
        """rep2: the renditions, each derived from its original in rep1."""
        if not renditions:
            return None
        files = []
        for rendition in renditions:
            item = self.add(
                _rendition_path(rendition),
                rendition.source,
                rendition.mime_type,
                rendition.event.date_time,
            )
            original = premis_identifier(self.object_id, self.data_paths[rendition.doc_id])
            files.append(
                _RepFile(
                    item=item,
                    original_name=rendition.file_name,
                    format=FileFormat(
                        rendition.format_name, rendition.format_version, rendition.pronom_id
                    ),
                    derivation=Relationship("derivation", "has source", (original,)),
                )
            )
        rep1_id = premis_identifier(self.object_id, rep1.folder)
        return _Representation(
            "rep2", tuple(files), Relationship("derivation", "has source", (rep1_id,))
        )

    def with_rendition_links(
        self, rep1: _Representation, rep2: _Representation, renditions: Sequence[Rendition]
    ) -> _Representation:
        """rep1 with ``is source of`` relationships from each original to its renditions."""
        targets: dict[str, list[str]] = {}
        for rendition, rendered in zip(renditions, rep2.files, strict=True):
            targets.setdefault(self.data_paths[rendition.doc_id], []).append(
                self.file_identifier(rendered.item)
            )
        files = tuple(
            replace(f, derivation=Relationship("derivation", "is source of", tuple(found)))
            if (found := targets.get(f.item.path))
            else f
            for f in rep1.files
        )
        return replace(rep1, files=files)

    def file_identifier(self, item: _Item) -> str:
        return premis_identifier(self.object_id, item.path)

    # events

    def completed_event(self, rendition: Rendition) -> PremisEvent:
        """The rendition's event with its source and outcome objects."""
        source = premis_identifier(self.object_id, self.data_paths[rendition.doc_id])
        outcome = premis_identifier(self.object_id, _rendition_path(rendition))
        wanted = (
            LinkedObject(source, ObjectRole.SOURCE),
            LinkedObject(outcome, ObjectRole.OUTCOME),
        )
        present = {(o.identifier, str(o.role)) for o in rendition.event.objects}
        added = tuple(o for o in wanted if (o.identifier, str(o.role)) not in present)
        return replace(rendition.event, objects=(*rendition.event.objects, *added))

    def creation_event(self) -> PremisEvent:
        """``information package creation``: this AIP, made from the SIP."""
        return PremisEvent(
            identifier=str(self.ids.uuid(f"event:{EventType.INFORMATION_PACKAGE_CREATION}")),
            event_type=EventType.INFORMATION_PACKAGE_CREATION,
            date_time=self.created,
            detail=f"Tạo gói lưu trữ AIP {self.object_id} từ gói nộp lưu SIP {self.sip.object_id}",
            outcome=Outcome.SUCCESS,
            agents=(
                LinkedAgent(archive_agent(self.archive).identifier, AgentRole.IMPLEMENTER),
                LinkedAgent(software_agent(self.archive).identifier, AgentRole.EXECUTING_PROGRAM),
            ),
            objects=(
                LinkedObject(self.sip.object_id, ObjectRole.SOURCE),
                LinkedObject(self.object_id, ObjectRole.OUTCOME),
            ),
        )

    # PREMIS

    def package_object(
        self, representations: Sequence[_Representation], links: Mapping[str, list[str]]
    ) -> PremisObject:
        """The AIP as an intellectual entity that includes its representations."""
        return PremisObject(
            identifier=self.object_id,
            category=ObjectCategory.INTELLECTUAL_ENTITY,
            original_name=self.sip.object_id,
            relationships=(
                Relationship(
                    "structural",
                    "includes",
                    tuple(premis_identifier(self.object_id, r.folder) for r in representations),
                ),
            ),
            linking_events=tuple(links.get(self.object_id, ())),
        )

    def representation_objects(
        self, rep: _Representation, links: Mapping[str, list[str]]
    ) -> Iterator[PremisObject]:
        rep_id = premis_identifier(self.object_id, rep.folder)
        yield PremisObject(
            identifier=rep_id,
            category=ObjectCategory.REPRESENTATION,
            original_name=rep.name,
            content_location=rep.folder,
            relationships=(
                Relationship("structural", "is included in", (self.object_id,)),
                *((rep.derivation,) if rep.derivation else ()),
            ),
            linking_events=tuple(links.get(rep_id, ())),
        )
        for rep_file in rep.files:
            identifier = self.file_identifier(rep_file.item)
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

    def write_representation_premis(
        self, rep: _Representation, links: Mapping[str, list[str]]
    ) -> None:
        self.write(
            rep.premis_path,
            lambda out: write_premis(out, objects=self.representation_objects(rep, links)),
        )

    # METS

    def header(self, root: etree._Element, *, with_archive: bool) -> etree._Element:
        """metsHdr: the software CREATOR (fonds code, version), the archive, the agreement."""
        header = mets.mets_header(
            root,
            created=self.created,
            package_type=PACKAGE_TYPE,
            record_status=self.sip.record_status,
            creator_name=self.archive.software_name,
            creator_note=self.archive.fonds_code,
            submission_agreement=self.sip.submission_agreement if with_archive else None,
        )
        creator = header.find(mets.qname("agent"))
        assert creator is not None
        version = mets.element(creator, "note", [(_csip("NOTETYPE"), "SOFTWARE VERSION")])
        version.text = self.archive.software_version
        if with_archive:
            keeper = etree.Element(mets.qname("agent"))
            keeper.set("ROLE", "ARCHIVIST")
            keeper.set("TYPE", "ORGANIZATION")
            mets.element(keeper, "name").text = self.archive.archive_name
            code = mets.element(keeper, "note", [(_csip("NOTETYPE"), "IDENTIFICATIONCODE")])
            code.text = self.archive.archive_code
            creator.addnext(keeper)
        return header

    def write_representation_mets(self, rep: _Representation) -> None:
        self.write(rep.mets_path, lambda out: self.representation_mets(out, rep))

    def representation_mets(self, out: BinaryWriter, rep: _Representation) -> None:
        """``representations/<rep>/METS.xml``: documents' dmdSecs, PREMIS, data files, pairs."""
        premis = self.items[rep.premis_path]
        digiprov_id = self.ids.section(f"digiprovMD:{premis.path}")
        scratch = mets.mets_root(
            objid=rep.name, profile=mets.CSIP_PROFILE, content_information_type=mets.CONTENT_MIXED
        )
        with _mets_document(out, scratch) as doc:
            doc.emit(self.header(scratch, with_archive=False))
            dmd_ids = {}
            for rep_file in rep.files:
                if rep_file.metadata is not None:
                    section_id = self.ids.section(f"dmdSec:{rep_file.metadata.path}")
                    dmd_ids[rep_file.item.path] = section_id
                    ref = rep_file.metadata.ref(rep.folder)
                    doc.emit(mets.dc_dmd_section(scratch, section_id, ref))
            amd = mets.amd_section(scratch, self.ids.section(f"{rep.mets_path}#amdSec"))
            _premis_section(amd, digiprov_id, premis.ref(rep.folder))
            doc.emit(amd)
            group_ids = self.representation_files(doc, scratch, rep)
            self.representation_structure(doc, scratch, rep, group_ids, dmd_ids, digiprov_id)

    def representation_files(
        self, doc: XmlStream, scratch: etree._Element, rep: _Representation
    ) -> list[str]:
        """fileSec of a representation: ``Data``, and ``Holeyfile`` for .fetch.txt references.

        Returns the ids of the groups written.
        """
        key = f"{rep.mets_path}#"
        groups = {
            mets.GROUP_DATA: [f.item for f in rep.files if not f.holey],
            mets.GROUP_HOLEYFILE: [f.item for f in rep.files if f.holey],
        }
        group_ids = []
        with doc.open(mets.file_section(scratch, self.ids.section(key + "fileSec"))) as section:
            for use, items in groups.items():
                if not items:
                    continue
                group_id = self.ids.section(f"{key}fileGrp:{use}")
                group_ids.append(group_id)
                with doc.open(mets.file_group(section, group_id, use)) as group:
                    for item in items:
                        doc.emit(
                            mets.file_entry(group, self.ids.file(item.path), item.ref(rep.folder))
                        )
        return group_ids

    def representation_structure(
        self,
        doc: XmlStream,
        scratch: etree._Element,
        rep: _Representation,
        group_ids: Sequence[str],
        dmd_ids: Mapping[str, str],
        digiprov_id: str,
    ) -> None:
        """structMap: root div ``NORMALIZED`` → ``Data`` and ``MetadataLink/File`` pairs."""
        key = f"{rep.mets_path}#"
        struct = mets.struct_map(scratch, self.ids.section(key + "structMap"))
        top = mets.div(
            struct,
            self.ids.section(key + "div"),
            label=rep.name,
            div_type=mets.DIV_NORMALIZED,
            admids=[digiprov_id],
        )
        with doc.open(struct), doc.open(top):
            data = mets.div(top, self.ids.section(key + "div:Data"), label=mets.DIV_DATA)
            for group_id in group_ids:
                mets.fptr(data, group_id)
            doc.emit(data)
            links = mets.div(
                top, self.ids.section(key + "div:MetadataLink"), label=mets.DIV_METADATA_LINK
            )
            with doc.open(links):
                for rep_file in rep.files:
                    path = rep_file.item.path
                    dmd = dmd_ids.get(path)
                    pair = mets.div(
                        links,
                        self.ids.section(f"{key}div:File:{path}"),
                        label=mets.DIV_FILE,
                        dmdids=[dmd] if dmd else [],
                        admids=[digiprov_id],
                    )
                    mets.fptr(pair, self.ids.file(path))
                    doc.emit(pair)

    def root_mets(
        self,
        out: BinaryWriter,
        ead: _Item,
        tthc: _Item,
        premis: _Item,
        schemas: Sequence[_Item],
        representations: Sequence[_Representation],
    ) -> None:
        """``METS.xml``: EAD and TTHC dmdSecs, PREMIS amdSec, schemas and representations."""
        key = f"{METS_FILE}#"
        scratch = mets.mets_root(
            objid=self.object_id,
            profile=mets.AIP_PROFILE,
            label=self.sip.label or self.sip.dossier.title,
        )
        with _mets_document(out, scratch) as doc:
            doc.emit(self.header(scratch, with_archive=True))
            ead_id = self.ids.section(f"dmdSec:{EAD_PATH}")
            tthc_id = self.ids.section(f"dmdSec:{TTHC_PATH}")
            doc.emit(mets.dc_dmd_section(scratch, ead_id, ead.ref()))
            doc.emit(
                mets.md_section(
                    scratch,
                    "dmdSec",
                    tthc_id,
                    tthc.ref(),
                    mdtype="OTHER",
                    other_mdtype=TTHC_MDTYPE,
                    mdtype_version=TTHC_MDTYPE_VERSION,
                )
            )
            amd = mets.amd_section(scratch, self.ids.section(key + "amdSec"))
            digiprov_id = self.ids.section(f"digiprovMD:{premis.path}")
            _premis_section(amd, digiprov_id, premis.ref())
            doc.emit(amd)
            file_sec = mets.file_section(scratch, self.ids.section(key + "fileSec"))
            schemas_id = self.ids.section(key + f"fileGrp:{mets.GROUP_SCHEMAS}")
            rep_groups = {
                rep.name: self.ids.section(key + f"fileGrp:{mets.representation_label(rep.name)}")
                for rep in representations
            }
            schemas_group = mets.file_group(file_sec, schemas_id, mets.GROUP_SCHEMAS)
            for schema in schemas:
                mets.file_entry(schemas_group, self.ids.file(schema.path), schema.ref())
            for rep in representations:
                label = mets.representation_label(rep.name)
                group = mets.file_group(file_sec, rep_groups[rep.name], label)
                item = self.items[rep.mets_path]
                mets.file_entry(group, self.ids.file(item.path), item.ref())
            doc.emit(file_sec)
            struct = mets.struct_map(scratch, self.ids.section(key + "structMap"))
            top = mets.div(struct, self.ids.section(key + "div"), label=self.object_id)
            mets.div(
                top,
                self.ids.section(key + f"div:{mets.DIV_METADATA}"),
                label=mets.DIV_METADATA,
                dmdids=[ead_id, tthc_id],
                admids=[digiprov_id],
            )
            schemas_div = mets.div(
                top, self.ids.section(key + f"div:{mets.DIV_SCHEMAS}"), label=mets.DIV_SCHEMAS
            )
            mets.fptr(schemas_div, schemas_id)
            for rep in representations:
                label = mets.representation_label(rep.name)
                rep_div = mets.div(top, self.ids.section(key + f"div:{label}"), label=label)
                mets.mptr(rep_div, rep.mets_path, rep_groups[rep.name])
            doc.emit(struct)


def _csip(name: str) -> str:
    return mets.qname(name, mets.CSIP_NS)


def _premis_section(amd: etree._Element, section_id: str, ref: FileRef) -> etree._Element:
    """``digiprovMD`` → PREMIS file (``MDTYPE="PREMIS"``, version 3.0)."""
    return mets.md_section(
        amd, "digiprovMD", section_id, ref, mdtype="PREMIS", mdtype_version=PREMIS_MDTYPE_VERSION
    )


def _mets_document(out: BinaryWriter, scratch: etree._Element) -> AbstractContextManager[XmlStream]:
    """A METS file written section by section; ``scratch`` is the ``<mets>`` element."""
    return xml_document(out, str(scratch.tag), attributes(scratch), mets.NSMAP)


def _event_links(events: Sequence[PremisEvent]) -> dict[str, list[str]]:
    """Object identifier → identifiers of the events that name it, in event order."""
    links: dict[str, list[str]] = {}
    for event in events:
        for linked in event.objects:
            found = links.setdefault(linked.identifier, [])
            if event.identifier not in found:
                found.append(event.identifier)
    return links


def _unique_agents(agents: Sequence[PremisAgent]) -> list[PremisAgent]:
    seen: dict[str, PremisAgent] = {}
    for agent in agents:
        seen.setdefault(agent.identifier, agent)
    return list(seen.values())


def _rendition_path(rendition: Rendition) -> str:
    return f"{REP2}/{DATA_DIR}/{rendition.file_name}"


# --------------------------------------------------------------------------- output


def write_aip_folder(tree: AipTree, dest: Path) -> Path:
    """Write the AIP as ``dest/<root_name>/…`` (streamed, checked); return that folder.

    Raises ``FileExistsError`` when the folder exists and ``ValueError`` when a file's bytes do
    not have the size or SHA-256 its source declares (the partial folder is removed).
    """
    root = dest / tree.root_name
    if root.exists():
        raise FileExistsError(root)
    try:
        for path, source in tree.files.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            with source.open() as stream, target.open("wb") as out:
                sha256, size = copy_with_sha256(stream, out)
            if (sha256, size) != (source.sha256, source.size):
                raise ValueError(
                    f"{path}: wrote {size} bytes with SHA-256 {sha256}, expected "
                    f"{source.size} bytes with SHA-256 {source.sha256}"
                )
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return root
