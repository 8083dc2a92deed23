"""The fixity engine and its scheduler on real archives: dossiers deposited through the pipeline
into a filesystem store or an S3 bucket, then damaged on disk or through S3.

Each kind of damage — a flipped byte, a truncated object, a deleted object, an object replaced by
another valid object — is found by a scheduled run with the right outcome; storage that stops
answering mid-run gives ``error`` outcomes and a failed run, never a pass.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select

from archive_service.config import Settings
from archive_service.db.base import utcnow
from archive_service.db.session import Database
from archive_service.dossiers.models import Dossier, PremisEventRecord, StoredObject
from archive_service.integrity.fixity import FixityEngine, close_stale_runs
from archive_service.integrity.fixity_check import CheckResult
from archive_service.integrity.fixity_models import FixityCheck, FixityRun
from archive_service.integrity.fixity_record import FIXITY_AGENT, pending_aip_events
from archive_service.integrity.fixity_report import fixity_report
from archive_service.integrity.fixity_targets import FixityScope
from archive_service.integrity.scheduler import FixityScheduler, due_objects, run_due
from archive_service.packages.premis import event_element, premis_qname, read_events
from archive_service.storage.base import ObjectStore
from archive_service.storage.filesystem import FilesystemStore
from archive_service.storage.ocfl import OcflRepository
from archive_service.storage.s3 import S3Store, make_client
from tests.conftest import S3_PARAMS
from tests.integration.deposit_setup import make_settings
from tests.integration.fixity_setup import (
    CODES,
    Damage,
    archive_dossiers,
    document_keys,
    fresh_s3_store,
    read_bytes,
    relayed,
    stored_keys,
)
from tests.s3server.servers import BucketPool, S3Server

REPO_ROOT = Path(__file__).resolve().parents[2]
LONG_AGO = timedelta(days=10_000)


@dataclass
class Archived:
    """An archive holding the dossiers of ``CODES`` and the means to damage its store."""

    settings: Settings
    database: Database
    repository: OcflRepository
    damage: Damage
    s3_server: S3Server | None = None

    @property
    def store(self) -> ObjectStore:
        return self.repository.store

    def engine(self, repository: OcflRepository | None = None) -> FixityEngine:
        return FixityEngine(self.database, repository or self.repository)


def _archived(
    tmp_path: Path, database: Database, store: ObjectStore, server: S3Server | None
) -> Archived:
    settings = make_settings(tmp_path, database.url)
    repository = OcflRepository(store)
    repository.initialize()
    archive_dossiers(settings, database, repository, tmp_path / "sips")
    damage = Damage(store, server.client() if server else None)
    return Archived(settings, database, repository, damage, server)


@pytest.fixture(params=["fs", *S3_PARAMS])
def archived(request: pytest.FixtureRequest, tmp_path: Path, sqlite_database: Database) -> Archived:
    """The archive on the filesystem, then on each S3 test server (SQLite database)."""
    if request.param == "fs":
        store: ObjectStore = FilesystemStore(tmp_path / "storage")
        return _archived(tmp_path, sqlite_database, store, None)
    server = request.getfixturevalue("s3_servers")[request.param]
    pool = request.getfixturevalue("s3_bucket_pools")[request.param]
    return _archived(tmp_path, sqlite_database, fresh_s3_store(server, pool), server)


@pytest.fixture
def archived_fs(tmp_path: Path, database: Database) -> Archived:
    """The archive on the filesystem, on SQLite then on PostgreSQL."""
    return _archived(tmp_path, database, FilesystemStore(tmp_path / "storage"), None)


def checks_of(database: Database, run_id: int) -> dict[str, FixityCheck]:
    with database.read_session() as session:
        rows = session.scalars(select(FixityCheck).where(FixityCheck.run_id == run_id))
        return {row.key: row for row in rows}


def run_row(database: Database, run_id: int) -> FixityRun:
    with database.read_session() as session:
        run = session.get(FixityRun, run_id)
        assert run is not None
        return run


def events(database: Database, event_type: str) -> list[PremisEventRecord]:
    with database.read_session() as session:
        return list(
            session.scalars(
                select(PremisEventRecord)
                .where(PremisEventRecord.event_type == event_type)
                .where(PremisEventRecord.deposit_id.is_(None))
                .order_by(PremisEventRecord.id)
            )
        )


# --- an intact archive ----------------------------------------------------------------------------


def test_an_intact_archive_passes_and_every_check_is_recorded(archived_fs: Archived) -> None:
    archive = archived_fs
    keys = stored_keys(archive.database)

    outcome = archive.engine().run(FixityScope.everything(), requested_by="test")

    assert outcome.status == "passed"
    run = run_row(archive.database, outcome.run_id)
    assert (run.objects_total, run.objects_ok, run.coverage) == (len(keys), len(keys), 1.0)
    assert run.bytes_checked == run.bytes_total > 0
    assert run.finished_at is not None
    checks = checks_of(archive.database, outcome.run_id)
    assert set(checks) == keys
    assert {c.outcome for c in checks.values()} == {"ok"}
    assert all(c.actual_sha256 == c.expected_sha256 for c in checks.values())
    content = [c for c in checks.values() if "/content/" in c.key]
    assert content and all(c.inventory_sha256 == c.expected_sha256 for c in content)
    assert all(c.inventory_sha256 is None for c in checks.values() if "/content/" not in c.key)
    with archive.database.read_session() as session:
        objects = session.scalars(select(StoredObject)).all()
    assert {(o.last_outcome, o.last_checked_at is not None) for o in objects} == {("ok", True)}
    fixity_events = events(archive.database, "fixity check")
    assert [e.outcome for e in fixity_events] == ["success", "success"]
    assert f"{len(keys) // 2} khớp" in fixity_events[0].detail


def test_fixity_events_are_kept_for_the_next_aip_version(archived_fs: Archived) -> None:
    archive = archived_fs
    archive.engine().run(FixityScope.dossier(CODES[0]), requested_by="test")

    with archive.database.read_session() as session:
        dossier_id = session.scalars(
            select(Dossier.id).where(Dossier.dossier_code == CODES[0])
        ).one()
        pending = pending_aip_events(session, dossier_id)

    assert [(e.event_type, e.outcome) for e in pending] == [("fixity check", "success")]
    premis = etree.Element(premis_qname("premis"))
    premis.append(event_element(pending[0]))
    written = next(read_events(premis))
    assert (written.identifier, written.event_type, written.outcome) == (
        pending[0].identifier,
        "fixity check",
        "success",
    )
    assert written.agents[0].identifier == FIXITY_AGENT


# --- each kind of damage, found by the scheduler --------------------------------------------------


def test_each_kind_of_damage_is_found_by_a_scheduled_run(
    archived: Archived, caplog: pytest.LogCaptureFixture
) -> None:
    archive = archived
    flipped, truncated, deleted, replaced = document_keys(
        archive.database, archive.repository, CODES[0]
    )
    archive.damage.flip_byte(flipped)
    archive.damage.truncate(truncated)
    archive.damage.delete(deleted)
    archive.damage.replace(
        replaced, document_keys(archive.database, archive.repository, CODES[1])[0]
    )
    everything_due = utcnow() + LONG_AGO

    with caplog.at_level(logging.ERROR):
        outcome = run_due(archive.engine(), archive.settings, now=everything_due)

    assert outcome is not None and outcome.status == "failed"
    checks = checks_of(archive.database, outcome.run_id)
    assert set(checks) == stored_keys(archive.database)
    found = {key: check.outcome for key, check in checks.items() if check.outcome != "ok"}
    assert found == {
        flipped: "mismatch",
        truncated: "mismatch",
        deleted: "missing",
        replaced: "mismatch",
    }
    assert checks[truncated].actual_size == checks[truncated].expected_size - 10
    assert "SHA-256" in (checks[flipped].detail or "")
    assert checks[replaced].actual_sha256 != checks[replaced].inventory_sha256
    run = run_row(archive.database, outcome.run_id)
    assert (run.scope, run.objects_mismatch, run.objects_missing, run.objects_error) == (
        "scheduled",
        3,
        1,
        0,
    )
    alerts = [r.message for r in caplog.records if "FIXITY ALERT" in r.message]
    assert {key for key in found if any(key in alert for alert in alerts)} == set(found)
    outcomes = {e.outcome for e in events(archive.database, "fixity check")}
    assert outcomes == {"failure", "success"}  # the damaged dossier, the intact one
    with archive.database.read_session() as session:
        report = fixity_report(session, utcnow() - LONG_AGO, utcnow(), cycle_days=90)
    assert report.failures_total == 4
    assert {d.key for d in report.damaged_now} == set(found)  # no replica: the damage stays
    assert report.repairs_total == 0


def test_damage_stays_reported_until_someone_acts(archived_fs: Archived) -> None:
    archive = archived_fs
    damaged = document_keys(archive.database, archive.repository, CODES[0])[0]
    archive.damage.flip_byte(damaged)
    engine = archive.engine()
    engine.run(FixityScope.dossier(CODES[0]), requested_by="test")

    again = engine.run(FixityScope.dossier(CODES[0]), requested_by="test")

    assert again.status == "failed"
    assert checks_of(archive.database, again.run_id)[damaged].outcome == "mismatch"
    with archive.database.read_session() as session:
        report = fixity_report(session, utcnow() - LONG_AGO, utcnow(), cycle_days=90)
    assert [d.key for d in report.damaged_now] == [damaged]


def test_bytes_changed_with_the_database_value_are_still_caught_by_the_inventory(
    archived_fs: Archived,
) -> None:
    archive = archived_fs
    key = document_keys(archive.database, archive.repository, CODES[0])[0]
    archive.damage.flip_byte(key)
    altered = read_bytes(archive.store, key)
    with archive.database.session() as session:  # the recorded value rewritten to match
        row = session.scalars(select(StoredObject).where(StoredObject.key == key)).one()
        row.sha256, row.size = hashlib.sha256(altered).hexdigest(), len(altered)

    outcome = archive.engine().run(FixityScope.dossier(CODES[0]), requested_by="test")

    check = checks_of(archive.database, outcome.run_id)[key]
    assert (outcome.status, check.outcome) == ("failed", "mismatch")
    assert check.actual_sha256 == check.expected_sha256 != check.inventory_sha256
    assert "inventory OCFL" in (check.detail or "")


# --- storage that stops answering -----------------------------------------------------------------


def test_a_filesystem_store_gone_mid_run_gives_errors_and_a_failed_run(
    archived_fs: Archived,
) -> None:
    archive = archived_fs
    assert isinstance(archive.store, FilesystemStore)
    root = archive.store.root
    seen: list[CheckResult] = []

    def unmount_after_first(result: CheckResult) -> None:
        seen.append(result)
        if len(seen) == 1:
            root.rename(root.with_name("unmounted"))

    outcome = archive.engine().run(
        FixityScope.everything(), requested_by="test", on_check=unmount_after_first
    )

    assert outcome.status == "failed"
    checks = checks_of(archive.database, outcome.run_id)
    outcomes = [seen[0].outcome] + [checks[r.reference.key].outcome for r in seen[1:]]
    assert outcomes == ["ok"] + ["error"] * (len(seen) - 1)
    assert len(checks) == len(stored_keys(archive.database))
    assert "không truy cập được" in (checks[seen[-1].reference.key].detail or "")
    run = run_row(archive.database, outcome.run_id)
    assert (run.objects_ok, run.objects_missing, run.objects_error) == (1, 0, len(seen) - 1)
    assert run.coverage < 0.1
    with archive.database.read_session() as session:
        unchecked = session.scalars(
            select(StoredObject).where(StoredObject.last_checked_at.is_(None))
        ).all()
    assert len(unchecked) == len(seen) - 1  # an error proves nothing: the objects stay due


@pytest.mark.parametrize("server_name", [p.values[0] for p in S3_PARAMS])
def test_an_s3_server_unreachable_mid_run_gives_errors_and_a_failed_run(
    tmp_path: Path,
    sqlite_database: Database,
    s3_servers: dict[str, S3Server],
    s3_bucket_pools: dict[str, BucketPool],
    server_name: str,
) -> None:
    server = s3_servers[server_name]
    direct = fresh_s3_store(server, s3_bucket_pools[server_name])
    archive = _archived(tmp_path, sqlite_database, direct, server)
    with relayed(server.endpoint) as relay:
        client = make_client(
            relay.endpoint, server.access_key, server.secret_key, region=server.region, retries=1
        )
        through_relay = OcflRepository(S3Store(client, direct.bucket))
        seen: list[CheckResult] = []

        def cut_after_first(result: CheckResult) -> None:
            seen.append(result)
            if len(seen) == 1:
                relay.cut()

        outcome = archive.engine(through_relay).run(
            FixityScope.everything(), requested_by="test", on_check=cut_after_first
        )

    assert outcome.status == "failed"
    checks = checks_of(archive.database, outcome.run_id)
    assert [checks[r.reference.key].outcome for r in seen] == ["ok"] + ["error"] * (len(seen) - 1)
    assert len(seen) == len(stored_keys(archive.database))
    run = run_row(archive.database, outcome.run_id)
    assert (run.objects_ok, run.objects_missing, run.objects_error) == (1, 0, len(seen) - 1)


# --- what the scheduler chooses -------------------------------------------------------------------


def _objects(database: Database, ages_days: list[float], size: int = 1000) -> list[int]:
    """Stored objects (no dossier) proven ``ages_days`` ago, in that order; their ids."""
    now = utcnow()
    with database.session() as session:
        rows = [
            StoredObject(
                key=f"k/{number:04}",
                aip_version="v1",
                size=size,
                sha256="0" * 64,
                stored_at=now - timedelta(days=age),
            )
            for number, age in enumerate(ages_days)
        ]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def test_each_tick_checks_its_share_of_the_cycle_oldest_first(
    tmp_path: Path, database: Database
) -> None:
    ids = _objects(database, [float(age) for age in range(100)])  # 0 … 99 days old
    settings = make_settings(
        tmp_path, database.url, fixity_cycle_days=200, fixity_tick_seconds=86400 * 10
    )

    due = due_objects(database, settings)

    assert due == ids[::-1][:5]  # 100 objects × 10 days / 200 days, the oldest first


def test_objects_overdue_are_all_due_and_the_budget_caps_a_tick(
    tmp_path: Path, database: Database
) -> None:
    ids = _objects(database, [1, 50, 40, 30, 2], size=40_000)
    daily = {"fixity_cycle_days": 20, "fixity_tick_seconds": 86400}
    unlimited = make_settings(tmp_path, database.url, fixity_bytes_per_second=0, **daily)
    assert due_objects(database, unlimited) == [ids[1], ids[2], ids[3]]  # quota 1, 3 overdue

    capped = make_settings(tmp_path, database.url, fixity_bytes_per_second=1, **daily)
    assert due_objects(database, capped) == [ids[1], ids[2]]  # 86 400 B a tick: 2 × 40 000 B

    tiny = make_settings(
        tmp_path,
        database.url,
        fixity_bytes_per_second=1,
        fixity_tick_seconds=1,
        fixity_cycle_days=20,
    )
    assert due_objects(database, tiny) == [ids[1]]  # at least one object, however small the cap


def test_a_key_rewritten_in_place_is_checked_once_against_its_newest_row(
    tmp_path: Path, database: Database
) -> None:
    now = utcnow()
    with database.session() as session:
        session.add_all(
            [
                StoredObject(
                    key="o/inventory.json",
                    version_id="a",
                    aip_version="v1",
                    size=1,
                    sha256="1" * 64,
                    stored_at=now - LONG_AGO,
                ),
                StoredObject(
                    key="o/inventory.json",
                    version_id="b",
                    aip_version="v2",
                    size=2,
                    sha256="2" * 64,
                    stored_at=now,
                ),
            ]
        )
    settings = make_settings(tmp_path, database.url, fixity_cycle_days=1)
    with database.read_session() as session:
        newest = session.scalars(select(StoredObject).where(StoredObject.version_id == "b")).one()

    assert due_objects(database, settings, now + timedelta(days=2)) == [newest.id]


def test_a_tick_is_skipped_while_a_scheduled_run_goes_and_stale_runs_are_closed(
    archived_fs: Archived,
) -> None:
    archive = archived_fs
    engine = archive.engine()
    going = engine.start(FixityScope.objects([1]), requested_by="system")
    future = utcnow() + LONG_AGO

    assert run_due(engine, archive.settings, now=future) is None

    assert close_stale_runs(archive.database, older_than=timedelta(0)) == 1
    assert run_row(archive.database, going).status == "error"
    assert run_due(engine, archive.settings, now=future) is not None


def test_the_scheduler_thread_ticks_and_stops() -> None:
    ticks: list[int] = []

    def tick(stop: threading.Event) -> None:
        ticks.append(len(ticks))

    scheduler = FixityScheduler(tick, interval=0.05, first_delay=0.0)
    scheduler.start()
    deadline = time.monotonic() + 30
    while len(ticks) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    scheduler.stop()
    count = len(ticks)
    time.sleep(0.1)
    assert len(ticks) == count


def test_a_stopping_service_interrupts_a_scheduled_run_as_an_error(archived_fs: Archived) -> None:
    archive = archived_fs
    stop = threading.Event()
    stop.set()

    outcome = run_due(archive.engine(), archive.settings, stop=stop, now=utcnow() + LONG_AGO)

    assert outcome is not None and outcome.status == "error"
    assert "dừng" in (run_row(archive.database, outcome.run_id).detail or "")


# --- the benchmark still runs ---------------------------------------------------------------------


def test_the_fixity_benchmark_runs_on_a_tiny_input(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "bench" / "fixity_throughput.py"),
            "--large-count",
            "2",
            "--large-size",
            "2MiB",
            "--small-count",
            "20",
            "--small-size",
            "10KiB",
            "--dir",
            str(tmp_path),
            "--json",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(done.stdout)
    assert [s["name"] for s in result["sets"]] == ["large", "small"]
    for figures in result["sets"]:
        assert figures["fixity"]["status"] == "passed"
        assert figures["fixity"]["mb_per_s"] > 0 and figures["sha256sum"]["mb_per_s"] > 0
        assert figures["fixity"]["objects_per_s"] > 0
    assert list(tmp_path.iterdir()) == []
