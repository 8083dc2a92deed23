"""Deposit client: send a SIP ZIP or a plain deposit to the archive over HTTP, then wait for it.

The upload is streamed from disk in chunks (never read whole into memory); an ``UploadProgress``
is told how many bytes went out after each chunk, so a caller can draw a progress bar. The deposit's
status is then polled with growing pauses until it is final (``archived``, ``rejected`` or
``failed``).

Two kinds of failure are told apart: ``DepositRefused`` (the archive answered and refused the
content: 400, 409, 413, 422) and ``DepositClientError`` (nothing usable came back: the network,
the key, the server, or the wait ran out of time).
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import quote

import httpx

from archive_service.streams import FileSource, iter_chunks

DEPOSITS_PATH = "/api/v1/deposits"
FINAL_STATUSES = frozenset({"archived", "rejected", "failed"})
UPLOAD_CHUNK = 256 * 1024
OCTET_STREAM = "application/octet-stream"
#: Status codes that mean "the archive refused this deposit"; any other error is the client's.
REFUSAL_STATUSES = frozenset({400, 409, 413, 422})
#: Longest wait asked of the server in one status request (it allows up to 60 s).
LONG_POLL_SECONDS = 20.0
CONNECT_TIMEOUT_SECONDS = 10.0


class UploadProgress(Protocol):
    """Told the body size before the upload, then each count of bytes as it goes out."""

    def started(self, total: int | None) -> None: ...

    def sent(self, count: int) -> None: ...


class DepositClientError(Exception):
    """The deposit could not be carried out: network, key, server error or time-out."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class DepositRefused(Exception):
    """The archive answered and refused the deposit (its error code, message and details)."""

    def __init__(self, status: int, code: str, message: str, details: list[Any]) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


@dataclass(frozen=True)
class ReceivedFile:
    """What the archive says it received: a name (for plain deposits), SHA-256 and size."""

    sha256: str
    size: int
    name: str | None = None


@dataclass(frozen=True)
class ReportedProblem:
    """One problem the archive found in the deposit."""

    code: str
    path: str | None
    message: str
    field: str | None = None
    severity: str | None = None


@dataclass(frozen=True)
class DepositState:
    """A deposit as the archive reports it."""

    deposit_id: str
    status: str
    dossier_code: str | None = None
    received: tuple[ReceivedFile, ...] = ()
    problems: tuple[ReportedProblem, ...] = ()
    reason: str | None = None
    #: What it waits for without using an attempt (``dossier``, ``storage``), and since when
    #: (ISO 8601, as the archive wrote it).
    waiting_for: str | None = None
    waiting_since: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def final(self) -> bool:
        """True when the deposit will not change any more."""
        return self.status in FINAL_STATUSES

    @property
    def progress(self) -> tuple[str | None, str | None]:
        """What someone following the deposit sees change: its status, or while it waits, what
        it waits for (a server older than this client moved a deposit waiting for its dossier
        to ``checking`` and back at each look, once a second)."""
        return (None, self.waiting_for) if self.waiting_for else (self.status, None)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> DepositState:
        """Read the JSON of ``POST /deposits`` or ``GET /deposits/{id}``."""
        try:
            deposit_id = str(body["deposit_id"])
            status = str(body["status"])
        except (KeyError, TypeError) as exc:
            raise DepositClientError(
                f"câu trả lời của máy chủ thiếu mã hoặc trạng thái giao nộp: {body!r:.200}"
            ) from exc
        return cls(
            deposit_id=deposit_id,
            status=status,
            dossier_code=body.get("dossier_code"),
            received=tuple(_received(body)),
            problems=tuple(_problem(item) for item in body.get("problems") or ()),
            reason=body.get("failure_reason") or body.get("reason"),
            waiting_for=body.get("waiting_for"),
            waiting_since=body.get("waiting_since"),
            raw=dict(body),
        )

    def merged_with(self, earlier: DepositState) -> DepositState:
        """This state, keeping what the deposit answer told (the received files, by name)."""
        return DepositState(
            deposit_id=self.deposit_id,
            status=self.status,
            dossier_code=self.dossier_code or earlier.dossier_code,
            received=earlier.received or self.received,
            problems=self.problems,
            reason=self.reason,
            waiting_for=self.waiting_for,
            waiting_since=self.waiting_since,
            raw=self.raw,
        )


def _received(body: Mapping[str, Any]) -> Iterator[ReceivedFile]:
    items = body.get("received")
    if isinstance(items, Mapping):
        items = [items]
    if not items and body.get("sha256"):
        items = [body]
    for item in items or ():
        if isinstance(item, Mapping) and item.get("sha256") is not None:
            yield ReceivedFile(
                sha256=str(item["sha256"]).lower(),
                size=int(item.get("size") or 0),
                name=item.get("name"),
            )


