"""The replica's copies follow a retention extended later on the primary (D-39).

A longer term under a new schedule (a new AIP version) or a renewed permanent lock extends the
primary's locks; the next replica sync gives the copies of the version files the same date,
never a shorter one, never a legal hold, and leaves root files and a replica without Object
Lock alone. A replica that refuses, a copy lost, a sync that dies after extending: each is a
failure reported and caught up by the next sync. ``archive_replica_objects_behind`` counts the
copies whose lock is behind. Real stores: the filesystem, each S3 test server; SQLite and
PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from minio.error import S3Error
from sqlalchemy import select

from archive_service.config import Settings
from archive_service.db.session import Database
from archive_service.dossiers.models import Dossier, StoredObject
from archive_service.integrity import replica_retention
from archive_service.integrity.fixity_targets import current_primary_objects
from archive_service.integrity.replica_retention import is_version_file
from archive_service.integrity.replica_sync import ReplicaSync, sync_replica
from archive_service.metrics import collect
from archive_service.storage.base import (
    ObjectLocked,
    ObjectStore,
    Retention,
    RetentionMode,
)
from archive_service.storage.filesystem import FilesystemStore
from archive_service.storage.ocfl import OcflRepository
from archive_service.storage.s3 import MIN_PART_SIZE, S3Store, ensure_bucket
from retention.locks import extend_permanent_locks
from retention.recompute import recompute_all
from retention.schedule import load_schedule
from tests.conftest import S3_PARAMS
from tests.integration.deposit_setup import make_settings
from tests.integration.fixity_setup import fresh_s3_store
from tests.integration.retention_setup import (
    PERMANENT_CODE,
    DossierSpec,
    archive_dossiers,
    dossier_row,
    hold_service,
    people,
)
from tests.s3server.servers import S3Server

#: 1.999001: 10 years (to 31/12/2034) under the old schedule, 50 years under the new one.
LONGER = "000.00.19.H56-240610-0011"
OLD = """# version: 2025.1-thu
procedure_code,retention,years,legal_basis,note
1.999001,06,,Quyết định thử số 1 Điều 1,
*,declared,,Không có quy định riêng,
"""
NEW = """# version: 2026.1-thu
procedure_code,retention,years,legal_basis,note
1.999001,03,,Quyết định thử số 2 Điều 1,
*,declared,,Không có quy định riêng,
"""
#: 31/12/2034 and 31/12/2074 end at midnight in Vietnam, 17:00 UTC.
LOCK_2034 = Retention(RetentionMode.COMPLIANCE, datetime(2034, 12, 31, 17, 0, tzinfo=UTC))
LOCK_2074 = Retention(RetentionMode.COMPLIANCE, datetime(2074, 12, 31, 17, 0, tzinfo=UTC))


@dataclass
class Archive:
    """An archive on ``repository`` whose objects were all copied to ``replica`` once."""

    settings: Settings
    database: Database
    repository: OcflRepository
    replica: ObjectStore
    work: Path

    @property
    def primary(self) -> ObjectStore:
        return self.repository.store

    def sync(self, replica: ObjectStore | None = None) -> ReplicaSync:
        return sync_replica(self.database, self.primary, replica or self.replica)

    def lengthen(self) -> None:
        """The new schedule: LONGER's term becomes 50 years, its locks run to 2074."""
        new = self.work / "new.csv"
        new.write_text(NEW, encoding="utf-8")
        report = recompute_all(self.database, self.repository, self.settings, load_schedule(new))
        assert report.lengthened == [LONGER] and report.failed == []


def make_archive(
    tmp_path: Path,
    database: Database,
    primary: ObjectStore,
    replica: ObjectStore,
    specs: list[DossierSpec],
    schedule: str | None = OLD,
) -> Archive:
    """Archive ``specs`` under ``schedule`` (``None``: the shipped one), then sync once."""
    overrides: dict[str, Any] = {}
    if schedule is not None:
        overrides["retention_schedule_path"] = tmp_path / "old.csv"
        overrides["retention_schedule_path"].write_text(schedule, encoding="utf-8")
    settings = make_settings(tmp_path, database.url, **overrides)
    repository = OcflRepository(primary)
    repository.initialize()
    archive_dossiers(settings, database, repository, tmp_path / "sips", specs)
    archive = Archive(settings, database, repository, replica, tmp_path)
    first = archive.sync()
    assert first.ok and first.copied > 0 and first.extended == 0
    return archive


@pytest.fixture(params=["fs", *S3_PARAMS])
def archive(request: pytest.FixtureRequest, tmp_path: Path, sqlite_database: Database) -> Archive:
    """LONGER archived on a primary and copied to a replica: two directories, then two Object
    Lock buckets of each S3 test server."""
    if request.param == "fs":
        primary: ObjectStore = FilesystemStore(tmp_path / "storage")
        replica: ObjectStore = FilesystemStore(tmp_path / "replica")
    else:
        server = request.getfixturevalue("s3_servers")[request.param]
        pool = request.getfixturevalue("s3_bucket_pools")[request.param]
        primary, replica = fresh_s3_store(server, pool), fresh_s3_store(server, pool)
    spec = DossierSpec(LONGER, procedure="1.999001")
    return make_archive(tmp_path, sqlite_database, primary, replica, [spec])


