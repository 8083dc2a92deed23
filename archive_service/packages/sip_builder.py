"""Build a SIP_hoso (PACKAGES §2) from a plain deposit: metadata JSON plus document files.

Everything that can be checked before writing is checked first (metadata, files present and
declared, formats, declared checksums); then documents are streamed into the package while being
hashed, the metadata files are written, and the two METS files last, when every checksum is known.

Output is a ZIP (one root folder ``uuid-<UUID>/``) or an unpacked folder. The same deposit, files,
``object_uuid`` and ``created`` always give byte-identical XML and ZIP: ids are derived from the
package UUID (``mets.IdSource``), entries carry ``created`` as their time, and the ZIP is written
as a stream (data descriptors, no seeking), whatever the destination.

**Decision — profile.** Both METS files of a SIP say
``PROFILE="https://earksip.dilcis.eu/profile/E-ARK-SIP.xml"``, the E-ARK SIP profile of the CSIP
2.0.4 generation (requirement SIP2); the root METS has ``TYPE="Mixed"`` and the representation
METS ``csip:CONTENTINFORMATIONTYPE="MIXED"``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol
from uuid import UUID, uuid4

from lxml import etree

from archive_service import SOFTWARE_NAME, __version__
from archive_service.packages import codes, mets
from archive_service.packages.ead import EAD_PATH, document_metadata_name, document_specs
from archive_service.packages.ead import write_simpledc as simpledc_bytes
from archive_service.packages.fields import DOSSIER_FIELDS
from archive_service.packages.mets import REP1, IdSource
from archive_service.packages.models import PackageFile
from archive_service.packages.plain import (
    DepositPlan,
    PlainDeposit,
    PlannedDocument,
    metadata_problem,
    plan_deposit,
)
from archive_service.packages.problems import PackageInvalid, Problem, ProblemCode, errors
from archive_service.packages.schemas import schema_files
from archive_service.packages.tthc import TTHC_PATH, tthc_dmd_section, write_tthc
from archive_service.streams import FileSource, HashingWriter, copy_with_sha256

DEFAULT_CREATOR = f"{SOFTWARE_NAME} {__version__}"
PACKAGE_TYPE = "SIP"
REPRESENTATION = "rep1"
REP1_METS = f"{REP1}/{mets.METS_FILE}"


@dataclass(frozen=True)
class ContentType:
    """MIME type of an accepted content format, and whether it is already compressed."""

    mime: str
    compressed: bool


#: Accepted content formats (PACKAGES §7) by file extension.
CONTENT_TYPES: dict[str, ContentType] = {
    "pdf": ContentType("application/pdf", True),
    "txt": ContentType("text/plain", False),
    "rtf": ContentType("application/rtf", False),
    "doc": ContentType("application/msword", False),
    "docx": ContentType(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document", True
    ),
    "odt": ContentType("application/vnd.oasis.opendocument.text", True),
    "csv": ContentType("text/csv", False),
    "xlsx": ContentType("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", True),
    "xls": ContentType("application/vnd.ms-excel", False),
    "ods": ContentType("application/vnd.oasis.opendocument.spreadsheet", True),
    "htm": ContentType("text/html", False),
    "html": ContentType("text/html", False),
    "pptx": ContentType(
        "application/vnd.openxmlformats-officedocument.presentationml.presentation", True
    ),
    "ppt": ContentType("application/vnd.ms-powerpoint", False),
    "odp": ContentType("application/vnd.oasis.opendocument.presentation", True),
    "jpg": ContentType("image/jpeg", True),
    "jpeg": ContentType("image/jpeg", True),
    "gif": ContentType("image/gif", True),
    "tif": ContentType("image/tiff", False),
    "tiff": ContentType("image/tiff", False),
    "png": ContentType("image/png", True),
    "mpeg": ContentType("video/mpeg", True),
    "mpg": ContentType("video/mpeg", True),
    "avi": ContentType("video/x-msvideo", True),
    "wmv": ContentType("video/x-ms-wmv", True),
    "mov": ContentType("video/quicktime", True),
    "mp3": ContentType("audio/mpeg", True),
    "wma": ContentType("audio/x-ms-wma", True),
    "aac": ContentType("audio/aac", True),
}

#: Leading bytes of formats recognised when a document's ``fileName`` is not given.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "pdf"),
    (b"\xff\xd8\xff", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"II*\x00", "tif"),
    (b"MM\x00*", "tif"),
    (b"ID3", "mp3"),
    (b"{\\rtf", "rtf"),
)


def extension_of(name: str) -> str:
    """Lower-case extension of a file name, without the dot ('' when there is none)."""
    return name.rsplit(".", 1)[1].lower() if "." in name else ""


def sniff_extension(head: bytes) -> str | None:
    """Extension of a format recognised from its first bytes, or ``None``."""
    return next((ext for magic, ext in _MAGIC if head.startswith(magic)), None)


@dataclass(frozen=True)
class SipManifest:
    """What was written: the package id, every file with its checksum, and the ZIP itself."""

    object_id: str
    created: datetime
    file_code: str
    dossier_code: str
    files: tuple[PackageFile, ...]
    location: Path | None = None
    size: int | None = None  # of the ZIP
    sha256: str | None = None  # of the ZIP, lower-case hex
    warnings: tuple[Problem, ...] = ()

    def file(self, path: str) -> PackageFile:
        """The written file at ``path`` (relative to the root folder)."""
        return next(f for f in self.files if f.path == path)


@dataclass(frozen=True)
class _Document:
    planned: PlannedDocument
    index: int
    source: FileSource
    content: ContentType
    data_path: str  # inside the package
    metadata_path: str

    @property
    def expected_sha256(self) -> str | None:
        return self.planned.sha256 or self.source.sha256


@dataclass(frozen=True)
class _Job:
    """Everything decided before the first byte is written."""

    plan: DepositPlan
    documents: tuple[_Document, ...]
    object_uuid: UUID
    created: datetime
    creator_name: str
    fonds_code: str
    record_status: str
    warnings: tuple[Problem, ...]

    @property
    def object_id(self) -> str:
        return mets.uuid_id(self.object_uuid)


def build_sip(
    deposit: PlainDeposit,
    files: Mapping[str, FileSource],
    out: BinaryIO | Path,
    *,
    object_uuid: UUID | None = None,
    created: datetime | None = None,
    creator_name: str = DEFAULT_CREATOR,
    fonds_code: str,
    record_status: str = "NEW",
) -> SipManifest:
    """Write the SIP_hoso ZIP of a plain deposit to ``out`` (a stream, or a file path).

    Raises ``PackageInvalid`` before writing anything when the metadata or the set of files is
    wrong; raises it after writing has begun when a document's content does not match its
    declared SHA-256. Then a path ``out`` is not created, and a stream ``out`` holds a ZIP without
    its central directory, which no reader accepts.
    """
    job = _prepare(deposit, files, object_uuid, created, creator_name, fonds_code, record_status)
    if isinstance(out, Path):
        temporary = out.with_name(f".{out.name}.{uuid4().hex}.part")
        try:
            with temporary.open("wb") as stream:
                manifest = _write_zip(job, stream)
            os.replace(temporary, out)
        finally:
            temporary.unlink(missing_ok=True)
        return replace(manifest, location=out)
    return _write_zip(job, out)


def write_sip_folder(
    deposit: PlainDeposit,
    files: Mapping[str, FileSource],
    directory: Path,
    *,
    object_uuid: UUID | None = None,
    created: datetime | None = None,
    creator_name: str = DEFAULT_CREATOR,
    fonds_code: str,
    record_status: str = "NEW",
) -> SipManifest:
    """Write the SIP unpacked as ``directory/uuid-<UUID>/``; same checks and guarantees as ZIP.

    The folder appears complete or not at all (it is assembled under a temporary name).
    """
    job = _prepare(deposit, files, object_uuid, created, creator_name, fonds_code, record_status)
    final = directory / job.object_id
    if final.exists():
        raise FileExistsError(final)
    sink = _FolderSink(directory / f".{job.object_id}.{uuid4().hex}.part")
    try:
        manifest = _write(job, sink)
        sink.path.rename(final)
    finally:
        shutil.rmtree(sink.path, ignore_errors=True)
    return replace(manifest, location=final)


# --- checks before writing -------------------------------------------------------------------


def _prepare(
    deposit: PlainDeposit,
    files: Mapping[str, FileSource],
    object_uuid: UUID | None,
    created: datetime | None,
    creator_name: str,
    fonds_code: str,
    record_status: str,
) -> _Job:
    created = created or datetime.now(mets.VN_TZ)
    if created.tzinfo is None:
        raise ValueError("created must be timezone-aware")
    if record_status not in codes.RECORD_STATUS:
        raise ValueError(f"record status must be one of {', '.join(codes.RECORD_STATUS)}")
    plan, problems = plan_deposit(deposit)
    documents: list[_Document] = []
    for index, planned in enumerate(plan.documents):
        document, found = _document(index, planned, files)
        problems += found
        if document is not None:
            documents.append(document)
    declared = {planned.part for planned in plan.documents}
    problems += [
        Problem(
            ProblemCode.PLAIN_FILE_UNDECLARED,
            part,
            f"Phần tệp '{part}' được gửi kèm nhưng không có trong metadata.documents",
        )
        for part in files
        if part not in declared
    ]
    if errors(problems):
        raise PackageInvalid(problems)
    return _Job(
        plan=plan,
        documents=tuple(documents),
        object_uuid=object_uuid or uuid4(),
        created=created,
        creator_name=creator_name,
        fonds_code=fonds_code,
        record_status=record_status,
        warnings=tuple(problems),
    )


def _document(
    index: int, planned: PlannedDocument, files: Mapping[str, FileSource]
) -> tuple[_Document | None, list[Problem]]:
    """A document ready to be copied, or the problems that stop it."""
    where = f"documents[{index}]"
    source = files.get(planned.part)
    if source is None:
        return None, [
            Problem(
                ProblemCode.PLAIN_FILE_MISSING,
                planned.part,
                f"Phần tệp '{planned.part}' được khai báo ở metadata.{where} nhưng không được "
                "gửi kèm",
                f"{where}.name",
            )
        ]
    if planned.file_name:
        extension = extension_of(planned.file_name)
    else:
        try:
            with source.open() as stream:
                extension = sniff_extension(stream.read(16)) or ""
        except OSError as exc:
            return None, [
                Problem(
                    ProblemCode.PLAIN_FILE_MISSING,
                    planned.part,
                    f"Không đọc được phần tệp '{planned.part}': {exc}",
                    f"{where}.name",
                )
            ]
        if not extension:
            return None, [
                metadata_problem(
                    f"{where}.fileName",
                    f"không nhận ra định dạng của tệp '{planned.part}'; hãy khai báo fileName "
                    "có phần mở rộng (.pdf, .docx, .jpg …)",
                )
            ]
    content = CONTENT_TYPES.get(extension)
    if content is None:
        return None, [
            metadata_problem(
                f"{where}.fileName",
                f"định dạng '.{extension}' của tệp '{planned.part}' không thuộc danh mục được "
                f"chấp nhận ({', '.join(sorted(CONTENT_TYPES))})",
            )
        ]
    problems = []
    if planned.sha256 and source.sha256 and planned.sha256 != source.sha256.lower():
        problems.append(_mismatch(index, planned, source.sha256.lower()))
    doc_id = planned.doc_id
    metadata_name = document_metadata_name(planned.kind, doc_id)
    document = _Document(
        planned=planned,
        index=index,
        source=source,
        content=content,
        data_path=f"{REP1}/{mets.DATA_DIR}/{doc_id}.{extension}",
        metadata_path=f"{REP1}/{mets.DESCRIPTIVE_DIR}/{metadata_name}",
    )
    return document, problems


def _mismatch(index: int, planned: PlannedDocument, actual: str) -> Problem:
    return Problem(
        ProblemCode.PLAIN_CHECKSUM_MISMATCH,
        planned.part,
        f"Tệp '{planned.part}' (metadata.documents[{index}]) có SHA-256 {actual}, "
        f"khác giá trị khai báo {planned.sha256}",
        f"documents[{index}].sha256",
    )


# --- writing ---------------------------------------------------------------------------------


class _Sink(Protocol):
    def add_bytes(self, path: str, data: bytes, *, compress: bool) -> None: ...

    def add_stream(
        self, path: str, stream: BinaryIO, *, compress: bool, size: int | None
    ) -> tuple[str, int]: ...


class _ZipSink:
    """Entries under ``<root>/`` in a streamed ZIP, all dated ``created`` (Vietnam time)."""

    def __init__(self, writer: HashingWriter, root: str, created: datetime) -> None:
        self._zip = zipfile.ZipFile(writer, "w")
        self._root = root
        local = created.astimezone(mets.VN_TZ)
        self._date_time = (
            local.year,
            local.month,
            local.day,
            local.hour,
            local.minute,
            local.second,
        )

    def _info(self, path: str, compress: bool) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(f"{self._root}/{path}", self._date_time)
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.create_system = 3
        info.external_attr = 0o644 << 16
        return info

    def add_bytes(self, path: str, data: bytes, *, compress: bool) -> None:
        self._zip.writestr(self._info(path, compress), data)

    def add_stream(
        self, path: str, stream: BinaryIO, *, compress: bool, size: int | None
    ) -> tuple[str, int]:
        info = self._info(path, compress)
        if size is not None:
            info.file_size = size
        with self._zip.open(info, "w", force_zip64=size is None) as entry:
            return copy_with_sha256(stream, entry)  # type: ignore[arg-type]

    def close(self) -> None:
        """Write the central directory: only after everything succeeded."""
        self._zip.close()


class _FolderSink:
    """Files under a folder, created as they come."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)

    def _target(self, path: str) -> Path:
        target = self.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def add_bytes(self, path: str, data: bytes, *, compress: bool) -> None:
        self._target(path).write_bytes(data)

    def add_stream(
        self, path: str, stream: BinaryIO, *, compress: bool, size: int | None
    ) -> tuple[str, int]:
        with self._target(path).open("wb") as target:
            return copy_with_sha256(stream, target)


