"""The format checks of a deposit's check step, run on a SIP that passed the package checks.

1. **Virus check** — when a scanner is configured, every file of the package (documents,
   metadata, schemas) is scanned in one batch, before any parser reads it. An infected file
   rejects the deposit (``VIRUS_FOUND``, naming the file and the signature); a file the scanner
   could not scan raises ``VirusScanFailed``: the attempt fails and is retried, and the deposit
   fails in the end rather than pass as clean.
2. **Identification** by content of every document (not of ``.fetch.txt`` references): a content
   that does not fit the file's extension, or whose declared media type (METS ``MIMETYPE``) is
   that of another format: ``FORMAT_MISMATCH`` (older names such as ``image/jpg`` are taken,
   ``application/octet-stream`` claims nothing, and a type the catalogue does not list at all
   is only a ``FORMAT_DECLARED_TYPE`` warning); or a format the archive does not
   accept (``FORMAT_NOT_ACCEPTED`` — password-protected PDFs included: they can be neither
   validated, converted nor preserved) rejects the deposit, naming the file.
3. For every identified PDF: its **signatures** (integrity, cryptographic verification, and
   trust only against configured anchors) and its **PDF/A validation** (the part it claims, else
   PDF/A-2b).

The copies the tools read are made once, in one folder, and kept after the checks
(``FormatReport.copies``): the rendition step converts the same copies. The caller removes the
folder with the deposit's work folder.
"""

from __future__ import annotations

import posixpath
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from archive_service.config import Settings
from archive_service.db.base import utcnow
from archive_service.formats.identify import Identification, identify
from archive_service.formats.pdfa import PdfaReport, validate_pdfa
from archive_service.formats.signatures_pdf import (
    SignatureInfo,
    SignatureKind,
    inspect_signatures,
    signature_note,
    to_premis,
)
from archive_service.formats.virus import ScanResult, ScanStatus, scanner_from_settings
from archive_service.ingest.package_files import extract, numbered_name
from archive_service.packages.aip_writer import FileFacts
from archive_service.packages.container import PackageSource
from archive_service.packages.models import PackageFile, SipDocument, SipPackage
from archive_service.packages.premis import FileFormat, PremisSignature, SignatureNote
from archive_service.packages.problems import Problem, ProblemCode

PDF_FORMAT = "pdf"


class VirusScanFailed(Exception):
    """The scanner could not give a verdict on some file: the deposit must not pass as clean."""


@dataclass(frozen=True)
class CheckedDocument:
    """What the checks found about one document's data file."""

    doc_id: str
    path: str  # in the package, and in rep1 of the AIP
    identification: Identification
    signatures: tuple[SignatureInfo, ...] = ()
    signature_problem: str | None = None  # the file could not be read to look for signatures
    pdfa: PdfaReport | None = None

    @property
    def file_name(self) -> str:
        return posixpath.basename(self.path)

    @property
    def signed(self) -> bool:
        return bool(self.signatures)

    def facts(self) -> FileFacts:
        """Format (with MIME type) and signatures, as the AIP's PREMIS and METS record them."""
        found = self.identification
        return FileFacts(
            format=FileFormat(found.format_name, found.format_version, found.pronom_id),
            signature=premis_signatures(self.signatures),
            mime_type=found.mime_type,
        )


@dataclass(frozen=True)
class VirusCheck:
    """The scan of every file of the package (``paths[i]`` scanned as ``results[i]``)."""

    paths: tuple[str, ...]
    results: tuple[ScanResult, ...]

    def problems(self) -> list[Problem]:
        """``VIRUS_FOUND`` for each infected file."""
        return [
            Problem(ProblemCode.VIRUS_FOUND, path, result.problem_message(path) or "")
            for path, result in zip(self.paths, self.results, strict=True)
            if result.status is ScanStatus.INFECTED
        ]

    def unscanned(self) -> str | None:
        """Why the files that got no verdict got none (files grouped by reason); None: all did."""
        reasons: dict[str, list[str]] = {}
        for path, result in zip(self.paths, self.results, strict=True):
            if result.status not in (ScanStatus.CLEAN, ScanStatus.INFECTED):
                reasons.setdefault(result.detail or str(result.status), []).append(path)
        if not reasons:
            return None
        return "; ".join(
            f"không quét được virus cho {len(paths)} tệp ({_some(paths)}): {reason}"
            for reason, paths in reasons.items()
        )


