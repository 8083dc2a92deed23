"""Archived dossiers for readers: search the catalogue, describe one, hand out its bytes.

No HTTP here: callers pass a ``Principal`` and get read models, file handles or ZIP members.

**Decisions.**

- A dossier the principal may not read (a depositor asking for another agency's dossier) is
  reported exactly like a dossier that does not exist (``DossierNotFound``): the answer does not
  reveal which dossier codes other agencies hold. Searches of a depositor are always limited to
  its own agency.
- Identity numbers of applicants are masked (``0380******34``) for every role that does not see
  them (``Principal.sees_identity_numbers``), in the structured applicant field and in every
  string of the stored metadata.
- Every read of document bytes and every AIP download is written to the audit trail
  (``document.read``, ``aip.read``) before the first byte leaves: who, what, from where.
- Bytes are served from the dossier's *current* AIP version; before a document is opened, the
  digest in the OCFL inventory must equal the catalogue's SHA-256 (``StoredContentMismatch``
  otherwise), so the ``Digest`` a caller is promised is the digest of what is stored.
- Settled-date filters are calendar days in Vietnam (UTC+7), inclusive at both ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any, BinaryIO, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from archive_service.db.session import Database
from archive_service.dossiers.models import Document, Dossier, PremisEventRecord
from archive_service.dossiers.zipstream import ZipMember
from archive_service.integrity.audit import record_audit
from archive_service.packages.aip_writer import aip_root_name
from archive_service.packages.mets import VN_TZ
from archive_service.security.masking import mask_value
from archive_service.security.service import Action, Principal, mask_id_number
from archive_service.storage.ocfl import OcflRepository
from retention.holds import active_hold_count
from retention.views import RetentionView, retention_view

MAX_PAGE_SIZE = 200
RENDITION_PDFA = "pdfa"
RENDITION_MIME = "application/pdf"
DEFAULT_MIME = "application/octet-stream"

_S = TypeVar("_S", bound=Select[Any])


# --- errors -------------------------------------------------------------------------------------


class DossierError(Exception):
    """Base of what reading dossiers can refuse."""


class DossierNotFound(DossierError):
    """No dossier with this code that the principal may read."""


class DocumentNotFound(DossierError):
    """The dossier has no document with this id."""


class RenditionNotFound(DossierError):
    """The document has no rendition of the kind asked for."""


class ReadNotAllowed(DossierError):
    """The principal's role does not allow this kind of read."""


class StoredContentMismatch(DossierError):
    """The stored AIP does not hold what the catalogue says (an integrity problem)."""


# --- read models --------------------------------------------------------------------------------


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class DossierSummary(_View):
    """A dossier as listed by a search."""

    dossier_code: str = Field(examples=["000.00.19.H56-240610-0001"])
    agency_id: str = Field(examples=["000.00.19.H56"])
    title: str
    file_code: str
    procedure_code: str
    procedure_name: str
    sector_code: str
    final_status: str
    received_at: datetime
    settled_at: datetime
    archived_at: datetime
    total_doc: int
    aip_version: str = Field(examples=["v1"])


_SUMMARY_EXAMPLE: dict[str, JsonValue] = {
    "dossier_code": "000.00.19.H56-240610-0001",
    "agency_id": "000.00.19.H56",
    "title": "Hồ sơ đăng ký kết hôn của ông Nguyễn Văn A và bà Trần Thị B",
    "file_code": "LTDT.000.00.19.H56.2024.240610-0001",
    "procedure_code": "1.000894",
    "procedure_name": "Đăng ký kết hôn",
    "sector_code": "HT",
    "final_status": "returned",
    "received_at": "2024-06-10T08:00:00+07:00",
    "settled_at": "2024-06-12T10:30:00+07:00",
    "archived_at": "2024-06-12T10:31:05+07:00",
    "total_doc": 4,
    "aip_version": "v1",
}