def _write_zip(job: _Job, out: BinaryIO) -> SipManifest:
    writer = HashingWriter(out)
    sink = _ZipSink(writer, job.object_id, job.created)
    try:
        manifest = _write(job, sink)
    except BaseException:
        writer.detach()  # the central directory is never written: the ZIP stays unreadable
        raise
    sink.close()
    return replace(manifest, size=writer.size, sha256=writer.sha256)


@dataclass
class _Written:
    """Files written so far, by package path."""

    files: dict[str, PackageFile] = field(default_factory=dict)

    def add(self, path: str, sha256: str, size: int, mime: str) -> PackageFile:
        written = PackageFile(path=path, size=size, sha256=sha256, mime_type=mime)
        self.files[path] = written
        return written


def _write(job: _Job, sink: _Sink) -> SipManifest:
    written = _Written()
    _copy_documents(job, sink, written)
    for document in job.documents:
        specs = document_specs(document.planned.kind, aip=False)
        _put(sink, written, document.metadata_path, simpledc_bytes(document.planned.values, specs))
    ids = IdSource(job.object_uuid)
    _put(sink, written, REP1_METS, _representation_mets(job, ids, written))
    _put(sink, written, EAD_PATH, simpledc_bytes(job.plan.dossier_values, DOSSIER_FIELDS))
    _put(sink, written, TTHC_PATH, write_tthc(job.plan.tthc))
    for schema in schema_files(with_premis=False):
        path = f"{mets.SCHEMAS_DIR}/{schema.name}"
        with schema.open("rb") as stream:
            sha256, size = sink.add_stream(path, stream, compress=True, size=schema.stat().st_size)
        written.add(path, sha256, size, mets.XSD_MIME)
    _put(sink, written, mets.METS_FILE, _root_mets(job, ids, written))
    return SipManifest(
        object_id=job.object_id,
        created=job.created,
        file_code=job.plan.file_code,
        dossier_code=job.plan.tthc.dossier_code,
        files=tuple(written.files.values()),
        warnings=job.warnings,
    )


