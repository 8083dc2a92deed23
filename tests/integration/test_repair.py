"""Repair from a replica: a second filesystem store, or a second bucket, holding the same keys.

A damaged or missing object is restored only from a replica copy proven to have the SHA-256
recorded at ingest, checked again, and logged (audit trail and PREMIS ``replication`` event). On
S3 with Object Lock the damaged version stays, locked, and the repair is a new version on top.
"""

from __future__ import annotations

import io
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from archive_service.config import Settings
from archive_service.db.base import utcnow
from archive_service.db.migrate import upgrade
from archive_service.db.session import Database
from archive_service.dossiers.models import PremisEventRecord, StoredObject
from archive_service.integrity.fixity import FixityEngine
from archive_service.integrity.fixity_models import FixityCheck
from archive_service.integrity.fixity_report import fixity_report
from archive_service.integrity.fixity_targets import FixityScope
from archive_service.integrity.models import AuditEntry
from archive_service.integrity.repair import open_replica_store
from archive_service.integrity.replica_schedule import TASK_REPLICA_SYNC
from archive_service.integrity.replica_sync import SyncBusy, one_sync_at_a_time, sync_replica
from archive_service.integrity.scheduler import run_due
from archive_service.storage.base import (
    ObjectLocked,
    ObjectNotFound,
    ObjectStore,
    Retention,
    RetentionMode,
    StorageUnavailable,
)
from archive_service.storage.filesystem import FilesystemStore
from archive_service.storage.ocfl import OcflRepository
from archive_service.storage.s3 import S3Store
from tests.conftest import S3_PARAMS
from tests.integration.api_client import (
    ARCHIVE,
    archive_environment,
    in_process_archive,
    run_archive,
)
from tests.integration.deposit_setup import make_settings
from tests.integration.fixity_setup import (
    CODES,
    Damage,
    archive_dossiers,
    document_keys,
    fresh_s3_store,
    read_bytes,
    stored_keys,
)
from tests.integration.retention_setup import CURRENT_CODE, DossierSpec, hold_service, people
from tests.integration.retention_setup import archive_dossiers as archive_retention_dossiers
from tests.integration.test_fixity_api import deposit, metrics
from tests.integration.worker_process import settings_environment
from tests.s3server.servers import BucketPool, S3Server
from workers.celery_app import beat_schedule, celery_app

LONG_AGO = timedelta(days=10_000)


@dataclass
class Replicated:
    """An archive of ``CODES`` on ``primary`` with every object copied to ``replica``."""

    settings: Settings
    database: Database
    repository: OcflRepository
    replica: ObjectStore
    damage: Damage

    @property
    def primary(self) -> ObjectStore:
        return self.repository.store

    def engine(self) -> FixityEngine:
        return FixityEngine(self.database, self.repository, replica=self.replica)


@pytest.fixture
def database(sqlite_url: str) -> Iterator[Database]:
    upgrade(sqlite_url)
    database = Database(sqlite_url)
    yield database
    database.dispose()


@pytest.fixture(params=["fs", *S3_PARAMS])
def replicated(request: pytest.FixtureRequest, tmp_path: Path, database: Database) -> Replicated:
    """Primary and replica: two directories, then two buckets of each S3 test server."""
    client = None
    if request.param == "fs":
        primary: ObjectStore = FilesystemStore(tmp_path / "storage")
        replica: ObjectStore = FilesystemStore(tmp_path / "replica")
    else:
        server = request.getfixturevalue("s3_servers")[request.param]
        pool = request.getfixturevalue("s3_bucket_pools")[request.param]
        primary, replica = fresh_s3_store(server, pool), fresh_s3_store(server, pool)
        client = server.client()
    settings = make_settings(tmp_path, database.url)
    repository = OcflRepository(primary)
    repository.initialize()
    archive_dossiers(settings, database, repository, tmp_path / "sips")
    synced = sync_replica(database, primary, replica)
    assert (synced.copied, synced.present, synced.failed) == (len(stored_keys(database)), 0, ())
    return Replicated(settings, database, repository, replica, Damage(primary, client))


