"""Crash safety: a process that dies at any point of a deposit leaves nothing visible or a
complete AIP, and the recovery path finishes the deposit exactly once.

A real child process runs the embedded default (``open_deposit_service`` with its in-process
dispatcher), registers a SIP and processes it; ``ARCHIVE_TEST_CRASH_AT`` makes it ``SIGKILL``
itself at a named point (``ingest/crashpoints.py``). Then a fresh service starts on the same data
directory — what ``archive serve`` does after a power cut — and its dispatcher resumes every
unfinished deposit. The last test does the same with real Celery workers over Redis: one killed
mid-store, its successor finishing the deposit.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from archive_service.config import Settings
from archive_service.db.migrate import upgrade
from archive_service.db.session import Database
from archive_service.ingest import crashpoints
from archive_service.ingest.dispatch import CeleryDispatcher
from archive_service.ingest.models import Deposit, DepositStatus
from archive_service.ingest.process_pool import ProcessPipeline
from archive_service.ingest.service import DepositService, open_deposit_service
from archive_service.integrity.models import AuditEntry
from archive_service.security.service import Principal
from archive_service.storage import ocfl as ocfl_repository
from archive_service.storage.setup import open_archive_repository
from tests.conftest import S3_PARAMS
from tests.factories import make_sip_zip
from tests.integration.deposit_setup import (
    assert_stored_objects_match_storage,
    assert_valid_ocfl,
    catalogue_counts,
    make_settings,
    principal_for,
    stage,
    staging_entries,
    statuses_reached,
    storage_objects,
    wait_final,
)
from tests.integration.worker_process import (
    redis_database,
    settings_environment,
    start_worker,
)
from tests.s3server.servers import BucketPool, S3Server

#: Short leases: the dead process's claim runs out quickly, so recovery starts at once.
LEASE_SECONDS = 1.0
CHILD_WAIT_SECONDS = 120.0


@pytest.fixture
def settings(tmp_path: Path, database: Database) -> Settings:
    return make_settings(tmp_path, database.url, lease_seconds=LEASE_SECONDS)


@pytest.fixture(params=["fs", *S3_PARAMS])
def storing_settings(
    request: pytest.FixtureRequest, tmp_path: Path, database: Database, settings: Settings
) -> Settings:
    """``settings`` (filesystem storage), then on a fresh bucket of each S3 server: there the
    OCFL writer locks are the database's (PostgreSQL) or a lock file beside it (SQLite)."""
    if request.param == "fs":
        return settings
    server: S3Server = request.getfixturevalue("s3_servers")[request.param]
    pool: BucketPool = request.getfixturevalue("s3_bucket_pools")[request.param]
    return make_settings(
        tmp_path,
        database.url,
        lease_seconds=LEASE_SECONDS,
        **server.archive_settings(pool.take()),
    )


@pytest.fixture
def sip(tmp_path: Path) -> Path:
    (tmp_path / "sips").mkdir()
    return make_sip_zip(tmp_path / "sips")


def _deposit_and_crash(settings: Settings, principal: Principal, sip: Path, crash_at: str) -> None:
    """Child process: the embedded service registers and processes ``sip`` until it dies."""
    os.environ[crashpoints.VARIABLE] = crash_at
    service = open_deposit_service(settings)
    service.dispatcher.start(service)
    service.register_zip(principal, stage(settings, sip))
    time.sleep(CHILD_WAIT_SECONDS)  # the crash point ends the process long before
    os._exit(3)


def run_until_crash(settings: Settings, principal: Principal, sip: Path, crash_at: str) -> None:
    """Run the embedded service in a forked child until it kills itself at ``crash_at``.

    The child never runs a finaliser (it ends by ``SIGKILL``), so what it inherited from this
    process (pooled database connections) is left untouched.
    """
    context = multiprocessing.get_context("fork")
    child = context.Process(target=_deposit_and_crash, args=(settings, principal, sip, crash_at))
    child.start()
    child.join(CHILD_WAIT_SECONDS)
    assert child.exitcode == -signal.SIGKILL, f"child ended with {child.exitcode}"


@pytest.fixture
def restarted() -> Iterator[list[DepositService]]:
    """The services a test started again after a crash; closed at the end."""
    services: list[DepositService] = []
    yield services
    for service in services:
        service.close()


def restart(settings: Settings, services: list[DepositService]) -> DepositService:
    """The embedded service as it starts after a power cut: its dispatcher resumes work."""
    service = open_deposit_service(settings)
    services.append(service)
    service.dispatcher.start(service)
    return service


def only_deposit(database: Database) -> Deposit:
    with database.session() as session:
        return session.scalars(select(Deposit)).one()


def archived_events(database: Database) -> int:
    with database.session() as session:
        return len(
            session.scalars(select(AuditEntry).where(AuditEntry.action == "dossier.archived")).all()
        )