class DossierPage(_View):
    """One page of search results and how many there are in all."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [{"items": [_SUMMARY_EXAMPLE], "total": 1, "page": 1, "page_size": 20}]
        },
    )

    items: list[DossierSummary]
    total: int
    page: int
    page_size: int


class RenditionView(_View):
    """The PDF/A-2b rendition step's outcome for a document, and the access copy when made.

    ``status``: ``created`` (a verified PDF/A-2b file is in rep2: its name, path in the AIP,
    size, SHA-256 and the validators that approved it), ``not-needed`` (already PDF/A-2, or a
    format kept as it is), ``failed`` (a preservation risk; ``reason`` says why).
    """

    kind: str = RENDITION_PDFA
    status: str = Field(examples=["created", "not-needed", "failed"])
    reason: str | None = Field(default=None, description="why the rendition failed")
    file_name: str | None = None
    path: str | None = Field(default=None, examples=["representations/rep2/data/to-khai.pdf"])
    size: int | None = None
    sha256: str | None = Field(default=None, description="SHA-256 of the rendition")
    mime_type: str | None = None
    validator: str | None = Field(
        default=None, examples=["archive-service 0.1.0 + pikepdf.pdfa 10.18.0"]
    )


class DocumentView(_View):
    """A document of the dossier's current AIP version."""

    doc_id: str
    ordinal: int
    title: str
    file_name: str
    size: int
    sha256: str = Field(description="SHA-256 of the original, lower-case hex")
    mime_type: str | None
    format_name: str | None
    pronom_id: str | None
    rendition: RenditionView | None = Field(
        description="the PDF/A rendition step's outcome; null for a version archived without it"
    )


class EventView(_View):
    """A PREMIS event recorded on the dossier."""

    event_id: str
    event_type: str
    at: datetime
    outcome: str | None
    detail: str | None
    agent: str | None


class ApplicantView(_View):
    """Who applied; the identity number masked unless the reader may see it."""

    name: str
    id_number: str | None = Field(examples=["0380******34"])


class DossierDetail(DossierSummary):
    """Everything the catalogue knows of one dossier."""

    aip_object_id: str
    start_date: date
    end_date: date
    maintenance: str
    mode: str
    applicant: ApplicantView
    updated_at: datetime
    metadata: dict[str, Any]
    documents: list[DocumentView]
    events: list[EventView]
    retention: RetentionView | None = Field(
        default=None, description="retention term, disposal date, holds, storage lock"
    )


# --- queries and handles ------------------------------------------------------------------------


@dataclass(frozen=True)
class DossierQuery:
    """Filters of a dossier search; ``None`` means "any"."""

    agency: str | None = None
    procedure: str | None = None
    sector: str | None = None
    status: str | None = None
    settled_from: date | None = None
    settled_to: date | None = None
    q: str | None = None
    page: int = 1
    page_size: int = 20


@dataclass(frozen=True)
class DocumentContent:
    """What is needed to serve a document's bytes (the original or a rendition)."""

    dossier_code: str
    doc_id: str
    rendition: str | None
    file_name: str
    mime_type: str
    size: int
    sha256: str
    object_id: str
    version: str
    logical_path: str


@dataclass(frozen=True)
class AipDownload:
    """The current AIP version of a dossier as ZIP members under its root folder."""

    dossier_code: str
    object_id: str
    version: str
    file_name: str
    members: list[ZipMember]


# --- the service --------------------------------------------------------------------------------


