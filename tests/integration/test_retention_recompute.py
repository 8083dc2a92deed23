"""A new retention schedule reaches every archived dossier: a longer term is applied with an
audit entry, a PREMIS event in a new AIP version (content unchanged) and longer storage locks; a
shorter one is never applied (a warning event); running again changes nothing; an interrupted
run is finished without a second version; deposits of the dossier wait for a pending change.
Dossiers are archived through the real deposit pipeline, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import func, select

from archive_service.app import create_app
from archive_service.config import Settings
from archive_service.db.session import Database
from archive_service.dossiers.models import Dossier, PremisEventRecord, StoredObject
from archive_service.ingest.dispatch import InProcessDispatcher
from archive_service.ingest.models import DepositStatus
from archive_service.ingest.service import DepositProgress, DepositService
from archive_service.integrity.models import AuditEntry
from archive_service.packages.aip_premis import PREMIS_PATH
from archive_service.packages.aip_reader import read_aip_object
from archive_service.packages.mets import METS_FILE, METS_NS, PREMIS_NS
from archive_service.packages.mets_reader import read_mets
from archive_service.packages.schemas import SchemaName, validate
from archive_service.packages.xmlsafe import parse_xml_bytes
from archive_service.storage.base import Retention, RetentionMode
from archive_service.storage.ocfl import OcflRepository
from archive_service.storage.setup import open_archive_repository
from retention.changes import RetentionChanges
from retention.daily import run_daily
from retention.models import RetentionChange
from retention.recompute import Verdict, recompute_all, recompute_dossier
from retention.revision import version_message, write_revision
from retention.schedule import Schedule, load_schedule
from tests.integration.api_client import archive_environment, run_archive
from tests.integration.deposit_setup import (
    assert_valid_ocfl,
    faulty_repository,
    make_settings,
    principal_for,
    stage,
    statuses_reached,
)
from tests.integration.retention_setup import (
    DossierSpec,
    archive_dossiers,
    dossier_row,
    eventually,
    stored_versions,
)

LONGER = "000.00.19.H56-240610-0011"  # 1.999001: 10 years → 50 years
SHORTER = "000.00.19.H56-240610-0012"  # 1.999002: 30 years → 10 years (not applied)
SAME = "000.00.19.H56-240610-0013"  # 1.999003: 10 years declared → 10 years by the schedule
SPECS = [
    DossierSpec(LONGER, procedure="1.999001"),
    DossierSpec(SHORTER, procedure="1.999002"),
    DossierSpec(SAME, procedure="1.999003"),
]
OLD = """# version: 2025.1-thu
procedure_code,retention,years,legal_basis,note
1.999001,06,,Quyết định thử số 1 Điều 1,
1.999002,04,,Quyết định thử số 1 Điều 2,
*,declared,,Không có quy định riêng,
"""
NEW = """# version: 2026.1-thu
procedure_code,retention,years,legal_basis,note
1.999001,03,,Quyết định thử số 2 Điều 1,
1.999002,06,,Quyết định thử số 2 Điều 2,
1.999003,06,,Quyết định thử số 2 Điều 3,
*,declared,,Không có quy định riêng,
"""
#: 31/12/2074 ends at midnight in Vietnam, 17:00 UTC.
LOCK_2074 = datetime(2074, 12, 31, 17, 0, tzinfo=UTC)


@pytest.fixture
def schedules(tmp_path: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "old.csv", tmp_path / "new.csv"
    old.write_text(OLD, encoding="utf-8")
    new.write_text(NEW, encoding="utf-8")
    return old, new


@pytest.fixture
def settings(tmp_path: Path, database: Database, schedules: tuple[Path, Path]) -> Settings:
    return make_settings(tmp_path, database.url, retention_schedule_path=schedules[0])


@pytest.fixture
def repository(settings: Settings, database: Database, tmp_path: Path) -> OcflRepository:
    """The archive's repository, holding the three dossiers archived under the old schedule."""
    repository = open_archive_repository(settings)
    archive_dossiers(settings, database, repository, tmp_path / "sips", SPECS)
    return repository


@pytest.fixture
def new_schedule(schedules: tuple[Path, Path]) -> Schedule:
    return load_schedule(schedules[1])


