"""The ``archive`` command: thin wrappers that parse arguments, call services, print results."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit, urlunsplit

import typer
from pydantic import BaseModel

from archive_service import __version__
from archive_service.cli_groups import command_group
from archive_service.db.cli import db_app
from archive_service.formats.cli import doctor
from archive_service.ingest.cli import worker
from archive_service.ingest.client_cli import deposit
from archive_service.integrity.audit_cli import audit_app
from archive_service.integrity.fixity_cli import verify
from archive_service.integrity.replica_cli import replica_app
from archive_service.security.cli import admin_app
from retention.cli import retention_app

if TYPE_CHECKING:
    from archive_service.packages.aip_reader import AipSummary

app = command_group(
    help="Lưu trữ hồ sơ TTHC điện tử — electronic records archive for settled TTHC dossiers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
sip_app = command_group(
    help="Submission packages (SIP_hoso): validate and build.", no_args_is_help=True
)
aip_app = command_group(help="Archival packages (AIP_hoso): inspect.", no_args_is_help=True)
config_app = command_group(help="Configuration.", no_args_is_help=True)
app.add_typer(sip_app, name="sip")
app.add_typer(aip_app, name="aip")
app.add_typer(config_app, name="config")
app.add_typer(admin_app, name="admin")
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(retention_app, name="retention")
app.add_typer(replica_app, name="replica")
app.command("doctor")(doctor)
app.command("deposit")(deposit)
app.command("verify")(verify)
app.command("worker")(worker)

EXIT_VALID, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2
EXIT_CONFIGURATION = 2


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
) -> None:
    """Start the HTTP service (embedded default: everything under ARCHIVE_DATA_DIR).

    On the embedded default the first run creates the data directory, migrates the SQLite
    database and prints a first admin key. A configured database must be migrated with
    `archive db upgrade` first.
    """
    import uvicorn

    from archive_service.app import create_app, prepare_first_run
    from archive_service.config import get_settings
    from archive_service.db.migrate import DatabaseNotMigrated
    from archive_service.logging import logging_config
    from retention.schedule import ScheduleInvalid

    settings = get_settings()
    try:
        first = prepare_first_run(settings)
        service = create_app(settings)
    except DatabaseNotMigrated as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    except ScheduleInvalid as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"Archive service {__version__} on http://{host}:{port} (data: {settings.data_dir})")
    if first.admin_key:
        typer.echo(f"Khóa API quản trị đầu tiên (chỉ hiện một lần): {first.admin_key}")
    uvicorn.run(
        service,
        host=host,
        port=port,
        log_config=logging_config(),
        # h11, never httptools (which uvicorn would pick if installed): h11 refuses a request
        # whose headers pass 16 KiB, httptools reads headers without end, so one connection
        # could fill the memory and stall every other request.
        http="h11",
    )


@config_app.command("show")
def config_show() -> None:
    """Print the effective configuration, secrets hidden."""
    from archive_service.config import get_settings

    settings = get_settings()
    shown = settings.model_dump(mode="json")
    shown["effective_storage_url"] = settings.effective_storage_url()
    shown["effective_database_url"] = settings.effective_database_url()
    for name in ("database_url", "effective_database_url", "broker_url"):
        shown[name] = _without_password(shown[name])
    typer.echo(json.dumps(shown, ensure_ascii=False, indent=2))


@sip_app.command("validate")
def sip_validate(
    path: Annotated[Path, typer.Argument(help="SIP ZIP file or unpacked SIP folder")],
    as_json: Annotated[bool, typer.Option("--json", help="print the problem list as JSON")] = False,
) -> None:
    """Check a SIP completely. Exit 0 valid, 1 invalid, 2 unreadable."""
    from archive_service.config import get_settings
    from archive_service.packages.problems import ProblemCode, errors
    from archive_service.packages.sip_reader import validate_sip

    if not path.exists():
        typer.echo(f"Không tìm thấy: {path}", err=True)
        raise typer.Exit(EXIT_UNREADABLE)
    report = validate_sip(path, get_settings().limits)
    found_errors = errors(report.problems)
    unreadable = {ProblemCode.SIP_NOT_ZIP, ProblemCode.SIP_UNREADABLE}
    if as_json:
        payload = {
            "path": str(path),
            "valid": not found_errors,
            "dossier_code": report.package.dossier_code if report.package else None,
            "problems": [p.as_dict() for p in report.problems],
        }
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        for problem in report.problems:
            where = f"{problem.path}" + (f" <{problem.field}>" if problem.field else "")
            typer.echo(
                f"{problem.severity.value:7} {problem.code.value:26} {where}: {problem.message}"
            )
        if report.package:
            typer.echo(
                f"HỢP LỆ: hồ sơ {report.package.dossier_code}, "
                f"{len(report.package.documents)} tài liệu"
            )
        else:
            typer.echo(f"KHÔNG HỢP LỆ: {len(found_errors)} lỗi")
    if any(p.code in unreadable for p in found_errors):
        raise typer.Exit(EXIT_UNREADABLE)
    raise typer.Exit(EXIT_INVALID if found_errors else EXIT_VALID)


@sip_app.command("build")
def sip_build(
    metadata: Annotated[Path, typer.Option(help="plain-deposit metadata JSON")],
    files: Annotated[Path, typer.Option(help="folder holding the files named in the metadata")],
    out: Annotated[Path, typer.Option(help="SIP ZIP to write")],
) -> None:
    """Build a SIP ZIP from plain files and their metadata JSON (the plain deposit form)."""
    from archive_service.config import get_settings
    from archive_service.packages.plain import PlainDeposit, files_from_folder
    from archive_service.packages.problems import PackageInvalid
    from archive_service.packages.sip_builder import build_sip

    try:
        deposit = PlainDeposit.from_json_bytes(metadata.read_bytes())
        manifest = build_sip(
            deposit,
            files_from_folder(deposit, files),
            out,
            fonds_code=get_settings().fonds_code,
        )
    except PackageInvalid as exc:
        for problem in exc.problems:
            typer.echo(f"{problem.code.value}: {problem.path}: {problem.message}", err=True)
        raise typer.Exit(EXIT_INVALID) from exc
    typer.echo(f"Đã tạo {out} ({manifest.object_id})")


@aip_app.command("show")
def aip_show(
    target: Annotated[
        str, typer.Argument(help="AIP folder, or the AIP id in the configured store")
    ],
    version: Annotated[str | None, typer.Option(help="OCFL version, e.g. v1; default head")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show what an AIP holds: dossier, representations, files and events."""
    from archive_service.config import get_settings
    from archive_service.packages.aip_reader import (
        AipUnreadable,
        read_aip_folder,
        read_aip_object,
    )
    from archive_service.storage.setup import open_archive_repository

    path = Path(target)
    try:
        if path.is_dir():
            summary = read_aip_folder(path)
        else:
            repository = open_archive_repository(get_settings())
            if not repository.exists(target):
                typer.echo(f"Không có AIP {target} trong kho", err=True)
                raise typer.Exit(EXIT_UNREADABLE)
            summary = read_aip_object(repository, target, version)
    except AipUnreadable as exc:
        typer.echo(f"Không đọc được AIP: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc
    if as_json:
        typer.echo(json.dumps(asdict(summary), ensure_ascii=False, indent=2, default=_json_value))
    else:
        typer.echo(_describe_aip(summary))


def _without_password(url: str | None) -> str | None:
    """A URL with its password replaced by ***, for printing."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _json_value(value: object) -> object:
    """JSON form of the values ``json`` does not know (dates, models)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def _describe_aip(summary: AipSummary) -> str:
    """Human-readable summary of an AIP."""
    dossier, tthc = summary.dossier, summary.tthc
    lines = [
        f"AIP {summary.object_id} ({summary.package_type}, {summary.record_status})",
        f"  tạo lúc:       {summary.created.isoformat() if summary.created else '?'}",
        f"  mã hồ sơ TTHC: {tthc.dossier_code}",
        f"  thủ tục:       {tthc.procedure.code} {tthc.procedure.name}",
        f"  tiêu đề:       {dossier.title}",
        f"  mã hồ sơ:      {dossier.file_code}",
        f"  thời hạn:      {dossier.maintenance}; kết thúc {dossier.end_date.isoformat()}",
    ]
    for representation in summary.representations:
        lines.append(f"  {representation.name}: {len(representation.files)} tệp")
        for file in representation.files:
            lines.append(f"    {file.path}  {file.size} B  sha256 {file.sha256}")
    lines.append(f"  sự kiện PREMIS: {len(summary.events)}")
    for event in summary.events:
        lines.append(
            f"    {event.date_time.isoformat()}  {event.event_type}  {event.outcome or ''}"
        )
    return "\n".join(lines)


def main() -> None:
    """The console entry: a configuration that cannot be used is one message and exit 2."""
    from archive_service.config import ConfigurationError

    try:
        app()
    except ConfigurationError as error:
        typer.echo(f"Cấu hình không dùng được — {error}", err=True)
        raise SystemExit(EXIT_CONFIGURATION) from None


if __name__ == "__main__":
    main()