def assert_archived_once(settings: Settings, database: Database, deposit_id: str) -> None:
    repository = open_archive_repository(settings)
    deposit = only_deposit(database)
    assert (deposit.id, deposit.status, deposit.aip_version) == (deposit_id, "archived", "v1")
    assert deposit.aip_object_id is not None
    inventory = repository.inventory(deposit.aip_object_id)
    assert list(inventory["versions"]) == ["v1"]
    assert inventory["versions"]["v1"]["message"] == f"deposit {deposit_id}"
    counts = catalogue_counts(database)
    assert (counts["deposits"], counts["dossiers"], counts["documents"]) == (1, 1, 3)
    assert archived_events(database) == 1
    assert_stored_objects_match_storage(database, repository, deposit.aip_object_id)
    root = repository.object_root(deposit.aip_object_id) + "/"
    keys = [key.removeprefix(root) for key in repository.content_keys(deposit.aip_object_id)]
    content = {key for key in keys if key.startswith("v1/content/")}  # nothing left over:
    assert content == {path for paths in inventory["manifest"].values() for path in paths}
    if settings.effective_storage_url().startswith("file:"):
        assert_valid_ocfl(settings, objects=1)
    assert staging_entries(settings) == []


CRASH_POINTS = [
    "register:committed",
    "check:done",
    "package:done",
    "store:content#3",
    "store:committed",
    "index:committed",
]


@pytest.mark.parametrize("crash_at", CRASH_POINTS)
def test_a_crash_at_any_stage_ends_archived_exactly_once(
    crash_at: str,
    settings: Settings,
    database: Database,
    sip: Path,
    restarted: list[DepositService],
) -> None:
    depositor = principal_for(database)
    run_until_crash(settings, depositor, sip, crash_at)

    crashed = only_deposit(database)
    assert crashed.status not in ("archived", "rejected", "failed") or crash_at.startswith("index")
    repository = open_archive_repository(settings)
    if crash_at == "store:content#3":  # a partial version, invisible: no root inventory
        assert crashed.aip_object_id is not None
        assert repository.content_keys(crashed.aip_object_id)
        assert not repository.exists(crashed.aip_object_id)
    if crash_at == "store:committed":  # storage committed, the database not yet
        assert crashed.aip_object_id is not None and repository.exists(crashed.aip_object_id)
        assert catalogue_counts(database)["dossiers"] == 0

    service = restart(settings, restarted)
    view = wait_final(service, depositor, crashed.id)

    assert view.status is DepositStatus.ARCHIVED, (view.problems, view.failure_reason)
    assert_archived_once(settings, database, crashed.id)


def _wait_until_stopped(pid: int) -> None:
    """Wait until the process ``pid`` is stopped by a signal (state ``T`` in ``/proc``)."""
    deadline = time.monotonic() + CHILD_WAIT_SECONDS
    while Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T":
        assert time.monotonic() < deadline, "the child never reached its stopping point"
        time.sleep(0.02)


