"""Build the AIP_hoso of a validated SIP (PACKAGES §3): the tree the archive keeps.

``build_aip`` writes every XML file of the AIP, hashing it on the way, and returns an
``AipTree``: logical path (relative to the AIP root folder) → ``FileSource`` with its
size and SHA-256 known. Documents are not copied: their sources are the SIP's own streams with
the sizes and digests the SIP check verified. The tree is then stored as an OCFL version, or
written out as a folder by ``write_aip_folder``.

Files that can describe many documents (the METS files, PREMIS) are written element by element
(``xmlstream.xml_document``). The files are kept in memory up to ``XML_MEMORY_BUDGET`` bytes
for the whole AIP; a file that would go beyond it is written into the work folder instead, so
memory does not grow with the size of the dossier, and a small AIP creates no file before it is
stored (on some filesystems creating a file costs as much as writing 100 KB). The same SIP,
AIP UUID, times and events always give byte-identical files: every METS id is a UUID-5 of the
AIP UUID and a key naming what it stands for (``mets.IdSource``).

The parts: ``aip_identity`` (names and agents), ``aip_items`` (the files and representations
being written), ``aip_premis`` (PREMIS objects and events), ``aip_mets`` (the METS files).

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

import io
import posixpath
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, cast
from uuid import UUID

from archive_service.packages.aip_identity import (
    ARC_FILE_CODE_MAX,
    ARC_FILE_CODE_SEPARATOR,
    ArchiveIdentity,
    aip_object_id,
    aip_root_name,
    arc_file_code,
    archive_agent,
    premis_identifier,
    software_agent,
)
from archive_service.packages.aip_items import (
    AipItem,
    AipRepresentation,
    RepFile,
    representation_path,
    representation_premis_path,
)
from archive_service.packages.aip_mets import PACKAGE_TYPE, PREMIS_MDTYPE_VERSION, AipMetsWriter
from archive_service.packages.aip_premis import (
    PREMIS_PATH,
    EventLinks,
    creation_event,
    event_links,
    package_object,
    representation_objects,
    unique_agents,
)
from archive_service.packages.container import PackageSource
from archive_service.packages.ead import (
    EAD_PATH,
    document_code,
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
    REP1,
    SCHEMAS_DIR,
    XML_MIME,
    XSD_MIME,
    IdSource,
)
from archive_service.packages.models import PackageFile, SipDocument, SipPackage
from archive_service.packages.premis import (
    FileFormat,
    LinkedObject,
    ObjectRole,
    PremisAgent,
    PremisEvent,
    Relationship,
    SignatureNote,
    write_premis,
)
from archive_service.packages.schemas import aip_schema_sources
from archive_service.packages.tthc import TTHC_PATH
from archive_service.packages.xmlstream import BinaryWriter
from archive_service.streams import (
    FileSource,
    HashingWriter,
    Opener,
    copy_with_sha256,
    measured_source,
    path_opener,
)

__all__ = [
    "ARC_FILE_CODE_MAX",
    "ARC_FILE_CODE_SEPARATOR",
    "OCTET_STREAM",
    "PACKAGE_TYPE",
    "PREMIS_MDTYPE_VERSION",
    "PREMIS_PATH",
    "REP2",
    "AipTree",
    "ArchiveIdentity",
    "FileFacts",
    "Rendition",
    "aip_document_code",
    "aip_object_id",
    "aip_root_name",
    "arc_file_code",
    "archive_agent",
    "build_aip",
    "premis_identifier",
    "representation_path",
    "representation_premis_path",
    "software_agent",
    "write_aip_folder",
]

OCTET_STREAM = "application/octet-stream"
#: Bytes of XML one AIP may keep in memory before its files go to the work folder.
XML_MEMORY_BUDGET = 8 * 1024 * 1024
REP2 = representation_path("rep2")

#: The ``docCode`` rule of the AIP is the one of plain deposits (``ead.document_code``).
aip_document_code = document_code


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
    """What the caller learnt about a document's data file: its format, whether it is signed,
    and its MIME type by content (written into METS instead of the declared one)."""

    format: FileFormat | None = None
    signature: SignatureNote | None = None
    mime_type: str | None = None


class _SpillingBuffer:
    """A write-only file kept in memory until it outgrows ``limit`` bytes, then moved to
    ``path`` (parents created) and continued there; ``opener`` reads it back from either."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path, self.limit = path, limit
        self.memory: io.BytesIO | None = io.BytesIO()
        self.disk: BinaryIO | None = None

    def __enter__(self) -> _SpillingBuffer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.disk is not None:
            self.disk.close()

    def write(self, data: bytes) -> int:
        """Append ``data``, to memory while it fits under the limit, else to the file."""
        if self.memory is not None and self.memory.tell() + len(data) > self.limit:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.disk = self.path.open("wb")
            self.disk.write(self.memory.getbuffer())
            self.memory = None
        if self.memory is not None:
            return self.memory.write(data)
        assert self.disk is not None
        return self.disk.write(data)

    @property
    def kept_in_memory(self) -> int:
        """Bytes held in memory (0 once moved to the file)."""
        return self.memory.tell() if self.memory is not None else 0

    def opener(self) -> Opener:
        """Open what was written, for reading (as often as needed)."""
        if self.memory is None:
            return path_opener(self.path)
        data = self.memory.getvalue()
        return lambda: io.BytesIO(data)


