"""``archive audit …``: verify the audit trail (live or from an export), export it, checkpoint it.

Exit status of ``verify``: 0 the chain and its checkpoints verify, 1 something is broken (the
first broken entry is named), 2 the check could not be made (no export file, not an export, no
usable key, storage unreachable).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from archive_service.cli_groups import command_group
from archive_service.db.cli import open_migrated_database
from archive_service.security.cli import cli_actor

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from archive_service.integrity.chain import VerificationReport

audit_app = command_group(
    help="Audit trail: verify, export, sign checkpoints.", no_args_is_help=True
)

EXIT_OK, EXIT_BROKEN, EXIT_UNREADABLE = 0, 1, 2


@audit_app.command("verify")
def verify(
    from_export: Annotated[
        Path | None,
        typer.Option(help="verify this export file offline (no database, no service)"),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            help="PEM public key of the archive, obtained separately; default: the key inside "
            "the export (proves only that the file is self-consistent) or the archive's own key"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Check every entry's hash and link, every checkpoint's root and signature."""
    key = _read_public_key(public_key) if public_key is not None else None
    if from_export is not None:
        report = _verify_export(from_export, key, as_json)
    else:
        report = _verify_database(key)
    _print_report(report, as_json)
    raise typer.Exit(EXIT_OK if report.ok else EXIT_BROKEN)


def _verify_export(path: Path, key: Ed25519PublicKey | None, as_json: bool) -> VerificationReport:
    from archive_service.integrity.audit_export import ExportUnreadable, verify_export

    try:
        with path.open(encoding="utf-8") as lines:
            result = verify_export(lines, key)
    except (OSError, UnicodeDecodeError, ExportUnreadable) as exc:
        typer.echo(f"Không đọc được tệp xuất {path}: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc
    if not as_json:
        typer.echo(f"Tệp xuất của kho {result.archive}, xuất lúc {result.exported_at.isoformat()}")
        if result.key_from_file:
            typer.echo(
                f"Khóa công khai lấy từ chính tệp (dấu vân tay {result.key_fingerprint}): chỉ "
                "chứng minh tệp tự nhất quán. Hãy so dấu vân tay này với dấu vân tay kho lưu "
                "trữ đã công bố, hoặc dùng --public-key."
            )
        else:
            typer.echo(f"Khóa công khai đã cho: dấu vân tay {result.key_fingerprint}")
            if result.file_key_fingerprint != result.key_fingerprint:
                typer.echo(f"Lưu ý: tệp mang khóa khác ({result.file_key_fingerprint}).")
    return result.report


def _verify_database(key: Ed25519PublicKey | None) -> VerificationReport:
    from archive_service.config import get_settings
    from archive_service.integrity.audit import record_audit
    from archive_service.integrity.audit_verify import report_summary, verify_database
    from archive_service.integrity.checkpoints import SigningKeyError, archive_public_key
    from archive_service.storage.base import StorageError
    from archive_service.storage.setup import open_archive_store

    settings = get_settings()
    database = open_migrated_database(settings)
    try:
        try:
            with database.read_session() as session:
                report = verify_database(
                    session,
                    key if key is not None else archive_public_key(settings),
                    open_archive_store(settings),
                )
        except (SigningKeyError, StorageError) as exc:
            typer.echo(f"Không kiểm tra được nhật ký kiểm toán: {exc}", err=True)
            raise typer.Exit(EXIT_UNREADABLE) from exc
        with database.session() as session:
            record_audit(
                session, actor=cli_actor(), action="audit.verified", detail=report_summary(report)
            )
    finally:
        database.dispose()
    return report


def _print_report(report: VerificationReport, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
        return
    head = f"mục {report.head_seq}, {report.head_hash}" if report.head_seq else "trống"
    typer.echo(
        f"Nhật ký kiểm toán: {report.entries} mục, {report.checkpoints} điểm kiểm tra; "
        f"đầu chuỗi: {head}"
    )
    first = report.first_problem
    if first is None:
        typer.echo("HỢP LỆ: mọi mục và điểm kiểm tra đều khớp.")
        return
    where = f"mục số {first.seq}" if first.seq is not None else "tệp"
    typer.echo(f"HỎNG: mục hỏng đầu tiên: {where} ({first.kind.value}): {first.message}")
    others = [problem for problem in report.problems if problem is not first]
    for problem in others:
        typer.echo(f"  cũng: {problem.kind.value}: {problem.message}")


def _read_public_key(path: Path) -> Ed25519PublicKey:
    from archive_service.integrity.checkpoints import load_public_key

    try:
        return load_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        typer.echo(f"Không đọc được khóa công khai {path}: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc


@audit_app.command("export")
def export(
    out: Annotated[Path, typer.Option(help="JSON Lines file to write")],
) -> None:
    """Write entries, checkpoints and the public key into one file for offline verification."""
    from archive_service.config import get_settings
    from archive_service.integrity.audit import record_audit
    from archive_service.integrity.audit_export import write_export
    from archive_service.integrity.checkpoints import archive_public_key

    settings = get_settings()
    database = open_migrated_database(settings)
    key = archive_public_key(settings)
    partial = out.with_name(f".{out.name}.partial")
    try:
        with database.read_session() as session, partial.open("w", encoding="utf-8") as file:
            summary = write_export(session, key, settings.archive_code, file)
        partial.replace(out)
        with database.session() as session:
            record_audit(
                session,
                actor=cli_actor(),
                action="audit.exported",
                detail={"entries": summary.entries, "checkpoints": summary.checkpoints},
            )
    finally:
        partial.unlink(missing_ok=True)
        database.dispose()
    typer.echo(
        f"Đã xuất {summary.entries} mục và {summary.checkpoints} điểm kiểm tra vào {out} "
        f"(khóa công khai {summary.key_fingerprint})"
    )


@audit_app.command("checkpoint")
def checkpoint() -> None:
    """Sign the entries written since the last checkpoint, now."""
    from archive_service.config import get_settings
    from archive_service.integrity.checkpoints import (
        AuditChainBroken,
        SigningKeyError,
        run_checkpoint,
    )
    from archive_service.storage.setup import open_archive_store

    settings = get_settings()
    database = open_migrated_database(settings)
    try:
        made = run_checkpoint(settings, database, open_archive_store(settings))
    except AuditChainBroken as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_BROKEN) from exc
    except SigningKeyError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc
    finally:
        database.dispose()
    if made is None:
        typer.echo("Không có mục mới từ điểm kiểm tra trước.")
        return
    statement = made.statement
    stamped = ", có dấu thời gian RFC 3161" if made.tsa_token else ""
    typer.echo(
        f"Đã ký điểm kiểm tra mục {statement.first_seq}–{statement.last_seq} "
        f"(gốc Merkle {statement.merkle_root}{stamped}), lưu tại {made.storage_key}"
    )


@audit_app.command("public-key")
def public_key_command() -> None:
    """Print the archive's public key (PEM) and its fingerprint, to publish for auditors."""
    from archive_service.config import get_settings
    from archive_service.integrity.chain import key_fingerprint
    from archive_service.integrity.checkpoints import archive_public_key, public_key_pem

    key = archive_public_key(get_settings())
    typer.echo(public_key_pem(key), nl=False)
    typer.echo(f"# SHA-256 fingerprint: {key_fingerprint(key)}", err=True)