class DossierService:
    """Reading archived dossiers: catalogue in the database, bytes in the OCFL repository."""

    def __init__(self, database: Database, repository: OcflRepository) -> None:
        self._database = database
        self._repository = repository
        self._store = repository.store

    def search(self, principal: Principal, query: DossierQuery) -> DossierPage:
        """One page of the dossiers matching ``query`` that ``principal`` may read."""
        _require(principal, Action.READ)
        page_size = max(1, min(query.page_size, MAX_PAGE_SIZE))
        page = max(1, query.page)
        statement = _filtered(select(Dossier), principal, query)
        with self._database.session() as session:
            total = session.scalar(_filtered(select(func.count(Dossier.id)), principal, query))
            rows = session.scalars(
                statement.order_by(Dossier.settled_at.desc(), Dossier.id.desc())
                .offset((page - 1) * page_size)
                .limit(page_size)
            ).all()
            items = [_summary(row) for row in rows]
        return DossierPage(items=items, total=total or 0, page=page, page_size=page_size)

    def get(self, principal: Principal, dossier_code: str) -> DossierDetail:
        """The dossier, its documents and events; identity numbers masked as the role needs."""
        with self._database.session() as session:
            dossier = _readable_dossier(session, principal, dossier_code)
            documents = session.scalars(
                select(Document)
                .where(Document.dossier_id == dossier.id)
                .order_by(Document.ordinal, Document.id)
            ).all()
            events = session.scalars(
                select(PremisEventRecord)
                .where(PremisEventRecord.dossier_id == dossier.id)
                .order_by(PremisEventRecord.at, PremisEventRecord.id)
            ).all()
            detail = _detail(dossier, documents, events, principal.sees_identity_numbers)
            retention = retention_view(dossier, active_hold_count(session, dossier.id))
            return detail.model_copy(update={"retention": retention})

    def document(
        self,
        principal: Principal,
        dossier_code: str,
        doc_id: str,
        *,
        rendition: str | None = None,
    ) -> DocumentContent:
        """Describe a document's bytes (original, or ``rendition="pdfa"``); nothing is read."""
        with self._database.session() as session:
            dossier = _readable_dossier(session, principal, dossier_code)
            document = session.scalar(
                select(Document).where(Document.dossier_id == dossier.id, Document.doc_id == doc_id)
            )
            if document is None:
                raise DocumentNotFound(f"Hồ sơ {dossier_code} không có tài liệu '{doc_id}'.")
            return _content(dossier, document, rendition)

    def open_document(
        self,
        principal: Principal,
        content: DocumentContent,
        *,
        start: int = 0,
        length: int | None = None,
        remote_addr: str | None = None,
    ) -> AbstractContextManager[BinaryIO]:
        """Audit the read (``document.read``), then open the stored bytes (or a range)."""
        entry = self._repository.state(content.object_id, content.version).get(content.logical_path)
        if entry is None or entry.digest != content.sha256:
            raise StoredContentMismatch(
                f"Gói AIP {content.object_id} ({content.version}) không giữ đúng tệp "
                f"{content.logical_path} như danh mục ghi nhận."
            )
        with self._database.session() as session:
            record_audit(
                session,
                actor=principal.actor,
                role=principal.role,
                action="document.read",
                target_type="document",
                target_id=f"{content.dossier_code}/{content.doc_id}",
                remote_addr=remote_addr,
                detail={
                    "rendition": content.rendition,
                    "aip_version": content.version,
                    "start": start,
                    "length": content.size - start if length is None else length,
                },
            )
        return self._store.open(entry.content_key, start=start, length=length)

    def aip(
        self, principal: Principal, dossier_code: str, *, remote_addr: str | None = None
    ) -> AipDownload:
        """Audit the download (``aip.read``) and list the current AIP version's files."""
        _require(principal, Action.READ_AIP)
        with self._database.session() as session:
            dossier = _readable_dossier(session, principal, dossier_code)
            object_id, version = dossier.aip_object_id, dossier.aip_version
        members = self._aip_members(object_id, version)
        with self._database.session() as session:
            record_audit(
                session,
                actor=principal.actor,
                role=principal.role,
                action="aip.read",
                target_type="dossier",
                target_id=dossier_code,
                remote_addr=remote_addr,
                detail={"aip_object_id": object_id, "aip_version": version, "files": len(members)},
            )
        root = aip_root_name(object_id)
        return AipDownload(dossier_code, object_id, version, f"{root}.zip", members)

    def _aip_members(self, object_id: str, version: str) -> list[ZipMember]:
        """Every logical file of the version, under the AIP root folder, with its size."""
        inventory = self._repository.inventory(object_id)
        created = datetime.fromisoformat(inventory["versions"][version]["created"])
        root = aip_root_name(object_id)
        members = []
        for path, entry in self._repository.state(object_id, version).items():
            key = entry.content_key
            members.append(
                ZipMember(
                    name=f"{root}/{path}",
                    open=partial(self._store.open, key),
                    size=self._store.stat(key).size,
                    modified=created.astimezone(VN_TZ),
                    sha256=entry.digest,
                )
            )
        return members


# --- helpers ------------------------------------------------------------------------------------


def _require(principal: Principal, action: Action) -> None:
    if not principal.may(action):
        raise ReadNotAllowed(f"Vai trò {principal.role} không được phép thực hiện '{action}'.")


def _readable_dossier(session: Session, principal: Principal, dossier_code: str) -> Dossier:
    _require(principal, Action.READ)
    dossier = session.scalar(select(Dossier).where(Dossier.dossier_code == dossier_code))
    if dossier is None or not principal.can_read_agency(dossier.agency_id):
        raise DossierNotFound(f"Không có hồ sơ '{dossier_code}' trong kho lưu trữ.")
    return dossier


def _filtered(statement: _S, principal: Principal, query: DossierQuery) -> _S:
    """``statement`` limited to what ``query`` asks and ``principal`` may read."""
    conditions = []
    if not principal.can_read_agency(query.agency):  # a depositor: its own agency only
        conditions.append(Dossier.agency_id == principal.agency_id)
    if query.agency:
        conditions.append(Dossier.agency_id == query.agency)
    if query.procedure:
        conditions.append(Dossier.procedure_code == query.procedure)
    if query.sector:
        conditions.append(Dossier.sector_code == query.sector)
    if query.status:
        conditions.append(Dossier.final_status == query.status)
    if query.settled_from:
        conditions.append(Dossier.settled_at >= _vietnam_midnight(query.settled_from))
    if query.settled_to:
        conditions.append(
            Dossier.settled_at < _vietnam_midnight(query.settled_to + timedelta(days=1))
        )
    if query.q and query.q.strip():
        pattern = f"%{_escape_like(query.q.strip())}%"
        conditions.append(
            or_(
                Dossier.title.ilike(pattern, escape="\\"),
                Dossier.dossier_code.ilike(pattern, escape="\\"),
                Dossier.file_code.ilike(pattern, escape="\\"),
            )
        )
    return statement.where(*conditions)