@dataclass(frozen=True)
class AipTree:
    """The AIP as logical files, ready to be stored (OCFL) or written out as a folder."""

    object_id: str
    root_name: str
    files: dict[str, FileSource]


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
        self.memory_left = XML_MEMORY_BUDGET
        self.items: dict[str, AipItem] = {}
        self.data_paths = {document.doc_id: document.file.path for document in sip.documents}
        self.arc_file_code = arc_file_code(archive.archive_code, sip.dossier.file_code)
        if len(self.arc_file_code) > ARC_FILE_CODE_MAX:
            raise ValueError(
                f"arcFileCode '{self.arc_file_code}' is longer than {ARC_FILE_CODE_MAX} characters"
            )
        self.mets = AipMetsWriter(
            ids=self.ids,
            object_id=self.object_id,
            sip=sip,
            archive=archive,
            created=created,
            items=self.items,
        )

    # files

    def add(self, path: str, source: FileSource, mime_type: str, created: datetime) -> AipItem:
        if path in self.items:
            raise ValueError(f"two files of the AIP would have the path {path!r}")
        item = AipItem(path, measured_source(source), mime_type, created)
        self.items[path] = item
        return item

    def write(self, path: str, produce: Callable[[BinaryWriter], None]) -> AipItem:
        """Write an XML file of the AIP, hashing it on the way: in memory while the AIP's
        budget lasts, else into the work folder."""
        with _SpillingBuffer(self.folder / path, self.memory_left) as handle:
            writer = HashingWriter(cast(BinaryIO, handle))
            produce(writer)
        self.memory_left -= handle.kept_in_memory
        source = FileSource(open=handle.opener(), size=writer.size, sha256=writer.sha256)
        return self.add(path, source, XML_MIME, self.created)

    def write_bytes(self, path: str, data: bytes) -> AipItem:
        return self.write(path, lambda out: out.write(data))

    def sip_file(self, package_file: PackageFile, mime_type: str | None = None) -> AipItem:
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
        links = event_links(all_events)
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
            self.add(f"{SCHEMAS_DIR}/{path.name}", source, XSD_MIME, self.created)
            for path, source in aip_schema_sources()
        ]
        premis = self.write(
            PREMIS_PATH,
            lambda out: write_premis(
                out,
                objects=[
                    package_object(self.object_id, self.sip.object_id, representations, links)
                ],
                events=all_events,
                agents=unique_agents(
                    [software_agent(self.archive), archive_agent(self.archive), *agents]
                ),
            ),
        )
        self.write(
            METS_FILE,
            lambda out: self.mets.root_mets(out, ead, tthc, premis, schemas, representations),
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

    def original_representation(self, facts: Mapping[str, FileFacts]) -> AipRepresentation:
        """rep1: every document as deposited, with its AIP metadata file."""
        files = []
        for ordinal, document in enumerate(self.sip.documents, start=1):
            known = facts.get(document.doc_id, FileFacts())
            data = self.sip_file(document.file, known.mime_type)
            metadata = self.write_bytes(
                f"{REP1}/{DESCRIPTIVE_DIR}/"
                + document_metadata_name(document.metadata.kind, document.doc_id),
                self.document_metadata(document, ordinal),
            )
            files.append(
                RepFile(
                    item=data,
                    original_name=posixpath.basename(document.file.path),
                    format=known.format or FileFormat(name=data.mime_type),
                    signature=known.signature,
                    metadata=metadata,
                    holey=document.fetch_reference is not None,
                )
            )
        return AipRepresentation("rep1", tuple(files))

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
            values["docCode"] = document_code(self.sip.dossier.file_code, ordinal)
        return write_simpledc(values, specs)

    def rendition_representation(
        self, renditions: Sequence[Rendition], rep1: AipRepresentation
    ) -> AipRepresentation | None:
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
                RepFile(
                    item=item,
                    original_name=rendition.file_name,
                    format=FileFormat(
                        rendition.format_name, rendition.format_version, rendition.pronom_id
                    ),
                    derivation=Relationship("derivation", "has source", (original,)),
                )
            )
        rep1_id = premis_identifier(self.object_id, rep1.folder)
        return AipRepresentation(
            "rep2", tuple(files), Relationship("derivation", "has source", (rep1_id,))
        )

    def with_rendition_links(
        self, rep1: AipRepresentation, rep2: AipRepresentation, renditions: Sequence[Rendition]
    ) -> AipRepresentation:
        """rep1 with ``is source of`` relationships from each original to its renditions."""
        targets: dict[str, list[str]] = {}
        for rendition, rendered in zip(renditions, rep2.files, strict=True):
            targets.setdefault(self.data_paths[rendition.doc_id], []).append(
                premis_identifier(self.object_id, rendered.item.path)
            )
        files = tuple(
            replace(f, derivation=Relationship("derivation", "is source of", tuple(found)))
            if (found := targets.get(f.item.path))
            else f
            for f in rep1.files
        )
        return replace(rep1, files=files)

    # events and PREMIS

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
        return creation_event(
            self.ids,
            created=self.created,
            object_id=self.object_id,
            sip_object_id=self.sip.object_id,
            archive=self.archive,
        )

    def write_representation_premis(self, rep: AipRepresentation, links: EventLinks) -> None:
        self.write(
            rep.premis_path,
            lambda out: write_premis(
                out, objects=representation_objects(self.object_id, rep, links)
            ),
        )

    def write_representation_mets(self, rep: AipRepresentation) -> None:
        self.write(rep.mets_path, lambda out: self.mets.representation_mets(out, rep))


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
