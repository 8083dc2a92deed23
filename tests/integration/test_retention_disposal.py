"""Holds and the disposal workflow over HTTP, on the real S3 server (Object Lock bucket).

A dossier whose 10-year term ended in 2020 is held (its stored versions then refuse deletion
even with the governance bypass), released, proposed, refused approval by its proposer,
approved by another admin, executed: it is gone from storage, database and search, only its
destruction record is left, and the audit chain still verifies. Each refusal of the workflow
has its own error code and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import func, select

from archive_service.dossiers.models import Document, Dossier, StoredObject
from archive_service.integrity.audit_verify import verify_database
from archive_service.integrity.checkpoints import archive_public_key, run_checkpoint
from archive_service.integrity.replica_sync import sync_replica
from archive_service.storage.base import ObjectLocked
from archive_service.storage.filesystem import FilesystemStore
from archive_service.storage.s3 import S3Store
from retention.destruction_xml import NAMESPACE
from retention.models import DestructionRecord, DisposalProposal
from retention.review import mark_due
from tests.integration.api_client import InProcessArchive, in_process_archive
from tests.integration.retention_setup import (
    CURRENT_CODE,
    EXPIRED_CODE,
    PERMANENT_CODE,
    DossierSpec,
    stored_versions,
)
from tests.s3server.servers import S3Server

pytestmark = pytest.mark.s3

DECISION = {"decision_number": "15/QĐ-UBND", "decision_date": "2035-03-01", "signer": "Phạm Văn D"}


@dataclass
class Archive:
    """The application on the S3 bucket, its store, and a client per person."""

    running: InProcessArchive
    store: S3Store
    clients: dict[str, Any]

    def __getitem__(self, who: str) -> Any:
        return self.clients[who]

    def count(self, model: type, **where: str) -> int:
        with self.running.database.read_session() as session:
            query = select(func.count()).select_from(model)
            for column, value in where.items():
                query = query.where(getattr(model, column) == value)
            return int(session.scalar(query) or 0)


@pytest.fixture
def archive(tmp_path: Path, s3_server: S3Server, s3_store: S3Store) -> Iterator[Archive]:
    settings = {
        **s3_server.archive_settings(s3_store.bucket),
        "replica_storage_url": (tmp_path / "replica").as_uri(),  # synced by the test
        "replica_sync_seconds": 0,
    }
    with in_process_archive(tmp_path / "data", **settings) as running:
        roles = {
            "depositor": ("depositor", "000.00.19.H56"),
            "archivist": ("archivist", None),
            "admin": ("admin", None),
            "admin2": ("admin", None),
            "auditor": ("auditor", None),
        }
        clients = {
            who: running.client_for(running.create_key(role, agency))
            for who, (role, agency) in roles.items()
        }
        archive = Archive(running, s3_store, clients)
        for spec in (
            DossierSpec(EXPIRED_CODE, documents=2),
            DossierSpec(CURRENT_CODE),
            DossierSpec(PERMANENT_CODE, scheduled=True),
        ):
            _deposit(archive, spec.sip(tmp_path / "sips"))
        assert running.app.state.dispatcher.wait_idle(120)  # storage locks applied
        yield archive


def _deposit(archive: Archive, sip: Path) -> None:
    answer = archive["depositor"].post(
        "/api/v1/deposits", content=sip.read_bytes(), headers={"Content-Type": "application/zip"}
    )
    assert answer.status_code == 202, answer.text
    assert archive.running.app.state.dispatcher.wait_idle(120)
    status = archive["depositor"].get(f"/api/v1/deposits/{answer.json()['deposit_id']}").json()
    assert status["status"] == "archived", status


def _recorded(archive: Archive, code: str) -> set[tuple[str, str]]:
    """``(key, SHA-256)`` of every stored object version of the dossier the catalogue knows."""
    with archive.running.database.read_session() as session:
        return {
            (row.key, row.sha256)
            for row in session.scalars(
                select(StoredObject)
                .join(Dossier, Dossier.id == StoredObject.dossier_id)
                .where(Dossier.dossier_code == code)
            )
        }


def _all_recorded(archive: Archive) -> set[tuple[str, str]]:
    """``(key, SHA-256)`` of every stored object version the catalogue knows."""
    with archive.running.database.read_session() as session:
        return {(row.key, row.sha256) for row in session.scalars(select(StoredObject))}


def _error(answer: Any, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code, answer.text


def test_a_hold_makes_storage_refuse_deletion_even_with_the_governance_bypass(
    archive: Archive,
) -> None:
    store = archive.store
    held = archive["archivist"].post(
        f"/api/v1/dossiers/{PERMANENT_CODE}/holds",
        json={"reason": "Phục vụ thanh tra", "reference": "Công văn 123/TTr"},
    )
    assert held.status_code == 201, held.text
    hold = held.json()
    assert hold["active"] and hold["storage_synced"] and hold["placed_by"].startswith("key:")
    versions = stored_versions(archive.running.database, PERMANENT_CODE)
    for key, version in versions:
        assert store.stat(key, version_id=version).legal_hold, key
    key, version = next(item for item in versions if "/v1/content/" in item[0])
    with pytest.raises(ObjectLocked):
        store.delete(key, version_id=version, bypass_governance=True)

    second = (
        archive["admin"]
        .post(f"/api/v1/dossiers/{PERMANENT_CODE}/holds", json={"reason": "Tranh chấp"})
        .json()
    )
    view = archive["archivist"].get(f"/api/v1/dossiers/{PERMANENT_CODE}").json()
    assert view["retention"]["active_holds"] == 2
    details = [e["detail"] for e in view["events"] if e["event_type"] == "policy assignment"]
    assert sum("Đặt lệnh giữ" in (detail or "") for detail in details) == 2

    released = archive["archivist"].request(
        "DELETE",
        f"/api/v1/dossiers/{PERMANENT_CODE}/holds/{hold['id']}",
        json={"reason": "Kết thúc thanh tra"},
    )
    assert released.status_code == 200 and not released.json()["active"]
    assert store.stat(key, version_id=version).legal_hold  # another hold is still active
    archive["admin"].delete(f"/api/v1/dossiers/{PERMANENT_CODE}/holds/{second['id']}")
    assert not any(store.stat(k, version_id=v).legal_hold for k, v in versions)
    _error(
        archive["admin"].delete(f"/api/v1/dossiers/{PERMANENT_CODE}/holds/{second['id']}"),
        409,
        "HOLD_ALREADY_RELEASED",
    )
    _error(
        archive["admin"].delete(f"/api/v1/dossiers/{PERMANENT_CODE}/holds/999"),
        404,
        "HOLD_NOT_FOUND",
    )
    listed = archive["auditor"].get(f"/api/v1/dossiers/{PERMANENT_CODE}/holds").json()
    assert [(h["id"], h["active"]) for h in listed] == [(hold["id"], False), (second["id"], False)]
    for who in ("depositor", "auditor"):
        refused = archive[who].post(
            f"/api/v1/dossiers/{PERMANENT_CODE}/holds", json={"reason": "x"}
        )
        _error(refused, 403, "FORBIDDEN")
    missing = archive["archivist"].post("/api/v1/dossiers/NO-SUCH/holds", json={"reason": "x"})
    _error(missing, 404, "DOSSIER_NOT_FOUND")
    _error(
        archive["archivist"].post(f"/api/v1/dossiers/{PERMANENT_CODE}/holds", json={"reason": ""}),
        422,
        "REQUEST_INVALID",
    )
    # with no hold left, the governance lock alone yields to the bypass (it was the hold)
    store.delete(key, version_id=version, bypass_governance=True)


def test_an_expired_dossier_is_destroyed_only_through_the_workflow(archive: Archive) -> None:
    running, store = archive.running, archive.store
    database = running.database
    settings = running.settings
    assert mark_due(database, date.today()) == [EXPIRED_CODE]
    due = archive["auditor"].get("/api/v1/retention/due").json()
    assert [(d["dossier_code"], d["disposal_date"]) for d in due] == [(EXPIRED_CODE, "2020-12-31")]
    dossier_view = archive["archivist"].get(f"/api/v1/dossiers/{EXPIRED_CODE}").json()
    assert dossier_view["retention"]["review_status"] == "under_review"
    versions = stored_versions(database, EXPIRED_CODE)
    with database.read_session() as session:
        object_id = session.scalar(
            select(Dossier.aip_object_id).where(Dossier.dossier_code == EXPIRED_CODE)
        )
    assert object_id is not None
    prefix = running.app.state.repository.object_root(object_id) + "/"
    assert run_checkpoint(settings, database, store) is not None  # the trail so far is signed

    # a held dossier can be neither proposed nor deleted from storage
    hold = (
        archive["archivist"]
        .post(f"/api/v1/dossiers/{EXPIRED_CODE}/holds", json={"reason": "Khiếu nại"})
        .json()
    )
    key, version = next(item for item in versions if "/v1/content/" in item[0])
    with pytest.raises(ObjectLocked):
        store.delete(key, version_id=version, bypass_governance=True)
    replica = FilesystemStore(Path(settings.replica_storage_url.removeprefix("file://")))
    synced = sync_replica(database, store, replica)  # copied while held: no hold comes along
    assert synced.copied > 0 and not synced.failed
    assert replica.stat(key).sha256 and not replica.stat(key).legal_hold
    refusals = [
        (archive["archivist"], [EXPIRED_CODE], 409, "DOSSIER_HELD"),
        (archive["archivist"], [CURRENT_CODE], 409, "DOSSIER_NOT_DUE"),
        (archive["archivist"], [PERMANENT_CODE], 409, "DOSSIER_NOT_DUE"),
        (archive["archivist"], ["000.00.19.H56-000000-9999"], 404, "DOSSIER_NOT_FOUND"),
        (archive["auditor"], [EXPIRED_CODE], 403, "FORBIDDEN"),
    ]
    for client, codes, status, code in refusals:
        answer = client.post(
            "/api/v1/disposals", json={"dossier_codes": codes, "reason": "Hết hạn"}
        )
        _error(answer, status, code)
    assert archive.count(DisposalProposal) == 0
    archive["archivist"].delete(f"/api/v1/dossiers/{EXPIRED_CODE}/holds/{hold['id']}")
    # the hold and its release are in the AIP: two more versions, destroyed with the rest
    assert running.app.state.repository.head(object_id) == "v3"
    versions = stored_versions(database, EXPIRED_CODE)
    recorded = _recorded(archive, EXPIRED_CODE)

    # proposed by an admin, who cannot approve it; an archivist cannot approve at all
    proposed = archive["admin"].post(
        "/api/v1/disposals", json={"dossier_codes": [EXPIRED_CODE], "reason": "Hết thời hạn"}
    )
    assert proposed.status_code == 201, proposed.text
    disposal = proposed.json()
    url = f"/api/v1/disposals/{disposal['id']}"
    assert [(i["dossier_code"], i["status"]) for i in disposal["items"]] == [
        (EXPIRED_CODE, "proposed")
    ]
    again = archive["archivist"].post(
        "/api/v1/disposals", json={"dossier_codes": [EXPIRED_CODE], "reason": "Lần hai"}
    )
    _error(again, 409, "DOSSIER_ALREADY_PROPOSED")
    _error(archive["archivist"].post(f"{url}/execute"), 409, "DISPOSAL_NOT_APPROVED")
    _error(archive["admin"].post(f"{url}/approve", json=DECISION), 403, "PROPOSER_CANNOT_APPROVE")
    _error(archive["archivist"].post(f"{url}/approve", json=DECISION), 403, "FORBIDDEN")
    assert archive["auditor"].get(url).json()["status"] == "proposed"
    assert archive.count(Dossier, dossier_code=EXPIRED_CODE) == 1
    assert store.stat(key, version_id=version).version_id == version

    approved = archive["admin2"].post(f"{url}/approve", json=DECISION)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    _error(archive["admin2"].post(f"{url}/approve", json=DECISION), 409, "DISPOSAL_STATUS_CONFLICT")

    executed = archive["archivist"].post(f"{url}/execute")
    assert executed.status_code == 200, executed.text
    body = executed.json()
    assert body["status"] == "executed" and body["errors"] == []
    (item,) = body["items"]
    assert item["status"] == "destroyed" and item["destruction_record_id"] is not None

    # gone from storage (every version, the replica's copies too), the database and search
    assert list(store.list_versions(prefix)) == []
    assert list(replica.list_versions(prefix)) == []
    assert {info.key for info in replica.list()} == {k for k, _ in _all_recorded(archive)}
    assert archive.count(Dossier, dossier_code=EXPIRED_CODE) == 0
    assert archive.count(StoredObject) == len(stored_versions(database, CURRENT_CODE)) + len(
        stored_versions(database, PERMANENT_CODE)
    )
    with database.read_session() as session:
        remaining = session.scalar(select(func.count(Document.id)))
    assert remaining == 2  # one document each of the two other dossiers
    _error(archive["archivist"].get(f"/api/v1/dossiers/{EXPIRED_CODE}"), 404, "DOSSIER_NOT_FOUND")
    found = archive["archivist"].get("/api/v1/dossiers", params={"q": EXPIRED_CODE}).json()
    assert found["total"] == 0

    # only the destruction record is left, with the SHA-256 of every version destroyed
    (record,) = (
        archive["auditor"]
        .get("/api/v1/destruction-records", params={"dossier_code": EXPIRED_CODE})
        .json()
    )
    assert {(o["key"], o["sha256"]) for o in record["objects"]} == recorded
    assert record["object_count"] == len(versions)
    assert (record["decision_number"], record["signer"]) == ("15/QĐ-UBND", "Phạm Văn D")
    assert record["disposal_date"] == "2020-12-31" and record["retention_code"] == "06"
    assert record["destroyed_at"] is not None
    assert any(entry["won"] for entry in record["retention_basis"]["basis"])
    assert archive.count(DestructionRecord) == 1

    xml = archive["auditor"].get(f"{url}/certificate.xml")
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/xml")
    root = etree.fromstring(xml.content)
    (dossier,) = root.findall(f"{{{NAMESPACE}}}dossier")
    assert dossier.get("code") == EXPIRED_CODE
    assert root.find(f"{{{NAMESPACE}}}decision").get("number") == "15/QĐ-UBND"
    assert {o.get("sha256") for o in dossier.findall(f"{{{NAMESPACE}}}object")} == {
        sha for _, sha in recorded
    }

    # running the execution again changes nothing; the audit chain still verifies
    assert archive["archivist"].post(f"{url}/execute").json()["status"] == "executed"
    assert archive.count(DestructionRecord) == 1
    assert run_checkpoint(settings, database, store) is not None
    with database.read_session() as session:
        report = verify_database(session, archive_public_key(settings), store)
    assert report.ok, report.first_problem
    with database.read_session() as session:
        from archive_service.integrity.models import AuditEntry

        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.target_id == EXPIRED_CODE)
        ).all()
    assert "dossier.archived" in actions and "dossier.destroyed" in actions
