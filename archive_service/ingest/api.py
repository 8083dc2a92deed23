"""HTTP routes of deposits: receive a SIP ZIP or a plain multipart deposit, report its status.

Thin: the body is streamed to the staging area (never held whole in memory), handed to
``DepositService`` and answered with ``202``; the pipeline runs in the background. Whatever the
request ends with — a refusal, a client that goes away, an error — the bytes it brought are
removed from the staging area unless a deposit was registered for them.
"""

from __future__ import annotations

from email.message import Message
from enum import StrEnum
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from archive_service.config import Settings
from archive_service.errors import (
    DomainErrors,
    bad_request,
    error_responses,
    too_large,
    unprocessable,
    unsupported_media_type,
)
from archive_service.ingest.errors import (
    AgencyMismatch,
    DepositForbidden,
    DepositNotFound,
    DuplicateDossier,
    IdempotencyKeyReused,
)
from archive_service.ingest.multipart import (
    FormTooLarge,
    MalformedForm,
    ReceivedForm,
    receive_form,
)
from archive_service.ingest.service import (
    DepositProgress,
    DepositReceipt,
    DepositService,
    DepositView,
)
from archive_service.ingest.staging import UploadTooLarge, discard, stage_upload
from archive_service.ingest.status_bell import StatusBell
from archive_service.packages.plain import METADATA_PART
from archive_service.packages.problems import PackageInvalid
from archive_service.security.api import CurrentPrincipal, require_action
from archive_service.security.service import Action, Principal

ZIP_MEDIA_TYPES = frozenset({"application/zip", "application/x-zip-compressed"})
FORM_MEDIA_TYPE = "multipart/form-data"
MAX_METADATA_BYTES = 16 * 1024 * 1024
DEFAULT_ZIP_NAME = "SIP.zip"
#: Longest ``wait`` a status request may ask for, and how often the status is looked at
#: meanwhile (doubling from the first pause to the longest).
MAX_STATUS_WAIT_SECONDS = 60.0
STATUS_CHECK_FIRST_SECONDS = 0.05
STATUS_CHECK_LONGEST_SECONDS = 0.4


class WaitUntil(StrEnum):
    """What a long-polling status request waits for."""

    CHANGE = "change"  # any new status, or a wait begun or ended
    FINAL = "final"  # archived, rejected or failed


router = APIRouter(prefix="/deposits", tags=["deposits"])

#: How the deposit service's refusals (and an upload cut short) answer.
DEPOSIT_ERRORS: DomainErrors = {
    DepositNotFound: (404, "DEPOSIT_NOT_FOUND"),
    DepositForbidden: (403, "FORBIDDEN"),
    AgencyMismatch: (403, "AGENCY_MISMATCH"),
    DuplicateDossier: (409, "DUPLICATE_DOSSIER"),
    IdempotencyKeyReused: (422, "IDEMPOTENCY_KEY_REUSED"),
    UploadTooLarge: (413, "UPLOAD_TOO_LARGE"),
    FormTooLarge: (413, "UPLOAD_TOO_LARGE"),
    MalformedForm: (400, "MULTIPART_MALFORMED"),
    ClientDisconnect: (400, "UPLOAD_INTERRUPTED"),
}


class ReceivedItem(BaseModel):
    """A file as the archive received it."""

    name: str = Field(examples=["SIP.zip"])
    sha256: str = Field(examples=["9f2c…e41a"], description="lower-case hex")
    size: int = Field(examples=[524288])


class DepositAccepted(BaseModel):
    """The answer to a deposit: its id, its status, and what was received."""

    deposit_id: str = Field(examples=["5b0f8c1e-2a43-4c77-9d1e-6f3b2a8c9d10"])
    status: str = Field(examples=["received"])
    received: list[ReceivedItem]


_DEPOSIT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/zip": {
                "schema": {"type": "string", "format": "binary"},
                "example": "(the bytes of a SIP_hoso ZIP)",
            },
            FORM_MEDIA_TYPE: {
                "schema": {
                    "type": "object",
                    "required": [METADATA_PART],
                    "properties": {
                        METADATA_PART: {
                            "type": "string",
                            "description": "plain-deposit metadata JSON",
                        },
                    },
                    "additionalProperties": {"type": "string", "format": "binary"},
                },
                "example": {
                    METADATA_PART: '{"dossier": {"title": "Hồ sơ cấp giấy phép xây dựng", '
                    '"maintenance": "06"}, "tthc": {"dossierCode": "000.00.19.H56-240610-0001", '
                    '…}, "documents": [{"name": "don", "typeName": "02", …}]}',
                    "don": "(the bytes of the file named 'don' in the metadata)",
                },
            },
        },
    }
}


