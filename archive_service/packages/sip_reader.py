"""Check a SIP_hoso completely and read it into the typed models.

``validate_sip`` opens a ZIP or an unpacked folder safely (``container``), then ``read_sip`` checks
everything a SIP must satisfy and reports *every* problem found (errors and warnings), each with a
stable code, the path inside the package and, when relevant, the field:

- every XML file is parsed through ``xmlsafe`` (no DTD, no entities, bounded size), must have the
  right root element and namespace, and is validated against its schema;
- the root METS (header, package type, record status, creator and fonds code, CSIP structMap) and
  the representation METS it points at;
- every file or metadata file a METS references exists with the declared size and SHA-256, and
  every file of the package is referenced;
- the dossier (EAD.xml), each document's metadata (EAD_DOC / EAD_PIC / EAD_MEDIA) paired with its
  data file, ``.fetch.txt`` references, and the TTHC facts (TTHC.xml).

Each file is read once: XML files are hashed while they are parsed, the others are streamed
through SHA-256. One unreadable METS is reported once; what depends on it is skipped rather than
reported as a cascade of consequences.
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import BinaryIO, cast

from lxml import etree

from archive_service.config import PackageLimits, get_settings
from archive_service.packages import codes
from archive_service.packages.container import PackageReadError, PackageSource, open_package
from archive_service.packages.ead import (
    EAD_PATH,
    document_kind,
    document_metadata,
    document_specs,
    dossier_from_fields,
    parse_document_metadata_name,
    read_simpledc,
)
from archive_service.packages.fields import (
    DOSSIER_FIELDS,
    check_conditionals,
    check_fields,
    parse_date,
)
from archive_service.packages.mets import METS_FILE, XML_MIME
from archive_service.packages.mets_reader import FileReference, MetsFile, read_mets
from archive_service.packages.models import (
    DocumentKind,
    Dossier,
    PackageFile,
    SipDocument,
    SipPackage,
    TthcFacts,
)
from archive_service.packages.problems import (
    PackageInvalid,
    Problem,
    ProblemCode,
    Severity,
    errors,
)
from archive_service.packages.schemas import ROOT_ELEMENTS, SchemaName, validate
from archive_service.packages.tthc import TTHC_PATH, TthcError, parse_dossier_code, read_tthc
from archive_service.packages.xmlsafe import UnsafeXml, parse_xml
from archive_service.streams import HashingReader, sha256_of_stream

FETCH_SUFFIX = ".fetch.txt"
#: Largest ``.fetch.txt`` read; a reference is one short line.
MAX_FETCH_BYTES = 1024
_DOC_ID_MAX = 25
_SHA256 = re.compile(r"^[0-9A-Fa-f]{64}$")
_DOC_SCHEMAS = {
    DocumentKind.DOC: SchemaName.EAD_DOC,
    DocumentKind.PIC: SchemaName.EAD_PIC,
    DocumentKind.MEDIA: SchemaName.EAD_MEDIA,
}
#: Problems of the field checks that explain a schema complaint about the ``<simpledc>`` element.
_STRUCTURAL = {ProblemCode.FIELD_MISSING, ProblemCode.FIELD_UNKNOWN, ProblemCode.FIELD_DUPLICATE}


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
    return _SipReader(source, limits).read()


# --------------------------------------------------------------------------- file contents


class _Contents:
    """Reads package files at most once: digests are kept, XML is hashed while it is parsed."""

    def __init__(self, source: PackageSource, limits: PackageLimits, report: list[Problem]):
        self._source = source
        self._limits = limits
        self._report = report
        self._names = set(source.names())
        self._by_key = {unicodedata.normalize("NFC", name): name for name in self._names}
        self._digests: dict[str, tuple[str, int] | None] = {}

    def names(self) -> set[str]:
        return set(self._names)

    def find(self, path: str) -> str | None:
        """The package's name for ``path`` (also when the two differ only by normalisation)."""
        if path in self._names:
            return path
        return self._by_key.get(unicodedata.normalize("NFC", path))

    def size(self, path: str) -> int:
        return self._source.size(path)

    def digest(self, path: str) -> tuple[str, int] | None:
        """(lower-case SHA-256, size) of a file, streamed once; ``None`` if it cannot be read."""
        if path not in self._digests:
            try:
                with self._source.open(path) as stream:
                    self._digests[path] = sha256_of_stream(stream)
            except PackageReadError as failure:
                self._unreadable(path, failure)
        return self._digests[path]

    def xml(self, path: str, schema: SchemaName) -> etree._Element | None:
        """Parse an XML file safely and check its root element; ``None`` (reported) on failure."""
        if self.size(path) > self._limits.max_xml_bytes:
            self._report.append(
                Problem(
                    ProblemCode.XML_TOO_LARGE,
                    path,
                    f"Tệp XML '{path}' dài {self.size(path)} byte, vượt giới hạn "
                    f"{self._limits.max_xml_bytes} byte",
                )
            )
            return None
        try:
            with self._source.open(path) as stream:
                reader = HashingReader(stream)
                try:
                    tree = parse_xml(cast(BinaryIO, reader), path, self._limits.max_xml_bytes)
                finally:
                    if path not in self._digests and not reader.read(1):
                        self._digests[path] = (reader.sha256, reader.size)
        except UnsafeXml as unsafe:
            self._report.append(unsafe.problem)
            return None
        except PackageReadError as failure:
            self._unreadable(path, failure)
            return None
        root = tree.getroot()
        wrong = _root_problem(root, schema, path)
        if wrong:
            self._report.append(wrong)
            return None
        return root

    def head(self, path: str, max_bytes: int) -> bytes | None:
        """At most ``max_bytes + 1`` bytes of a small file; ``None`` (reported) if unreadable."""
        try:
            with self._source.open(path) as stream:
                return stream.read(max_bytes + 1)
        except PackageReadError as failure:
            self._unreadable(path, failure)
            return None

    def package_file(self, path: str, mime_type: str | None) -> PackageFile | None:
        digest = self.digest(path)
        if digest is None:
            return None
        return PackageFile(path=path, size=digest[1], sha256=digest[0], mime_type=mime_type)

    def _unreadable(self, path: str, failure: PackageReadError) -> None:
        self._digests[path] = None
        self._report.append(failure.problem)


