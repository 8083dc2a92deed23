"""``archive verify DOSSIER_CODE | --all | --agency ID``: re-hash stored objects now.

A progress bar (bytes) on stderr, then a summary and every failure. Exit 0 when every object was
read and found intact; 1 when any object is damaged, missing or could not be read (or the run
broke); 2 when nothing could be checked (usage, unknown dossier, database not migrated).
``--report FILE.csv`` or ``FILE.json`` writes every check of the run.
"""

from __future__ import annotations

import csv
import getpass
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TextIO

import typer

if TYPE_CHECKING:  # imported when the command runs: `archive --help` stays light
    from archive_service.integrity.fixity import ByteBudget
    from archive_service.integrity.fixity_check import CheckResult
    from archive_service.integrity.fixity_service import FixityService
    from archive_service.integrity.fixity_targets import FixityScope
    from archive_service.integrity.fixity_views import CheckView, RunDetail

EXIT_PASSED, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2
REPORT_FORMATS = (".csv", ".json")


def verify(
    dossier_code: Annotated[str | None, typer.Argument(help="dossier code to verify")] = None,
    everything: Annotated[bool, typer.Option("--all", help="every stored object")] = False,
    agency: Annotated[str | None, typer.Option(help="every dossier of this agency")] = None,
    report: Annotated[
        Path | None, typer.Option(help="write every check to FILE.csv or FILE.json")
    ] = None,
    rate: Annotated[int, typer.Option(help="read budget in bytes per second; 0: no limit")] = 0,
) -> None:
    """Re-read and re-hash stored objects now; exit 1 on any failure."""
    chosen = [s for s in (dossier_code, "--all" if everything else None, agency) if s]
    if len(chosen) != 1:
        _unusable("Chỉ rõ một phạm vi: MÃ_HỒ_SƠ, --all hoặc --agency MÃ_CƠ_QUAN")
    if report is not None and report.suffix.lower() not in REPORT_FORMATS:
        _unusable(f"Tệp báo cáo phải có đuôi .csv hoặc .json: {report}")
    from archive_service.config import get_settings
    from archive_service.db.migrate import DatabaseNotMigrated
    from archive_service.integrity.fixity import ByteBudget
    from archive_service.integrity.fixity_service import FixityError, open_fixity_service

    scope = _scope(dossier_code, agency)
    try:
        service = open_fixity_service(get_settings())
    except DatabaseNotMigrated as exc:
        _unusable(str(exc))
    try:
        detail = _run(service, scope, ByteBudget(rate))
        _print_summary(detail)
        if report is not None:
            _write_report(service, detail, report)
    except FixityError as exc:
        _unusable(str(exc))
    finally:
        service.close()
        service.database.dispose()
    raise typer.Exit(EXIT_PASSED if detail.status == "passed" else EXIT_FAILED)


def _scope(dossier_code: str | None, agency: str | None) -> FixityScope:
    """The scope chosen (everything when neither a dossier nor an agency is named)."""
    from archive_service.integrity.fixity_targets import FixityScope

    if dossier_code:
        return FixityScope.dossier(dossier_code)
    if agency:
        return FixityScope.agency(agency)
    return FixityScope.everything()


def _run(service: FixityService, scope: FixityScope, budget: ByteBudget) -> RunDetail:
    from archive_service.integrity.fixity_views import ChecksShown

    objects, size = service.size_of(scope)
    actor = f"cli:{getpass.getuser()}"
    with typer.progressbar(
        length=max(size, 1), label=f"Kiểm tra {objects} đối tượng", file=sys.stderr
    ) as bar:

        def advance(result: CheckResult) -> None:
            bar.update(result.reference.size)

        outcome = service.run(scope, actor=actor, pace=budget, on_check=advance)
    return service.get_run(outcome.run_id, ChecksShown.FAILED)


def _print_summary(run: RunDetail) -> None:
    verdict = {"passed": "ĐẠT", "failed": "KHÔNG ĐẠT", "error": "LỖI"}.get(run.status, run.status)
    typer.echo(
        f"Lượt kiểm tra {run.id} ({run.scope}{' ' + run.scope_value if run.scope_value else ''})"
        f": {verdict} — {run.objects_checked}/{run.objects_total} đối tượng, "
        f"{run.bytes_checked} byte; khớp {run.objects_ok}, sai khác {run.objects_mismatch}, "
        f"mất {run.objects_missing}, không đọc được {run.objects_error}, "
        f"khôi phục {run.objects_repaired}"
    )
    if run.detail:
        typer.echo(run.detail)
    for check in run.checks:
        repair = f" → {check.repair}: {check.repair_detail}" if check.repair else ""
        typer.echo(f"  [{check.outcome}] {check.key}: {check.detail}{repair}")


def _write_report(service: FixityService, run: RunDetail, path: Path) -> None:
    checks = service.iter_checks(run.id)
    with path.open("w", encoding="utf-8", newline="") as out:
        if path.suffix.lower() == ".csv":
            _write_csv(out, run, checks)
        else:
            _write_json(out, run, checks)
    typer.echo(f"Đã ghi báo cáo {path}")


def _write_csv(out: TextIO, run: RunDetail, checks: Iterable[CheckView]) -> None:
    from archive_service.integrity.fixity_views import CheckView

    writer = csv.DictWriter(out, fieldnames=["run_id", *CheckView.model_fields])
    writer.writeheader()
    for check in checks:
        writer.writerow({"run_id": run.id, **check.model_dump(mode="json")})


def _write_json(out: TextIO, run: RunDetail, checks: Iterable[CheckView]) -> None:
    """``{"run": {…}, "checks": [...]}``, written one check at a time."""
    head = run.model_dump(mode="json", exclude={"checks"})
    out.write('{"run": ' + json.dumps(head, ensure_ascii=False) + ', "checks": [')
    for number, check in enumerate(checks):
        out.write(("," if number else "") + "\n  " + check.model_dump_json())
    out.write("\n]}\n")


def _unusable(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(EXIT_UNUSABLE)