def _put(sink: _Sink, written: _Written, path: str, data: bytes) -> None:
    sink.add_bytes(path, data, compress=True)
    written.add(path, hashlib.sha256(data).hexdigest(), len(data), mets.XML_MIME)


def _copy_documents(job: _Job, sink: _Sink, written: _Written) -> None:
    """Stream every document in, hashing; raise ``PackageInvalid`` on any mismatch (all listed)."""
    problems = []
    for document in job.documents:
        with document.source.open() as stream:
            sha256, size = sink.add_stream(
                document.data_path,
                stream,
                compress=not document.content.compressed,
                size=document.source.size,
            )
        expected = document.expected_sha256
        if expected is not None and sha256 != expected.lower():
            problems.append(_mismatch(document.index, document.planned, sha256))
        elif document.source.size is not None and size != document.source.size:
            problems.append(
                Problem(
                    ProblemCode.PLAIN_CHECKSUM_MISMATCH,
                    document.planned.part,
                    f"Tệp '{document.planned.part}' dài {size} byte, "
                    f"khác kích thước đã biết {document.source.size}",
                    f"documents[{document.index}].name",
                )
            )
        written.add(document.data_path, sha256, size, document.content.mime)
    if problems:
        raise PackageInvalid(problems)


def _ref(job: _Job, written: PackageFile, base: str = "") -> mets.FileRef:
    """How a METS file in ``base`` refers to ``written``."""
    href = written.path[len(base) + 1 :] if base else written.path
    return mets.FileRef(href, written.size, written.sha256, written.mime_type or "", job.created)


