"""Ten years of the daily task over 1,000 dossiers, on a simulated clock.

The dossiers are catalogued as the deposit pipeline's catalogue step does it (``record_archived``
then the real ``assign_retention`` under the shipped schedule), with a mix of terms — declared,
from the schedule (a marriage registration is permanent whatever is declared), from a document
that declares a longer term — and end dates. Some get a hold for a while, some for good. The real
daily task (``run_daily``) then runs on the first day of every month and on 31 December from
2025 to 2035, its clock given by ``now``. Every dossier must be set under review ("Xem xét hủy")
on the first run after its disposal date has passed — 1 January of the year after, never
earlier, never later — unless a hold is active then (the first run after the release instead);
a permanent dossier never. On each 31 December the archive then runs the disposal procedure
on what is under review and not held (an archivist proposes, an administrator approves with a
council decision, the list is executed): every dossier must be destroyed in the year it came
under review, or at the first year's end without a hold after that — and every other kept.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import select

from archive_service.config import PackageLimits, Settings
from archive_service.db.session import Database
from archive_service.dossiers.models import Dossier
from archive_service.ingest.catalogue import ArchivedVersion, record_archived
from archive_service.ingest.readback import StoredVersion
from archive_service.packages.container import open_package
from archive_service.packages.mets import VN_TZ
from archive_service.packages.models import SipPackage
from archive_service.packages.sip_reader import read_sip
from archive_service.security.models import Role
from archive_service.security.service import Principal
from archive_service.storage.ocfl import OcflRepository
from archive_service.storage.setup import open_archive_repository
from retention.assign import assign_retention
from retention.daily import run_daily
from retention.destroy import Storage
from retention.disposal import DisposalService
from retention.models import DestructionRecord, ReviewStatus
from retention.schedule import Schedule, load_schedule
from tests.factories import make_sip_zip
from tests.integration.deposit_setup import AGENCY_ID, principal_for
from tests.integration.retention_setup import hold_service

DOSSIERS = 1_000
FIRST_YEAR, LAST_YEAR = 2025, 2035
#: Catalogued a few days before the first run.
INGESTED = datetime(2024, 12, 20, 10, 0, tzinfo=UTC)
YEARS = {"02": 70, "03": 50, "04": 30, "05": 20, "06": 10}
DATED_TERMS = ["06", "05", "07:2", "07:3", "07:4", "07:5", "07:8"]
MARRIAGE = "1.000894"  # permanent by the shipped schedule
UNSCHEDULED = "1.999001"  # falls to the schedule's '*' row: the declared term stands


@dataclass(frozen=True)
class Case:
    """One dossier: its term sources, end date, and the hold it gets (placed, released)."""

    code: str
    end: date
    maintenance: str
    procedure: str
    document_term: str | None
    hold: tuple[date, date | None] | None

    def disposal(self) -> date | None:
        """The disposal date worked out here, independently of the policy engine."""
        terms = [self.maintenance, *([self.document_term] if self.document_term else [])]
        if self.procedure == MARRIAGE or "01" in terms:
            return None
        years = max(_years(term) for term in terms)
        return date(self.end.year + years, 12, 31)

    def held(self, day: date) -> bool:
        if self.hold is None:
            return False
        placed, released = self.hold
        return placed <= day and (released is None or day < released)


def _years(term: str) -> int:
    return int(term.split(":")[1]) if term.startswith("07:") else YEARS[term]


def run_days() -> list[date]:
    """The first day of every month and 31 December, 2025–2035."""
    days = []
    for year in range(FIRST_YEAR, LAST_YEAR + 1):
        days += [date(year, month, 1) for month in range(1, 13)] + [date(year, 12, 31)]
    return days


def make_cases(seed: int = 2025) -> list[Case]:
    chance = random.Random(seed)
    days = run_days()
    cases = []
    for number in range(1, DOSSIERS + 1):
        kind = chance.random()
        procedure, document_term = UNSCHEDULED, None
        if kind < 0.1:
            maintenance, end_year = "01", chance.randint(2000, 2024)
        elif kind < 0.2:
            procedure, maintenance, end_year = MARRIAGE, "06", chance.randint(2000, 2024)
        else:
            maintenance = chance.choice(DATED_TERMS)
            disposal_year = chance.randint(2024, LAST_YEAR + 2)  # some pass after the decade
            end_year = disposal_year - _years(maintenance)
            if kind < 0.3:
                document_term = "07:12"  # a document asks for longer (or not)
        end = date(end_year, chance.randint(1, 12), chance.randint(1, 28))
        hold = None
        if 0.3 <= kind < 0.38:
            placed = chance.choice(days[: len(days) // 2])
            later = [d for d in days if d > placed][:30]
            hold = (placed, None if chance.random() < 0.3 else chance.choice(later))
        code = f"{AGENCY_ID}-{end:%y%m%d}-{number:04d}"
        cases.append(Case(code, end, maintenance, procedure, document_term, hold))
    return cases


def base_sip(tmp_path: Path) -> SipPackage:
    limits = PackageLimits()
    with open_package(make_sip_zip(tmp_path, documents=2), limits) as source:
        report = read_sip(source, limits)
    assert report.package is not None and report.ok
    return report.package


def variant(base: SipPackage, case: Case) -> SipPackage:
    """The SIP of ``case``: the base package with its code, end date, terms and procedure."""
    documents = []
    for ordinal, document in enumerate(base.documents):
        values = {k: v for k, v in document.metadata.values.items() if k != "maintenance"}
        if ordinal == 0 and case.document_term:
            values["maintenance"] = case.document_term
        metadata = document.metadata.model_copy(update={"values": values})
        documents.append(document.model_copy(update={"metadata": metadata}))
    procedure = base.tthc.procedure.model_copy(update={"code": case.procedure, "sector_code": "XX"})
    return base.model_copy(
        update={
            "dossier": base.dossier.model_copy(
                update={
                    "maintenance": case.maintenance,
                    "start_date": case.end - timedelta(days=3),
                    "end_date": case.end,
                }
            ),
            "tthc": base.tthc.model_copy(
                update={"dossier_code": case.code, "procedure": procedure}
            ),
            "documents": documents,
        }
    )


def catalogue(database: Database, base: SipPackage, cases: list[Case], schedule: Schedule) -> None:
    """Each case catalogued as the pipeline's last transaction does it, 200 per transaction."""
    for start in range(0, len(cases), 200):
        with database.session() as session:
            for case in cases[start : start + 200]:
                sip = variant(base, case)
                deposit_id = str(uuid4())
                object_id = f"urn:G09:uuid-{str(uuid4()).upper()}"
                version = StoredVersion(object_id, "v1", "", (), inventory={})
                archived = ArchivedVersion(deposit_id, AGENCY_ID, sip, sip.dossier, version, ())
                dossier = record_archived(session, archived)
                assign_retention(
                    session, dossier, sip, schedule, deposit_id=deposit_id, at=INGESTED
                )