@dataclass(frozen=True)
class FormatReport:
    """Everything the format checks found; the errors among ``problems`` reject the deposit,
    the warnings (a declared media type the archive does not list) are recorded with it."""

    documents: tuple[CheckedDocument, ...]
    virus_check: VirusCheck | None  # None: no scanner configured
    problems: tuple[Problem, ...]
    checked_at: datetime
    copies: Mapping[str, Path] = field(default_factory=dict)  # package path → checked copy

    def file_facts(self) -> dict[str, FileFacts]:
        """By docId: what ``build_aip`` records of each checked document."""
        return {document.doc_id: document.facts() for document in self.documents}


def check_formats(
    sip: SipPackage, source: PackageSource, settings: Settings, copies: Path
) -> FormatReport:
    """Run the checks on the package ``source`` holds; the files are copied into ``copies``
    (emptied first, and left in place for the rendition step: see the module text)."""
    shutil.rmtree(copies, ignore_errors=True)
    try:
        return _Checks(sip, source, settings, copies).run()
    except BaseException:
        shutil.rmtree(copies, ignore_errors=True)
        raise


class _Checks:
    def __init__(
        self, sip: SipPackage, source: PackageSource, settings: Settings, scratch: Path
    ) -> None:
        self.sip, self.source, self.settings, self.scratch = sip, source, settings, scratch
        self.copies: dict[str, Path] = {}

    def copy(self, package_file: PackageFile) -> Path:
        if package_file.path not in self.copies:
            name = numbered_name(len(self.copies), package_file.path)
            self.copies[package_file.path] = extract(self.source, package_file, self.scratch, name)
        return self.copies[package_file.path]

    def run(self) -> FormatReport:
        documents = [d for d in self.sip.documents if d.fetch_reference is None]
        for document in documents:
            self.copy(document.file)
        virus_check = self.scan() if self.settings.virus_scanner != "none" else None
        infected = virus_check.problems() if virus_check else []
        if infected:  # nothing else reads the files of an infected package
            return FormatReport((), virus_check, tuple(infected), utcnow(), self.copies)
        checked = tuple(self.check_document(document) for document in documents)
        problems = tuple(
            problem for c in checked for problem in c.identification.as_problems(c.path)
        )
        return FormatReport(checked, virus_check, problems, utcnow(), self.copies)

    def scan(self) -> VirusCheck:
        files = [
            *(document.file for document in self.sip.documents),
            *self.sip.metadata_files,
            *self.sip.schema_files,
        ]
        paths = tuple(dict.fromkeys(f.path for f in files))
        by_path = {f.path: f for f in files}
        copies = [self.copy(by_path[path]) for path in paths]
        results = scanner_from_settings(self.settings).scan_many(copies)
        check = VirusCheck(paths, tuple(results))
        unscanned = check.unscanned()
        if unscanned and not check.problems():
            raise VirusScanFailed(f"{ProblemCode.VIRUS_SCAN_FAILED}: {unscanned}")
        return check

    def check_document(self, document: SipDocument) -> CheckedDocument:
        path = document.file.path
        copy = self.copies[path]
        found = identify(copy, posixpath.basename(path), document.file.mime_type)
        checked = CheckedDocument(document.doc_id, path, found)
        if not found.ok or found.format_key != PDF_FORMAT:
            return checked
        signatures, problem = self.signatures(copy)
        return CheckedDocument(
            document.doc_id,
            path,
            found,
            signatures=signatures,
            signature_problem=problem,
            pdfa=validate_pdfa(copy, file_name=found.file_name, full_rules_if_unclaimed=False),
        )

    def signatures(self, copy: Path) -> tuple[tuple[SignatureInfo, ...], str | None]:
        """The PDF's signatures; or none and why, when its structure could not be read."""
        anchors = self.settings.signature_trust_anchors or None
        found = inspect_signatures(copy, trust_anchors=anchors)
        unreadable = [s for s in found if s.kind is SignatureKind.UNREADABLE and not s.field_name]
        if unreadable:
            return (), unreadable[0].error
        return tuple(found), None


def _some(paths: Sequence[str], shown: int = 3) -> str:
    """The first few paths, and how many more."""
    more = len(paths) - shown
    return ", ".join(paths[:shown]) + (f" và {more} tệp khác" if more > 0 else "")


def premis_signatures(signatures: Sequence[SignatureInfo]) -> SignatureNote | None:
    """The PREMIS ``signatureInformation`` values of inspected signatures (None: unsigned)."""
    note = signature_note(signatures)
    if note is None:
        return None
    return SignatureNote(
        signer=note.signer,
        note=note.note,
        signatures=tuple(_premis_signature(signature) for signature in signatures),
    )


def _premis_signature(signature: SignatureInfo) -> PremisSignature:
    values = to_premis(signature)
    return PremisSignature(
        encoding=values.signature_encoding,
        method=values.signature_method,
        value=values.signature_value,
        validation_rules=values.signature_validation_rules,
        signer=values.signer,
        properties=values.signature_properties,
    )
