"""``archive deposit``: send a SIP ZIP (or plain files and their metadata) and print the receipt.

Exit status: 0 archived, 1 rejected, refused or failed, 2 the deposit could not be carried out
(network, API key, server error, time-out, unreadable input).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:  # the HTTP client is imported when a deposit is made, not at CLI start
    from archive_service.ingest.client import (
        DepositClient,
        DepositRefused,
        DepositState,
        PlainFile,
        UploadProgress,
    )

EXIT_ARCHIVED, EXIT_REFUSED, EXIT_NOT_DONE = 0, 1, 2
DEFAULT_WAIT_SECONDS = 600.0

STATUS_TEXT = {
    "received": "đã nhận",
    "checking": "đang kiểm tra",
    "packaging": "đang đóng gói",
    "storing": "đang lưu",
    "archived": "đã lưu trữ",
    "rejected": "bị từ chối",
    "failed": "thất bại",
}
#: What a deposit waits for, in words (``waiting_for`` of ``GET /deposits/{id}``).
WAITING_TEXT = {
    "dossier": "một giao nộp khác của hồ sơ đang được ghi, hoặc thời hạn bảo quản đang được đổi",
    "storage": "một tiến trình khác đang ghi gói AIP của hồ sơ vào kho",
}


class _BarProgress:
    """An upload progress bar on standard error (only drawn on a terminal)."""

    def __init__(self, label: str) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._label = label
        self._task: Any = None

    def started(self, total: int | None) -> None:
        self._progress.start()
        self._task = self._progress.add_task(self._label, total=total)

    def sent(self, count: int) -> None:
        self._progress.advance(self._task, count)

    def stop(self) -> None:
        self._progress.stop()


def deposit(
    path: Annotated[
        Path | None, typer.Argument(help="SIP ZIP to deposit (or use --metadata and --files)")
    ] = None,
    url: Annotated[
        str | None, typer.Option(envvar="ARCHIVE_URL", help="address of the archive service")
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(envvar="ARCHIVE_API_KEY", help="depositor API key", show_default=False),
    ] = None,
    metadata: Annotated[Path | None, typer.Option(help="plain deposit: the metadata JSON")] = None,
    files: Annotated[
        Path | None, typer.Option(help="plain deposit: folder holding the documents")
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="same key = same deposit, however often it is sent")
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="seconds to wait for the final status")
    ] = DEFAULT_WAIT_SECONDS,
    as_json: Annotated[bool, typer.Option("--json", help="print the receipt as JSON")] = False,
) -> None:
    """Deposit a dossier, wait until it is archived, rejected or failed, print the receipt.

    Exit 0 archived, 1 rejected or failed, 2 when the deposit could not be carried out.
    """
    from archive_service.ingest.client import DepositClient, DepositClientError, DepositRefused

    if not url or not key:
        _fail("thiếu --url hoặc --key (hoặc biến môi trường ARCHIVE_URL / ARCHIVE_API_KEY)")
    on_terminal = sys.stderr.isatty()  # progress and status changes only for a person
    progress = _BarProgress("Tải lên") if on_terminal else None
    try:
        with DepositClient(url, key) as client:
            try:
                first = _submit(client, path, metadata, files, idempotency_key, progress)
            finally:
                if progress is not None:
                    progress.stop()
            if on_terminal:
                _announce(first)
            final = client.wait(
                first, timeout=timeout, on_status=_announce if on_terminal else None
            )
    except DepositRefused as refused:
        _print_refusal(refused, as_json)
        raise typer.Exit(EXIT_REFUSED) from refused
    except DepositClientError as error:
        _fail(error.message, as_json)
    _print_receipt(final, as_json)
    raise typer.Exit(EXIT_ARCHIVED if final.status == "archived" else EXIT_REFUSED)


def _submit(
    client: DepositClient,
    path: Path | None,
    metadata: Path | None,
    files: Path | None,
    idempotency_key: str | None,
    progress: UploadProgress | None,
) -> DepositState:
    if path is not None and (metadata is not None or files is not None):
        _fail("chỉ gửi một trong hai: tệp ZIP, hoặc --metadata cùng --files")
    if path is not None:
        if not path.is_file():
            _fail(f"không tìm thấy tệp {path}")
        return client.submit_zip(path, idempotency_key=idempotency_key, progress=progress)
    if metadata is None or files is None:
        _fail("cần một tệp ZIP, hoặc cả --metadata (JSON) lẫn --files (thư mục tài liệu)")
    metadata_bytes, plain_files = _plain_deposit(metadata, files)
    return client.submit_plain(
        metadata_bytes, plain_files, idempotency_key=idempotency_key, progress=progress
    )


def _plain_deposit(metadata: Path, folder: Path) -> tuple[bytes, list[PlainFile]]:
    """The metadata bytes and the files it names, found in ``folder``."""
    from archive_service.ingest.client import PlainFile
    from archive_service.packages.plain import PlainDeposit, files_from_folder
    from archive_service.packages.problems import PackageInvalid

    if not metadata.is_file():
        _fail(f"không tìm thấy tệp siêu dữ liệu {metadata}")
    if not folder.is_dir():
        _fail(f"không tìm thấy thư mục tài liệu {folder}")
    raw = metadata.read_bytes()
    try:
        plain = PlainDeposit.from_json_bytes(raw)
    except PackageInvalid as exc:
        for problem in exc.problems:
            typer.echo(f"{problem.code.value}  {problem.path}: {problem.message}", err=True)
        raise typer.Exit(EXIT_REFUSED) from exc
    sources = files_from_folder(plain, folder)
    missing = [doc.file_name or doc.name for doc in plain.documents if doc.name not in sources]
    if missing:
        _fail(f"không tìm thấy trong {folder}: {', '.join(missing)}")
    found = [
        PlainFile(
            part=doc.name,
            file_name=Path(doc.file_name).name if doc.file_name else doc.name,
            source=sources[doc.name],
        )
        for doc in plain.documents
    ]
    return raw, found


def _announce(state: DepositState) -> None:
    line = f"Giao nộp {state.deposit_id}: {_status_text(state.status)}"
    if state.waiting_for:
        reason = WAITING_TEXT.get(state.waiting_for, state.waiting_for)
        line += f" — đang chờ ({reason}) từ {state.waiting_since or '?'}"
    typer.echo(line, err=True)


def _status_text(status: str) -> str:
    shown = STATUS_TEXT.get(status)
    return f"{status} ({shown})" if shown else status


def receipt_dict(state: DepositState) -> dict[str, Any]:
    """The receipt as JSON-ready data."""
    return {
        "deposit_id": state.deposit_id,
        "status": state.status,
        "dossier_code": state.dossier_code,
        "received": [
            {"name": item.name, "sha256": item.sha256, "size": item.size} for item in state.received
        ],
        "problems": [
            {
                "code": p.code,
                "path": p.path,
                "field": p.field,
                "severity": p.severity,
                "message": p.message,
            }
            for p in state.problems
        ],
        "failure_reason": state.reason,
    }


def _print_receipt(state: DepositState, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(receipt_dict(state), ensure_ascii=False, indent=2))
        return
    lines = [
        f"Mã giao nộp:  {state.deposit_id}",
        f"Mã hồ sơ:     {state.dossier_code or '-'}",
        f"Trạng thái:   {_status_text(state.status)}",
    ]
    for item in state.received:
        name = f"{item.name}: " if item.name else ""
        lines.append(f"Đã nhận:      {name}{item.size} byte, SHA-256 {item.sha256}")
    if state.reason:
        lines.append(f"Lý do:        {state.reason}")
    if state.problems:
        lines.append(f"Vấn đề ({len(state.problems)}):")
        for problem in state.problems:
            where = (problem.path or "-") + (f" <{problem.field}>" if problem.field else "")
            lines.append(f"  {problem.code}  {where}: {problem.message}")
    typer.echo("\n".join(lines))


def _print_refusal(refused: DepositRefused, as_json: bool) -> None:
    if as_json:
        error = {"code": refused.code, "message": refused.message, "details": refused.details}
        payload = {"http_status": refused.status, "error": error}
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    lines = [f"Bị từ chối (HTTP {refused.status}, {refused.code}): {refused.message}"]
    for detail in refused.details:
        if isinstance(detail, dict) and "message" in detail:
            where = detail.get("path") or "-"
            lines.append(f"  {detail.get('code', '')}  {where}: {detail['message']}")
        else:
            lines.append(f"  {detail}")
    typer.echo("\n".join(lines))


def _fail(message: str, as_json: bool = False) -> NoReturn:
    """Report that the deposit could not be carried out and exit 2."""
    if as_json:
        typer.echo(json.dumps({"error": {"message": message}}, ensure_ascii=False))
    typer.echo(f"Lỗi: {message}", err=True)
    raise typer.Exit(EXIT_NOT_DONE)