def row(database: Database, code: str) -> Dossier:
    found = dossier_row(database, code)
    assert found is not None
    return found


def policy_events(database: Database, code: str) -> list[PremisEventRecord]:
    with database.read_session() as session:
        return list(
            session.scalars(
                select(PremisEventRecord)
                .join(Dossier, Dossier.id == PremisEventRecord.dossier_id)
                .where(
                    Dossier.dossier_code == code,
                    PremisEventRecord.event_type == "policy assignment",
                )
                .order_by(PremisEventRecord.id)
            )
        )


def audit(database: Database, code: str) -> list[tuple[str, dict[str, Any]]]:
    with database.read_session() as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.target_id == code).order_by(AuditEntry.seq)
        )
        return [(entry.action, entry.detail) for entry in rows]


def changes_of(database: Database, code: str) -> list[RetentionChange]:
    with database.read_session() as session:
        return list(
            session.scalars(select(RetentionChange).where(RetentionChange.dossier_code == code))
        )


def snapshot(database: Database, repository: OcflRepository) -> dict[str, Any]:
    """Everything a recomputation may change."""
    with database.read_session() as session:
        counts = {
            model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in (PremisEventRecord, StoredObject, AuditEntry, RetentionChange)
        }
        rows = list(session.scalars(select(Dossier)))
    dossiers = {
        d.dossier_code: (d.aip_version, d.retention_code, d.disposal_date, d.locked_until)
        for d in rows
    }
    heads = {d.dossier_code: repository.head(d.aip_object_id) for d in rows}
    return {"counts": counts, "dossiers": dossiers, "heads": heads}


