"""What the retention tests share: dossiers of a chosen term and end date, archived through the
real deposit pipeline on a real store, and the stored object versions of a dossier.

Dossier codes carry the receipt day (``…-YYMMDD-NNNN``), so the end date of a dossier follows
from its code: ``-100610-`` ends on 12/06/2010. A procedure code absent from the shipped schedule
(``1.999001``, sector ``XX``) falls to its ``*`` row, which keeps the declared term.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from uuid import uuid4

from sqlalchemy import select

from archive_service.config import Settings
from archive_service.db.session import Database
from archive_service.dossiers.models import Dossier, StoredObject
from archive_service.ingest.dispatch import InProcessDispatcher
from archive_service.ingest.models import DepositStatus
from archive_service.ingest.service import DepositService
from archive_service.packages.sip_builder import build_sip
from archive_service.security.models import Role
from archive_service.security.service import Principal
from archive_service.storage.ocfl import OcflRepository
from retention.changes import RetentionChanges
from retention.holds import HoldService
from tests.factories import CREATED, FONDS_CODE, sample_deposit
from tests.integration.deposit_setup import WAIT_LIMIT_SECONDS, principal_for, stage, wait_final

#: A procedure with no row of its own in the shipped schedule: the declared term stands.
UNSCHEDULED = {
    "code": "1.999001",
    "name": "Thủ tục thử nghiệm",
    "sectorCode": "XX",
    "sectorName": "Lĩnh vực thử nghiệm",
}
#: Ends 12/06/2010: a 10-year term (``06``) ended on 31/12/2020.
EXPIRED_CODE = "000.00.19.H56-100610-0001"
#: Ends 12/06/2024: a 10-year term (``06``) runs until 31/12/2034.
CURRENT_CODE = "000.00.19.H56-240610-0002"
#: Ends 12/06/2024, marriage registration: permanent by the schedule.
PERMANENT_CODE = "000.00.19.H56-240610-0003"


@dataclass(frozen=True)
class DossierSpec:
    """A dossier to archive: its code, declared term, and whether the schedule knows it."""

    code: str
    maintenance: str = "06"
    scheduled: bool = False  # True: the factory's marriage registration (permanent by schedule)
    documents: int = 1
    record_status: str = "NEW"  # SUPPLEMENT or REPLACEMENT: a new version of an archived one
    procedure: str | None = None  # another procedure code (sector XX), for tests' own schedules

    def sip(self, directory: Path) -> Path:
        """Write the SIP (a new package id each time) under ``directory``; return its path."""
        overrides: dict[str, Any] = {"dossier": {"maintenance": self.maintenance}}
        if self.procedure is not None:
            overrides["tthc"] = {"procedure": {**UNSCHEDULED, "code": self.procedure}}
        elif not self.scheduled:
            overrides["tthc"] = {"procedure": UNSCHEDULED}
        plain, files = sample_deposit(documents=self.documents, dossier_code=self.code, **overrides)
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / f"{self.code}-{self.record_status}-{uuid4().hex[:8]}.zip"
        build_sip(
            plain,
            files,
            target,
            object_uuid=uuid4(),
            created=CREATED,
            fonds_code=FONDS_CODE,
            record_status=self.record_status,
        )
        return target


def eventually(condition: Callable[[], bool]) -> None:
    """Wait until ``condition`` holds (a test fails if it never does)."""
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.02)


@contextmanager
def deposit_service(
    settings: Settings, database: Database, repository: OcflRepository
) -> Iterator[DepositService]:
    """The real deposit service with its in-process dispatcher, closed afterwards."""
    dispatcher = InProcessDispatcher(settings.workers)
    service = DepositService(settings, database, repository, dispatcher)
    dispatcher.start(service)
    try:
        yield service
    finally:
        dispatcher.close()


def archive_dossiers(
    settings: Settings,
    database: Database,
    repository: OcflRepository,
    work: Path,
    specs: Sequence[DossierSpec],
) -> None:
    """Deposit one SIP per spec through the real pipeline and wait until each is archived (and
    its storage locks applied: the dispatcher is idle)."""
    with deposit_service(settings, database, repository) as service:
        depositor = principal_for(database)
        for spec in specs:
            receipt = service.register_zip(depositor, stage(settings, spec.sip(work)))
            view = wait_final(service, depositor, receipt.deposit_id)
            assert view.status is DepositStatus.ARCHIVED, (view.problems, view.failure_reason)


def stored_versions(database: Database, dossier_code: str) -> list[tuple[str, str | None]]:
    """``(key, version id)`` of every stored object version the catalogue records."""
    with database.read_session() as session:
        dossier_id = session.scalar(select(Dossier.id).where(Dossier.dossier_code == dossier_code))
        rows = session.execute(
            select(StoredObject.key, StoredObject.version_id).where(
                StoredObject.dossier_id == dossier_id
            )
        ).all()
    return [(key, version or None) for key, version in rows]


def dossier_row(database: Database, dossier_code: str) -> Dossier | None:
    with database.read_session() as session:
        return session.scalar(select(Dossier).where(Dossier.dossier_code == dossier_code))


def people(database: Database) -> dict[str, Principal]:
    """Real keys: two archivists, two admins, an auditor and a depositor."""
    return {
        "archivist": principal_for(database, Role.ARCHIVIST, None),
        "archivist2": principal_for(database, Role.ARCHIVIST, None),
        "admin": principal_for(database, Role.ADMIN, None),
        "admin2": principal_for(database, Role.ADMIN, None),
        "auditor": principal_for(database, Role.AUDITOR, None),
        "depositor": principal_for(database),
    }


#: The day the workflow tests act on, and the council decision that approves their lists.
TODAY = date(2026, 3, 1)
DECISION: dict[str, Any] = {
    "decision_number": "7/QĐ-UBND",
    "decision_date": date(2026, 2, 20),
    "signer": "Phạm Văn D",
}


def hold_service(settings: Settings, database: Database, repository: OcflRepository) -> HoldService:
    """The hold service as the application builds it (its retention changes included)."""
    return HoldService(database, repository, RetentionChanges(database, repository, settings))