def _root_problem(root: etree._Element, schema: SchemaName, path: str) -> Problem | None:
    expected = etree.QName(ROOT_ELEMENTS[schema])
    found = etree.QName(root)
    if found.text == expected.text:
        return None
    if found.localname == expected.localname:
        return Problem(
            ProblemCode.XML_WRONG_NAMESPACE,
            path,
            f"{path}: phần tử gốc <{found.localname}> phải thuộc không gian tên "
            f"'{expected.namespace or '(không có)'}', gặp '{found.namespace or '(không có)'}'",
        )
    return Problem(
        ProblemCode.XML_WRONG_ROOT,
        path,
        f"{path}: phần tử gốc phải là <{expected.localname}>, gặp <{found.localname}>",
    )


# --------------------------------------------------------------------------- the reader


@dataclass
class _Document:
    """A data file of a representation and what the reader learnt about it."""

    data: FileReference
    metadata: FileReference | None = None
    kind: DocumentKind | None = None
    values: dict[str, list[str]] | None = None
    fetch_reference: str | None = None


@dataclass
class _Documents:
    """Documents found through the representation METS files."""

    items: list[_Document] = field(default_factory=list)
    #: False when a METS or a metadata file could not be read: counts and ids are then unknown.
    complete: bool = True

    def doc_ids(self) -> set[str]:
        return {_first(d.values, "docId") for d in self.items if d.values} - {""}


