"""Holds and their release in the AIP itself: each is written into ``PREMIS.xml`` as a
metadata-only AIP version (the previous version untouched, content not stored again, valid
OCFL), whose objects get the storage locks and, while a hold is active, the legal hold. A hold
takes effect even when its version cannot be written (storage down, a deposit writing the
dossier): the daily task writes it later, exactly once even after a crash between storage and
the catalogue. A dossier whose holds were released is still disposed of, every version gone.
Dossiers are archived through the real deposit pipeline, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from alembic import command
from sqlalchemy import MetaData, Table, create_engine, func, select

from archive_service.config import Settings
from archive_service.db.migrate import alembic_config, upgrade
from archive_service.db.session import Database
from archive_service.dossiers.models import Dossier, PremisEventRecord, StoredObject
from archive_service.ingest.dispatch import InProcessDispatcher
from archive_service.ingest.models import DepositStatus
from archive_service.ingest.service import DepositService
from archive_service.integrity.fixity import FixityEngine
from archive_service.integrity.fixity_targets import FixityScope
from archive_service.integrity.models import AuditEntry
from archive_service.packages.aip_premis import PREMIS_PATH
from archive_service.packages.aip_reader import read_aip_object
from archive_service.packages.mets import METS_FILE
from archive_service.packages.premis import PremisEvent, read_agents, read_events
from archive_service.packages.schemas import SchemaName, validate
from archive_service.packages.xmlsafe import parse_xml_bytes
from archive_service.storage.base import (
    ObjectLocked,
    ObjectStore,
    Retention,
    RetentionMode,
)
from archive_service.storage.ocfl import OcflRepository
from archive_service.storage.setup import open_archive_repository
from retention.changes import RetentionChanges
from retention.daily import run_daily
from retention.destroy import Storage
from retention.disposal import DisposalService
from retention.locks import lock_dossier
from retention.models import DossierHold, RetentionChange
from retention.recompute import recompute_dossier
from retention.revision import write_revision
from retention.schedule import SHIPPED_SCHEDULE, load_schedule
from tests.integration.deposit_setup import (
    assert_valid_ocfl,
    faulty_repository,
    make_settings,
    principal_for,
    stage,
)
from tests.integration.retention_setup import (
    CURRENT_CODE,
    DECISION,
    EXPIRED_CODE,
    TODAY,
    DossierSpec,
    archive_dossiers,
    dossier_row,
    hold_service,
    people,
    stored_versions,
)

#: CURRENT_CODE's 10-year term ends 31/12/2034: midnight in Vietnam, 17:00 UTC.
LOCK_2034 = datetime(2034, 12, 31, 17, 0, tzinfo=UTC)


def object_id_of(database: Database, code: str) -> str:
    row = dossier_row(database, code)
    assert row is not None
    return row.aip_object_id


def premis_of(repository: OcflRepository, object_id: str, version: str | None = None) -> Any:
    with repository.open(object_id, PREMIS_PATH, version) as stream:
        return parse_xml_bytes(stream.read(), PREMIS_PATH)


def event_in(premis: Any, event_id: str | None) -> PremisEvent:
    (event,) = [e for e in read_events(premis.getroot()) if e.identifier == event_id]
    return event


def hold_row(database: Database, hold_id: int) -> DossierHold:
    with database.read_session() as session:
        hold = session.get(DossierHold, hold_id)
        assert hold is not None
        return hold


def actions(database: Database, code: str) -> list[str]:
    with database.read_session() as session:
        return list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.target_id == code)
                .order_by(AuditEntry.seq)
            )
        )


def hold_changes(database: Database, code: str) -> list[RetentionChange]:
    with database.read_session() as session:
        return list(
            session.scalars(
                select(RetentionChange)
                .where(RetentionChange.dossier_code == code)
                .order_by(RetentionChange.created_at)
            )
        )


def version_objects(
    database: Database, repository: OcflRepository, code: str
) -> list[tuple[str, str | None]]:
    """The dossier's stored object versions under ``<root>/vN/`` (on the filesystem the root
    inventory is rewritten in place by each version, so it carries no lock)."""
    root = repository.object_root(object_id_of(database, code))
    return [(k, v) for k, v in stored_versions(database, code) if k.startswith(f"{root}/v")]


def same_millisecond(written: datetime, held: datetime) -> bool:
    """PREMIS date-times keep milliseconds."""
    return abs(written - held) < timedelta(milliseconds=1)


def new_keys(repository: OcflRepository, object_id: str, version: str) -> list[str]:
    """Keys the version stored under ``<root>/<version>/``."""
    prefix = f"{repository.object_root(object_id)}/{version}/"
    return [key for key in repository.content_keys(object_id) if key.startswith(prefix)]


def test_placing_and_releasing_a_hold_each_write_a_metadata_only_aip_version(
    settings: Settings, database: Database, repository: OcflRepository, tmp_path: Path
) -> None:
    archive_dossiers(settings, database, repository, tmp_path / "sips", [DossierSpec(CURRENT_CODE)])
    object_id = object_id_of(database, CURRENT_CODE)
    store = repository.store
    v1_state = repository.state(object_id, "v1")
    with repository.open(object_id, PREMIS_PATH, "v1") as stream:
        v1_premis = stream.read()
    archivist = people(database)["archivist"]
    holds = hold_service(settings, database, repository)

    placed = holds.place(
        archivist, CURRENT_CODE, reason="Phục vụ thanh tra", reference="Công văn 123/TTr"
    )

    # In force at once, and in the AIP: v2 carries the catalogue's own event.
    assert placed.active and placed.storage_synced and placed.placed_in_aip == "v2"
    assert repository.head(object_id) == "v2"
    row = dossier_row(database, CURRENT_CODE)
    assert row is not None and row.aip_version == "v2" and row.locks_applied_at is not None
    hold = hold_row(database, placed.id)
    premis = premis_of(repository, object_id)
    assert validate(premis, SchemaName.PREMIS, PREMIS_PATH) == []
    event = event_in(premis, hold.placed_event_id)
    assert event.event_type == "policy assignment" and event.outcome == "success"
    assert "Phục vụ thanh tra" in (event.detail or "")
    assert "Công văn 123/TTr" in (event.detail or "")
    assert same_millisecond(event.date_time, hold.placed_at)
    assert (archivist.actor, "authorizer") in {(a.identifier, a.role) for a in event.agents}
    assert [o.identifier for o in event.objects] == [object_id]
    assert archivist.actor in {agent.identifier for agent in read_agents(premis.getroot())}
    with database.read_session() as session:
        catalogued = session.scalar(
            select(PremisEventRecord).where(PremisEventRecord.event_id == hold.placed_event_id)
        )
        assert catalogued is not None and catalogued.detail == event.detail
        assert catalogued.agent == archivist.actor

    # Only PREMIS and METS changed; v1 is as it was; no content file was stored again.
    v2_state = repository.state(object_id, "v2")
    assert set(v2_state) == set(v1_state)
    assert {p for p in v2_state if v2_state[p].digest != v1_state[p].digest} == {
        METS_FILE,
        PREMIS_PATH,
    }
    assert repository.state(object_id, "v1") == v1_state
    with repository.open(object_id, PREMIS_PATH, "v1") as stream:
        assert stream.read() == v1_premis
    root = repository.object_root(object_id)
    assert sorted(new_keys(repository, object_id, "v2")) == [
        f"{root}/v2/content/{METS_FILE}",
        f"{root}/v2/content/{PREMIS_PATH}",
        f"{root}/v2/inventory.json",
        f"{root}/v2/inventory.json.sha256",
    ]

    # The new version's objects are locked like the others, and under the legal hold.
    versions = stored_versions(database, CURRENT_CODE)
    v2_objects = [(k, v) for k, v in versions if k.startswith(f"{root}/v2/")]
    assert len(v2_objects) == 4
    for key, version in v2_objects:
        info = store.stat(key, version_id=version)
        assert info.legal_hold, key
        assert info.retention == Retention(RetentionMode.COMPLIANCE, LOCK_2034), key
        with pytest.raises(ObjectLocked):
            store.delete(key, version_id=version)

    released = holds.release(archivist, CURRENT_CODE, placed.id, reason="Kết thúc thanh tra")

    assert not released.active and released.released_in_aip == "v3"
    assert released.placed_in_aip == "v2"
    assert repository.head(object_id) == "v3"
    hold = hold_row(database, placed.id)
    premis = premis_of(repository, object_id)
    assert validate(premis, SchemaName.PREMIS, PREMIS_PATH) == []
    gone = event_in(premis, hold.released_event_id)
    assert "Kết thúc thanh tra" in (gone.detail or "")
    assert hold.released_at is not None and same_millisecond(gone.date_time, hold.released_at)
    assert (archivist.actor, "authorizer") in {(a.identifier, a.role) for a in gone.agents}
    event_in(premis, hold.placed_event_id)  # still there, once
    assert sorted(
        path
        for path, entry in repository.state(object_id, "v3").items()
        if entry.digest != v2_state[path].digest
    ) == sorted([METS_FILE, PREMIS_PATH])
    summary = read_aip_object(repository, object_id)  # the AIP reads as a whole
    assert {hold.placed_event_id, hold.released_event_id} <= {e.identifier for e in summary.events}

    # No hold left: no legal hold anywhere; the retention locks stay.
    for key, version in stored_versions(database, CURRENT_CODE):
        info = store.stat(key, version_id=version)
        assert not info.legal_hold, key
        if key.startswith(f"{root}/v"):  # not the root inventory, rewritten by each version
            assert info.retention == Retention(RetentionMode.COMPLIANCE, LOCK_2034), key

    # Catalogue and trail: each event once, each version audited, no term change listed.
    with database.read_session() as session:
        ids = session.scalars(select(PremisEventRecord.event_id)).all()
    assert ids.count(hold.placed_event_id) == 1 and ids.count(hold.released_event_id) == 1
    trail = actions(database, CURRENT_CODE)
    assert trail.count("retention.hold_written") == 1
    assert trail.count("retention.hold_release_written") == 1
    assert [c.status for c in hold_changes(database, CURRENT_CODE)] == ["done", "done"]
    changes = RetentionChanges(database, repository, settings)
    assert changes.history(CURRENT_CODE) == []
    assert_valid_ocfl(settings, 1)

    # The daily task finds nothing left to write.
    report = run_daily(database, repository, settings)
    assert report.hold_events_written == [] and repository.head(object_id) == "v3"


def test_a_crash_between_storage_and_the_catalogue_is_finished_once_by_the_daily_task(
    settings: Settings, database: Database, repository: OcflRepository, tmp_path: Path
) -> None:
    archive_dossiers(settings, database, repository, tmp_path / "sips", [DossierSpec(CURRENT_CODE)])
    object_id = object_id_of(database, CURRENT_CODE)
    archivist = people(database)["archivist"]
    faulty, faulty_store = faulty_repository(settings, failures=1)

    # Storage refuses the version: the hold is in force all the same, its event waits.
    placed = hold_service(settings, database, faulty).place(
        archivist, CURRENT_CODE, reason="Tranh chấp", reference="Đơn số 9"
    )
    assert faulty_store.refused == 1
    assert placed.active and placed.storage_synced and placed.placed_in_aip is None
    assert repository.head(object_id) == "v1"
    for key, version in version_objects(database, repository, CURRENT_CODE):
        assert repository.store.stat(key, version_id=version).legal_hold, key
    (change,) = hold_changes(database, CURRENT_CODE)
    assert (change.origin, change.status, change.base_version) == ("hold", "pending", "v1")
    assert change.event_id == hold_row(database, placed.id).placed_event_id

    # The next attempt commits the OCFL version, then the process dies before the catalogue.
    write_revision(repository, settings, change, object_id)
    assert repository.head(object_id) == "v2"
    assert dossier_row(database, CURRENT_CODE).aip_version == "v1"  # type: ignore[union-attr]

    report = run_daily(database, repository, settings)

    assert repository.head(object_id) == "v2"  # recognised by its message, not written twice
    assert report.hold_events_written == []  # finished as the pending change it was
    row = dossier_row(database, CURRENT_CODE)
    assert row is not None and row.aip_version == "v2" and row.locks_applied_at is not None
    assert hold_row(database, placed.id).placed_in_aip == "v2"
    assert [c.status for c in hold_changes(database, CURRENT_CODE)] == ["done"]
    assert actions(database, CURRENT_CODE).count("retention.hold_written") == 1
    event_in(premis_of(repository, object_id), change.event_id)
    root = repository.object_root(object_id)
    for key, version in stored_versions(database, CURRENT_CODE):
        if key.startswith(f"{root}/v2/"):
            assert repository.store.stat(key, version_id=version).legal_hold, key
    assert_valid_ocfl(settings, 1)

    run_daily(database, repository, settings)  # and again: nothing more
    assert repository.head(object_id) == "v2"
    assert len(hold_changes(database, CURRENT_CODE)) == 1
    assert actions(database, CURRENT_CODE).count("retention.hold_written") == 1


class _CallbackOnce:
    """A real store that runs ``callback`` once, just before the first call of ``method`` whose
    arguments ``applies`` accepts — another request arriving while this one writes."""

    def __init__(
        self,
        inner: ObjectStore,
        method: str,
        applies: Callable[..., bool],
        callback: Callable[[], None],
    ) -> None:
        self._inner, self._method, self._applies = inner, method, applies
        self.callback: Callable[[], None] | None = callback

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name != self._method:
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.callback is not None and self._applies(*args, **kwargs):
                callback, self.callback = self.callback, None
                callback()
            return attribute(*args, **kwargs)

        return call


def test_a_hold_on_a_dossier_being_deposited_takes_effect_and_the_daily_task_writes_it(
    settings: Settings, database: Database, repository: OcflRepository, tmp_path: Path
) -> None:
    archive_dossiers(settings, database, repository, tmp_path / "sips", [DossierSpec(CURRENT_CODE)])
    object_id = object_id_of(database, CURRENT_CODE)
    archivist = people(database)["archivist"]
    holds = hold_service(settings, database, repository)
    placed: list[int] = []

    def place_hold() -> None:  # the deposit is storing v2: the dossier is busy
        view = holds.place(archivist, CURRENT_CODE, reason="Thanh tra", reference="QĐ 5/TTr")
        assert view.active and view.storage_synced and view.placed_in_aip is None
        assert dossier_row(database, CURRENT_CODE).aip_version == "v1"  # type: ignore[union-attr]
        assert hold_changes(database, CURRENT_CODE) == []  # no change while a deposit writes
        placed.append(view.id)

    store = _CallbackOnce(repository.store, "put", lambda key, *_, **__: "/v2/" in key, place_hold)
    depositing = OcflRepository(store)
    service = DepositService(settings, database, depositing, InProcessDispatcher(1))
    depositor = principal_for(database)
    supplement = DossierSpec(CURRENT_CODE, documents=2, record_status="SUPPLEMENT")
    receipt = service.register_zip(depositor, stage(settings, supplement.sip(tmp_path / "b")))
    assert service.pipeline.process(receipt.deposit_id) is None
    assert service.get(depositor, receipt.deposit_id).status is DepositStatus.ARCHIVED

    (hold_id,) = placed
    hold = hold_row(database, hold_id)
    assert hold.placed_in_aip is None and repository.head(object_id) == "v2"
    row = dossier_row(database, CURRENT_CODE)
    assert row is not None and row.aip_version == "v2"
    root = repository.object_root(object_id)
    for key, version in version_objects(database, repository, CURRENT_CODE):  # v2's too
        assert repository.store.stat(key, version_id=version).legal_hold, key

    report = run_daily(database, repository, settings)

    assert report.hold_events_written == [CURRENT_CODE]
    assert repository.head(object_id) == "v3"
    assert hold_row(database, hold_id).placed_in_aip == "v3"
    event = event_in(premis_of(repository, object_id), hold.placed_event_id)
    assert "QĐ 5/TTr" in (event.detail or "")
    assert [c.base_version for c in hold_changes(database, CURRENT_CODE)] == ["v2"]
    for key, version in stored_versions(database, CURRENT_CODE):
        if key.startswith(f"{root}/v3/"):
            info = repository.store.stat(key, version_id=version)
            assert info.legal_hold and info.retention is not None, key
    assert_valid_ocfl(settings, 1)


def test_a_hold_first_finishes_a_change_left_pending_then_is_written_after_it(
    settings: Settings, database: Database, repository: OcflRepository, tmp_path: Path
) -> None:
    archive_dossiers(settings, database, repository, tmp_path / "sips", [DossierSpec(CURRENT_CODE)])
    object_id = object_id_of(database, CURRENT_CODE)
    longer = tmp_path / "longer.csv"  # CURRENT_CODE's procedure gets 30 years
    shipped = SHIPPED_SCHEDULE.read_text(encoding="utf-8")
    longer.write_text(shipped + "1.999001,04,,Thử nghiệm,Quyết định thử Điều 1,\n", "utf-8")
    _, term_change = recompute_dossier(database, load_schedule(longer), CURRENT_CODE)
    assert term_change is not None  # decided, its version not written (the process stopped)
    archivist = people(database)["archivist"]

    placed = hold_service(settings, database, repository).place(
        archivist, CURRENT_CODE, reason="Thanh tra"
    )

    assert placed.active and placed.placed_in_aip == "v3"
    changes = hold_changes(database, CURRENT_CODE)
    assert [(c.origin, c.status, c.aip_version) for c in changes] == [
        ("schedule", "done", "v2"),
        ("hold", "done", "v3"),
    ]
    row = dossier_row(database, CURRENT_CODE)
    assert row is not None and (row.aip_version, row.retention_code) == ("v3", "04")
    premis = premis_of(repository, object_id)
    event_in(premis, changes[0].event_id)  # the term change's event stays in the AIP
    event_in(premis, hold_row(database, placed.id).placed_event_id)
    assert_valid_ocfl(settings, 1)


def test_a_dossier_whose_holds_were_released_is_destroyed_with_every_version(
    settings: Settings, database: Database, repository: OcflRepository, tmp_path: Path
) -> None:
    archive_dossiers(settings, database, repository, tmp_path / "sips", [DossierSpec(EXPIRED_CODE)])
    object_id = object_id_of(database, EXPIRED_CODE)
    who = people(database)
    holds = hold_service(settings, database, repository)
    first = holds.place(who["archivist"], EXPIRED_CODE, reason="Khiếu nại")
    second = holds.place(who["admin"], EXPIRED_CODE, reason="Tranh chấp")
    holds.release(who["archivist"], EXPIRED_CODE, first.id)
    holds.release(who["admin"], EXPIRED_CODE, second.id, reason="Đã giải quyết")
    assert repository.head(object_id) == "v5"
    premis = premis_of(repository, object_id)
    for hold_id in (first.id, second.id):
        hold = hold_row(database, hold_id)
        event_in(premis, hold.placed_event_id)
        event_in(premis, hold.released_event_id)
    root = repository.object_root(object_id) + "/"
    with database.read_session() as session:
        stored = session.scalar(
            select(func.count(StoredObject.id))
            .join(Dossier, Dossier.id == StoredObject.dossier_id)
            .where(Dossier.dossier_code == EXPIRED_CODE)
        )
    assert stored == len(stored_versions(database, EXPIRED_CODE))

    disposals = DisposalService(database, Storage(repository))
    proposal = disposals.propose(who["archivist"], [EXPIRED_CODE], "Hết thời hạn", today=TODAY)
    disposals.approve(who["admin2"], proposal.id, **DECISION)
    executed = disposals.execute(who["archivist"], proposal.id, today=TODAY)

    assert (executed.status, executed.errors) == ("executed", [])
    (record,) = disposals.records(proposal.id)
    assert record.object_count == stored
    destroyed = {o.key for o in record.objects}
    assert {k for k in destroyed if k.startswith(f"{root}v5/")}  # the last version's too
    assert list(repository.store.list(root)) == []
    assert dossier_row(database, EXPIRED_CODE) is None
    with database.read_session() as session:
        assert session.scalar(select(func.count(RetentionChange.id))) == 0
        assert session.scalar(select(func.count(DossierHold.id))) == 0


def test_holds_placed_before_this_version_reach_the_aip_through_the_daily_task(
    tmp_path: Path, database_url: str
) -> None:
    upgrade(database_url)
    settings = make_settings(tmp_path, database_url)
    repository = open_archive_repository(settings)
    database = Database(database_url)
    try:
        specs = [DossierSpec(CURRENT_CODE)]
        archive_dossiers(settings, database, repository, tmp_path / "sips", specs)
        object_id = object_id_of(database, CURRENT_CODE)
        dossier_id = dossier_row(database, CURRENT_CODE).id  # type: ignore[union-attr]
    finally:
        database.dispose()
    command.downgrade(alembic_config(database_url), "0008")
    holds = _previous_version_holds(database_url, dossier_id)

    upgrade(database_url)
    database = Database(database_url)
    try:
        linked = {hold_id: hold_row(database, hold_id) for hold_id in holds}
        for hold_id, (placed, released) in holds.items():
            assert (linked[hold_id].placed_event_id, linked[hold_id].released_event_id) == (
                placed,
                released,
            )
            assert linked[hold_id].placed_in_aip is None

        report = run_daily(database, repository, settings)

        assert report.hold_events_written == [CURRENT_CODE]
        assert repository.head(object_id) == "v4"  # three events, oldest first
        (first, first_events), (second, second_events) = holds.items()
        assert hold_row(database, first).placed_in_aip == "v2"
        assert hold_row(database, second).placed_in_aip == "v3"
        assert hold_row(database, second).released_in_aip == "v4"
        premis = premis_of(repository, object_id)
        for event_id in (*first_events, *second_events):
            if event_id is not None:
                event_in(premis, event_id)
        for key, version in version_objects(database, repository, CURRENT_CODE):
            assert repository.store.stat(key, version_id=version).legal_hold, key  # one active
    finally:
        database.dispose()


def _previous_version_holds(url: str, dossier_id: int) -> dict[int, tuple[str, str | None]]:
    """Two holds as the version before recorded them — rows and catalogue events only — the
    second released; their events' ids by hold."""
    engine = create_engine(url)
    try:
        tables = MetaData()
        holds = Table("dossier_holds", tables, autoload_with=engine)
        events = Table("premis_events", tables, autoload_with=engine)
        found: dict[int, tuple[str, str | None]] = {}
        with engine.begin() as connection:
            for number, released in ((1, False), (2, True)):
                placed_at = datetime(2026, 1, number, 9, 0, tzinfo=UTC)
                released_at = datetime(2026, 2, number, 9, 0, tzinfo=UTC) if released else None
                inserted = connection.execute(
                    holds.insert().values(
                        dossier_id=dossier_id, dossier_code=CURRENT_CODE, reason=f"Lý do {number}",
                        reference="", placed_by="key:1", placed_at=placed_at,
                        released_by="key:1" if released else None, released_at=released_at,
                    )
                ).inserted_primary_key  # fmt: skip
                assert inserted is not None
                hold_id = int(inserted[0])
                texts = [(placed_at, f"Đặt lệnh giữ số {hold_id} đối với hồ sơ {CURRENT_CODE}")]
                if released_at is not None:
                    texts.append((released_at, f"Gỡ lệnh giữ số {hold_id} đối với hồ sơ x"))
                ids = [str(uuid4()) for _ in texts]
                for event_id, (at, detail) in zip(ids, texts, strict=True):
                    connection.execute(
                        events.insert().values(
                            dossier_id=dossier_id, event_id=event_id,
                            event_type="policy assignment", at=at, outcome="success",
                            detail=detail + ": …", agent="key:1",
                        )
                    )  # fmt: skip
                found[hold_id] = (ids[0], ids[1] if released else None)
        return found
    finally:
        engine.dispose()