def test_a_new_schedule_lengthens_in_a_new_aip_version_and_never_shortens(
    settings: Settings,
    database: Database,
    repository: OcflRepository,
    new_schedule: Schedule,
) -> None:
    before = {code: row(database, code) for code in (LONGER, SHORTER, SAME)}
    assert before[LONGER].disposal_date == date(2034, 12, 31)
    assert before[SHORTER].disposal_date == date(2054, 12, 31)
    assert {d.retention_schedule_version for d in before.values()} == {"2025.1-thu"}
    object_id = before[LONGER].aip_object_id
    v1_state = repository.state(object_id, "v1")

    report = recompute_all(database, repository, settings, new_schedule)

    assert (report.lengthened, report.kept, report.unchanged) == ([LONGER], [SHORTER], 1)
    assert report.busy == report.failed == report.pending == []
    longer = row(database, LONGER)
    assert (longer.retention_code, longer.disposal_date, longer.aip_version) == (
        "03",
        date(2074, 12, 31),
        "v2",
    )
    assert (longer.retention_schedule_version, longer.retention_schedule_sha256) == (
        "2026.1-thu",
        new_schedule.sha256,
    )
    winner = next(entry for entry in longer.retention_basis["basis"] if entry["won"])
    assert winner["source"] == "schedule" and "2026.1-thu" in winner["reference"]

    # The new version: PREMIS.xml and METS.xml only; content files are v1's, not stored again.
    inventory = repository.inventory(object_id)
    (change,) = changes_of(database, LONGER)
    assert inventory["head"] == "v2"
    assert inventory["versions"]["v2"]["message"] == version_message(change.id)
    v2_state = repository.state(object_id, "v2")
    changed = {path for path in v2_state if v2_state[path].digest != v1_state[path].digest}
    assert changed == {METS_FILE, PREMIS_PATH}
    assert set(v2_state) == set(v1_state)
    root = repository.object_root(object_id)
    v2_content = [k for k in repository.content_keys(object_id) if k.startswith(f"{root}/v2/")]
    assert sorted(k.rsplit("/", 1)[1] for k in v2_content) == [
        "METS.xml",
        "PREMIS.xml",
        "inventory.json",
        "inventory.json.sha256",
    ]
    # ... whose PREMIS carries the event and is valid, and whose METS describes that PREMIS.
    with repository.open(object_id, PREMIS_PATH) as stream:
        premis_bytes = stream.read()
    premis = parse_xml_bytes(premis_bytes, "PREMIS.xml")
    assert validate(premis, SchemaName.PREMIS, "PREMIS.xml") == []
    with repository.open(object_id, METS_FILE) as stream:
        mets_root = parse_xml_bytes(stream.read(), METS_FILE)
    assert validate(mets_root, SchemaName.METS, METS_FILE) == []
    parsed, problems = read_mets(mets_root.getroot(), METS_FILE)
    assert problems == []
    (premis_ref,) = [r for r in parsed.metadata.values() if r.mdtype == "PREMIS"]
    assert premis_ref.checksum == v2_state[PREMIS_PATH].digest.upper()
    assert premis_ref.size == str(len(premis_bytes))
    summary = read_aip_object(repository, object_id)
    (event,) = [e for e in summary.events if e.identifier == change.event_id]
    assert event.event_type == "policy assignment" and event.outcome == "success"
    assert "2025.1-thu → 2026.1-thu" in (event.detail or "")
    assert [o.identifier for o in event.objects] == [object_id]

    # The catalogue: the event, the audit entry with the reason, the new stored objects.
    recorded = policy_events(database, LONGER)
    assert [e.event_id for e in recorded][-1] == change.event_id
    assert recorded[-1].outcome == "success"
    actions = audit(database, LONGER)
    lengthened = [detail for action, detail in actions if action == "retention.lengthened"]
    assert len(lengthened) == 1
    assert lengthened[0]["reason"].startswith("danh mục thời hạn 2025.1-thu → 2026.1-thu, dòng 3")
    assert lengthened[0]["retention"] == "03" and lengthened[0]["previous_retention"] == "06"
    assert lengthened[0]["aip_version"] == "v2"
    keys = {key for key, _ in stored_versions(database, LONGER)}
    assert set(v2_content) <= keys
    assert_valid_ocfl(settings, objects=3)

    # Storage: every object version is locked until the new date, the first version's too.
    assert longer.locked_until == LOCK_2074 and longer.lock_mode == "COMPLIANCE"
    for key, version in stored_versions(database, LONGER):
        if "/content/" in key:
            retention = repository.store.stat(key, version_id=version).retention
            assert retention == Retention(RetentionMode.COMPLIANCE, LOCK_2074), key

    # A shorter term is not applied: a warning event, an audit entry, no new version.
    shorter = row(database, SHORTER)
    assert (shorter.retention_code, shorter.disposal_date, shorter.aip_version) == (
        "04",
        date(2054, 12, 31),
        "v1",
    )
    assert shorter.retention_schedule_version == "2026.1-thu"
    warning = policy_events(database, SHORTER)[-1]
    assert warning.outcome == "warning" and "06 (10 năm)" in (warning.detail or "")
    kept = [detail for action, detail in audit(database, SHORTER) if action == "retention.kept"]
    assert len(kept) == 1 and kept[0]["computed_retention"] == "06"
    assert changes_of(database, SHORTER) == []
    assert repository.head(shorter.aip_object_id) == "v1"

    # The same date: only the stamp moves.
    same = row(database, SAME)
    assert (same.aip_version, same.disposal_date) == ("v1", date(2034, 12, 31))
    assert same.retention_schedule_sha256 == new_schedule.sha256
    assert len(policy_events(database, SAME)) == 1  # the one of the deposit

    # Running again changes nothing at all.
    state = snapshot(database, repository)
    again = recompute_all(database, repository, settings, new_schedule)
    assert again.examined == 0
    assert snapshot(database, repository) == state


def test_a_run_interrupted_after_storage_committed_is_finished_without_a_second_version(
    settings: Settings,
    database: Database,
    repository: OcflRepository,
    new_schedule: Schedule,
) -> None:
    verdict, change_id = recompute_dossier(database, new_schedule, LONGER)
    assert verdict is Verdict.LENGTHENED and change_id is not None
    (change,) = changes_of(database, LONGER)
    object_id = row(database, LONGER).aip_object_id
    write_revision(repository, settings, change, object_id)  # then the process dies
    assert repository.head(object_id) == "v2"
    assert row(database, LONGER).aip_version == "v1"  # the catalogue does not know it yet

    report = recompute_all(database, repository, settings, new_schedule)

    assert repository.head(object_id) == "v2"  # not written twice
    longer = row(database, LONGER)
    assert (longer.aip_version, longer.retention_code) == ("v2", "03")
    assert [c.status for c in changes_of(database, LONGER)] == ["done"]
    assert [e.event_id for e in policy_events(database, LONGER)].count(change.event_id) == 1
    actions = [action for action, _ in audit(database, LONGER)]
    assert actions.count("retention.lengthened") == 1
    assert LONGER not in report.lengthened  # finished as a pending change, not decided again
    assert recompute_all(database, repository, settings, new_schedule).examined == 0