def test_a_hung_worker_is_waited_for_not_undone(
    storing_settings: Settings,
    database: Database,
    sip: Path,
    restarted: list[DepositService],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker that hangs in the middle of storing is alive: its lease runs out, but it still
    holds its OCFL object. The worker that takes the deposit over waits for it instead of
    removing its partial version, and the deposit ends archived once, with that version."""
    settings = storing_settings
    monkeypatch.setattr(ocfl_repository, "WRITER_WAIT_SECONDS", 2.0)
    monkeypatch.setenv(crashpoints.SIGNAL_VARIABLE, "SIGSTOP")
    depositor = principal_for(database)
    hung = multiprocessing.get_context("fork").Process(
        # the 12th file: on S3 at least 4 of the 8 puts made at once have ended by then
        target=_deposit_and_crash,
        args=(settings, depositor, sip, "store:content#12"),
    )
    hung.start()
    try:
        assert hung.pid is not None
        _wait_until_stopped(hung.pid)
        stalled = only_deposit(database)
        assert stalled.status == "storing" and stalled.aip_object_id is not None
        repository = open_archive_repository(settings)
        partial = repository.content_keys(stalled.aip_object_id)
        assert partial and not repository.exists(stalled.aip_object_id)

        service = restart(settings, restarted)
        time.sleep(LEASE_SECONDS * 3)  # the lease runs out; the new worker claims, and waits
        waiting = _between_claims(database)
        assert (waiting.status, waiting.attempts) == ("storing", stalled.attempts)
        assert repository.content_keys(stalled.aip_object_id) == partial
        # The wait shows on the deposit, since its first turn.
        seen = service.get(depositor, stalled.id)
        assert (seen.waiting_for, seen.waiting_since) == ("storage", waiting.waiting_since)
        assert waiting.waiting_since is not None
        _claimed_again(database)
        again = _between_claims(database)  # a second turn: still waiting, since the first
        assert (again.waiting_for, again.waiting_since) == ("storage", waiting.waiting_since)

        _claimed_again(database)  # the new worker waits for the object: the hung one goes on
        os.kill(hung.pid, signal.SIGCONT)
        view = wait_final(service, depositor, stalled.id)
    finally:
        hung.kill()
        hung.join()

    assert view.status is DepositStatus.ARCHIVED, (view.problems, view.failure_reason)
    assert (view.waiting_for, view.waiting_since) == (None, None)
    assert_archived_once(settings, database, stalled.id)
    # The version the hung worker committed was adopted, not checked and packaged again.
    assert statuses_reached(database, stalled.id).count("checking") == 1


def _between_claims(database: Database) -> Deposit:
    """The deposit once no worker holds its lease: a worker that found its object held gave
    the lease back (``postpone``) and is waiting to try again."""
    deadline = time.monotonic() + CHILD_WAIT_SECONDS
    while (deposit := only_deposit(database)).lease_until is not None:
        assert time.monotonic() < deadline, "the deposit never left its lease"
        time.sleep(0.01)
    return deposit


def _claimed_again(database: Database) -> None:
    deadline = time.monotonic() + CHILD_WAIT_SECONDS
    while only_deposit(database).lease_until is None:
        assert time.monotonic() < deadline, "the deposit was never claimed again"
        time.sleep(0.01)


def test_a_crash_before_the_deposit_is_committed_leaves_no_deposit(
    settings: Settings, database: Database, sip: Path, restarted: list[DepositService]
) -> None:
    depositor = principal_for(database)
    run_until_crash(settings, depositor, sip, "register:staged")

    service = restart(settings, restarted)
    assert catalogue_counts(database)["deposits"] == 0
    assert storage_objects(settings) == []
    assert len(staging_entries(settings)) == 1  # the upload, never acknowledged to the client
    assert service.sweep_staging(grace_seconds=0)
    assert staging_entries(settings) == []


def test_a_deposit_that_keeps_crashing_fails_with_nothing_visible(
    tmp_path: Path, database: Database, sip: Path, restarted: list[DepositService]
) -> None:
    settings = make_settings(tmp_path, database.url, lease_seconds=LEASE_SECONDS, max_attempts=1)
    depositor = principal_for(database)
    run_until_crash(settings, depositor, sip, "store:content#3")
    assert storage_objects(settings)  # the dead attempt's partial version

    service = restart(settings, restarted)
    view = wait_final(service, depositor, only_deposit(database).id)

    assert view.status is DepositStatus.FAILED
    assert view.failure_reason is not None and "1 lần" in view.failure_reason
    counts = catalogue_counts(database)
    assert (counts["dossiers"], counts["stored_objects"], counts["premis_events"]) == (0, 0, 0)
    assert storage_objects(settings) == []
    assert staging_entries(settings) == []


def test_a_killed_celery_worker_is_replaced_and_the_deposit_archived_once(
    tmp_path: Path, postgres_url: str, sip: Path
) -> None:
    upgrade(postgres_url)
    database = Database(postgres_url)
    with redis_database() as broker:
        settings = make_settings(
            tmp_path, postgres_url, lease_seconds=LEASE_SECONDS, broker_url=broker
        )
        depositor = principal_for(database)
        environment = settings_environment(settings)
        doomed = start_worker(
            {**environment, crashpoints.VARIABLE: "store:content#3"}, tmp_path / "worker1.log"
        )
        dispatcher = CeleryDispatcher(settings)
        service = DepositService(settings, database, open_archive_repository(settings), dispatcher)
        try:
            receipt = service.register_zip(depositor, stage(settings, sip))
            assert doomed.wait_exit() == -signal.SIGKILL
            assert only_deposit(database).status == "storing"

            successor = start_worker(environment, tmp_path / "worker2.log")
            try:
                view = wait_final(service, depositor, receipt.deposit_id)
            finally:
                successor.stop()
        finally:
            doomed.kill()
            dispatcher.close()

        assert view.status is DepositStatus.ARCHIVED, (view.failure_reason, successor.log())
        assert_archived_once(settings, database, receipt.deposit_id)
    database.dispose()


def test_a_pipeline_process_that_dies_is_replaced_and_the_deposit_archived_once(
    tmp_path: Path,
    database: Database,
    sip: Path,
    restarted: list[DepositService],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The embedded default on several cores: the task body runs in a child process of the
    service; that child dies (``SIGKILL``) mid-deposit, the service replaces it and finishes."""
    once = tmp_path / "crashed-once"
    monkeypatch.setenv(crashpoints.VARIABLE, "store:content#3")
    monkeypatch.setenv(crashpoints.ONCE_VARIABLE, str(once))
    settings = make_settings(
        tmp_path, database.url, lease_seconds=LEASE_SECONDS, pipeline_processes=1
    )
    depositor = principal_for(database)
    service = restart(settings, restarted)
    assert isinstance(service.pipeline, ProcessPipeline)

    receipt = service.register_zip(depositor, stage(settings, sip))
    view = wait_final(service, depositor, receipt.deposit_id)

    assert once.exists(), "no pipeline process died: the crash point was never reached"
    assert view.status is DepositStatus.ARCHIVED, (view.problems, view.failure_reason)
    assert_archived_once(settings, database, receipt.deposit_id)