def _problem(item: Mapping[str, Any]) -> ReportedProblem:
    return ReportedProblem(
        code=str(item.get("code", "")),
        path=item.get("path"),
        message=str(item.get("message", "")),
        field=item.get("field"),
        severity=item.get("severity"),
    )


@dataclass(frozen=True)
class Backoff:
    """Pauses between status polls: ``first`` seconds, times ``factor``, at most ``longest``."""

    first: float = 0.2
    factor: float = 1.5
    longest: float = 2.0

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay
            delay = min(delay * self.factor, self.longest)


@dataclass(frozen=True)
class PlainFile:
    """One file of a plain deposit: its form part, the file name sent, and its content."""

    part: str
    file_name: str
    source: FileSource


class _CountingStream(httpx.SyncByteStream):
    """A request body that reports each chunk as it goes out."""

    def __init__(self, chunks: Iterable[bytes], progress: UploadProgress) -> None:
        self._chunks = chunks
        self._progress = progress

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            yield chunk
            self._progress.sent(len(chunk))


class DepositClient:
    """HTTP client of the deposit endpoints of one archive, authenticated with one API key."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        request_timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._request_timeout = request_timeout
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(request_timeout, connect=CONNECT_TIMEOUT_SECONDS),
            transport=transport,
        )

    def __enter__(self) -> DepositClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def submit_zip(
        self,
        path: Path,
        *,
        idempotency_key: str | None = None,
        progress: UploadProgress | None = None,
    ) -> DepositState:
        """Upload a SIP ZIP as ``application/zip``; check the archive received the same bytes."""
        digest = hashlib.sha256()

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as stream:
                for chunk in iter_chunks(stream, UPLOAD_CHUNK):
                    digest.update(chunk)
                    yield chunk

        size = path.stat().st_size
        request = self._http.build_request(
            "POST",
            DEPOSITS_PATH,
            content=chunks(),
            headers={
                "Content-Type": "application/zip",
                "Content-Length": str(size),
                "Content-Disposition": _attachment(path.name),
                **_idempotency(idempotency_key),
            },
        )
        state = self._send_deposit(request, progress)
        sent = ReceivedFile(sha256=digest.hexdigest(), size=size)
        mismatch = [r for r in state.received if (r.sha256, r.size) != (sent.sha256, sent.size)]
        if mismatch:
            raise DepositClientError(
                f"máy chủ nhận được {mismatch[0].size} byte, SHA-256 {mismatch[0].sha256}, "
                f"khác với tệp đã gửi ({sent.size} byte, SHA-256 {sent.sha256})"
            )
        return state

    def submit_plain(
        self,
        metadata: bytes,
        files: Iterable[PlainFile],
        *,
        idempotency_key: str | None = None,
        progress: UploadProgress | None = None,
    ) -> DepositState:
        """Upload a plain deposit as ``multipart/form-data``: part ``metadata`` plus the files."""
        from archive_service.packages.plain import METADATA_PART

        with ExitStack() as open_files:
            parts: list[tuple[str, tuple[str, Any, str]]] = [
                (METADATA_PART, ("metadata.json", metadata, "application/json"))
            ]
            for item in files:
                stream: BinaryIO = open_files.enter_context(item.source.open())
                content_type = mimetypes.guess_type(item.file_name)[0] or OCTET_STREAM
                parts.append((item.part, (item.file_name, stream, content_type)))
            request = self._http.build_request(
                "POST", DEPOSITS_PATH, files=parts, headers=_idempotency(idempotency_key)
            )
            return self._send_deposit(request, progress)

    def status(
        self, deposit_id: str, *, wait: float = 0.0, final_only: bool = False
    ) -> DepositState:
        """The deposit's state (``GET /deposits/{id}``); with ``wait``, the server answers once
        the status changes or a wait begins or ends (``final_only``: once it ends), or after
        that many seconds (long polling)."""
        params = {"wait": f"{wait:g}"} if wait > 0 else {}
        if params and final_only:
            params["until"] = "final"
        try:
            response = self._http.get(
                f"{DEPOSITS_PATH}/{deposit_id}",
                params=params,
                timeout=httpx.Timeout(
                    self._request_timeout + wait, connect=CONNECT_TIMEOUT_SECONDS
                ),
            )
        except httpx.HTTPError as exc:
            raise DepositClientError(_transport_message(exc)) from exc
        return DepositState.from_json(_json_or_raise(response))

    def wait(
        self,
        first: DepositState,
        *,
        timeout: float,
        backoff: Backoff | None = None,
        on_status: Callable[[DepositState], None] | None = None,
    ) -> DepositState:
        """Wait until the deposit is final; ``DepositClientError`` after ``timeout`` seconds.

        With ``on_status``, the status is read at once (the deposit answer does not carry
        problems or the dossier code) and then by long polls of up to ``LONG_POLL_SECONDS``
        that end at each change, each one passed to ``on_status`` (a change of ``progress``:
        of the status, or of what the deposit waits for); without it, long polls end only at
        the final status (one request for most deposits). A server that answers a long poll
        early without such a change is polled after each pause of ``backoff`` instead.
        """
        deadline = time.monotonic() + timeout
        delays = (backoff or Backoff()).delays()
        state, final_only = first, on_status is None
        if first.final or not final_only:
            state = self.status(first.deposit_id).merged_with(first)
        if on_status is not None and state.progress != first.progress:
            on_status(state)
        while not state.final:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                waiting = (
                    f", chờ '{state.waiting_for}' từ {state.waiting_since}"
                    if state.waiting_for
                    else ""
                )
                raise DepositClientError(
                    f"hết {timeout:g} giây chờ mà giao nộp {state.deposit_id} vẫn ở trạng thái "
                    f"'{state.status}'{waiting}; xem lại sau bằng GET "
                    f"{DEPOSITS_PATH}/{state.deposit_id}"
                )
            previous = state.progress
            wait = min(LONG_POLL_SECONDS, remaining)
            asked = time.monotonic()
            state = self.status(first.deposit_id, wait=wait, final_only=final_only).merged_with(
                state
            )
            answered_early = time.monotonic() - asked < wait / 2
            if state.progress == previous and not state.final and answered_early:
                time.sleep(min(next(delays), max(deadline - time.monotonic(), 0)))
            if on_status is not None and state.progress != previous:
                on_status(state)
        return state

    def _send_deposit(
        self, request: httpx.Request, progress: UploadProgress | None
    ) -> DepositState:
        if progress is not None:
            length = request.headers.get("Content-Length")
            progress.started(int(length) if length else None)
            request.stream = _CountingStream(request.stream, progress)  # type: ignore[arg-type]
        try:
            response = self._http.send(request)
        except httpx.HTTPError as exc:
            raise DepositClientError(_transport_message(exc)) from exc
        return DepositState.from_json(_json_or_raise(response))


def _attachment(file_name: str) -> str:
    """``Content-Disposition`` naming the uploaded file (RFC 6266; UTF-8 names encoded)."""
    if file_name.isascii() and '"' not in file_name and "\\" not in file_name:
        return f'attachment; filename="{file_name}"'
    return f"attachment; filename*=UTF-8''{quote(file_name)}"


def _idempotency(key: str | None) -> dict[str, str]:
    return {"Idempotency-Key": key} if key else {}


def _transport_message(exc: httpx.HTTPError) -> str:
    target = f" {exc.request.url}" if _has_request(exc) else ""
    if isinstance(exc, httpx.ConnectError):
        return f"không kết nối được tới máy chủ lưu trữ{target}: {exc}"
    if isinstance(exc, httpx.TimeoutException):
        return f"máy chủ lưu trữ không trả lời kịp{target}"
    return f"lỗi đường truyền tới máy chủ lưu trữ{target}: {exc}"


def _has_request(exc: httpx.HTTPError) -> bool:
    try:
        exc.request  # noqa: B018 - raises RuntimeError when the error has no request
    except RuntimeError:
        return False
    return True


def _error_body(response: httpx.Response) -> tuple[str, str, list[Any]]:
    """(code, message, details) of the archive's error shape, or a stand-in for other bodies."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, Mapping):
        error = {}
    details = error.get("details")
    return (
        str(error.get("code") or f"HTTP_{response.status_code}"),
        str(error.get("message") or response.text[:300] or response.reason_phrase),
        list(details) if isinstance(details, list) else [],
    )


def _json_or_raise(response: httpx.Response) -> Mapping[str, Any]:
    """The JSON body of a successful answer; the fitting exception for any other."""
    if response.is_success:
        try:
            body = response.json()
        except ValueError as exc:
            raise DepositClientError(
                f"máy chủ trả về nội dung không phải JSON (HTTP {response.status_code})"
            ) from exc
        if not isinstance(body, Mapping):
            raise DepositClientError(f"câu trả lời không đúng dạng: {json.dumps(body)[:200]}")
        return body
    code, message, details = _error_body(response)
    status = response.status_code
    if status == 401:
        raise DepositClientError(f"khóa API không hợp lệ (HTTP 401: {message})", status=status)
    if status == 403:
        raise DepositClientError(
            f"khóa API không được phép làm việc này (HTTP 403: {message})", status=status
        )
    if status == 404:
        raise DepositClientError(
            f"không tìm thấy trên máy chủ (HTTP 404: {message}); kiểm tra lại địa chỉ --url",
            status=status,
        )
    if status in REFUSAL_STATUSES:
        raise DepositRefused(status, code, message, details)
    raise DepositClientError(f"máy chủ lưu trữ báo lỗi HTTP {status}: {message}", status=status)