def _header(job: _Job, root: etree._Element, *, submission_agreement: str | None) -> None:
    mets.mets_header(
        root,
        created=job.created,
        package_type=PACKAGE_TYPE,
        record_status=job.record_status,
        creator_name=job.creator_name,
        creator_note=job.fonds_code,
        submission_agreement=submission_agreement,
    )


def _representation_mets(job: _Job, ids: IdSource, written: _Written) -> bytes:
    """representations/rep1/METS.xml: a dmdSec per document, the Data group, the pairing divs."""
    key = f"{REP1_METS}#"
    root = mets.mets_root(
        objid=REPRESENTATION,
        profile=mets.SIP_PROFILE,
        content_information_type=mets.CONTENT_MIXED,
    )
    _header(job, root, submission_agreement=None)
    dmd_ids = {}
    for document in job.documents:
        dmd_ids[document.data_path] = ids.section(f"dmdSec:{document.metadata_path}")
        ref = _ref(job, written.files[document.metadata_path], REP1)
        mets.dc_dmd_section(root, dmd_ids[document.data_path], ref)
    mets.amd_section(root, ids.section(key + "amdSec"))
    group_id = ids.section(key + "fileGrp:Data")
    group = mets.file_group(
        mets.file_section(root, ids.section(key + "fileSec")), group_id, mets.GROUP_DATA
    )
    for document in job.documents:
        mets.file_entry(
            group, ids.file(document.data_path), _ref(job, written.files[document.data_path], REP1)
        )
    top = mets.div(
        mets.struct_map(root, ids.section(key + "structMap")),
        ids.section(key + "div"),
        label=REPRESENTATION,
        div_type=mets.DIV_ORIGINAL,
    )
    mets.fptr(mets.div(top, ids.section(key + "div:Data"), label=mets.DIV_DATA), group_id)
    links = mets.div(top, ids.section(key + "div:MetadataLink"), label=mets.DIV_METADATA_LINK)
    for document in job.documents:
        pair = mets.div(
            links,
            ids.section(f"{key}div:File:{document.data_path}"),
            label=mets.DIV_FILE,
            dmdids=[dmd_ids[document.data_path]],
        )
        mets.fptr(pair, ids.file(document.data_path))
    return mets.xml_bytes(root)