@pytest.mark.s3
def test_on_s3_the_hold_version_is_under_the_legal_hold_and_the_lock(
    tmp_path: Path,
    sqlite_database: Database,
    s3_store: ObjectStore,
    s3_repository: OcflRepository,
) -> None:
    database = sqlite_database
    settings = make_settings(tmp_path, database.url)
    repository = s3_repository
    archive_dossiers(settings, database, repository, tmp_path / "sips", [DossierSpec(CURRENT_CODE)])
    object_id = object_id_of(database, CURRENT_CODE)
    root = repository.object_root(object_id)
    archivist = people(database)["archivist"]
    holds = hold_service(settings, database, repository)

    placed = holds.place(archivist, CURRENT_CODE, reason="Thanh tra", reference="CV 1/TTr")

    assert placed.placed_in_aip == "v2"
    v2 = [(k, v) for k, v in stored_versions(database, CURRENT_CODE) if f"{root}/v2/" in k]
    assert len(v2) == 4 and all(version for _, version in v2)  # S3 version ids
    for key, version in v2:
        info = s3_store.stat(key, version_id=version)
        assert info.legal_hold, key
        assert info.retention == Retention(RetentionMode.COMPLIANCE, LOCK_2034), key
        with pytest.raises(ObjectLocked):
            s3_store.delete(key, version_id=version, bypass_governance=True)

    released = holds.release(archivist, CURRENT_CODE, placed.id, reason="Kết thúc")

    assert released.released_in_aip == "v3"
    premis = premis_of(repository, object_id)
    hold = hold_row(database, placed.id)
    assert "CV 1/TTr" in (event_in(premis, hold.placed_event_id).detail or "")
    assert "Kết thúc" in (event_in(premis, hold.released_event_id).detail or "")
    for key, version in stored_versions(database, CURRENT_CODE):
        info = s3_store.stat(key, version_id=version)
        assert not info.legal_hold, key
        assert info.retention is not None, key  # the term's lock stays