def check_rows(database: Database, run_id: int) -> dict[str, FixityCheck]:
    with database.read_session() as session:
        rows = session.scalars(select(FixityCheck).where(FixityCheck.run_id == run_id))
        return {row.key: row for row in rows}


def replication_events(database: Database) -> list[PremisEventRecord]:
    with database.read_session() as session:
        return list(
            session.scalars(
                select(PremisEventRecord).where(PremisEventRecord.event_type == "replication")
            )
        )


def audit_actions(database: Database, prefix: str) -> list[AuditEntry]:
    with database.read_session() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action.startswith(prefix))))


def test_each_kind_of_damage_is_repaired_from_the_replica(replicated: Replicated) -> None:
    archive = replicated
    keys = document_keys(archive.database, archive.repository, CODES[0])
    originals = {key: read_bytes(archive.primary, key) for key in keys}
    flipped, truncated, deleted, replaced = keys
    archive.damage.flip_byte(flipped)
    archive.damage.truncate(truncated)
    archive.damage.delete(deleted)
    archive.damage.replace(replaced, flipped)

    outcome = run_due(archive.engine(), archive.settings, now=utcnow() + LONG_AGO)

    assert outcome is not None  # the scheduled run, every object due
    assert outcome.status == "failed"  # damage was found (and repaired): auditors must know
    checks = check_rows(archive.database, outcome.run_id)
    damaged = {key: (c.outcome, c.repair) for key, c in checks.items() if c.outcome != "ok"}
    assert damaged == {
        flipped: ("mismatch", "repaired"),
        truncated: ("mismatch", "repaired"),
        deleted: ("missing", "repaired"),
        replaced: ("mismatch", "repaired"),
    }
    assert {key: read_bytes(archive.primary, key) for key in keys} == originals
    again = archive.engine().run(FixityScope.everything(), requested_by="test")
    assert again.status == "passed"
    with archive.database.read_session() as session:
        assert set(session.scalars(select(StoredObject.last_outcome))) == {"ok"}
        report = fixity_report(session, utcnow() - LONG_AGO, utcnow(), cycle_days=90)
    assert (report.repairs_total, report.damaged_now) == (4, [])
    events = replication_events(archive.database)
    assert [e.outcome for e in events] == ["success"] * 4
    assert all("bản sao" in (e.detail or "") for e in events)
    repaired = audit_actions(archive.database, "fixity.repair")
    assert sorted(entry.detail["key"] for entry in repaired) == sorted(keys)
    assert {entry.action for entry in repaired} == {"fixity.repaired"}


@pytest.mark.parametrize("server_name", [p.values[0] for p in S3_PARAMS])
def test_on_object_lock_the_damaged_version_stays_and_the_repair_is_a_new_version(
    tmp_path: Path,
    database: Database,
    s3_servers: dict[str, S3Server],
    s3_bucket_pools: dict[str, BucketPool],
    server_name: str,
) -> None:
    server, pool = s3_servers[server_name], s3_bucket_pools[server_name]
    primary, replica = fresh_s3_store(server, pool), fresh_s3_store(server, pool)
    repository = OcflRepository(primary)
    repository.initialize()
    archive_dossiers(
        make_settings(tmp_path, database.url), database, repository, tmp_path / "s", CODES[:1]
    )
    sync_replica(database, primary, replica)
    key = document_keys(database, repository, CODES[0])[0]
    original = primary.stat(key)
    if original.retention is None:  # locked here when the archive did not lock it at ingest
        until = (utcnow() + timedelta(days=1)).replace(microsecond=0)
        primary.set_retention(key, Retention(RetentionMode.GOVERNANCE, until))
        original = primary.stat(key)
    lock = original.retention
    Damage(primary, server.client()).flip_byte(key)

    outcome = FixityEngine(database, repository, replica=replica).run(
        FixityScope.everything(), requested_by="test"
    )

    check = check_rows(database, outcome.run_id)[key]
    assert (check.outcome, check.repair) == ("mismatch", "repaired")
    assert isinstance(primary, S3Store)
    versions = [info.version_id for info in primary.list_versions(key) if info.key == key]
    assert len(versions) == 3  # newest first: the repair, the damage, the locked original
    newest = primary.stat(key)
    assert versions[0] == newest.version_id != original.version_id
    assert versions[-1] == original.version_id
    assert primary.stat(key, version_id=original.version_id).retention == lock
    assert newest.retention == lock  # the repaired version is protected as the original was
    assert read_bytes(primary, key) == read_bytes(replica, key)
    with database.read_session() as session:
        row = session.scalars(select(StoredObject).where(StoredObject.key == key)).one()
    assert row.version_id == newest.version_id  # the reference now names the repaired version
    assert (
        FixityEngine(database, repository).run(FixityScope.everything(), requested_by="test").status
        == "passed"
    )  # the check reads the newest version


