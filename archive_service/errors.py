"""The one error shape of the HTTP API: ``{"error": {"code", "message", "details"}}``.

Routers and HTTP dependencies raise ``ApiError`` (usually through the helpers below); services
raise their own domain exceptions and the routers map them. ``install_error_handlers`` makes
every other error — FastAPI's request validation, unknown routes, wrong methods, unexpected
exceptions — answer in the same shape.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)

Detail = dict[str, Any]
#: Domain exception type → (HTTP status, error code) of the answer.
DomainErrors = Mapping[type[Exception], tuple[int, str]]


class ApiError(Exception):
    """An HTTP error answer: status, stable machine code, message for people, details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Sequence[Detail] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details: list[Detail] = list(details or [])
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON body of the answer."""
        return error_body(self.code, self.message, self.details)

    def response(self) -> JSONResponse:
        """The answer itself."""
        return JSONResponse(
            status_code=self.status,
            content=jsonable_encoder(self.body()),
            headers=self.headers or None,
        )


def error_body(code: str, message: str, details: Sequence[Detail] = ()) -> dict[str, Any]:
    """``{"error": {"code", "message", "details"}}``."""
    return {"error": {"code": code, "message": message, "details": list(details)}}


def bad_request(
    message: str = "Yêu cầu không đúng định dạng.",
    *,
    code: str = "BAD_REQUEST",
    details: Sequence[Detail] | None = None,
) -> ApiError:
    """400: the request cannot be read (malformed body, missing part …)."""
    return ApiError(400, code, message, details)


def unauthorized(
    message: str = "Thiếu khóa API hoặc khóa API không hợp lệ.",
    *,
    code: str = "UNAUTHORIZED",
    details: Sequence[Detail] | None = None,
) -> ApiError:
    """401: no valid ``Authorization: Bearer <key>``; tells the client how to authenticate."""
    return ApiError(401, code, message, details, headers={"WWW-Authenticate": "Bearer"})


def forbidden(
    message: str = "Khóa API này không được phép thực hiện thao tác này.",
    *,
    code: str = "FORBIDDEN",
    details: Sequence[Detail] | None = None,
) -> ApiError:
    """403: authenticated, but the role or the agency does not allow it."""
    return ApiError(403, code, message, details)


def not_found(
    message: str = "Không tìm thấy.",
    *,
    code: str = "NOT_FOUND",
    details: Sequence[Detail] | None = None,
) -> ApiError:
    """404: no such resource (or none this principal may see)."""
    return ApiError(404, code, message, details)


def conflict(
    message: str = "Yêu cầu xung đột với dữ liệu đã có.",
    *,
    code: str = "CONFLICT",
    details: Sequence[Detail] | None = None,
) -> ApiError:
    """409: the request contradicts what the archive already holds."""
    return ApiError(409, code, message, details)


def too_large(
    message: str = "Dữ liệu gửi lên vượt quá giới hạn cho phép.",
    *,
    code: str = "UPLOAD_TOO_LARGE",
    details: Sequence[Detail] | None = None,
) -> ApiError:
    """413: the body is over the configured limit."""
    return ApiError(413, code, message, details)


def unsupported_media_type(
    message: str = "Kiểu nội dung không được hỗ trợ.",
    *,
    code: str = "UNSUPPORTED_MEDIA_TYPE",
    details: Sequence[Detail] | None = None,
) -> ApiError:
    """415: a ``Content-Type`` the endpoint does not take."""
    return ApiError(415, code, message, details)


def unprocessable(
    message: str = "Nội dung yêu cầu không hợp lệ.",
    *,
    code: str = "REQUEST_INVALID",
    details: Sequence[Detail] | None = None,
) -> ApiError:
    """422: readable, but its content is invalid."""
    return ApiError(422, code, message, details)


def unavailable(
    message: str = "Dịch vụ tạm thời không sẵn sàng.",
    *,
    code: str = "UNAVAILABLE",
    details: Sequence[Detail] | None = None,
) -> ApiError:
    """503: a dependency (database, storage, broker) cannot be used now."""
    return ApiError(503, code, message, details)


# --- OpenAPI ------------------------------------------------------------------------------------


class ErrorContent(BaseModel):
    """What went wrong: a stable code for programs, a message for people, details."""

    code: str = Field(examples=["DOSSIER_NOT_FOUND"])
    message: str = Field(examples=["Không có hồ sơ '000.00.19.H56-240610-0001' trong kho lưu trữ."])
    details: list[Detail] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """The body of every error answer."""

    error: ErrorContent


#: An example error of each status, shown in the OpenAPI document.
_EXAMPLES: dict[int, tuple[str, str, str, list[Detail]]] = {
    400: ("Yêu cầu hỏng", "MULTIPART_MALFORMED", "Thân yêu cầu multipart bị cắt cụt.", []),
    401: ("Thiếu hoặc sai khóa API", "AUTH_REQUIRED", "Cần khóa API.", []),
    403: ("Không được phép", "AGENCY_MISMATCH", "Gói SIP thuộc cơ quan khác.", []),
    404: ("Không tìm thấy", "DOSSIER_NOT_FOUND", "Không có hồ sơ này.", []),
    409: ("Xung đột", "DUPLICATE_DOSSIER", "Hồ sơ đã được lưu trữ.", []),
    413: ("Quá lớn", "UPLOAD_TOO_LARGE", "Dữ liệu gửi lên vượt quá giới hạn.", []),
    415: ("Sai kiểu nội dung", "UNSUPPORTED_MEDIA_TYPE", "Kiểu nội dung không được hỗ trợ.", []),
    416: ("Khoảng byte sai", "RANGE_NOT_SATISFIABLE", "Khoảng byte nằm ngoài tệp.", []),
    422: (
        "Tham số không hợp lệ",
        "REQUEST_INVALID",
        "Tham số hoặc nội dung yêu cầu không hợp lệ.",
        [{"loc": ["query", "page"], "type": "greater_than_equal", "message": "≥ 1"}],
    ),
    503: ("Chưa sẵn sàng", "NOT_READY", "Dịch vụ chưa sẵn sàng: storage.", []),
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route: the error shape, with an example, for each status."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        summary, code, message, details = _EXAMPLES[status]
        responses[status] = {
            "model": ErrorResponse,
            "description": summary,
            "content": {"application/json": {"example": error_body(code, message, details)}},
        }
    return responses


# --- handlers -----------------------------------------------------------------------------------

#: Codes of plain HTTP errors raised by the framework itself (unknown route, wrong method …).
_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "UPLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    416: "RANGE_NOT_SATISFIABLE",
}
_HTTP_MESSAGES = {
    404: "Không có tài nguyên này.",
    405: "Phương thức HTTP này không dùng được cho đường dẫn này.",
}


def validation_details(errors: Sequence[Any]) -> list[Detail]:
    """Details of a FastAPI validation error: where (``loc``), what (``type``), why."""
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "type": error.get("type"),
            "message": error.get("msg"),
        }
        for error in errors
    ]


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    error = unprocessable(
        "Tham số hoặc nội dung yêu cầu không hợp lệ.",
        details=validation_details(exc.errors()),
    )
    return error.response()


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    try:
        known: HTTPStatus | None = HTTPStatus(status)
    except ValueError:
        known = None
    code = _HTTP_CODES.get(status) or (known.name if known else "ERROR")
    message = _HTTP_MESSAGES.get(status) or (
        exc.detail if isinstance(exc.detail, str) else known.phrase if known else str(status)
    )
    return ApiError(status, code, message, headers=exc.headers).response()


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return ApiError(500, "INTERNAL", "Lỗi nội bộ của dịch vụ; sự cố đã được ghi lại.").response()


def install_domain_errors(app: FastAPI, mapping: DomainErrors) -> None:
    """Answer each domain exception of ``mapping`` with its status and code; message = ``str``.

    Statuses of 500 and above are also logged (with the exception), the others are not.
    """
    for exception_type, (status, code) in mapping.items():
        app.add_exception_handler(exception_type, _domain_handler(status, code))


def _domain_handler(
    status: int, code: str
) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        if status >= 500:
            logger.error("%s on %s %s", code, request.method, request.url.path, exc_info=exc)
        return ApiError(status, code, str(exc)).response()

    return handle


def install_error_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` answer in the API's error shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