def test_a_hold_released_while_the_lock_step_runs_leaves_no_legal_hold_behind(
    settings: Settings, database: Database, repository: OcflRepository, tmp_path: Path
) -> None:
    archive_dossiers(settings, database, repository, tmp_path / "sips", [DossierSpec(CURRENT_CODE)])
    archivist = people(database)["archivist"]
    holds = hold_service(settings, database, repository)
    hold = holds.place(archivist, CURRENT_CODE, reason="Thanh tra", reference="QĐ 5/TTr")

    def release() -> None:
        holds.release(archivist, CURRENT_CODE, hold.id, reason="Thanh tra xong")

    racing = OcflRepository(
        _CallbackOnce(repository.store, "set_legal_hold", lambda _key, on, **_: on, release)
    )
    result = lock_dossier(database, racing, settings, CURRENT_CODE, renew=True)

    assert result is not None and result.legal_hold  # it read the hold before the release
    assert not hold_row(database, hold.id).active
    for key, version in stored_versions(database, CURRENT_CODE):
        assert not repository.store.stat(key, version_id=version).legal_hold, key


def test_fixity_events_recorded_since_the_last_version_go_into_the_next_one(
    settings: Settings, database: Database, repository: OcflRepository, tmp_path: Path
) -> None:
    archive_dossiers(settings, database, repository, tmp_path / "sips", [DossierSpec(CURRENT_CODE)])
    object_id = object_id_of(database, CURRENT_CODE)
    engine = FixityEngine(database, repository)
    for _ in range(2):  # two checks of the dossier: two events in the catalogue, none in v1
        assert engine.run(FixityScope.dossier(CURRENT_CODE), requested_by="auditor").status
    with database.read_session() as session:
        checks = list(
            session.scalars(
                select(PremisEventRecord.event_id)
                .where(
                    PremisEventRecord.event_type == "fixity check",
                    PremisEventRecord.deposit_id.is_(None),  # not the read-back at ingest
                )
                .order_by(PremisEventRecord.id)
            )
        )
    assert len(checks) == 2
    v1_events = read_events(premis_of(repository, object_id).getroot())
    assert not {event.identifier for event in v1_events} & set(checks)

    holds = hold_service(settings, database, repository)
    placed = holds.place(people(database)["archivist"], CURRENT_CODE, reason="Thanh tra")
    assert placed.placed_in_aip == "v2"
    premis = premis_of(repository, object_id).getroot()
    assert validate(premis, SchemaName.PREMIS, PREMIS_PATH) == []
    events = list(read_events(premis))
    fixity = [e for e in events if e.identifier in checks]
    assert [e.identifier for e in fixity] == checks and all(e.outcome == "success" for e in fixity)
    agents = {agent.identifier for agent in read_agents(premis)}
    assert {link.identifier for e in fixity for link in e.agents} <= agents
    ids = [e.identifier for e in events]
    assert ids.index(checks[-1]) < ids.index(hold_row(database, placed.id).placed_event_id)

    holds.release(people(database)["archivist"], CURRENT_CODE, placed.id, reason="Xong")
    ids = [e.identifier for e in read_events(premis_of(repository, object_id).getroot())]
    assert len(ids) == len(set(ids)) and set(checks) <= set(ids)  # carried on, not repeated
