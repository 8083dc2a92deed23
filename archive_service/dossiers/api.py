"""HTTP routes of archived dossiers: search, metadata, document bytes, the AIP as a ZIP.

Thin: parse the request, call ``DossierService``, shape the answer. Documents are streamed with
``Digest``, ``ETag``, ``Content-Disposition`` (UTF-8 file name), single byte ranges (``206``,
``416``) and ``If-None-Match`` (``304``). A depositor asking for another agency's dossier gets
``404 DOSSIER_NOT_FOUND``, as for a dossier that does not exist.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from typing import Annotated, BinaryIO
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response, StreamingResponse

from archive_service.dossiers.service import (
    DocumentContent,
    DocumentNotFound,
    DossierDetail,
    DossierNotFound,
    DossierPage,
    DossierQuery,
    DossierService,
    ReadNotAllowed,
    RenditionNotFound,
    StoredContentMismatch,
)
from archive_service.dossiers.zipstream import stream_zip
from archive_service.errors import ApiError, DomainErrors, error_responses
from archive_service.security.api import CurrentPrincipal
from archive_service.storage.base import StorageUnavailable
from archive_service.streams import iter_chunks

DOWNLOAD_CHUNK = 256 * 1024

router = APIRouter(prefix="/dossiers", tags=["dossiers"])

#: How the dossier service's refusals answer.
DOSSIER_ERRORS: DomainErrors = {
    DossierNotFound: (404, "DOSSIER_NOT_FOUND"),
    DocumentNotFound: (404, "DOCUMENT_NOT_FOUND"),
    RenditionNotFound: (404, "RENDITION_NOT_FOUND"),
    ReadNotAllowed: (403, "FORBIDDEN"),
    StoredContentMismatch: (500, "STORED_CONTENT_MISMATCH"),
    StorageUnavailable: (503, "STORAGE_UNAVAILABLE"),
}


async def dossier_service(request: Request) -> DossierService:
    """The application's dossier service (``async``: FastAPI runs it on the event loop, not
    on a worker thread)."""
    service: DossierService = request.app.state.dossiers
    return service


Service = Annotated[DossierService, Depends(dossier_service)]


@router.get(
    "",
    response_model=DossierPage,
    summary="Search archived dossiers",
    responses=error_responses(401, 422),
)
def search_dossiers(
    principal: CurrentPrincipal,
    service: Service,
    agency: Annotated[str | None, Query(description="agency id (depositors: their own)")] = None,
    procedure: Annotated[str | None, Query(description="TTHC procedure code")] = None,
    sector: Annotated[str | None, Query(description="sector code")] = None,
    status: Annotated[str | None, Query(description="final status of the dossier")] = None,
    settled_from: Annotated[date | None, Query(description="settled on or after (UTC+7)")] = None,
    settled_to: Annotated[date | None, Query(description="settled on or before (UTC+7)")] = None,
    q: Annotated[str | None, Query(max_length=200, description="words of title or code")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 20,
) -> DossierPage:
    """Dossiers matching every filter given, most recently settled first, one page at a time."""
    query = DossierQuery(
        agency=agency,
        procedure=procedure,
        sector=sector,
        status=status,
        settled_from=settled_from,
        settled_to=settled_to,
        q=q,
        page=page,
        page_size=page_size,
    )
    return service.search(principal, query)


@router.get(
    "/{dossier_code}",
    response_model=DossierDetail,
    summary="Metadata, documents and events of a dossier",
    responses=error_responses(401, 404),
)
def get_dossier(principal: CurrentPrincipal, service: Service, dossier_code: str) -> DossierDetail:
    """The dossier as catalogued (identity numbers masked except for archivists and admins)."""
    return service.get(principal, dossier_code)


@router.get(
    "/{dossier_code}/documents/{doc_id}",
    summary="Bytes of a document (or of its PDF/A rendition)",
    response_class=StreamingResponse,
    responses={
        200: {"description": "The bytes", "content": {"application/octet-stream": {}}},
        206: {"description": "The requested byte range"},
        304: {"description": "Not modified (If-None-Match)"},
        **error_responses(401, 404, 416),
    },
)
def read_document(
    request: Request,
    principal: CurrentPrincipal,
    service: Service,
    dossier_code: str,
    doc_id: str,
    rendition: Annotated[str | None, Query(description="'pdfa' for the PDF/A rendition")] = None,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
    if_none_match: Annotated[str | None, Header()] = None,
    if_range: Annotated[str | None, Header()] = None,
) -> Response:
    """Stream the document; every read is written to the audit trail."""
    content = service.document(principal, dossier_code, doc_id, rendition=rendition)
    headers = _document_headers(content)
    if if_none_match is not None and etag_matches(if_none_match, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    wanted = range_header if if_range is None or if_range.strip() == headers["ETag"] else None
    selected = parse_range(wanted, content.size)
    opened = service.open_document(
        principal,
        content,
        start=selected.start,
        length=selected.length,
        remote_addr=_client(request),
    )
    headers["Content-Length"] = str(selected.length)
    status = 200
    if selected.partial:
        status = 206
        headers["Content-Range"] = f"bytes {selected.start}-{selected.end}/{content.size}"
    return StreamingResponse(
        _chunks(opened), status_code=status, media_type=content.mime_type, headers=headers
    )


@router.get(
    "/{dossier_code}/aip",
    summary="The current AIP version as a ZIP (auditors)",
    response_class=StreamingResponse,
    responses={
        200: {"description": "The AIP, streamed", "content": {"application/zip": {}}},
        **error_responses(401, 403, 404),
    },
)
def download_aip(
    request: Request, principal: CurrentPrincipal, service: Service, dossier_code: str
) -> StreamingResponse:
    """Every file of the current AIP version under its root folder, streamed as it is read."""
    download = service.aip(principal, dossier_code, remote_addr=_client(request))
    return StreamingResponse(
        stream_zip(download.members),
        media_type="application/zip",
        headers={
            "Content-Disposition": content_disposition(download.file_name),
            "X-AIP-Version": download.version,
        },
    )


# --- HTTP details -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ByteRange:
    """The bytes to send: ``start`` to ``end`` inclusive; ``partial`` when a range was asked."""

    start: int
    end: int
    partial: bool

    @property
    def length(self) -> int:
        return self.end - self.start + 1


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def parse_range(header: str | None, size: int) -> ByteRange:
    """The byte range a ``Range`` header selects from ``size`` bytes (all of them without one).

    A single, valid ``bytes=`` range is honoured (``a-b``, ``a-``, ``-n``); a header that is not
    one (several ranges, another unit, bad syntax, ``b < a``) is ignored and the whole file is
    sent (RFC 9110 §14.2). A range that selects nothing raises ``ApiError`` 416 with
    ``Content-Range: bytes */<size>``.
    """
    whole = ByteRange(0, size - 1, partial=False)
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None or match.groups() == ("", ""):
        return whole
    first, last = match.groups()
    if first == "":
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(header or "", size)
        return ByteRange(max(0, size - suffix), size - 1, partial=True)
    start = int(first)
    if last != "" and int(last) < start:
        return whole
    if start >= size:
        raise _unsatisfiable(header or "", size)
    end = size - 1 if last == "" else min(int(last), size - 1)
    return ByteRange(start, end, partial=True)


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Whether an ``If-None-Match`` list names ``etag`` (weak comparison) or is ``*``."""
    candidates = [tag.strip() for tag in if_none_match.split(",")]
    return "*" in candidates or any(tag.removeprefix("W/") == etag for tag in candidates)