class _SipReader:
    """One reading of one SIP; problems accumulate in ``self.problems``."""

    def __init__(self, source: PackageSource, limits: PackageLimits) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.contents = _Contents(source, limits, self.problems)

    def read(self) -> SipReport:
        root_mets = self._root_mets()
        representations = self._representations(root_mets)
        self._check_files(root_mets, representations)
        dossier_values = self._dossier_values()
        documents = self._documents(representations, dossier_values)
        self._check_total_doc(dossier_values, documents)
        facts = self._tthc(documents)
        package = None
        if root_mets is not None and not errors(self.problems):
            package = self._package(root_mets, representations, dossier_values, documents, facts)
        return SipReport(package, [_naming_file(p) for p in self.problems])

    def _add(
        self,
        code: ProblemCode,
        path: str,
        message: str,
        field_name: str | None = None,
        severity: Severity = Severity.ERROR,
    ) -> None:
        self.problems.append(Problem(code, path, message, field_name, severity))

    # ----------------------------------------------------------------------- METS

    def _mets(self, path: str) -> MetsFile | None:
        root = self.contents.xml(path, SchemaName.METS)
        if root is None:
            return None
        self.problems.extend(validate(root, SchemaName.METS, path))
        mets, problems = read_mets(root, path)
        self.problems.extend(problems)
        if not mets.has_csip_struct_map:
            self._add(
                ProblemCode.METS_STRUCTMAP,
                path,
                f'{path}: thiếu structMap LABEL="CSIP" TYPE="PHYSICAL"',
                "structMap",
            )
        return mets

    def _root_mets(self) -> MetsFile | None:
        if self.contents.find(METS_FILE) is None:
            self._add(
                ProblemCode.METS_MISSING,
                METS_FILE,
                f"Thiếu tệp {METS_FILE} ở thư mục gốc '{self.source.root_name}' của gói",
            )
            return None
        mets = self._mets(METS_FILE)
        if mets is not None:
            self._check_sip_header(mets)
        return mets

    def _check_sip_header(self, mets: MetsFile) -> None:
        path = mets.path
        root_name = self.source.root_name
        if mets.objid != root_name:
            self._add(
                ProblemCode.METS_OBJID_MISMATCH,
                path,
                f"{path}: OBJID '{mets.objid or ''}' phải trùng tên thư mục gốc '{root_name}'",
                "OBJID",
            )
        if mets.package_type != "SIP":
            self._add(
                ProblemCode.METS_PACKAGE_TYPE,
                path,
                f"{path}: csip:OAISPACKAGETYPE phải là 'SIP', gặp '{mets.package_type or ''}'",
                "OAISPACKAGETYPE",
            )
        if mets.record_status not in codes.RECORD_STATUS:
            self._add(
                ProblemCode.METS_RECORD_STATUS,
                path,
                f"{path}: RECORDSTATUS '{mets.record_status or ''}' không thuộc "
                f"{', '.join(codes.RECORD_STATUS)}",
                "RECORDSTATUS",
            )
        if not mets.creator_name:
            self._add(
                ProblemCode.METS_HEADER,
                path,
                f'{path}: metsHdr thiếu agent ROLE="CREATOR" có tên phần mềm tạo gói',
                "agent",
            )
        if not mets.creator_note:
            self._add(
                ProblemCode.METS_HEADER,
                path,
                f'{path}: agent CREATOR thiếu note csip:NOTETYPE="IDENTIFICATIONCODE" '
                "(mã phông lưu trữ)",
                "agent/note",
            )
        if _datetime(mets.created) is None:
            self._add(
                ProblemCode.METS_HEADER,
                path,
                f"{path}: CREATEDATE '{mets.created or ''}' không phải thời điểm ISO 8601",
                "CREATEDATE",
            )
        if not any(pointer for pointer in mets.pointers):
            self._add(
                ProblemCode.METS_STRUCTMAP,
                path,
                f"{path}: structMap thiếu mptr trỏ tới METS của representations/rep1",
                "mptr",
            )

    def _representations(self, root_mets: MetsFile | None) -> list[MetsFile] | None:
        """The representation METS files the root METS points at; ``None`` if any is unusable."""
        if root_mets is None:
            return None
        found: list[MetsFile] = []
        usable = bool(root_mets.pointers)
        declared = {reference.path for reference in root_mets.references()}
        for pointer in root_mets.pointers:
            path = self.contents.find(pointer) if pointer else None
            if pointer and path is None and pointer not in declared:
                self._add(
                    ProblemCode.SIP_FILE_MISSING,
                    pointer,
                    f"Không có tệp '{pointer}' mà mptr trong {root_mets.path} trỏ tới",
                    "mptr",
                )
            mets = self._mets(path) if path else None
            if mets is None:
                usable = False
            else:
                found.append(mets)
        return found if usable else None

    # ----------------------------------------------------------------------- files

    def _check_files(
        self, root_mets: MetsFile | None, representations: list[MetsFile] | None
    ) -> None:
        """Declared size and checksum of every reference; no file left unreferenced."""
        if root_mets is None:
            return
        mets_files = [root_mets, *(representations or [])]
        referenced = {METS_FILE}
        for mets in mets_files:
            referenced.update(p for p in map(self._found, mets.pointers) if p)
            for reference in mets.references():
                if reference.path is not None:
                    found = self._check_reference(reference, mets.path)
                    referenced.add(found or reference.path)
        unread = [] if representations is not None else self._representation_folders(root_mets)
        for name in sorted(self.contents.names() - referenced):
            if any(name.startswith(folder) for folder in unread):
                continue
            self._add(
                ProblemCode.SIP_FILE_UNREFERENCED,
                name,
                f"Tệp '{name}' có trong gói nhưng không được khai báo trong METS nào",
            )

    def _found(self, path: str | None) -> str | None:
        return self.contents.find(path) if path else None

    @staticmethod
    def _representation_folders(root_mets: MetsFile) -> list[str]:
        """Folders whose METS could not be read: their files are not reported as unreferenced."""
        return [posixpath.dirname(p) + "/" for p in root_mets.pointers if p] or ["representations/"]

    def _check_reference(self, reference: FileReference, mets_path: str) -> str | None:
        """Check one reference; return the package's name of the file when it exists."""
        assert reference.path is not None
        path = self.contents.find(reference.path)
        if path is None:
            self._add(
                ProblemCode.SIP_FILE_MISSING,
                reference.path,
                f"Thiếu tệp '{reference.path}' được khai báo trong {mets_path}",
            )
            return None
        sha256_ok = reference.checksum_type == "SHA-256"
        if not sha256_ok:
            self._add(
                ProblemCode.SIP_CHECKSUM_TYPE,
                path,
                f"{mets_path}: tệp '{path}' khai báo CHECKSUMTYPE '{reference.checksum_type or ''}'"
                ", phải là 'SHA-256'",
                "CHECKSUMTYPE",
            )
        declared = reference.size
        if declared is None or not (declared.isascii() and declared.isdigit()):
            self._add(
                ProblemCode.METS_REFERENCE_INVALID,
                path,
                f"{mets_path}: tệp '{path}' thiếu SIZE hoặc SIZE '{declared or ''}' không phải số",
                "SIZE",
            )
        elif int(declared) != self.contents.size(path):
            self._add(
                ProblemCode.SIP_SIZE_MISMATCH,
                path,
                f"Tệp '{path}' dài {self.contents.size(path)} byte, {mets_path} khai báo "
                f"SIZE={declared}",
                "SIZE",
            )
            return path
        if sha256_ok:
            self._check_checksum(path, reference.checksum, mets_path)
        return path

    def _check_checksum(self, path: str, checksum: str | None, mets_path: str) -> None:
        if checksum is None or not _SHA256.match(checksum):
            self._add(
                ProblemCode.METS_REFERENCE_INVALID,
                path,
                f"{mets_path}: tệp '{path}' thiếu CHECKSUM hoặc CHECKSUM '{checksum or ''}' "
                "không phải SHA-256 dạng hex",
                "CHECKSUM",
            )
            return
        digest = self.contents.digest(path)
        if digest is not None and digest[0] != checksum.lower():
            self._add(
                ProblemCode.SIP_CHECKSUM_MISMATCH,
                path,
                f"Tệp '{path}' có SHA-256 {digest[0].upper()}, {mets_path} khai báo "
                f"{checksum.upper()} (tệp bị thay đổi hoặc hỏng)",
                "CHECKSUM",
            )

    # ----------------------------------------------------------------------- simpledc files

    def _simpledc(self, path: str, schema: SchemaName) -> etree._Element | None:
        """Parse a simpledc file; ``docCode`` may be written ``arcDocCode`` (official sample)."""
        root = self.contents.xml(path, schema)
        if root is not None and schema is not SchemaName.EAD and root.find("docCode") is None:
            synonym = root.find("arcDocCode")
            if synonym is not None:
                synonym.tag = "docCode"
        return root

    def _report_simpledc(
        self, root: etree._Element, schema: SchemaName, path: str, field_problems: list[Problem]
    ) -> None:
        """Field problems, plus schema problems the field checks do not already explain."""
        self.problems.extend(field_problems)
        covered = {p.field for p in field_problems}
        if any(p.code in _STRUCTURAL for p in field_problems):
            covered.add("simpledc")
        self.problems.extend(p for p in validate(root, schema, path) if p.field not in covered)

    def _dossier_values(self) -> dict[str, list[str]] | None:
        path = self.contents.find(EAD_PATH)
        if path is None:
            self._add(
                ProblemCode.EAD_MISSING,
                EAD_PATH,
                f"Thiếu tệp {EAD_PATH} (thông tin hồ sơ)",
            )
            return None
        root = self._simpledc(path, SchemaName.EAD)
        if root is None:
            return None
        values = read_simpledc(root)
        found = check_fields(values, DOSSIER_FIELDS, path) + check_conditionals(values, path)
        self._report_simpledc(root, SchemaName.EAD, path, found)
        start, end = parse_date(_first(values, "startDate")), parse_date(_first(values, "endDate"))
        if start and end and start > end:
            self._add(
                ProblemCode.DATE_RANGE,
                path,
                f"{path}: startDate {_first(values, 'startDate')} sau endDate "
                f"{_first(values, 'endDate')}",
                "startDate",
            )
        return values

    def _check_total_doc(
        self, values: Mapping[str, list[str]] | None, documents: _Documents | None
    ) -> None:
        declared = _first(values, "totalDoc")
        if documents is None or not documents.complete or not declared.isdigit():
            return
        if int(declared) != len(documents.items):
            self._add(
                ProblemCode.TOTAL_DOC_MISMATCH,
                EAD_PATH,
                f"{EAD_PATH}: totalDoc = {declared} nhưng gói có {len(documents.items)} tài liệu",
                "totalDoc",
            )

    # ----------------------------------------------------------------------- documents

    def _documents(
        self, representations: list[MetsFile] | None, dossier: Mapping[str, list[str]] | None
    ) -> _Documents | None:
        if representations is None:
            return None
        documents = _Documents()
        for mets in representations:
            for document in self._pair_documents(mets, documents):
                self._read_document(document, documents, _first(dossier, "fileCode"))
                documents.items.append(document)
        self._check_doc_ids(documents)
        return documents

    def _pair_documents(self, mets: MetsFile, documents: _Documents) -> list[_Document]:
        """Data files of a representation, each with the metadata its structMap pairs it with."""
        data_folder = posixpath.join(posixpath.dirname(mets.path), "data") + "/"
        paired: dict[str, str] = {}
        for div in mets.divs():
            for file_id in div.file_ids:
                for dmd_id in div.dmd_ids:
                    reference = mets.metadata.get(dmd_id)
                    if reference and reference.path and document_kind(_name(reference.path)):
                        paired.setdefault(file_id, dmd_id)
        found = []
        for file_id, reference in mets.files.items():
            if reference.path is None:
                documents.complete = False  # unusable href (reported): counts are unknown
            if not reference.path or not reference.path.startswith(data_folder):
                continue
            document = _Document(reference)
            metadata_id = paired.get(file_id)
            if metadata_id is None:
                self._add(
                    ProblemCode.EAD_DOC_MISSING,
                    reference.path,
                    f"Tài liệu '{reference.path}' không có tệp mô tả EAD_DOC/EAD_PIC/EAD_MEDIA "
                    f"ghép với nó trong structMap của {mets.path}",
                )
                documents.complete = False
            else:
                document.metadata = mets.metadata[metadata_id]
            found.append(document)
        self._check_unpaired_metadata(mets, set(paired.values()))
        return found

    def _check_unpaired_metadata(self, mets: MetsFile, paired: set[str]) -> None:
        for dmd_id, reference in mets.metadata.items():
            if dmd_id in paired or not reference.path:
                continue
            if document_kind(_name(reference.path)):
                self._add(
                    ProblemCode.METS_STRUCTMAP,
                    reference.path,
                    f"Tệp mô tả '{reference.path}' không được ghép với tệp dữ liệu nào trong "
                    f"structMap của {mets.path}",
                    "DMDID",
                )

    def _read_document(self, document: _Document, documents: _Documents, file_code: str) -> None:
        if document.metadata is None or document.metadata.path is None:
            documents.complete = False
            return
        path = self.contents.find(document.metadata.path)
        kind = document_kind(_name(document.metadata.path))
        root = None
        if path is not None and kind is not None:
            root = self._simpledc(path, _DOC_SCHEMAS[kind])
        if path is None or kind is None or root is None:
            documents.complete = False
            return
        values = read_simpledc(root)
        found = check_fields(values, document_specs(kind, aip=False), path)
        found += _document_conditionals(values, path)
        self._report_simpledc(root, _DOC_SCHEMAS[kind], path, found)
        document.kind, document.values = kind, values
        self._check_document_names(document, path)
        self._check_doc_code(values, file_code, path)
        if document.data.path and document.data.path.endswith(FETCH_SUFFIX):
            document.fetch_reference = self._fetch_reference(document.data.path)

    def _check_document_names(self, document: _Document, metadata_path: str) -> None:
        doc_id = _first(document.values, "docId")
        data_path = document.data.path or ""
        if not doc_id:
            return
        if not _names_document(_name(data_path), doc_id):
            self._add(
                ProblemCode.DOC_ID_FILE_MISMATCH,
                data_path,
                f"Tên tệp dữ liệu '{_name(data_path)}' không khớp docId '{doc_id}' trong "
                f"{metadata_path} (tên tệp phải là <docId>.<đuôi>)",
                "docId",
            )
        named = parse_document_metadata_name(_name(metadata_path))
        if named and named[1] != doc_id:
            self._add(
                ProblemCode.DOC_ID_FILE_MISMATCH,
                metadata_path,
                f"Tên tệp mô tả '{_name(metadata_path)}' không khớp docId '{doc_id}' ghi bên trong",
                "docId",
            )

    def _check_doc_code(self, values: Mapping[str, list[str]], file_code: str, path: str) -> None:
        doc_code = _first(values, "docCode")
        if doc_code and file_code and not doc_code.startswith(file_code):
            self._add(
                ProblemCode.DOC_CODE_MISMATCH,
                path,
                f"{path}: docCode '{doc_code}' không bắt đầu bằng fileCode '{file_code}' của hồ "
                "sơ (chấp nhận như gói mẫu; khi lưu trữ dùng năm của fileCode)",
                "docCode",
                Severity.WARNING,
            )

    def _fetch_reference(self, path: str) -> str | None:
        found = self.contents.find(path)
        data = self.contents.head(found, MAX_FETCH_BYTES) if found else None
        if data is None:
            return None
        reference = parse_fetch_reference(data)
        if reference is None:
            self._add(
                ProblemCode.FETCH_REFERENCE_INVALID,
                path,
                f"Tệp '{path}' phải chứa đúng một dòng là docId (tối đa {_DOC_ID_MAX} ký tự) "
                "của tài liệu đã nộp lưu trước đó",
            )
        return reference

    def _check_doc_ids(self, documents: _Documents) -> None:
        seen: dict[str, str] = {}
        for document in documents.items:
            doc_id = _first(document.values, "docId")
            where = (document.metadata.path if document.metadata else None) or ""
            if not doc_id:
                continue
            if doc_id in seen:
                self._add(
                    ProblemCode.DOC_ID_DUPLICATE,
                    where,
                    f"docId '{doc_id}' trong {where} trùng với {seen[doc_id]}",
                    "docId",
                )
            seen.setdefault(doc_id, where)

    # ----------------------------------------------------------------------- TTHC

    def _tthc(self, documents: _Documents | None) -> TthcFacts | None:
        path = self.contents.find(TTHC_PATH)
        if path is None:
            self._add(
                ProblemCode.TTHC_MISSING,
                TTHC_PATH,
                f"Thiếu tệp {TTHC_PATH}: mọi hồ sơ nộp lưu vào kho lưu trữ này đều phải kèm "
                "TTHC.xml (mã hồ sơ, thủ tục, quá trình xử lý, kết quả)",
            )
            return None
        root = self.contents.xml(path, SchemaName.TTHC)
        if root is None:
            return None
        invalid = [
            Problem(ProblemCode.TTHC_INVALID, p.path, p.message, p.field)
            for p in validate(root, SchemaName.TTHC, path)
        ]
        self.problems.extend(invalid)
        try:
            facts = read_tthc(root)
        except TthcError as failure:
            if not invalid:
                self._add(ProblemCode.TTHC_INVALID, path, failure.message)
            return None
        self._check_tthc(facts, path, documents)
        return facts

    def _check_tthc(self, facts: TthcFacts, path: str, documents: _Documents | None) -> None:
        code = facts.dossier_code
        if not _valid_dossier_code(code):
            self._add(
                ProblemCode.TTHC_DOSSIER_CODE,
                path,
                f"{path}: mã hồ sơ '{code}' không có dạng <mã đơn vị>-<YYMMDD>-<NNNN> "
                "(ví dụ 000.00.19.H56-240610-0001)",
                "dossierCode",
            )
        result_code = re.compile(re.escape(code) + r"-KQ[1-9]\d*")
        doc_ids = documents.doc_ids() if documents and documents.complete else None
        for result in facts.results:
            if not result_code.fullmatch(result.code):
                self._add(
                    ProblemCode.TTHC_RESULT_CODE,
                    path,
                    f"{path}: mã kết quả '{result.code}' phải có dạng {code}-KQ<số thứ tự>",
                    "result/@code",
                )
            if doc_ids is not None and result.doc_id not in doc_ids:
                self._add(
                    ProblemCode.TTHC_RESULT_DOC_MISSING,
                    path,
                    f"{path}: kết quả '{result.code}' trỏ tới docId '{result.doc_id}' không có "
                    "trong gói",
                    "result/@docId",
                )
        if _comparable(facts.received, facts.finished) and facts.received > facts.finished:
            self._add(
                ProblemCode.TTHC_DATES,
                path,
                f"{path}: thời điểm hoàn thành {facts.finished.isoformat()} trước thời điểm "
                f"tiếp nhận {facts.received.isoformat()}",
                "finished",
            )

    # ----------------------------------------------------------------------- the package

    def _package(
        self,
        root_mets: MetsFile,
        representations: list[MetsFile] | None,
        dossier_values: Mapping[str, list[str]] | None,
        documents: _Documents | None,
        facts: TthcFacts | None,
    ) -> SipPackage | None:
        """Build the package of a SIP without errors (``None`` if something is still unknown)."""
        if representations is None or dossier_values is None or documents is None or not facts:
            return None
        try:
            dossier: Dossier = dossier_from_fields(dossier_values)
        except ValueError as failure:
            self._add(ProblemCode.XML_SCHEMA_INVALID, EAD_PATH, f"{EAD_PATH}: {failure}")
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
        created = _datetime(root_mets.created)
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

    def _sip_document(self, document: _Document) -> SipDocument | None:
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