async def deposit_service(request: Request) -> DepositService:
    """The application's deposit service (``async``: no worker thread for a lookup)."""
    service: DepositService = request.app.state.deposits
    return service


async def status_bell(request: Request) -> StatusBell:
    """The application's bell for deposits whose task just ended."""
    bell: StatusBell = request.app.state.status_bell
    return bell


Service = Annotated[DepositService, Depends(deposit_service)]
Bell = Annotated[StatusBell, Depends(status_bell)]
Depositor = Annotated[Principal, Depends(require_action(Action.DEPOSIT))]


@router.post(
    "",
    status_code=202,
    response_model=DepositAccepted,
    summary="Deposit a dossier (SIP ZIP or plain multipart)",
    openapi_extra=_DEPOSIT_BODY,
    responses=error_responses(400, 401, 403, 409, 413, 415, 422),
)
async def create_deposit(
    request: Request,
    response: Response,
    principal: Depositor,
    service: Service,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", max_length=200, description="repeat-safe request id"),
    ] = None,
) -> DepositAccepted:
    """Receive a deposit; it is checked, packaged and stored in the background.

    The same ``Idempotency-Key`` (or the same SIP bytes) from the same agency returns the first
    deposit. Poll ``GET /api/v1/deposits/{deposit_id}`` for its status.
    """
    settings: Settings = request.app.state.settings
    _refuse_declared_oversize(request, settings.limits.max_upload_bytes)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type in ZIP_MEDIA_TYPES:
        receipt, received = await _deposit_zip(
            request, settings, service, principal, idempotency_key
        )
    elif media_type == FORM_MEDIA_TYPE:
        receipt, received = await _deposit_plain(
            request, settings, service, principal, idempotency_key
        )
    else:
        raise unsupported_media_type(
            f"Kiểu nội dung '{media_type or '(không có)'}' không được nhận: gửi application/zip "
            "(gói SIP) hoặc multipart/form-data (phần 'metadata' và các tệp)."
        )
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{receipt.deposit_id}"
    return DepositAccepted(deposit_id=receipt.deposit_id, status=receipt.status, received=received)


#: A deposit at its end, as ``GET /api/v1/deposits/{id}`` shows it (the OpenAPI example).
DEPOSIT_STATUS_EXAMPLE = {
    "deposit_id": "5b0f8c1e-2a43-4c77-9d1e-6f3b2a8c9d10",
    "agency_id": "000.00.19.H56",
    "kind": "zip",
    "status": "archived",
    "final": True,
    "sha256": "9f2c4d0b7e1a35c8f6d2e9b4a1c7f3e8d5b2a9c6e3f0d7a4b1c8e5f2a9d6c3e41a",
    "size": 524288,
    "dossier_code": "000.00.19.H56-240610-0001",
    "record_status": "NEW",
    "aip_version": "v1",
    "problems": [],
    "attempts": 1,
    "failure_reason": None,
    "received_at": "2024-06-12T08:30:00Z",
    "updated_at": "2024-06-12T08:30:04Z",
    "finished_at": "2024-06-12T08:30:04Z",
    "next_attempt_at": None,
    "waiting_for": None,
    "waiting_since": None,
}


@router.get(
    "/{deposit_id}",
    summary="Status of a deposit",
    responses={
        200: {"content": {"application/json": {"example": DEPOSIT_STATUS_EXAMPLE}}},
        **error_responses(401, 404),
    },
)
async def get_deposit(
    principal: CurrentPrincipal,
    service: Service,
    bell: Bell,
    deposit_id: str,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=MAX_STATUS_WAIT_SECONDS,
            description="Chờ tối đa chừng ấy giây đến khi trạng thái đổi (hoặc giao nộp bắt "
            "đầu hay thôi chờ: `waiting_for`) hoặc kết thúc (long polling); 0: trả lời ngay.",
        ),
    ] = 0,
    until: Annotated[
        WaitUntil,
        Query(
            description="Với `wait`: trả lời khi trạng thái đổi hay việc chờ bắt đầu hoặc "
            "thôi (`change`, mặc định), hay chỉ "
            "khi đã kết thúc (`final`: archived, rejected hoặc failed).",
        ),
    ] = WaitUntil.CHANGE,
) -> DepositView:
    """Where the deposit is, with every problem found, its dossier code and times.

    With ``wait``, the answer comes as soon as the status changes or the deposit starts or
    stops waiting (``until=final``: as soon as it reaches its end), or when the time is up —
    one request instead of many polls (looking again at once when a task of the deposit ends
    in this process: ``status_bell``)."""
    view = await run_in_threadpool(service.get, principal, deposit_id)
    if view.final or wait <= 0:
        return view
    final_only = until is WaitUntil.FINAL
    changed = await _next_view(
        service, bell, principal, deposit_id, view.progress, wait, final_only=final_only
    )
    if changed is not None:
        return changed
    # Time up without the news waited for: the view as it is now (status, attempts, times).
    return await run_in_threadpool(service.get, principal, deposit_id)