def _root_mets(job: _Job, ids: IdSource, written: _Written) -> bytes:
    """METS.xml at the root: header, EAD and TTHC dmdSecs, Schemas and rep1 groups, structMap."""
    key = f"{mets.METS_FILE}#"
    root = mets.mets_root(
        objid=job.object_id,
        profile=mets.SIP_PROFILE,
        label=job.plan.dossier_values.get("title"),
    )
    _header(job, root, submission_agreement=job.plan.file_code)
    ead_id = ids.section(f"dmdSec:{EAD_PATH}")
    tthc_id = ids.section(f"dmdSec:{TTHC_PATH}")
    mets.dc_dmd_section(root, ead_id, _ref(job, written.files[EAD_PATH]))
    tthc_dmd_section(root, tthc_id, _ref(job, written.files[TTHC_PATH]))
    mets.amd_section(root, ids.section(key + "amdSec"))
    file_sec = mets.file_section(root, ids.section(key + "fileSec"))
    schemas_id = ids.section(key + "fileGrp:Schemas")
    schemas = mets.file_group(file_sec, schemas_id, mets.GROUP_SCHEMAS)
    for path, package_file in written.files.items():
        if path.startswith(f"{mets.SCHEMAS_DIR}/"):
            mets.file_entry(schemas, ids.file(path), _ref(job, package_file))
    rep_label = mets.representation_label(REPRESENTATION)
    rep_id = ids.section(key + f"fileGrp:{rep_label}")
    rep_group = mets.file_group(file_sec, rep_id, rep_label)
    mets.file_entry(rep_group, ids.file(REP1_METS), _ref(job, written.files[REP1_METS]))
    top = mets.div(
        mets.struct_map(root, ids.section(key + "structMap")),
        ids.section(key + "div"),
        label=job.object_id,
    )
    mets.div(
        top, ids.section(key + "div:Metadata"), label=mets.DIV_METADATA, dmdids=[ead_id, tthc_id]
    )
    mets.fptr(mets.div(top, ids.section(key + "div:Schemas"), label=mets.DIV_SCHEMAS), schemas_id)
    rep_div = mets.div(top, ids.section(key + f"div:{rep_label}"), label=rep_label)
    mets.mptr(rep_div, REP1_METS, rep_id)
    return mets.xml_bytes(root)
