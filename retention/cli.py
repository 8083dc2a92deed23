"""``archive retention …``: check and show the retention schedule; run the daily task;
recompute terms computed with another schedule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from archive_service.cli_groups import command_group
from retention.schedule import ScheduleReport, read_schedule

if TYPE_CHECKING:
    from retention.recompute import RecomputeReport

retention_app = command_group(
    help="Retention: schedule of retention terms, daily review and storage locks.",
    no_args_is_help=True,
)
schedule_app = command_group(help="The retention schedule (CSV).", no_args_is_help=True)
retention_app.add_typer(schedule_app, name="schedule")

EXIT_VALID, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2

JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]


@schedule_app.command("check")
def schedule_check(
    file: Annotated[Path, typer.Argument(help="schedule CSV file to check")],
    as_json: JsonOption = False,
) -> None:
    """Validate a schedule file. Exit 0 valid, 1 errors (each with its line), 2 unreadable."""
    report = _read(file)
    if as_json:
        payload = {
            "file": str(file),
            "valid": report.valid,
            "version": report.schedule.version if report.schedule else None,
            "rows": len(report.schedule.rows) if report.schedule else 0,
            "errors": [error.as_dict() for error in report.errors],
        }
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        for error in report.errors:
            typer.echo(error.describe(str(file)))
        if report.schedule:
            schedule = report.schedule
            typer.echo(
                f"HỢP LỆ: danh mục {file}, phiên bản {schedule.version}, {len(schedule.rows)} dòng"
            )
        else:
            typer.echo(f"KHÔNG HỢP LỆ: {len(report.errors)} lỗi")
    raise typer.Exit(EXIT_VALID if report.valid else EXIT_INVALID)


@schedule_app.command("show")
def schedule_show(
    file: Annotated[
        Path | None, typer.Option(help="schedule CSV; default: the configured one")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Print the rows of the schedule in force (or of FILE) with their legal basis."""
    if file is None:
        from archive_service.config import get_settings

        file = get_settings().retention_schedule_path
    report = _read(file)
    if report.schedule is None:
        for error in report.errors:
            typer.echo(error.describe(str(file)), err=True)
        raise typer.Exit(EXIT_INVALID)
    schedule = report.schedule
    if as_json:
        typer.echo(json.dumps(schedule.as_dict(), ensure_ascii=False, indent=2))
        return
    effective = schedule.effective.isoformat() if schedule.effective else "?"
    typer.echo(f"Danh mục {file} — phiên bản {schedule.version}, hiệu lực {effective}")
    for row in schedule.rows:
        term = "theo khai báo" if row.term is None else str(row.term)
        typer.echo(f"{row.line:>4}  {row.key:<16} {term:<18} {row.name}")
        typer.echo(f"      căn cứ: {row.legal_basis}")
        if row.note:
            typer.echo(f"      ghi chú: {row.note}")


def _read(file: Path) -> ScheduleReport:
    try:
        return read_schedule(file)
    except OSError as exc:
        typer.echo(f"Không đọc được danh mục {file}: {exc.strerror or exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc


@retention_app.command("daily")
def daily(as_json: JsonOption = False) -> None:
    """Run the daily task once; run it once a day (cron, systemd timer).

    It applies pending storage locks and legal holds, extends the locks of permanent dossiers
    and lists the dossiers due for review ("Xem xét hủy")."""
    from dataclasses import asdict

    from archive_service.config import get_settings
    from archive_service.db.cli import open_migrated_database
    from archive_service.storage.setup import open_archive_repository
    from retention.daily import run_daily

    settings = get_settings()
    database = open_migrated_database(settings)
    try:
        report = run_daily(database, open_archive_repository(settings), settings)
    finally:
        database.dispose()
    if as_json:
        typer.echo(json.dumps(asdict(report), ensure_ascii=False, indent=2, default=str))
        return
    typer.echo(f"Ngày {report.today.isoformat()}:")
    if report.recomputed is not None:
        _echo_recompute(report.recomputed, indent="  ")
    typer.echo(f"  khóa lưu trữ vừa áp dụng: {len(report.locked)} hồ sơ")
    typer.echo(f"  giữ pháp lý vừa đồng bộ: {len(report.holds_synced)} hồ sơ")
    typer.echo(f"  khóa vĩnh viễn được gia hạn: {len(report.extended)} hồ sơ")
    typer.echo(f"  chuyển sang 'Xem xét hủy': {len(report.marked_due)} hồ sơ")
    for code in report.marked_due:
        typer.echo(f"    {code}")


@retention_app.command("recompute")
def recompute(as_json: JsonOption = False) -> None:
    """Recompute the term of every dossier computed with another retention schedule.

    A longer term is applied, with a new AIP version; a shorter one is not, and a warning
    event says so. The service also does it when it starts, and the daily task every day."""
    from dataclasses import asdict

    from archive_service.config import get_settings
    from archive_service.db.cli import open_migrated_database
    from archive_service.storage.setup import open_archive_repository
    from retention.recompute import recompute_all
    from retention.schedule import load_schedule

    settings = get_settings()
    schedule = load_schedule(settings.retention_schedule_path)
    database = open_migrated_database(settings)
    try:
        report = recompute_all(database, open_archive_repository(settings), settings, schedule)
    finally:
        database.dispose()
    if as_json:
        typer.echo(json.dumps(asdict(report), ensure_ascii=False, indent=2))
        return
    _echo_recompute(report)
    raise typer.Exit(1 if report.failed else 0)


def _echo_recompute(report: RecomputeReport, indent: str = "") -> None:
    typer.echo(
        f"{indent}Tính lại theo danh mục {report.schedule_version} "
        f"(SHA-256 {report.schedule_sha256[:12]}…):"
    )
    lines = [
        ("kéo dài (phiên bản AIP mới)", report.lengthened),
        ("ngắn hơn, không áp dụng (cảnh báo)", report.kept),
        ("đã quyết định, chưa ghi xong vào kho", report.pending),
        ("đang bận, để lần sau", report.busy),
        ("lỗi, để lần sau", report.failed),
    ]
    typer.echo(f"{indent}  không đổi: {report.unchanged} hồ sơ")
    for label, codes in lines:
        typer.echo(f"{indent}  {label}: {len(codes)} hồ sơ")
        for code in codes:
            typer.echo(f"{indent}    {code}")