async def _next_view(
    service: DepositService,
    bell: StatusBell,
    principal: Principal,
    deposit_id: str,
    seen: DepositProgress,
    wait: float,
    *,
    final_only: bool = False,
) -> DepositView | None:
    """The deposit's view once its status or wait is no longer as ``seen`` (``final_only``:
    once it is final); ``None`` after ``wait`` s.

    Looks again after pauses doubling from ``STATUS_CHECK_FIRST_SECONDS`` to
    ``STATUS_CHECK_LONGEST_SECONDS``, and at once when the bell rings for the deposit; each
    look reads the status and wait alone unless they changed (``view_if_changed``)."""
    deadline = anyio.current_time() + wait
    pause = STATUS_CHECK_FIRST_SECONDS
    while anyio.current_time() < deadline:
        await bell.wait(deposit_id, min(pause, max(deadline - anyio.current_time(), 0)))
        pause = min(pause * 2, STATUS_CHECK_LONGEST_SECONDS)
        view = await run_in_threadpool(
            service.view_if_changed, principal, deposit_id, seen, final_only=final_only
        )
        if view is not None:
            return view
    return None


async def _deposit_zip(
    request: Request,
    settings: Settings,
    service: DepositService,
    principal: Principal,
    idempotency_key: str | None,
) -> tuple[DepositReceipt, list[ReceivedItem]]:
    """Stage the ZIP body and register it (the service consumes the staged file)."""
    staged = await stage_upload(
        request.stream(), settings.staging_dir, settings.limits.max_upload_bytes
    )
    if staged.size == 0:
        discard(staged)
        raise bad_request("Thân yêu cầu rỗng: không có gói SIP nào được gửi.", code="EMPTY_BODY")
    receipt = await run_in_threadpool(
        service.register_zip,
        principal,
        staged,
        idempotency_key=idempotency_key,
        remote_addr=_client(request),
    )
    received = ReceivedItem(name=_upload_name(request), sha256=staged.sha256, size=staged.size)
    return receipt, [received]


async def _deposit_plain(
    request: Request,
    settings: Settings,
    service: DepositService,
    principal: Principal,
    idempotency_key: str | None,
) -> tuple[DepositReceipt, list[ReceivedItem]]:
    """Receive the form (``metadata`` + file parts), register it, then drop the received parts."""
    form = await receive_form(
        request.stream(),
        request.headers["content-type"],
        settings.staging_dir,
        max_bytes=settings.limits.max_upload_bytes,
        field_names={METADATA_PART},
        max_field_bytes=MAX_METADATA_BYTES,
    )
    try:
        receipt = await _register_plain(service, principal, form, idempotency_key, _client(request))
    finally:
        form.discard()
    received = [
        ReceivedItem(name=item.name, sha256=item.sha256, size=item.size)
        for item in form.files.values()
    ]
    return receipt, received


async def _register_plain(
    service: DepositService,
    principal: Principal,
    form: ReceivedForm,
    idempotency_key: str | None,
    remote_addr: str | None,
) -> DepositReceipt:
    """Register a plain deposit; invalid metadata or files are 422 with every problem."""
    metadata = form.fields.get(METADATA_PART)
    if not metadata:
        raise bad_request(
            f"Biểu mẫu thiếu phần '{METADATA_PART}' (JSON mô tả hồ sơ và tài liệu).",
            code="MULTIPART_MALFORMED",
        )
    files = {name: item.source() for name, item in form.files.items()}
    try:
        return await run_in_threadpool(
            service.register_plain,
            principal,
            metadata,
            files,
            idempotency_key=idempotency_key,
            remote_addr=remote_addr,
        )
    except PackageInvalid as exc:
        raise unprocessable(
            f"Gói nộp lưu dạng tệp rời không hợp lệ: {len(exc.problems)} lỗi.",
            code="PLAIN_DEPOSIT_INVALID",
            details=[problem.as_dict() for problem in exc.problems],
        ) from exc


def _refuse_declared_oversize(request: Request, limit: int) -> None:
    """413 before reading anything when ``Content-Length`` already says the body is too big."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(f"Gói nộp lưu {declared} byte, lớn hơn giới hạn {limit} byte.")


def _upload_name(request: Request) -> str:
    """The file name the client gave (``Content-Disposition``), else ``SIP.zip``."""
    header = request.headers.get("content-disposition")
    if header:
        message = Message()
        message["content-disposition"] = header
        name = message.get_filename()
        if name:
            return name.rsplit("/", 1)[-1]
    return DEFAULT_ZIP_NAME


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None