@pytest.mark.slow
def test_ten_years_of_daily_runs_and_year_end_disposals_over_a_thousand_dossiers(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    schedule = load_schedule(settings.retention_schedule_path)
    repository: OcflRepository = open_archive_repository(settings)
    principal_for(database)  # a depositor of the agency: the agency exists
    archivist = principal_for(database, Role.ARCHIVIST, None)
    cases = make_cases()
    catalogue(database, base_sip(tmp_path), cases, schedule)
    with database.read_session() as session:
        stored = {d.dossier_code: d.disposal_date for d in session.scalars(select(Dossier))}
    assert stored == {case.code: case.disposal() for case in cases}
    holds = hold_service(settings, database, repository)
    disposal_service = DisposalService(database, Storage(repository))
    approver = principal_for(database, Role.ADMIN, None)
    hold_ids: dict[str, int] = {}
    first_marked: dict[str, date] = {}
    destroyed: dict[str, date] = {}

    for day in run_days():
        for case in cases:  # holds placed or released on this day, before the run
            if case.hold is None or case.code in destroyed:
                continue
            placed, released = case.hold
            if placed == day:
                hold_ids[case.code] = holds.place(archivist, case.code, reason="Thanh tra").id
            if released == day:
                holds.release(archivist, case.code, hold_ids[case.code], reason="Kết thúc")
        now = datetime.combine(day, time(6, 0), tzinfo=VN_TZ)
        report = run_daily(database, repository, settings, now=now, schedule=schedule)
        assert report.today == day
        for code in report.marked_due:
            assert code not in first_marked, f"{code} marked twice"
            first_marked[code] = day
        if (day.month, day.day) == (12, 31):
            due = [
                case.code
                for case in cases
                if case.code in first_marked and case.code not in destroyed and not case.held(day)
            ]
            destroyed |= dispose(disposal_service, archivist, approver, due, now)

    days = run_days()
    wrong = []
    for case in cases:
        disposal = case.disposal()
        expected = None
        if disposal is not None:
            expected = next((d for d in days if d > disposal and not case.held(d)), None)
            if case.hold is None and disposal.year < LAST_YEAR:
                assert expected == date(disposal.year + 1, 1, 1)
        if first_marked.get(case.code) != expected:
            wrong.append((case, first_marked.get(case.code), expected))
    assert wrong == []
    # The decade covered every kind: permanent, due, due after it, held while due.
    disposals = {case.code: case.disposal() for case in cases}
    assert sum(day is None for day in disposals.values()) > 100
    assert len(first_marked) > 400
    assert any(day is not None and day.year > LAST_YEAR for day in disposals.values())
    delayed = [
        case.code
        for case in cases
        if case.code in first_marked
        and first_marked[case.code] > date(first_marked[case.code].year, 1, 1)
    ]
    assert delayed  # marked only once its hold was released
    never = [
        case.code
        for case in cases
        if case.hold is not None
        and case.hold[1] is None
        and (disposal := disposals[case.code]) is not None
        and case.hold[0] <= date(disposal.year + 1, 1, 1) <= date(LAST_YEAR, 12, 31)
    ]
    assert never and not set(never) & set(first_marked)  # held for good: never marked
    with database.read_session() as session:
        under_review = set(
            session.scalars(
                select(Dossier.dossier_code).where(
                    Dossier.review_status == ReviewStatus.UNDER_REVIEW.value
                )
            )
        )
    assert under_review == set(first_marked) - set(destroyed)

    year_ends = [day for day in days if (day.month, day.day) == (12, 31)]
    wrong_disposals = []
    for case in cases:
        marked = first_marked.get(case.code)
        expected = None
        if marked is not None:
            expected = next((d for d in year_ends if d >= marked and not case.held(d)), None)
        if destroyed.get(case.code) != expected:
            wrong_disposals.append((case.code, destroyed.get(case.code), expected))
    assert wrong_disposals == []
    assert len(destroyed) > 400
    with database.read_session() as session:
        kept = set(session.scalars(select(Dossier.dossier_code)))
        records = dict(
            session.execute(
                select(DestructionRecord.dossier_code, DestructionRecord.destroyed_at)
            ).all()
        )
    assert kept == {case.code for case in cases} - set(destroyed)  # the others are all kept
    assert {
        code: when.astimezone(VN_TZ).date() for code, when in records.items() if when
    } == destroyed
    assert all(records.values())  # every record says when its dossier was destroyed


def dispose(
    disposals: DisposalService,
    archivist: Principal,
    approver: Principal,
    codes: list[str],
    now: datetime,
) -> dict[str, date]:
    """The year-end disposal of ``codes``: proposed, approved, executed; the codes destroyed."""
    if not codes:
        return {}
    today = now.date()
    proposal = disposals.propose(archivist, codes, "Hết thời hạn bảo quản", today=today)
    disposals.approve(
        approver,
        proposal.id,
        decision_number=f"{today.year}/QĐ-HĐXĐGTTL",
        decision_date=today,
        signer="Chủ tịch Hội đồng",
    )
    executed = disposals.execute(archivist, proposal.id, today=today, now=now)
    done = [item.dossier_code for item in executed.items if item.status == "destroyed"]
    assert sorted(done) == sorted(codes), executed
    return dict.fromkeys(done, today)
