"""The documents of a SIP: each data file paired with its metadata file, both checked.

A representation METS pairs a data file with its EAD_DOC / EAD_PIC / EAD_MEDIA file in a
structMap div. Each metadata file is checked against its field table; the data file's name must
be its ``docId``; ``docCode`` should start with the dossier's ``fileCode``; a ``.fetch.txt`` file
must name one document deposited before; ``docId`` values are unique, and their number is the
dossier's ``totalDoc``.
"""

from __future__ import annotations

import posixpath
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from archive_service.packages.ead import (
    EAD_PATH,
    check_document_conditionals,
    document_kind,
    document_specs,
    first_value,
    parse_document_metadata_name,
    read_simpledc,
)
from archive_service.packages.fields import check_fields
from archive_service.packages.mets_reader import FileReference, MetsFile
from archive_service.packages.models import DocumentKind
from archive_service.packages.problems import ProblemCode, Severity
from archive_service.packages.schemas import SchemaName
from archive_service.packages.sip_simpledc_checks import SimpledcCheck

FETCH_SUFFIX = ".fetch.txt"
#: Largest ``.fetch.txt`` read; a reference is one short line.
MAX_FETCH_BYTES = 1024
_DOC_ID_MAX = 25
_DOC_SCHEMAS = {
    DocumentKind.DOC: SchemaName.EAD_DOC,
    DocumentKind.PIC: SchemaName.EAD_PIC,
    DocumentKind.MEDIA: SchemaName.EAD_MEDIA,
}


@dataclass
class FoundDocument:
    """A data file of a representation and what the reader learnt about it."""

    data: FileReference
    metadata: FileReference | None = None
    kind: DocumentKind | None = None
    values: dict[str, list[str]] | None = None
    fetch_reference: str | None = None


@dataclass
class FoundDocuments:
    """Documents found through the representation METS files."""

    items: list[FoundDocument] = field(default_factory=list)
    #: False when a METS or a metadata file could not be read: counts and ids are then unknown.
    complete: bool = True

    def doc_ids(self) -> set[str]:
        return {first_value(d.values, "docId") for d in self.items if d.values} - {""}


class DocumentChecks(SimpledcCheck):
    """Finds the documents of the representation METS files and checks each of them."""

    def documents(
        self, representations: list[MetsFile] | None, dossier: Mapping[str, list[str]] | None
    ) -> FoundDocuments | None:
        """Every document, read and checked; ``None`` when a representation METS is unusable."""
        if representations is None:
            return None
        documents = FoundDocuments()
        for mets in representations:
            for document in self._pair_documents(mets, documents):
                self._read_document(document, documents, first_value(dossier, "fileCode"))
                documents.items.append(document)
        self._check_doc_ids(documents)
        return documents

    def check_total_doc(
        self, values: Mapping[str, list[str]] | None, documents: FoundDocuments | None
    ) -> None:
        """EAD.xml's ``totalDoc`` is the number of documents (when both are known)."""
        declared = first_value(values, "totalDoc")
        if documents is None or not documents.complete or not declared.isdigit():
            return
        if int(declared) != len(documents.items):
            self.add(
                ProblemCode.TOTAL_DOC_MISMATCH,
                EAD_PATH,
                f"{EAD_PATH}: totalDoc = {declared} nhưng gói có {len(documents.items)} tài liệu",
                "totalDoc",
            )

    def _pair_documents(self, mets: MetsFile, documents: FoundDocuments) -> list[FoundDocument]:
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
            document = FoundDocument(reference)
            metadata_id = paired.get(file_id)
            if metadata_id is None:
                self.add(
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
                self.add(
                    ProblemCode.METS_STRUCTMAP,
                    reference.path,
                    f"Tệp mô tả '{reference.path}' không được ghép với tệp dữ liệu nào trong "
                    f"structMap của {mets.path}",
                    "DMDID",
                )

    def _read_document(
        self, document: FoundDocument, documents: FoundDocuments, file_code: str
    ) -> None:
        if document.metadata is None or document.metadata.path is None:
            documents.complete = False
            return
        path = self.contents.find(document.metadata.path)
        kind = document_kind(_name(document.metadata.path))
        root = None
        if path is not None and kind is not None:
            root = self.simpledc(path, _DOC_SCHEMAS[kind])
        if path is None or kind is None or root is None:
            documents.complete = False
            return
        values = read_simpledc(root)
        found = check_fields(values, document_specs(kind, aip=False), path)
        found += check_document_conditionals(values, path)
        self.report_simpledc(root, _DOC_SCHEMAS[kind], path, found)
        document.kind, document.values = kind, values
        self._check_document_names(document, path)
        self._check_doc_code(values, file_code, path)
        if document.data.path and document.data.path.endswith(FETCH_SUFFIX):
            document.fetch_reference = self._fetch_reference(document.data.path)

    def _check_document_names(self, document: FoundDocument, metadata_path: str) -> None:
        doc_id = first_value(document.values, "docId")
        data_path = document.data.path or ""
        if not doc_id:
            return
        if not _names_document(_name(data_path), doc_id):
            self.add(
                ProblemCode.DOC_ID_FILE_MISMATCH,
                data_path,
                f"Tên tệp dữ liệu '{_name(data_path)}' không khớp docId '{doc_id}' trong "
                f"{metadata_path} (tên tệp phải là <docId>.<đuôi>)",
                "docId",
            )
        named = parse_document_metadata_name(_name(metadata_path))
        if named and named[1] != doc_id:
            self.add(
                ProblemCode.DOC_ID_FILE_MISMATCH,
                metadata_path,
                f"Tên tệp mô tả '{_name(metadata_path)}' không khớp docId '{doc_id}' ghi bên trong",
                "docId",
            )

    def _check_doc_code(self, values: Mapping[str, list[str]], file_code: str, path: str) -> None:
        doc_code = first_value(values, "docCode")
        if doc_code and file_code and not doc_code.startswith(file_code):
            self.add(
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
            self.add(
                ProblemCode.FETCH_REFERENCE_INVALID,
                path,
                f"Tệp '{path}' phải chứa đúng một dòng là docId (tối đa {_DOC_ID_MAX} ký tự) "
                "của tài liệu đã nộp lưu trước đó",
            )
        return reference

    def _check_doc_ids(self, documents: FoundDocuments) -> None:
        seen: dict[str, str] = {}
        for document in documents.items:
            doc_id = first_value(document.values, "docId")
            where = (document.metadata.path if document.metadata else None) or ""
            if not doc_id:
                continue
            if doc_id in seen:
                self.add(
                    ProblemCode.DOC_ID_DUPLICATE,
                    where,
                    f"docId '{doc_id}' trong {where} trùng với {seen[doc_id]}",
                    "docId",
                )
            seen.setdefault(doc_id, where)


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


def _name(path: str) -> str:
    return posixpath.basename(path)


def _names_document(file_name: str, doc_id: str) -> bool:
    """Whether a data file is named ``<docId>`` or ``<docId>.<ext>`` (maybe + ``.fetch.txt``)."""
    base = file_name.removesuffix(FETCH_SUFFIX)
    if base == doc_id:
        return True
    extension = base.removeprefix(doc_id + ".")
    return extension != base and bool(extension) and "." not in extension
