"""The review and disposal services on SQLite and PostgreSQL with filesystem storage: the daily
task, dossiers skipped at execution (a hold placed, a date moved after approval), an execution
interrupted by a storage failure and finished by running it again, reports and the permanent list.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from archive_service.config import Settings
from archive_service.db.session import Database
from archive_service.dossiers.models import Dossier, StoredObject
from archive_service.integrity.audit_verify import verify_database
from archive_service.integrity.checkpoints import archive_public_key
from archive_service.storage.base import ObjectStore, StorageUnavailable
from archive_service.storage.ocfl import OcflRepository
from retention.daily import run_daily
from retention.destroy import Storage
from retention.disposal import DisposalService
from retention.errors import DossierBeingDestroyed
from retention.reports import permanent_csv, permanent_dossiers, retention_report
from retention.review import due_dossiers, mark_due
from tests.integration.retention_setup import (
    CURRENT_CODE,
    DECISION,
    EXPIRED_CODE,
    PERMANENT_CODE,
    TODAY,
    DossierSpec,
    archive_dossiers,
    dossier_row,
    hold_service,
    people,
)

#: Two more dossiers whose 10-year terms ended (31/12/2021 and 31/12/2022).
EXPIRED_2011 = "000.00.19.H56-110610-0004"
EXPIRED_2012 = "000.00.19.H56-120610-0005"


class _InterruptedStore:
    """A real store whose ``delete`` fails (``StorageUnavailable``) after ``allowed`` deletions
    while ``failing`` — a storage outage in the middle of an execution."""

    def __init__(self, inner: ObjectStore, allowed: int) -> None:
        self._inner = inner
        self.allowed = allowed
        self.failing = True

    def delete(self, key: str, **kwargs: Any) -> None:
        if self.failing:
            if self.allowed <= 0:
                raise StorageUnavailable(f"storage unreachable while deleting {key}")
            self.allowed -= 1
        self._inner.delete(key, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_the_daily_task_marks_due_dossiers_and_a_longer_term_ends_the_review(
    settings: Settings, database: Database, repository: OcflRepository, tmp_path: Path
) -> None:
    specs = [DossierSpec(EXPIRED_CODE), DossierSpec(CURRENT_CODE), DossierSpec(EXPIRED_2011)]
    archive_dossiers(settings, database, repository, tmp_path / "a", specs)
    holds = hold_service(settings, database, repository)
    who = people(database)
    holds.place(who["archivist"], EXPIRED_2011, reason="Khiếu nại")

    report = run_daily(database, repository, settings, now=datetime(2026, 3, 1, tzinfo=UTC))
    assert report.marked_due == [EXPIRED_CODE]  # the held one is not marked
    assert [d.dossier_code for d in due_dossiers(database)] == [EXPIRED_CODE]
    assert mark_due(database, TODAY) == []  # nothing new the same day
    assert run_daily(database, repository, settings).marked_due == []

    # a new version with a 70-year term moves the date: the dossier is no longer under review
    longer = DossierSpec(EXPIRED_CODE, maintenance="02", documents=2, record_status="SUPPLEMENT")
    archive_dossiers(settings, database, repository, tmp_path / "b", [longer])
    row = dossier_row(database, EXPIRED_CODE)
    assert row is not None
    assert (row.disposal_date, row.review_status) == (date(2080, 12, 31), None)
    assert due_dossiers(database) == []


def test_execution_skips_what_changed_and_a_re_run_finishes_an_interrupted_one(
    settings: Settings, database: Database, repository: OcflRepository, tmp_path: Path
) -> None:
    specs = [DossierSpec(EXPIRED_CODE), DossierSpec(EXPIRED_2011), DossierSpec(EXPIRED_2012)]
    archive_dossiers(settings, database, repository, tmp_path / "a", specs)
    who = people(database)
    interrupted = _InterruptedStore(repository.store, allowed=3)
    service = DisposalService(database, Storage(OcflRepository(interrupted)))  # type: ignore[arg-type]
    holds = hold_service(settings, database, repository)
    codes = [EXPIRED_CODE, EXPIRED_2011, EXPIRED_2012]
    proposal = service.propose(who["archivist"], codes, "Hết thời hạn", today=TODAY)
    service.approve(who["admin"], proposal.id, **DECISION)

    # after approval: a hold on one dossier, a longer term (new version) on another
    holds.place(who["archivist"], EXPIRED_2011, reason="Thanh tra", reference="QĐ 5/TTr")
    longer = DossierSpec(EXPIRED_2012, maintenance="05", documents=2, record_status="SUPPLEMENT")
    archive_dossiers(settings, database, repository, tmp_path / "b", [longer])
    with database.read_session() as session:
        object_id = session.scalar(
            select(Dossier.aip_object_id).where(Dossier.dossier_code == EXPIRED_CODE)
        )
    assert object_id is not None
    root = repository.object_root(object_id) + "/"
    before = len(list(repository.store.list(root)))

    first = service.execute(who["archivist"], proposal.id, today=TODAY)
    assert first.status == "executing"
    assert len(first.errors) == 1 and EXPIRED_CODE in first.errors[0]
    statuses = {item.dossier_code: (item.status, item.skip_reason) for item in first.items}
    assert statuses[EXPIRED_CODE] == ("destroying", None)
    assert statuses[EXPIRED_2011][0] == "skipped" and "lệnh giữ" in (
        statuses[EXPIRED_2011][1] or ""
    )
    assert statuses[EXPIRED_2012][0] == "skipped" and "đã đổi" in (statuses[EXPIRED_2012][1] or "")
    assert len(list(repository.store.list(root))) == before - 3  # stopped part-way
    with pytest.raises(DossierBeingDestroyed):  # too late for a hold now
        holds.place(who["archivist"], EXPIRED_CODE, reason="Muộn")

    interrupted.failing = False
    second = service.execute(who["archivist"], proposal.id, today=TODAY)
    assert (second.status, second.errors) == ("executed", [])
    done = {item.dossier_code: item.status for item in second.items}
    assert done == {EXPIRED_CODE: "destroyed", EXPIRED_2011: "skipped", EXPIRED_2012: "skipped"}
    assert list(repository.store.list(root)) == []
    assert dossier_row(database, EXPIRED_CODE) is None
    assert dossier_row(database, EXPIRED_2011) is not None
    assert dossier_row(database, EXPIRED_2012) is not None
    (record,) = service.records(proposal.id)
    assert record.dossier_code == EXPIRED_CODE and record.object_count == before
    with database.read_session() as session:
        left = session.scalars(select(StoredObject.key).where(StoredObject.key.startswith(root)))
        assert list(left) == []
        report = verify_database(session, archive_public_key(settings))
    assert report.ok, report.first_problem


def test_reports_count_terms_due_months_and_holds_and_list_permanent_dossiers(
    settings: Settings, database: Database, repository: OcflRepository, tmp_path: Path
) -> None:
    specs = [
        DossierSpec(PERMANENT_CODE, scheduled=True),
        DossierSpec(CURRENT_CODE),
        DossierSpec(EXPIRED_CODE),
    ]
    archive_dossiers(settings, database, repository, tmp_path / "a", specs)
    who = people(database)
    holds = hold_service(settings, database, repository)
    holds.place(who["archivist"], CURRENT_CODE, reason="Tranh chấp")
    mark_due(database, TODAY)

    report = retention_report(database, TODAY, months_ahead=120)
    assert report.dossiers == 3 and report.without_retention == 0
    assert [(c.retention, c.label, c.dossiers) for c in report.by_retention] == [
        ("01", "Vĩnh viễn", 1),
        ("06", "10 năm", 2),
    ]
    assert (report.overdue, report.under_review) == (1, 1)
    assert [(m.month, m.dossiers) for m in report.upcoming_by_month] == [("2035-01", 1)]
    assert (report.active_holds, report.held_dossiers) == (1, 1)
    assert report.holds[0].dossier_code == CURRENT_CODE
    assert retention_report(database, TODAY).upcoming_by_month == []  # 2035 is beyond 24 months

    (permanent,) = permanent_dossiers(database, 2024)
    assert permanent.dossier_code == PERMANENT_CODE and permanent.stored_bytes > 0
    assert permanent_dossiers(database, 2023) == []
    lines = permanent_csv([permanent]).splitlines()
    assert lines[0].startswith("dossier_code,file_code,title,agency_id")
    assert lines[1].startswith(f"{PERMANENT_CODE},")
