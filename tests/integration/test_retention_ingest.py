"""Retention at ingest: the term is computed when a dossier is catalogued, stored, recorded as a
PREMIS event and in the audit trail, shown with the dossier — and enforced by storage locks
applied after the catalogue transaction, on the filesystem (in code) and on the real S3 server.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from archive_service.config import Settings
from archive_service.db.session import Database
from archive_service.dossiers.models import Dossier, PremisEventRecord
from archive_service.dossiers.service import DossierService
from archive_service.ingest.models import DepositStatus
from archive_service.integrity.models import AuditEntry
from archive_service.security.models import Role
from archive_service.storage.base import (
    ObjectLocked,
    ObjectStore,
    Retention,
    RetentionMode,
    StorageUnavailable,
)
from archive_service.storage.ocfl import OcflRepository
from archive_service.storage.setup import open_archive_repository
from retention.clock import add_years
from retention.locks import deposits_awaiting_locks, extend_permanent_locks, lock_dossier
from tests.integration.deposit_setup import make_settings, principal_for, stage, wait_final
from tests.integration.retention_setup import (
    CURRENT_CODE,
    EXPIRED_CODE,
    PERMANENT_CODE,
    DossierSpec,
    archive_dossiers,
    deposit_service,
    dossier_row,
    eventually,
    stored_versions,
)

#: 31/12/2034 ends at midnight in Vietnam, 17:00 UTC.
CURRENT_LOCK = datetime(2034, 12, 31, 17, 0, tzinfo=UTC)


def events_of(database: Database, dossier_code: str, event_type: str) -> list[PremisEventRecord]:
    with database.read_session() as session:
        return list(
            session.scalars(
                select(PremisEventRecord)
                .join(Dossier, Dossier.id == PremisEventRecord.dossier_id)
                .where(
                    Dossier.dossier_code == dossier_code,
                    PremisEventRecord.event_type == event_type,
                )
            )
        )


def audit_of(database: Database, dossier_code: str) -> list[tuple[str, dict[str, Any]]]:
    with database.read_session() as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.target_id == dossier_code).order_by(AuditEntry.seq)
        )
        return [(row.action, row.detail) for row in rows]


def test_the_term_is_computed_stored_recorded_and_shown(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    repository = open_archive_repository(settings)
    specs = [
        DossierSpec(PERMANENT_CODE, maintenance="06", scheduled=True),
        DossierSpec(CURRENT_CODE),
    ]
    archive_dossiers(settings, database, repository, tmp_path / "sips", specs)

    permanent = dossier_row(database, PERMANENT_CODE)
    assert permanent is not None
    assert (permanent.retention_code, permanent.retention_years) == ("01", None)
    assert permanent.disposal_date is None
    assert permanent.retention_basis is not None
    winner = [entry for entry in permanent.retention_basis["basis"] if entry["won"]]
    assert [entry["source"] for entry in winner] == ["schedule"]  # longer than the declared 06
    assert "1.000894" in winner[0]["reference"]

    current = dossier_row(database, CURRENT_CODE)
    assert current is not None
    assert (current.retention_code, current.retention_years) == ("06", 10)
    assert current.disposal_date == date(2034, 12, 31)
    assert current.review_status is None

    (event,) = events_of(database, CURRENT_CODE, "policy assignment")
    assert event.outcome == "success" and event.deposit_id is None
    assert "06 (10 năm)" in (event.detail or "") and "31/12/2034" in (event.detail or "")
    actions = [action for action, _ in audit_of(database, CURRENT_CODE)]
    assert actions[:2] == ["dossier.archived", "retention.assigned"]
    assert "retention.locks_applied" in actions

    reader = DossierService(database, repository)
    view = reader.get(principal_for(database, Role.ARCHIVIST, None), CURRENT_CODE)
    assert view.retention is not None
    assert (view.retention.retention, view.retention.label) == ("06", "10 năm")
    assert view.retention.disposal_date == date(2034, 12, 31)
    assert view.retention.due_from == date(2035, 1, 1)
    assert (view.retention.active_holds, view.retention.review_status) == (0, None)
    assert view.retention.lock_mode == "COMPLIANCE"
    assert view.retention.locked_until == CURRENT_LOCK
    assert any(entry["won"] for entry in view.retention.basis)
    assert "policy assignment" in {event.event_type for event in view.events}


def test_the_filesystem_store_enforces_the_locks_in_code(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    repository = open_archive_repository(settings)
    store = repository.store
    specs = [
        DossierSpec(PERMANENT_CODE, scheduled=True),
        DossierSpec(CURRENT_CODE),
        DossierSpec(EXPIRED_CODE),
    ]
    archive_dossiers(settings, database, repository, tmp_path / "sips", specs)

    current = dossier_row(database, CURRENT_CODE)
    assert current is not None
    root = repository.object_root(current.aip_object_id)
    rewritten = {f"{root}/inventory.json", f"{root}/inventory.json.sha256"}
    versions = stored_versions(database, CURRENT_CODE)
    assert rewritten <= {key for key, _ in versions}
    for key, version in versions:
        info = store.stat(key, version_id=version)
        if key in rewritten:  # rewritten by each new version: not locked on disk
            assert info.retention is None
            continue
        assert info.retention == Retention(RetentionMode.COMPLIANCE, CURRENT_LOCK), key
        with pytest.raises(ObjectLocked):
            store.delete(key, version_id=version, bypass_governance=True)

    permanent = dossier_row(database, PERMANENT_CODE)
    assert permanent is not None and permanent.lock_mode == "GOVERNANCE"
    assert permanent.locked_until is not None
    assert permanent.locked_until.date() >= add_years(date.today(), 10) - timedelta(days=1)
    key, version = next(
        item for item in stored_versions(database, PERMANENT_CODE) if "/v1/content/" in item[0]
    )
    with pytest.raises(ObjectLocked):
        store.delete(key, version_id=version)

    expired = dossier_row(database, EXPIRED_CODE)
    assert expired is not None
    assert expired.disposal_date == date(2020, 12, 31)
    assert expired.locks_applied_at is not None  # nothing to lock: the date has passed
    assert (expired.locked_until, expired.lock_mode) == (None, None)
    key, version = next(
        item for item in stored_versions(database, EXPIRED_CODE) if "/v1/content/" in item[0]
    )
    assert store.stat(key, version_id=version).retention is None


def test_a_new_version_lengthens_the_term_but_never_shortens_it(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    repository = open_archive_repository(settings)
    archive_dossiers(settings, database, repository, tmp_path / "a", [DossierSpec(CURRENT_CODE)])
    longer = DossierSpec(CURRENT_CODE, maintenance="04", documents=2, record_status="SUPPLEMENT")
    archive_dossiers(settings, database, repository, tmp_path / "b", [longer])
    row = dossier_row(database, CURRENT_CODE)
    assert row is not None
    assert (row.aip_version, row.retention_code, row.disposal_date) == (
        "v2",
        "04",
        date(2054, 12, 31),
    )
    assert row.locked_until == datetime(2054, 12, 31, 17, 0, tzinfo=UTC)
    for key, version in stored_versions(database, CURRENT_CODE):
        if "/v1/content/" in key:  # the first version's objects are locked longer too
            assert repository.store.stat(key, version_id=version).retention == Retention(
                RetentionMode.COMPLIANCE, row.locked_until
            )

    shorter = DossierSpec(CURRENT_CODE, maintenance="06", documents=3, record_status="SUPPLEMENT")
    archive_dossiers(settings, database, repository, tmp_path / "c", [shorter])
    row = dossier_row(database, CURRENT_CODE)
    assert row is not None
    assert (row.aip_version, row.retention_code, row.disposal_date) == (
        "v3",
        "04",
        date(2054, 12, 31),
    )
    outcomes = [e.outcome for e in events_of(database, CURRENT_CODE, "policy assignment")]
    assert sorted(outcomes) == ["success", "success", "warning"]
    actions = [action for action, _ in audit_of(database, CURRENT_CODE)]
    assert actions.count("retention.lengthened") == 1 and actions.count("retention.kept") == 1


class _LockRefusingStore:
    """A real store whose ``set_retention`` and ``set_retention_many`` are refused
    (``StorageUnavailable``) while ``refusing`` is set — a storage outage between the
    catalogue commit and the locks."""

    def __init__(self, inner: ObjectStore) -> None:
        self._inner = inner
        self.refusing = True
        self.refused = 0

    def set_retention(self, key: str, retention: Retention, **kwargs: Any) -> None:
        self._refuse(key)
        self._inner.set_retention(key, retention, **kwargs)

    def set_retention_many(self, keys: list[str], retention: Retention, **kwargs: Any) -> Any:
        self._refuse(", ".join(keys[:1]))
        return self._inner.set_retention_many(keys, retention, **kwargs)

    def _refuse(self, key: str) -> None:
        if self.refusing:
            self.refused += 1
            raise StorageUnavailable(f"storage unreachable while locking {key}")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_locks_come_after_the_catalogue_and_a_retry_finishes_them(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    inner = open_archive_repository(settings).store
    store = _LockRefusingStore(inner)
    repository = OcflRepository(store)  # type: ignore[arg-type]
    spec = DossierSpec(CURRENT_CODE)
    with deposit_service(settings, database, repository) as service:
        depositor = principal_for(database)
        receipt = service.register_zip(depositor, stage(settings, spec.sip(tmp_path)))
        eventually(lambda: service.get(depositor, receipt.deposit_id).status == "archived")
        eventually(lambda: store.refused >= 2)  # the task retries the locks on its own
        row = dossier_row(database, CURRENT_CODE)
        assert row is not None and row.locks_applied_at is None  # catalogued, not locked yet
        with database.read_session() as session:
            assert deposits_awaiting_locks(session) == [receipt.deposit_id]
        assert receipt.deposit_id in {item.deposit_id for item in service.pending()}
        store.refusing = False
        view = wait_final(service, depositor, receipt.deposit_id)  # and idle: retries ended
    assert view.status is DepositStatus.ARCHIVED
    row = dossier_row(database, CURRENT_CODE)
    assert row is not None and row.locks_applied_at is not None
    with database.read_session() as session:
        assert deposits_awaiting_locks(session) == []
    key, version = next(
        item for item in stored_versions(database, CURRENT_CODE) if "/v1/content/" in item[0]
    )
    assert inner.stat(key, version_id=version).retention == Retention(
        RetentionMode.COMPLIANCE, CURRENT_LOCK
    )
    # applying them again changes nothing (idempotent), and records nothing new
    again = lock_dossier(database, repository, settings, CURRENT_CODE, renew=True)
    assert again is not None and again.retention == Retention(
        RetentionMode.COMPLIANCE, CURRENT_LOCK
    )
    assert inner.stat(key, version_id=version).retention == Retention(
        RetentionMode.COMPLIANCE, CURRENT_LOCK
    )


@pytest.mark.s3
def test_on_s3_no_version_of_the_aip_can_be_deleted_before_its_date(
    tmp_path: Path,
    sqlite_database: Database,
    s3_store: ObjectStore,
    s3_repository: OcflRepository,
) -> None:
    settings = make_settings(tmp_path, sqlite_database.url)
    repository = s3_repository
    specs = [DossierSpec(CURRENT_CODE, documents=2), DossierSpec(PERMANENT_CODE, scheduled=True)]
    archive_dossiers(settings, sqlite_database, repository, tmp_path / "sips", specs)

    versions = stored_versions(sqlite_database, CURRENT_CODE)
    assert versions and all(version for _, version in versions)  # S3 keeps version ids
    for key, version in versions:
        info = s3_store.stat(key, version_id=version)
        assert info.retention == Retention(RetentionMode.COMPLIANCE, CURRENT_LOCK), key
        for bypass in (False, True):
            with pytest.raises(ObjectLocked):
                s3_store.delete(key, version_id=version, bypass_governance=bypass)
        assert s3_store.stat(key, version_id=version).version_id == version

    permanent = stored_versions(sqlite_database, PERMANENT_CODE)
    for key, version in permanent:
        info = s3_store.stat(key, version_id=version)
        assert info.retention is not None and info.retention.mode is RetentionMode.GOVERNANCE
        with pytest.raises(ObjectLocked):
            s3_store.delete(key, version_id=version)

    # the scheduled extension pushes a permanent lock that runs out soon another 10 years on
    row = dossier_row(sqlite_database, PERMANENT_CODE)
    assert row is not None and row.locked_until is not None
    later = row.locked_until - timedelta(days=100)  # 100 days before it runs out
    extended = extend_permanent_locks(sqlite_database, repository, settings, now=later)
    assert [result.dossier_code for result in extended] == [PERMANENT_CODE]
    row = dossier_row(sqlite_database, PERMANENT_CODE)
    assert row is not None and row.locked_until is not None
    assert row.locked_until.date() >= add_years(later.date(), 10) - timedelta(days=1)
    key, version = permanent[0]
    assert s3_store.stat(key, version_id=version).retention == Retention(
        RetentionMode.GOVERNANCE, row.locked_until
    )
    # a lock far from running out is left alone
    assert extend_permanent_locks(sqlite_database, repository, settings) == []