def test_a_storage_failure_leaves_the_change_pending_and_the_next_run_finishes_it(
    settings: Settings,
    database: Database,
    repository: OcflRepository,
    new_schedule: Schedule,
) -> None:
    faulty, store = faulty_repository(settings, failures=1)
    report = recompute_all(database, faulty, settings, new_schedule)
    assert store.refused == 1
    assert report.pending == [LONGER]
    (change,) = changes_of(database, LONGER)
    assert change.status == "pending"
    longer = row(database, LONGER)
    assert (longer.aip_version, longer.retention_code) == ("v1", "06")
    assert longer.retention_schedule_version == "2025.1-thu"  # moves with the change only
    object_id = longer.aip_object_id
    assert repository.head(object_id) == "v1"
    root = repository.object_root(object_id)
    assert not [k for k in repository.content_keys(object_id) if k.startswith(f"{root}/v2/")]

    recompute_all(database, repository, settings, new_schedule)

    assert [c.status for c in changes_of(database, LONGER)] == ["done"]
    assert row(database, LONGER).aip_version == "v2" and repository.head(object_id) == "v2"
    assert [a for a, _ in audit(database, LONGER)].count("retention.lengthened") == 1


def test_a_deposit_of_the_dossier_waits_while_a_change_is_pending(
    settings: Settings,
    database: Database,
    repository: OcflRepository,
    new_schedule: Schedule,
    tmp_path: Path,
) -> None:
    _, change_id = recompute_dossier(database, new_schedule, LONGER)
    assert change_id is not None
    supplement = DossierSpec(
        LONGER, procedure="1.999001", documents=2, record_status="SUPPLEMENT"
    ).sip(tmp_path / "supplement")
    service = DepositService(settings, database, repository, InProcessDispatcher(1))
    depositor = principal_for(database)
    receipt = service.register_zip(depositor, stage(settings, supplement))
    received = DepositProgress(DepositStatus.RECEIVED)
    assert service.view_if_changed(depositor, receipt.deposit_id, received) is None

    assert service.pipeline.process(receipt.deposit_id) is not None  # postponed
    first = service.get(depositor, receipt.deposit_id)
    assert (first.status, first.waiting_for) == (DepositStatus.RECEIVED, "dossier")
    assert first.waiting_since is not None
    # A status request that waits answers when the wait begins, though the status is the same.
    assert service.view_if_changed(depositor, receipt.deposit_id, received) == first
    assert service.view_if_changed(depositor, receipt.deposit_id, first.progress) is None
    time.sleep(service.pipeline.process(receipt.deposit_id) or 0)  # due again
    assert service.pipeline.process(receipt.deposit_id) is not None  # postponed once more
    again = service.get(depositor, receipt.deposit_id)
    assert (again.waiting_for, again.waiting_since) == ("dossier", first.waiting_since)
    assert again.attempts == first.attempts  # a wait uses no attempt
    # The second turn only looked at the dossier: no second check, no status change.
    assert statuses_reached(database, receipt.deposit_id) == ["checking", "received"]
    assert repository.head(row(database, LONGER).aip_object_id) == "v1"

    RetentionChanges(database, repository, settings).finish_pending()
    assert row(database, LONGER).aip_version == "v2"
    for _ in range(100):  # it was told to come back a second later
        delay = service.pipeline.process(receipt.deposit_id)
        if delay is None:
            break
        time.sleep(delay)
    view = service.get(depositor, receipt.deposit_id)
    assert view.status is DepositStatus.ARCHIVED, (view.problems, view.failure_reason)
    assert (view.waiting_for, view.waiting_since) == (None, None)
    longer = row(database, LONGER)
    assert longer.aip_version == "v3" and longer.retention_code == "03"  # still 50 years