def test_a_damaged_replica_copy_is_never_written_and_the_damage_stays(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    upgrade(url)
    database = Database(url)
    primary, replica = FilesystemStore(tmp_path / "storage"), FilesystemStore(tmp_path / "rep")
    repository = OcflRepository(primary)
    repository.initialize()
    archive_dossiers(make_settings(tmp_path, url), database, repository, tmp_path / "s", CODES[:1])
    sync_replica(database, primary, replica)
    key = document_keys(database, repository, CODES[0])[1]
    Damage(primary).flip_byte(key, offset=200)
    Damage(replica).flip_byte(key, offset=300)
    damaged_bytes = read_bytes(primary, key)

    outcome = FixityEngine(database, repository, replica=replica).run(
        FixityScope.dossier(CODES[0]), requested_by="test"
    )

    check = check_rows(database, outcome.run_id)[key]
    assert (check.outcome, check.repair) == ("mismatch", "failed")
    assert "bản sao" in (check.repair_detail or "")
    assert read_bytes(primary, key) == damaged_bytes  # nothing was written
    with database.read_session() as session:
        report = fixity_report(session, utcnow() - LONG_AGO, utcnow(), cycle_days=90)
    assert [d.key for d in report.damaged_now] == [key]
    assert [e.outcome for e in replication_events(database)] == ["failure"]
    assert [e.action for e in audit_actions(database, "fixity.repair")] == ["fixity.repair_failed"]
    database.dispose()


def test_a_locked_file_on_the_filesystem_is_restored_and_stays_locked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    upgrade(url)
    database = Database(url)
    primary, replica = FilesystemStore(tmp_path / "storage"), FilesystemStore(tmp_path / "rep")
    repository = OcflRepository(primary)
    repository.initialize()
    archive_dossiers(make_settings(tmp_path, url), database, repository, tmp_path / "s", CODES[:1])
    sync_replica(database, primary, replica)
    flipped, deleted = document_keys(database, repository, CODES[0])[:2]
    for key in (flipped, deleted):
        if primary.stat(key).retention is None:  # when the archive did not lock it at ingest
            primary.set_retention(
                key, Retention(RetentionMode.COMPLIANCE, utcnow() + timedelta(days=400))
            )
    locks = {key: primary.stat(key).retention for key in (flipped, deleted)}
    original = read_bytes(primary, flipped)
    Damage(primary).flip_byte(flipped)
    Damage(primary).delete(deleted)

    outcome = FixityEngine(database, repository, replica=replica).run(
        FixityScope.dossier(CODES[0]), requested_by="test"
    )

    checks = check_rows(database, outcome.run_id)
    assert (checks[flipped].repair, checks[deleted].repair) == ("repaired", "repaired")
    assert read_bytes(primary, flipped) == original
    for key in (flipped, deleted):
        assert primary.stat(key).retention == locks[key]  # the lock outlives the repair
        assert (primary.root / key).stat().st_mode & 0o222 == 0
    with pytest.raises(ObjectLocked):  # other bytes are still refused
        primary.put(flipped, io.BytesIO(b"other bytes"))
    database.dispose()


def test_the_replica_comes_from_the_settings(tmp_path: Path) -> None:
    without = Settings(data_dir=tmp_path)
    assert open_replica_store(without) is None
    replica = open_replica_store(
        Settings(data_dir=tmp_path, replica_storage_url=(tmp_path / "replica").as_uri())
    )
    assert isinstance(replica, FilesystemStore) and replica.root == tmp_path / "replica"


def filesystem_archive(tmp_path: Path, database: Database) -> tuple[Settings, OcflRepository]:
    """Settings of an archive on ``tmp_path`` and its OCFL repository on the filesystem."""
    repository = OcflRepository(FilesystemStore(tmp_path / "storage"))
    repository.initialize()
    return make_settings(tmp_path, database.url), repository


def test_the_replica_sync_command_copies_what_the_replica_lacks(
    tmp_path: Path, database: Database
) -> None:
    settings, repository = filesystem_archive(tmp_path, database)
    archive_dossiers(settings, database, repository, tmp_path / "sips", codes=CODES[:1])
    keys = stored_keys(database)
    environment = archive_environment(settings.data_dir, settings_environment(settings))

    unconfigured = subprocess.run(
        [*ARCHIVE, "replica", "sync"], capture_output=True, text=True, env=environment
    )
    assert unconfigured.returncode == 2 and "ARCHIVE_REPLICA_STORAGE_URL" in unconfigured.stderr

    replica_root = tmp_path / "replica"
    environment["ARCHIVE_REPLICA_STORAGE_URL"] = replica_root.as_uri()
    first = run_archive("replica", "sync", environment=environment)
    assert f"đã chép {len(keys)}, đã có sẵn 0, lỗi 0" in first.stdout
    # Copies made now carry the primary's lock already: there is nothing to extend.
    assert "khóa trên bản sao: đã gia hạn 0, lỗi 0" in first.stdout
    replica = FilesystemStore(replica_root)
    assert {info.key for info in replica.list()} == keys
    for key in keys:
        assert replica.stat(key).sha256 == repository.store.stat(key).sha256

    for key in keys:  # copies of version files carry the primary's lock; root files none
        locked = re.search(r"/v\d+/", key) is not None
        wanted = repository.store.stat(key).retention if locked else None
        assert replica.stat(key).retention == wanted
    assert any(replica.stat(key).retention for key in keys)

    archive_dossiers(settings, database, repository, tmp_path / "more", codes=CODES[1:2])
    new_keys = stored_keys(database) - keys
    assert new_keys
    later = run_archive("replica", "sync", environment=environment)  # only what is new
    assert f"đã chép {len(new_keys)}, đã có sẵn 0, lỗi 0" in later.stdout
    keys |= new_keys

    lost = sorted(keys)[0]
    (replica_root / lost).unlink()  # a copy lost on the replica is found by a full sync, only it
    quick = run_archive("replica", "sync", environment=environment)
    assert "đã chép 0, đã có sẵn 0, lỗi 0" in quick.stdout
    full = run_archive("replica", "sync", "--full", environment=environment)
    assert f"đã chép 1, đã có sẵn {len(keys) - 1}, lỗi 0" in full.stdout
    assert replica.stat(lost).sha256 == repository.store.stat(lost).sha256


class UnreadableLock:
    """The primary store, whose ``stat`` of one key fails (its lock cannot be read)."""

    def __init__(self, inner: ObjectStore, key: str) -> None:
        self.inner, self.key = inner, key

    def stat(self, key: str, **options: Any) -> Any:
        if key == self.key:
            raise StorageUnavailable("stat refused")
        return self.inner.stat(key, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_the_replica_follows_new_versions_and_never_gets_an_unlocked_copy_by_mistake(
    tmp_path: Path, database: Database
) -> None:
    settings, repository = filesystem_archive(tmp_path, database)
    spec = DossierSpec(CURRENT_CODE)
    archive_retention_dossiers(settings, database, repository, tmp_path / "sips", [spec])
    replica = FilesystemStore(tmp_path / "replica")
    assert sync_replica(database, repository.store, replica).failed == ()

    # a hold writes v2, which rewrites the object's root inventory: the replica follows
    holds = hold_service(settings, database, repository)
    assert holds.place(people(database)["archivist"], CURRENT_CODE, reason="Thanh tra").active
    new_keys = sorted(key for key in stored_keys(database) if "/v2/" in key)
    assert new_keys
    unreadable = UnreadableLock(repository.store, new_keys[0])
    second = sync_replica(database, unreadable, replica)  # type: ignore[arg-type]
    assert second.failed == (new_keys[0],)  # not copied without its lock, tried again later
    with pytest.raises(ObjectNotFound):
        replica.stat(new_keys[0])
    third = sync_replica(database, repository.store, replica)
    assert (third.copied, third.failed) == (1, ())
    for key in stored_keys(database):
        assert replica.stat(key).sha256 == repository.store.stat(key).sha256


def test_only_one_replica_sync_runs_at_a_time(tmp_path: Path, database_url: str) -> None:
    """A file lock beside the database on SQLite, an advisory lock on PostgreSQL."""
    database = Database(database_url)
    try:
        with one_sync_at_a_time(database):
            second = one_sync_at_a_time(database)
            with pytest.raises(SyncBusy):
                second.__enter__()
        with one_sync_at_a_time(database):  # free again once the first has ended
            pass
    finally:
        database.dispose()


def test_the_embedded_service_copies_new_objects_to_the_replica_on_its_clock(
    tmp_path: Path,
) -> None:
    replica_root = tmp_path / "replica"
    with in_process_archive(
        tmp_path / "data", replica_storage_url=replica_root.as_uri(), replica_sync_seconds=0.2
    ) as running:
        deposit(running, tmp_path)
        keys = stored_keys(running.database)
        replica = FilesystemStore(replica_root)
        deadline = time.monotonic() + 60
        while {info.key for info in replica.list()} != keys or unsynced(running.database):
            assert time.monotonic() < deadline, "the replica did not catch up"
            time.sleep(0.1)
        assert metrics(running)["archive_replica_objects_behind"] == 0
    for key in keys:
        assert replica.stat(key).sha256 == running.app.state.store.stat(key).sha256


def unsynced(database: Database) -> int:
    """Current objects the replica is not known to hold."""
    with database.read_session() as session:
        rows = session.scalars(select(StoredObject)).all()
    return sum(1 for row in rows if row.replica_sha256 != row.sha256)


def test_metrics_show_what_the_replica_still_lacks(tmp_path: Path) -> None:
    replica_root = tmp_path / "replica"
    with in_process_archive(
        tmp_path / "data", replica_storage_url=replica_root.as_uri(), replica_sync_seconds=0
    ) as running:
        assert metrics(running)["archive_replica_objects_behind"] == 0
        deposit(running, tmp_path)
        stored = len(stored_keys(running.database))
        assert metrics(running)["archive_replica_objects_behind"] == stored
        sync_replica(running.database, running.app.state.store, FilesystemStore(replica_root))
        assert metrics(running)["archive_replica_objects_behind"] == 0
    with in_process_archive(tmp_path / "plain") as running:  # no replica: no such metric
        assert "archive_replica_objects_behind" not in metrics(running)


def test_beat_sends_the_replica_sync_only_when_a_replica_is_configured(tmp_path: Path) -> None:
    base = {"data_dir": tmp_path, "broker_url": "redis://127.0.0.1:6379/15"}
    assert "replica-sync" not in beat_schedule(Settings(**base))
    with_replica = Settings(**base, replica_storage_url="s3://replica", replica_sync_seconds=60)
    entry = beat_schedule(with_replica)["replica-sync"]
    assert (entry["task"], entry["schedule"]) == (TASK_REPLICA_SYNC, 60)
    off = Settings(**base, replica_storage_url="s3://replica", replica_sync_seconds=0)
    assert "replica-sync" not in beat_schedule(off)
    celery_app.loader.import_default_modules()  # what a worker imports: TASK_MODULES
    assert TASK_REPLICA_SYNC in celery_app.tasks