def _vietnam_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=VN_TZ)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _summary_fields(row: Dossier) -> dict[str, Any]:
    return {
        "dossier_code": row.dossier_code,
        "agency_id": row.agency_id,
        "title": row.title,
        "file_code": row.file_code,
        "procedure_code": row.procedure_code,
        "procedure_name": row.procedure_name,
        "sector_code": row.sector_code,
        "final_status": row.final_status,
        "received_at": row.received_at,
        "settled_at": row.settled_at,
        "archived_at": row.archived_at,
        "total_doc": row.total_doc,
        "aip_version": row.aip_version,
    }


def _summary(row: Dossier) -> DossierSummary:
    return DossierSummary(**_summary_fields(row))


def _detail(
    row: Dossier,
    documents: Sequence[Document],
    events: Sequence[PremisEventRecord],
    sees_identity_numbers: bool,
) -> DossierDetail:
    id_number = row.applicant_id_number
    metadata = dict(row.metadata_json or {})
    if not sees_identity_numbers:
        id_number = mask_id_number(id_number)
        metadata = mask_value(metadata)
    return DossierDetail(
        **_summary_fields(row),
        aip_object_id=row.aip_object_id,
        start_date=row.start_date,
        end_date=row.end_date,
        maintenance=row.maintenance,
        mode=row.mode,
        applicant=ApplicantView(name=row.applicant_name, id_number=id_number),
        updated_at=row.updated_at,
        metadata=metadata,
        documents=[_document_view(document) for document in documents],
        events=[_event_view(event) for event in events],
    )


def _rendition_view(row: Document) -> RenditionView | None:
    """What the catalogue holds of the document's rendition (None: nothing recorded)."""
    made = bool(row.rendition_path and row.rendition_size is not None and row.rendition_sha256)
    status = row.rendition_status or ("created" if made else None)
    if status is None:
        return None
    if not made:
        return RenditionView(status=status, reason=row.rendition_failure)
    return RenditionView(
        status=status,
        reason=row.rendition_failure,
        file_name=_base_name(row.rendition_path or ""),
        path=row.rendition_path,
        size=row.rendition_size,
        sha256=row.rendition_sha256,
        mime_type=RENDITION_MIME,
        validator=row.rendition_validator,
    )


def _document_view(row: Document) -> DocumentView:
    rendition = _rendition_view(row)
    return DocumentView(
        doc_id=row.doc_id,
        ordinal=row.ordinal,
        title=row.title,
        file_name=row.file_name,
        size=row.size,
        sha256=row.sha256,
        mime_type=row.mime_type,
        format_name=row.format_name,
        pronom_id=row.pronom_id,
        rendition=rendition,
    )


def _event_view(row: PremisEventRecord) -> EventView:
    return EventView(
        event_id=row.event_id,
        event_type=row.event_type,
        at=row.at,
        outcome=row.outcome,
        detail=row.detail,
        agent=row.agent,
    )


def _content(dossier: Dossier, document: Document, rendition: str | None) -> DocumentContent:
    common = {
        "dossier_code": dossier.dossier_code,
        "doc_id": document.doc_id,
        "object_id": dossier.aip_object_id,
        "version": dossier.aip_version,
    }
    if rendition is None:
        return DocumentContent(
            **common,
            rendition=None,
            file_name=document.file_name,
            mime_type=document.mime_type or DEFAULT_MIME,
            size=document.size,
            sha256=document.sha256,
            logical_path=document.logical_path,
        )
    if (
        rendition != RENDITION_PDFA
        or not document.rendition_path
        or document.rendition_size is None
        or not document.rendition_sha256
    ):
        raise RenditionNotFound(
            f"Tài liệu '{document.doc_id}' của hồ sơ {dossier.dossier_code} "
            f"không có bản chuyển đổi '{rendition}'."
        )
    return DocumentContent(
        **common,
        rendition=rendition,
        file_name=_base_name(document.rendition_path),
        mime_type=RENDITION_MIME,
        size=document.rendition_size,
        sha256=document.rendition_sha256,
        logical_path=document.rendition_path,
    )


def _base_name(path: str) -> str:
    return path.rsplit("/", 1)[-1]
