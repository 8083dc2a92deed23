"""``POST /api/v1/dossiers/{code}/retention``: an archivist shortens a term, with a reason — a
new AIP version whose PREMIS carries the decision, an audit entry, the term stored and shown,
storage locks never shortened. Every refusal (no reason, wrong role, unknown dossier, hold, not
shorter, before the storage lock, busy) answers its error code and changes nothing. On the real
application, with SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from archive_service.db.session import Database
from archive_service.dossiers.models import Dossier, PremisEventRecord, StoredObject
from archive_service.ingest.models import DepositStatus
from archive_service.integrity.models import AuditEntry
from archive_service.packages.aip_premis import PREMIS_PATH
from archive_service.packages.premis import PREMIS_NS, read_agents
from archive_service.packages.xmlsafe import parse_xml_bytes
from archive_service.security.models import Role
from archive_service.storage.base import ObjectLocked, ObjectStore, RetentionMode
from archive_service.storage.ocfl import OcflRepository
from retention.changes import RetentionChanges
from retention.models import RetentionChange
from retention.recompute import recompute_all, recompute_dossier
from retention.schedule import SHIPPED_SCHEDULE, load_schedule
from tests.integration.api_client import InProcessArchive, in_process_archive
from tests.integration.deposit_setup import make_settings, principal_for, stage, wait_final
from tests.integration.retention_setup import (
    CURRENT_CODE,
    PERMANENT_CODE,
    DossierSpec,
    archive_dossiers,
    dossier_row,
    stored_versions,
)

HELD_CODE = "000.00.19.H56-240610-0004"
#: 31/12/2094 ends at midnight in Vietnam, 17:00 UTC.
LOCK_2094 = datetime(2094, 12, 31, 17, 0, tzinfo=UTC)


def retention_url(code: str) -> str:
    return f"/api/v1/dossiers/{code}/retention"


@pytest.fixture
def archive(tmp_path: Path, database_url: str) -> Iterator[InProcessArchive]:
    """The application with three archived dossiers: permanent, 10 years, permanent and held."""
    with in_process_archive(tmp_path / "data", database_url=database_url) as running:
        specs = [
            DossierSpec(PERMANENT_CODE, scheduled=True),
            DossierSpec(CURRENT_CODE),
            DossierSpec(HELD_CODE, scheduled=True),
        ]
        deposit(running, specs, tmp_path / "sips")
        archivist = running.client_for(running.create_key("archivist"))
        placed = archivist.post(
            f"/api/v1/dossiers/{HELD_CODE}/holds", json={"reason": "Phục vụ thanh tra"}
        )
        assert placed.status_code == 201, placed.text
        yield running


def deposit(archive: InProcessArchive, specs: Sequence[DossierSpec], work: Path) -> None:
    service = archive.app.state.deposits
    depositor = principal_for(archive.database)
    for spec in specs:
        receipt = service.register_zip(depositor, stage(archive.settings, spec.sip(work)))
        view = wait_final(service, depositor, receipt.deposit_id)
        assert view.status is DepositStatus.ARCHIVED, (view.problems, view.failure_reason)


def repository_of(archive: InProcessArchive) -> OcflRepository:
    repository: OcflRepository = archive.app.state.repository
    return repository


def snapshot(archive: InProcessArchive) -> dict[str, Any]:
    """Every row, event, audit entry and version a shortening could change."""
    database = archive.database
    with database.read_session() as session:
        dossiers = {
            d.dossier_code: (
                d.aip_version,
                d.retention_code,
                d.retention_years,
                d.disposal_date,
                d.retention_basis,
                d.locked_until,
                d.lock_mode,
                d.locks_applied_at,
            )
            for d in session.scalars(select(Dossier))
        }
        objects = {d.dossier_code: d.aip_object_id for d in session.scalars(select(Dossier))}
        counts = {
            model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in (PremisEventRecord, StoredObject, RetentionChange)
        }
        audit = session.scalar(select(func.count()).where(AuditEntry.target_type == "dossier"))
    repository = repository_of(archive)
    heads = {code: repository.head(object_id) for code, object_id in objects.items()}
    return {"dossiers": dossiers, "counts": counts, "audit": audit, "heads": heads}


def test_an_archivist_shortens_a_term_in_a_new_aip_version(archive: InProcessArchive) -> None:
    repository = repository_of(archive)
    before = dossier_row(archive.database, PERMANENT_CODE)
    assert before is not None and before.retention_code == "01"
    assert before.lock_mode == "GOVERNANCE" and before.locked_until is not None
    governance_until = before.locked_until
    key = archive.create_key("archivist")
    client = archive.client_for(key)

    answer = client.post(
        retention_url(PERMANENT_CODE),
        json={
            "retention": "07",
            "years": 70,
            "reason": "Hội đồng xác định giá trị tài liệu đề nghị",
            "reference": "Biên bản số 12/BB-HĐ ngày 02/03/2025",
        },
    )

    assert answer.status_code == 200, answer.text
    change = answer.json()
    assert change["status"] == "done" and change["origin"] == "archivist"
    assert (change["previous_retention"], change["retention"]) == ("01", "07:70")
    assert change["disposal_date"] == "2094-12-31" and change["aip_version"] == "v2"
    actor = change["actor"]
    assert actor.startswith("key:")

    # Shown with the dossier: the term, the archivist's decision and the policy's term before.
    shown = client.get(f"/api/v1/dossiers/{PERMANENT_CODE}").json()
    retention = shown["retention"]
    assert (retention["retention"], retention["disposal_date"]) == ("07:70", "2094-12-31")
    assert [entry["source"] for entry in retention["basis"]] == ["archivist"]
    assert retention["override"]["reason"] == "Hội đồng xác định giá trị tài liệu đề nghị"
    assert retention["override"]["policy"] == {"retention": "01", "disposal_date": None}
    event = next(e for e in shown["events"] if e.get("event_id") == change["event_id"])
    assert "Biên bản số 12/BB-HĐ" in event["detail"]
    history = client.get(f"{retention_url(PERMANENT_CODE)}/changes").json()
    assert [item["id"] for item in history] == [change["id"]]

    # The AIP's new version: PREMIS carries the event and the archivist as its authorizer.
    object_id = before.aip_object_id
    v1, v2 = repository.state(object_id, "v1"), repository.state(object_id, "v2")
    assert {path for path in v2 if v2[path].digest != v1[path].digest} == {
        "METS.xml",
        PREMIS_PATH,
    }
    with repository.open(object_id, PREMIS_PATH) as stream:
        premis = parse_xml_bytes(stream.read(), PREMIS_PATH).getroot()
    assert actor in {agent.identifier for agent in read_agents(premis)}
    values = premis.xpath(
        "//p:event[p:eventIdentifier/p:eventIdentifierValue=$id]"
        "/p:linkingAgentIdentifier/p:linkingAgentIdentifierValue/text()",
        namespaces={"p": PREMIS_NS},
        id=change["event_id"],
    )
    assert actor in values

    # The audit trail: who, why, on what document.
    with archive.database.read_session() as session:
        (entry,) = session.scalars(
            select(AuditEntry).where(
                AuditEntry.target_id == PERMANENT_CODE, AuditEntry.action == "retention.shortened"
            )
        )
        assert (entry.actor, entry.role) == (actor, "archivist")
        assert entry.detail["reason"] == "Hội đồng xác định giá trị tài liệu đề nghị"
        assert entry.detail["reference"] == "Biên bản số 12/BB-HĐ ngày 02/03/2025"
        assert entry.detail["previous_retention"] == "01"

    # Storage locks are never shortened: the old version keeps its (extended) governance lock.
    after = dossier_row(archive.database, PERMANENT_CODE)
    assert after is not None and after.locks_applied_at is not None
    for stored_key, version in stored_versions(archive.database, PERMANENT_CODE):
        if "/content/" not in stored_key:
            continue
        lock = repository.store.stat(stored_key, version_id=version).retention
        assert lock is not None and lock.until >= governance_until, stored_key
        assert lock.until == LOCK_2094, stored_key
        mode = RetentionMode.GOVERNANCE if "/v1/" in stored_key else RetentionMode.COMPLIANCE
        assert lock.mode is mode, stored_key


def test_admins_may_shorten_too(archive: InProcessArchive) -> None:
    client = archive.client_for(archive.create_key("admin"))
    answer = client.post(
        retention_url(PERMANENT_CODE), json={"retention": "07:60", "reason": "Quyết định"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["retention"] == "07:60"


REFUSALS = [
    # (who, dossier, body, status, code)
    ("archivist", PERMANENT_CODE, {"retention": "07", "years": 70}, 422, "REASON_REQUIRED"),
    ("archivist", PERMANENT_CODE, {"retention": "07", "years": 70, "reason": "  "}, 422,
     "REASON_REQUIRED"),
    ("archivist", PERMANENT_CODE, {"retention": "07", "years": 99, "reason": "x"}, 422,
     "INVALID_RETENTION"),
    ("archivist", PERMANENT_CODE, {"retention": "09", "reason": "x"}, 422, "INVALID_RETENTION"),
    ("depositor", PERMANENT_CODE, {"retention": "06", "reason": "x"}, 403, "FORBIDDEN"),
    ("auditor", PERMANENT_CODE, {"retention": "06", "reason": "x"}, 403, "FORBIDDEN"),
    (None, PERMANENT_CODE, {"retention": "06", "reason": "x"}, 401, "AUTH_REQUIRED"),
    ("archivist", "000.00.19.H56-240610-9999", {"retention": "06", "reason": "x"}, 404,
     "DOSSIER_NOT_FOUND"),
    ("archivist", HELD_CODE, {"retention": "07", "years": 70, "reason": "x"}, 409,
     "DOSSIER_HELD"),
    ("archivist", CURRENT_CODE, {"retention": "04", "reason": "x"}, 409, "NOT_SHORTER"),
    ("archivist", CURRENT_CODE, {"retention": "07", "years": 10, "reason": "x"}, 409,
     "NOT_SHORTER"),
    # 10 years, locked (COMPLIANCE) until 31/12/2034: 5 years would end before the lock.
    ("archivist", CURRENT_CODE, {"retention": "07", "years": 5, "reason": "x"}, 409,
     "STORAGE_LOCKED"),
    # Permanent, locked (GOVERNANCE) for ten years from today: 10 years ends before that.
    ("archivist", PERMANENT_CODE, {"retention": "06", "reason": "x"}, 409, "STORAGE_LOCKED"),
]  # fmt: skip


def test_every_refusal_has_its_code_and_changes_nothing(archive: InProcessArchive) -> None:
    keys = {
        "archivist": archive.create_key("archivist"),
        "auditor": archive.create_key("auditor"),
        "depositor": archive.create_key("depositor", "000.00.19.H56"),
    }
    before = snapshot(archive)
    for who, code, body, status, error in REFUSALS:
        client = archive.client_for(keys[who] if who else None)
        answer = client.post(retention_url(code), json=body)
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, error), (
            who,
            code,
            body,
            answer.text,
        )
        assert answer.json()["error"]["message"]
        assert snapshot(archive) == before, (who, code, body)


def test_a_dossier_with_a_change_being_written_is_busy(
    archive: InProcessArchive, tmp_path: Path
) -> None:
    longer = tmp_path / "longer.csv"
    shipped = SHIPPED_SCHEDULE.read_text(encoding="utf-8")
    longer.write_text(shipped + "1.999001,04,,Thử nghiệm,Quyết định thử Điều 1,\n", "utf-8")
    _, change_id = recompute_dossier(archive.database, load_schedule(longer), CURRENT_CODE)
    assert change_id is not None  # decided, not written yet
    before = snapshot(archive)
    client = archive.client_for(archive.create_key("archivist"))
    answer = client.post(
        retention_url(CURRENT_CODE), json={"retention": "07", "years": 5, "reason": "x"}
    )
    assert (answer.status_code, answer.json()["error"]["code"]) == (409, "DOSSIER_BUSY")
    assert snapshot(archive) == before


def test_a_new_schedule_does_not_undo_the_archivists_decision(
    archive: InProcessArchive, tmp_path: Path
) -> None:
    client = archive.client_for(archive.create_key("archivist"))
    answer = client.post(
        retention_url(PERMANENT_CODE), json={"retention": "07", "years": 70, "reason": "Quyết định"}
    )
    assert answer.status_code == 200, answer.text
    other = tmp_path / "other.csv"  # another file: another digest, the same term for marriages
    other.write_text(
        SHIPPED_SCHEDULE.read_text(encoding="utf-8").replace("# version: ", "# version: khac-"),
        encoding="utf-8",
    )
    schedule = load_schedule(other)
    settings = archive.settings
    report = recompute_all(archive.database, repository_of(archive), settings, schedule)
    assert PERMANENT_CODE not in report.lengthened and report.failed == []
    row = dossier_row(archive.database, PERMANENT_CODE)
    assert row is not None
    assert (row.retention_code, row.retention_years, row.disposal_date) == (
        "07",
        70,
        date(2094, 12, 31),
    )
    assert row.retention_schedule_sha256 == schedule.sha256
    assert row.aip_version == "v2"  # no version beyond the archivist's


@pytest.mark.s3
def test_on_s3_a_shortened_permanent_dossier_keeps_every_lock(
    tmp_path: Path,
    sqlite_database: Database,
    s3_store: ObjectStore,
    s3_repository: OcflRepository,
) -> None:
    database = sqlite_database
    settings = make_settings(tmp_path, database.url)
    repository = s3_repository
    spec = DossierSpec(PERMANENT_CODE, scheduled=True)
    archive_dossiers(settings, database, repository, tmp_path / "sips", [spec])
    archivist = principal_for(database, Role.ARCHIVIST, None)
    changes = RetentionChanges(database, repository, settings)
    before = stored_versions(database, PERMANENT_CODE)

    view = changes.shorten(
        archivist, PERMANENT_CODE, retention="07:70", reason="Hội đồng xác định giá trị"
    )

    assert (view.status, view.aip_version) == ("done", "v2")
    after = stored_versions(database, PERMANENT_CODE)
    assert all(version for _, version in after)  # S3 version ids
    assert set(before) < set(after)
    for key, version in after:
        lock = s3_store.stat(key, version_id=version).retention
        assert lock is not None and lock.until == LOCK_2094, key
        # what v1 wrote keeps its governance mode, extended; v2's objects are compliance
        old = (key, version) in before
        assert lock.mode is (RetentionMode.GOVERNANCE if old else RetentionMode.COMPLIANCE)
        with pytest.raises(ObjectLocked):
            s3_store.delete(key, version_id=version)
