"""Check a SIP_hoso completely and read it into the typed models.

``validate_sip`` opens a ZIP or an unpacked folder safely (``container``), then ``read_sip`` checks
everything a SIP must satisfy and reports *every* problem found (errors and warnings), each with a
stable code, the path inside the package and, when relevant, the field:

- every XML file is parsed through ``xmlsafe`` (no DTD, no entities, bounded size), must have the
  right root element and namespace, and is validated against its schema;
- the root METS (header, package type, record status, creator and fonds code, CSIP structMap) and
  the representation METS it points at (``sip_mets_checks``);
- every file or metadata file a METS references exists with the declared size and SHA-256, and
  every file of the package is referenced (``sip_file_checks``);
- the dossier (EAD.xml, ``sip_simpledc_checks``), each document's metadata (EAD_DOC / EAD_PIC /
  EAD_MEDIA) paired with its data file and ``.fetch.txt`` references (``sip_documents``), and the
  TTHC facts (TTHC.xml, ``sip_tthc_checks``).

Each file is read once (``sip_contents``): XML files are hashed while they are parsed, the others
are streamed through SHA-256. One unreadable METS is reported once; what depends on it is skipped
rather than reported as a cascade of consequences.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from archive_service.config import PackageLimits, get_settings
from archive_service.packages.container import PackageSource, open_package
from archive_service.packages.ead import EAD_PATH, document_metadata, dossier_from_fields
from archive_service.packages.mets import XML_MIME
from archive_service.packages.mets_reader import MetsFile
from archive_service.packages.models import Dossier, SipDocument, SipPackage, TthcFacts
from archive_service.packages.problems import (
    PackageInvalid,
    Problem,
    ProblemCode,
    Severity,
    errors,
)
from archive_service.packages.sip_contents import PackageContents, SipCheck
from archive_service.packages.sip_documents import (
    FETCH_SUFFIX,
    MAX_FETCH_BYTES,
    DocumentChecks,
    FoundDocument,
    FoundDocuments,
    parse_fetch_reference,
)
from archive_service.packages.sip_file_checks import FileChecks
from archive_service.packages.sip_mets_checks import MetsChecks, iso_datetime
from archive_service.packages.sip_simpledc_checks import DossierChecks
from archive_service.packages.sip_tthc_checks import TthcChecks
from archive_service.packages.tthc import TTHC_PATH

__all__ = [
    "FETCH_SUFFIX",
    "MAX_FETCH_BYTES",
    "SipReport",
    "parse_fetch_reference",
    "read_sip",
    "validate_sip",
]


@dataclass(frozen=True)
class SipReport:
    """Outcome of checking a SIP: every problem, and the package when there is no error."""

    package: SipPackage | None
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        """True when no problem is an error (warnings allowed)."""
        return not errors(self.problems)

    @property
    def errors(self) -> list[Problem]:
        return errors(self.problems)

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.WARNING]


def validate_sip(path: Path, limits: PackageLimits | None = None) -> SipReport:
    """Open the SIP at ``path`` (ZIP file or unpacked root folder) and check it completely."""
    limits = limits or get_settings().limits
    try:
        source = open_package(path, limits)
    except PackageInvalid as invalid:
        return SipReport(None, invalid.problems)
    try:
        return read_sip(source, limits)
    finally:
        source.close()


def read_sip(source: PackageSource, limits: PackageLimits) -> SipReport:
    """Check an opened SIP and read it into a ``SipPackage``."""
    problems: list[Problem] = []
    return _SipReader(PackageContents(source, limits, problems), problems).read()


class _SipReader(SipCheck):
    """One reading of one SIP: runs every check in order, then assembles the package."""

    def __init__(self, contents: PackageContents, problems: list[Problem]) -> None:
        super().__init__(contents, problems)
        self.mets = MetsChecks(contents, problems)
        self.files = FileChecks(contents, problems)
        self.dossier = DossierChecks(contents, problems)
        self.documents = DocumentChecks(contents, problems)
        self.tthc = TthcChecks(contents, problems)

    def read(self) -> SipReport:
        root_mets = self.mets.root_mets()
        representations = self.mets.representations(root_mets)
        self.files.check_files(root_mets, representations)
        dossier_values = self.dossier.dossier_values()
        documents = self.documents.documents(representations, dossier_values)
        self.documents.check_total_doc(dossier_values, documents)
        facts = self.tthc.tthc(documents)
        package = None
        if root_mets is not None and not errors(self.problems):
            package = self._package(root_mets, representations, dossier_values, documents, facts)
        return SipReport(package, [_naming_file(p) for p in self.problems])

    def _package(
        self,
        root_mets: MetsFile,
        representations: list[MetsFile] | None,
        dossier_values: Mapping[str, list[str]] | None,
        documents: FoundDocuments | None,
        facts: TthcFacts | None,
    ) -> SipPackage | None:
        """Build the package of a SIP without errors (``None`` if something is still unknown)."""
        if representations is None or dossier_values is None or documents is None or not facts:
            return None
        try:
            dossier: Dossier = dossier_from_fields(dossier_values)
        except ValueError as failure:
            self.add(ProblemCode.XML_SCHEMA_INVALID, EAD_PATH, f"{EAD_PATH}: {failure}")
            return None
        built = [self._sip_document(d) for d in documents.items]
        metadata = [
            self.contents.package_file(p, XML_MIME)
            for p in [root_mets.path, *(m.path for m in representations)]
        ] + [self.contents.package_file(p, XML_MIME) for p in (EAD_PATH, TTHC_PATH)]
        schema_files = [
            self.contents.package_file(r.path, r.mime_type)
            for r in root_mets.files.values()
            if r.path and r.path.startswith("schemas/")
        ]
        metadata += [d.metadata_file for d in built if d is not None]
        if any(item is None for item in [*built, *metadata, *schema_files]):
            return None
        created = iso_datetime(root_mets.created)
        assert created is not None
        return SipPackage(
            object_id=root_mets.objid or "",
            record_status=root_mets.record_status or "",
            created=created,
            fonds_code=root_mets.creator_note or "",
            creator_name=root_mets.creator_name or "",
            submission_agreement=root_mets.submission_agreement,
            label=root_mets.label,
            dossier=dossier,
            tthc=facts,
            documents=[d for d in built if d is not None],
            metadata_files=[m for m in metadata if m is not None],
            schema_files=[s for s in schema_files if s is not None],
        )

    def _sip_document(self, document: FoundDocument) -> SipDocument | None:
        if document.metadata is None or document.kind is None or document.values is None:
            return None
        data_path = self.contents.find(document.data.path or "")
        metadata_path = self.contents.find(document.metadata.path or "")
        if data_path is None or metadata_path is None:
            return None
        data_file = self.contents.package_file(data_path, document.data.mime_type)
        metadata_file = self.contents.package_file(metadata_path, XML_MIME)
        if data_file is None or metadata_file is None:
            return None
        metadata = document_metadata(document.kind, document.values)
        return SipDocument(
            doc_id=metadata.doc_id,
            file=data_file,
            metadata_file=metadata_file,
            metadata=metadata,
            fetch_reference=document.fetch_reference,
        )


def _naming_file(problem: Problem) -> Problem:
    """The problem with its file named in the message (field checks and the XML parser omit it)."""
    if not problem.path or problem.path in problem.message:
        return problem
    return replace(problem, message=f"{problem.path}: {problem.message}")