def test_the_daily_task_recomputes(
    settings: Settings,
    database: Database,
    repository: OcflRepository,
    new_schedule: Schedule,
) -> None:
    report = run_daily(database, repository, settings, schedule=new_schedule)
    assert report.recomputed is not None
    assert (report.recomputed.lengthened, report.recomputed.kept) == ([LONGER], [SHORTER])
    assert row(database, LONGER).disposal_date == date(2074, 12, 31)


#: Tests of the entry points run on SQLite only: the database work is the same on both.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
def test_starting_the_service_with_a_new_schedule_recomputes(
    settings: Settings,
    database: Database,
    repository: OcflRepository,
    schedules: tuple[Path, Path],
) -> None:
    from fastapi.testclient import TestClient

    app = create_app(settings.model_copy(update={"retention_schedule_path": schedules[1]}))
    with TestClient(app):
        eventually(lambda: row(database, SAME).retention_schedule_version == "2026.1-thu")
        eventually(lambda: row(database, LONGER).retention_code == "03")
    assert row(database, LONGER).aip_version == "v2"
    assert row(database, SHORTER).retention_code == "04"


@SQLITE_ONLY
def test_the_recompute_command(
    settings: Settings,
    database: Database,
    repository: OcflRepository,
    schedules: tuple[Path, Path],
) -> None:
    environment = archive_environment(
        settings.data_dir,
        {
            "ARCHIVE_DATABASE_URL": database.url,
            "ARCHIVE_STORAGE_URL": settings.effective_storage_url(),
            "ARCHIVE_RETENTION_SCHEDULE_PATH": str(schedules[1]),
        },
    )
    first = json.loads(
        run_archive("retention", "recompute", "--json", environment=environment).stdout
    )
    assert (first["schedule_version"], first["lengthened"], first["kept"]) == (
        "2026.1-thu",
        [LONGER],
        [SHORTER],
    )
    again = run_archive("retention", "recompute", environment=environment).stdout
    assert "không đổi: 0 hồ sơ" in again and "kéo dài (phiên bản AIP mới): 0 hồ sơ" in again
    assert row(database, LONGER).aip_version == "v2"


def test_the_new_version_changes_nothing_else_in_premis_and_mets(
    settings: Settings,
    database: Database,
    repository: OcflRepository,
    new_schedule: Schedule,
) -> None:
    object_id = row(database, LONGER).aip_object_id
    recompute_all(database, repository, settings, new_schedule)
    (change,) = changes_of(database, LONGER)

    def parsed(path: str, version: str) -> Any:
        with repository.open(object_id, path, version) as stream:
            return parse_xml_bytes(stream.read(), path).getroot()

    def canonical(root: Any) -> bytes:
        for element in root.iter():  # the layout's whitespace aside
            element.tail = None
            if element.text is not None and not element.text.strip():
                element.text = None
        return bytes(etree.tostring(root, method="c14n"))

    # PREMIS: v2 is v1 plus the event and the link to it from the AIP object.
    old, new = parsed(PREMIS_PATH, "v1"), parsed(PREMIS_PATH, "v2")
    ids = {"p": PREMIS_NS}
    added = new.xpath("//p:event[p:eventIdentifier/p:eventIdentifierValue=$id]", namespaces=ids,
                      id=change.event_id)  # fmt: skip
    links = new.xpath("//p:object/p:linkingEventIdentifier[p:linkingEventIdentifierValue=$id]",
                      namespaces=ids, id=change.event_id)  # fmt: skip
    assert len(added) == 1 and len(links) == 1
    for element in (*added, *links):
        element.getparent().remove(element)
    assert canonical(new) == canonical(old)

    # METS: only the PREMIS reference, its section's date and the header's LASTMODDATE differ.
    old_mets, new_mets = parsed(METS_FILE, "v1"), parsed(METS_FILE, "v2")
    header = new_mets.find(f"{{{METS_NS}}}metsHdr")
    assert header.get("LASTMODDATE") is not None
    del header.attrib["LASTMODDATE"]
    for tree in (old_mets, new_mets):
        (md_ref,) = tree.xpath("//m:mdRef[@MDTYPE='PREMIS']", namespaces={"m": METS_NS})
        for name in ("SIZE", "CHECKSUM", "CREATED"):
            md_ref.attrib.pop(name)
        md_ref.getparent().attrib.pop("CREATED")
    assert canonical(new_mets) == canonical(old_mets)