def current_objects(database: Database, code: str) -> dict[str, str | None]:
    """``{key: version id}`` of the dossier's current stored objects."""
    with database.read_session() as session:
        dossier_id = session.scalar(select(Dossier.id).where(Dossier.dossier_code == code))
        rows = session.scalars(
            current_primary_objects().where(StoredObject.dossier_id == dossier_id)
        ).all()
    return {row.key: row.version_id or None for row in rows}


def version_files(database: Database, code: str) -> list[str]:
    return sorted(key for key in current_objects(database, code) if is_version_file(key))


def objects_behind(archive: Archive) -> float:
    """``archive_replica_objects_behind`` as ``/metrics`` shows it."""
    settings = archive.settings.model_copy(update={"replica_storage_url": "file:///replica"})
    with archive.database.read_session() as session:
        families = {family.name: family for family in collect(session, settings)}
    return families["archive_replica_objects_behind"].samples[0][1]


def assert_replica_follows(archive: Archive, code: str) -> None:
    """Every copy of a version file carries the primary version's retention, root files none,
    and no copy carries a legal hold."""
    for key, version in current_objects(archive.database, code).items():
        copy = archive.replica.stat(key)
        if is_version_file(key):
            assert copy.retention == archive.primary.stat(key, version_id=version).retention, key
        else:
            assert copy.retention is None, key
        assert copy.legal_hold is False, key


def test_a_lengthened_term_reaches_the_replica_copies_at_the_next_sync(archive: Archive) -> None:
    earlier = version_files(archive.database, LONGER)
    assert all(archive.replica.stat(key).retention == LOCK_2034 for key in earlier)
    assert objects_behind(archive) == 0
    holds = hold_service(archive.settings, archive.database, archive.repository)
    assert holds.place(people(archive.database)["archivist"], LONGER, reason="Thanh tra").active

    archive.lengthen()

    for key, version in current_objects(archive.database, LONGER).items():
        if "/content/" in key:  # the primary: every version locked to 2074 and held
            info = archive.primary.stat(key, version_id=version)
            assert (info.retention, info.legal_hold) == (LOCK_2074, True), key
    assert all(archive.replica.stat(key).retention == LOCK_2034 for key in earlier)
    assert objects_behind(archive) >= len(earlier)  # the older copies' locks are behind

    synced = archive.sync()

    assert synced.ok and synced.extended == len(earlier)
    assert all(archive.replica.stat(key).retention == LOCK_2074 for key in earlier)
    assert_replica_follows(archive, LONGER)  # the hold's legal hold is not copied
    assert objects_behind(archive) == 0
    again = archive.sync()  # nothing left to do
    assert (again.copied, again.extended, again.ok) == (0, 0, True)


