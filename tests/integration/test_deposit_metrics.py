"""``/metrics`` on the deposits, on SQLite and PostgreSQL: how many in each status, how many
wait and for how long, how many go round again after a failed attempt, and how old the oldest
unfinished one is. Each deposit gets where it is by the pipeline itself (run step by step here,
the dispatcher not started); only a failing step and a staged file lost are injected."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import pytest

from archive_service.config import Settings
from archive_service.db.session import Database
from archive_service.ingest.dispatch import InProcessDispatcher
from archive_service.ingest.events import aip_uuid_for
from archive_service.ingest.pipeline import _Attempt
from archive_service.ingest.service import DepositService
from archive_service.ingest.staging import deposit_path
from archive_service.metrics import collect, render
from archive_service.packages.aip_writer import aip_object_id
from archive_service.storage import ocfl
from archive_service.storage.ocfl import OcflRepository
from archive_service.storage.setup import open_archive_repository
from tests.factories import DOSSIER_CODE, make_sip_zip
from tests.integration.deposit_setup import principal_for, stage
from tests.integration.prometheus import prometheus_samples

AGENCY = DOSSIER_CODE.split("-")[0]
STATUSES = ("received", "checking", "packaging", "storing", "archived", "rejected", "failed")


def deposit_gauges(database: Database, settings: Settings) -> dict[str, float]:
    """The ``archive_deposits…`` samples a scrape gives now."""
    with database.read_session() as session:
        samples = prometheus_samples(render(collect(session, settings)))
    return {name: value for name, value in samples.items() if name.startswith("archive_deposit")}


def test_the_deposit_gauges_follow_the_deposits(
    settings: Settings,
    database: Database,
    repository: OcflRepository,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ocfl, "WRITER_WAIT_SECONDS", 0.2)  # give up on a held object at once
    service = DepositService(settings, database, repository, InProcessDispatcher(1))
    depositor = principal_for(database)
    codes = iter(range(1, 100))

    def deposit(*, valid: bool = True) -> str:
        folder = tmp_path / f"sip-{next(codes)}"
        folder.mkdir()
        if valid:
            sip = make_sip_zip(
                folder, documents=1, dossier_code=f"{AGENCY}-240610-{next(codes):04d}"
            )
        else:
            sip = folder / "not-a-sip.zip"
            sip.write_bytes(b"not a ZIP file")
        return service.register_zip(depositor, stage(settings, sip)).deposit_id

    nothing = deposit_gauges(database, settings)
    assert nothing == {
        **{f'archive_deposits{{status="{status}"}}': 0 for status in STATUSES},
        'archive_deposits_waiting{waiting_for="dossier"}': 0,
        'archive_deposits_waiting{waiting_for="storage"}': 0,
        'archive_deposits_longest_wait_seconds{waiting_for="dossier"}': 0,
        'archive_deposits_longest_wait_seconds{waiting_for="storage"}': 0,
        "archive_deposits_retrying": 0,
        "archive_deposits_oldest_unfinished_age_seconds": 0,
    }

    failed = deposit()  # the oldest deposit, but finished: in no figure of the unfinished
    deposit_path(settings.staging_dir, failed).unlink()  # lost from staging: fails for good
    assert service.pipeline.process(failed) is None
    archived = deposit()
    assert service.pipeline.process(archived) is None
    rejected = deposit(valid=False)
    assert service.pipeline.process(rejected) is None
    waiting_from = datetime.now(UTC)  # the oldest unfinished deposit and wait start after it
    waiting = deposit()  # another writer holds its AIP: it waits, storing
    other_writer = open_archive_repository(settings)
    with other_writer.exclusive(aip_object_id(settings.fonds_code, aip_uuid_for(waiting))):
        assert service.pipeline.process(waiting) is not None
    failing = deposit()  # its attempt fails: received again, tried later

    def package_fails(*_: Any) -> NoReturn:
        raise OSError("disk full")

    with monkeypatch.context() as failure:
        failure.setattr(_Attempt, "package", package_fails)
        assert service.pipeline.process(failing) is not None
    deposit()  # not taken up yet

    now = deposit_gauges(database, settings)
    assert {status: now[f'archive_deposits{{status="{status}"}}'] for status in STATUSES} == {
        "received": 2,
        "checking": 0,
        "packaging": 0,
        "storing": 1,
        "archived": 1,
        "rejected": 1,
        "failed": 1,
    }
    assert now['archive_deposits_waiting{waiting_for="storage"}'] == 1
    assert now['archive_deposits_waiting{waiting_for="dossier"}'] == 0
    since_waiting = (datetime.now(UTC) - waiting_from).total_seconds()
    assert 0 < now['archive_deposits_longest_wait_seconds{waiting_for="storage"}'] <= since_waiting
    assert now['archive_deposits_longest_wait_seconds{waiting_for="dossier"}'] == 0
    assert now["archive_deposits_retrying"] == 1
    assert 0 < now["archive_deposits_oldest_unfinished_age_seconds"] <= since_waiting

    # The writer let go: the waiting deposit goes on at its next turn, and its wait leaves
    # the figures.
    for _ in range(10):
        delay = service.pipeline.process(waiting)
        if delay is None:
            break
        time.sleep(delay)
    after = deposit_gauges(database, settings)
    assert after['archive_deposits{status="archived"}'] == 2
    assert after['archive_deposits{status="storing"}'] == 0
    assert after['archive_deposits_waiting{waiting_for="storage"}'] == 0
    assert after['archive_deposits_longest_wait_seconds{waiting_for="storage"}'] == 0