def content_disposition(file_name: str, disposition: str = "attachment") -> str:
    """``attachment`` with an ASCII ``filename`` and the exact UTF-8 ``filename*``."""
    ascii_name = unicodedata.normalize("NFKD", file_name).encode("ascii", "ignore").decode()
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", ascii_name).strip() or "download"
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file_name, safe='')}"


def digest_header(sha256_hex: str) -> str:
    """``sha-256=<base64 of the digest>`` (RFC 3230 ``Digest``)."""
    return "sha-256=" + base64.b64encode(bytes.fromhex(sha256_hex)).decode("ascii")


def _document_headers(content: DocumentContent) -> dict[str, str]:
    return {
        "ETag": f'"{content.sha256}"',
        "Digest": digest_header(content.sha256),
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition(content.file_name),
        "Cache-Control": "private, no-cache",
    }


def _unsatisfiable(header: str, size: int) -> ApiError:
    return ApiError(
        416,
        "RANGE_NOT_SATISFIABLE",
        f"Khoảng byte '{header}' nằm ngoài tệp ({size} byte).",
        headers={"Content-Range": f"bytes */{size}"},
    )


def _chunks(opened: AbstractContextManager[BinaryIO]) -> Iterator[bytes]:
    with opened as stream:
        yield from iter_chunks(stream, DOWNLOAD_CHUNK)


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None