class RefusingReplica:
    """The replica store, refusing every retention change (as a misconfigured bucket might)."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner

    def set_retention(self, key: str, retention: Retention, **options: Any) -> None:
        raise ObjectLocked(f"{key}: retention change refused")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_renewed_permanent_lock_is_caught_up_after_a_refusal_or_a_crash(
    tmp_path: Path, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = make_archive(
        tmp_path,
        database,
        FilesystemStore(tmp_path / "storage"),
        FilesystemStore(tmp_path / "replica"),
        [DossierSpec(PERMANENT_CODE, scheduled=True)],
        schedule=None,
    )
    keys = version_files(database, PERMANENT_CODE)
    first = renew(archive)

    # the replica refuses: every copy is a failure of the sync, nothing is recorded
    refused = archive.sync(RefusingReplica(archive.replica))  # type: ignore[arg-type]
    assert (refused.extended, sorted(refused.not_extended), refused.ok) == (0, keys, False)
    assert all(archive.replica.stat(key).retention != first for key in keys)
    assert objects_behind(archive) == len(keys)

    caught_up = archive.sync()
    assert caught_up.ok and caught_up.extended == len(keys)
    assert all(archive.replica.stat(key).retention == first for key in keys)
    assert_replica_follows(archive, PERMANENT_CODE)
    assert objects_behind(archive) == 0

    # renewed again; the sync dies after extending the copies, before recording it
    second = renew(archive)
    assert second.until > first.until

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the process died")

    with monkeypatch.context() as patched:
        patched.setattr(replica_retention, "record_retained", crash)
        with pytest.raises(RuntimeError):
            archive.sync()
    assert all(archive.replica.stat(key).retention == second for key in keys)
    everything = len(current_objects(database, PERMANENT_CODE))  # root files' records too
    assert objects_behind(archive) == everything  # the database does not know it yet
    after_crash = archive.sync()
    assert after_crash.ok and after_crash.extended == 0  # covered already: only recorded
    assert objects_behind(archive) == 0


def renew(archive: Archive) -> Retention:
    """Renew the permanent dossier's lock as the scheduled task does 100 days before it ends;
    the new governance retention of its objects on the primary."""
    row = dossier_row(archive.database, PERMANENT_CODE)
    assert row is not None and row.locked_until is not None
    later = row.locked_until - timedelta(days=100)
    results = extend_permanent_locks(
        archive.database, archive.repository, archive.settings, now=later
    )
    assert [result.dossier_code for result in results] == [PERMANENT_CODE]
    renewed = dossier_row(archive.database, PERMANENT_CODE)
    assert renewed is not None and renewed.locked_until is not None
    return Retention(RetentionMode.GOVERNANCE, renewed.locked_until)


def on_two_directories(tmp_path: Path, database: Database) -> Archive:
    """LONGER archived on a primary directory and copied to a replica directory."""
    return make_archive(
        tmp_path,
        database,
        FilesystemStore(tmp_path / "storage"),
        FilesystemStore(tmp_path / "replica"),
        [DossierSpec(LONGER, procedure="1.999001")],
    )


def test_a_longer_lock_on_a_copy_is_never_shortened_and_a_lost_copy_is_copied_again(
    tmp_path: Path, sqlite_database: Database
) -> None:
    archive = on_two_directories(tmp_path, sqlite_database)
    earlier = version_files(sqlite_database, LONGER)
    longest, lost = earlier[0], earlier[1]
    lock_2090 = Retention(RetentionMode.COMPLIANCE, datetime(2090, 12, 31, 17, 0, tzinfo=UTC))
    archive.replica.set_retention(longest, lock_2090)  # later than the primary will ever be
    (tmp_path / "replica" / lost).unlink()  # lost on the replica, unknown to the catalogue

    archive.lengthen()
    synced = archive.sync()

    assert synced.not_extended == (lost,)  # reported, and marked to be copied again
    assert synced.extended == len(earlier) - 2
    assert archive.replica.stat(longest).retention == lock_2090  # never shortened
    for key in earlier[2:]:
        assert archive.replica.stat(key).retention == LOCK_2074
    again = archive.sync()  # copied again; the filesystem keeps the lock its record still had,
    assert (again.copied, again.extended, again.ok) == (1, 1, True)  # extended in the same sync
    assert archive.replica.stat(lost).retention == LOCK_2074
    assert archive.replica.stat(longest).retention == lock_2090
    assert objects_behind(archive) == 0


def test_a_primary_file_gone_is_a_failure_of_the_primary_not_a_lost_copy(
    tmp_path: Path, sqlite_database: Database
) -> None:
    archive = on_two_directories(tmp_path, sqlite_database)
    gone = version_files(sqlite_database, LONGER)[0]
    archive.lengthen()
    (tmp_path / "storage" / gone).unlink()  # lost on the primary: the replica holds the copy

    synced = archive.sync()

    assert synced.not_extended == (gone,)
    with sqlite_database.read_session() as session:
        row = session.scalars(select(StoredObject).where(StoredObject.key == gone)).first()
        assert row is not None and row.replica_sha256 is not None  # still known to be held
    assert archive.replica.stat(gone).retention == LOCK_2034  # left as it was, not shortened
    again = archive.sync()
    assert again.copied == 0 and again.not_extended == (gone,)  # reported again, nothing copied


@pytest.fixture
def unlocked_bucket(request: pytest.FixtureRequest) -> Iterator[S3Store]:
    """A versioned bucket without Object Lock on each S3 test server."""
    server: S3Server = request.getfixturevalue("s3_servers")[request.param]
    client = server.client()
    bucket = f"t-{uuid.uuid4().hex[:24]}"
    ensure_bucket(client, bucket, object_lock=False)
    yield S3Store(
        client, bucket, part_size=MIN_PART_SIZE, server_checksum=server.kind.server_checksum
    )
    with suppress(S3Error):
        for info in client.list_objects(bucket, recursive=True, include_version=True):
            client.remove_object(bucket, info.object_name or "", version_id=info.version_id)
        client.remove_bucket(bucket)


@pytest.mark.parametrize("unlocked_bucket", S3_PARAMS, indirect=True)
def test_a_replica_without_object_lock_is_left_alone(
    tmp_path: Path, sqlite_database: Database, unlocked_bucket: S3Store
) -> None:
    assert not unlocked_bucket.capabilities.object_lock
    archive = make_archive(
        tmp_path,
        sqlite_database,
        FilesystemStore(tmp_path / "storage"),
        unlocked_bucket,
        [DossierSpec(LONGER, procedure="1.999001")],
    )
    archive.lengthen()
    assert objects_behind(archive) > 0

    synced = archive.sync()

    assert synced.ok and synced.extended == 0
    for key in current_objects(sqlite_database, LONGER):
        copy = unlocked_bucket.stat(key)
        assert (copy.retention, copy.legal_hold) == (None, False), key
    assert objects_behind(archive) == 0  # nothing to follow there