# --------------------------------------------------------------------------- small helpers


def parse_fetch_reference(data: bytes) -> str | None:
    """The docId a ``.fetch.txt`` holds: one line, one token of at most 25 printable characters."""
    if len(data) > MAX_FETCH_BYTES:
        return None
    try:
        text = data.decode("utf-8-sig").strip()
    except UnicodeDecodeError:
        return None
    if not text or len(text) > _DOC_ID_MAX or any(ch.isspace() for ch in text):
        return None
    if any(unicodedata.category(ch).startswith("C") for ch in text) or "/" in text:
        return None
    return text


def _naming_file(problem: Problem) -> Problem:
    """The problem with its file named in the message (field checks and the XML parser omit it)."""
    if not problem.path or problem.path in problem.message:
        return problem
    return replace(problem, message=f"{problem.path}: {problem.message}")


def _document_conditionals(values: Mapping[str, list[str]], path: str) -> list[Problem]:
    """Rules between document fields: only riskRecovery (documents carry no paperFileCode)."""
    risk = {tag: values[tag] for tag in ("riskRecovery", "riskRecoveryStatus") if tag in values}
    return check_conditionals(risk, path)


def _first(values: Mapping[str, Sequence[str]] | None, tag: str) -> str:
    found = (values or {}).get(tag)
    return found[0].strip() if found else ""


def _name(path: str) -> str:
    return posixpath.basename(path)


def _names_document(file_name: str, doc_id: str) -> bool:
    """Whether a data file is named ``<docId>`` or ``<docId>.<ext>`` (maybe + ``.fetch.txt``)."""
    base = file_name.removesuffix(FETCH_SUFFIX)
    if base == doc_id:
        return True
    extension = base.removeprefix(doc_id + ".")
    return extension != base and bool(extension) and "." not in extension


def _valid_dossier_code(code: str) -> bool:
    parts = parse_dossier_code(code)
    if parts is None:
        return False
    try:
        date(2000 + int(parts.day[:2]), int(parts.day[2:4]), int(parts.day[4:]))
    except ValueError:
        return False
    return True


def _datetime(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _comparable(first: datetime, second: datetime) -> bool:
    return (first.tzinfo is None) == (second.tzinfo is None)
