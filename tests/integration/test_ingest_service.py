"""The deposit service end to end without HTTP: register, process in the background, read back.

Real databases (SQLite and PostgreSQL), a real OCFL storage root on disk, real API keys and the
real in-process dispatcher (a thread pool).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Connection, event, select

from archive_service.config import Settings
from archive_service.db.base import utcnow
from archive_service.db.session import TRANSIENT, Database
from archive_service.dossiers.models import Document, Dossier, PremisEventRecord, StoredObject
from archive_service.ingest.dispatch import InProcessDispatcher
from archive_service.ingest.errors import (
    AgencyMismatch,
    DepositForbidden,
    DepositNotFound,
    DuplicateDossier,
    IdempotencyKeyReused,
)
from archive_service.ingest.figures import deposit_figures
from archive_service.ingest.lease import Lease, claim
from archive_service.ingest.models import Deposit, DepositStatus
from archive_service.ingest.pipeline import BUSY_DOSSIER_SECONDS
from archive_service.ingest.service import DepositService
from archive_service.ingest.staging import deposit_path
from archive_service.ingest.views import DepositReceipt
from archive_service.integrity.fixity import FixityEngine
from archive_service.integrity.fixity_targets import FixityScope
from archive_service.integrity.models import AuditEntry
from archive_service.packages.aip_reader import AipSummary, read_aip_object
from archive_service.packages.mets import VN_TZ
from archive_service.packages.problems import PackageInvalid
from archive_service.packages.sip_builder import build_sip
from archive_service.security.models import Role
from archive_service.security.service import Principal
from archive_service.storage.base import ObjectStore
from archive_service.storage.ocfl import OcflRepository
from tests import formats_fixtures as fx
from tests.factories import DOSSIER_CODE, FONDS_CODE, make_sip_zip, sample_deposit, sample_metadata
from tests.integration.deposit_setup import (
    AGENCY_ID,
    assert_stored_objects_match_storage,
    assert_valid_ocfl,
    catalogue_counts,
    faulty_repository,
    principal_for,
    stage,
    staging_entries,
    statuses_reached,
    storage_objects,
    wait_final,
)
from tests.integration.sip_mutations import EAD, SipEditor, data_path

OTHER_AGENCY = "000.00.19.H57"


def open_service(
    settings: Settings, database: Database, repository: OcflRepository
) -> DepositService:
    dispatcher = InProcessDispatcher(settings.workers)
    service = DepositService(settings, database, repository, dispatcher)
    dispatcher.start(service)
    return service


@pytest.fixture
def service(
    settings: Settings, database: Database, repository: OcflRepository
) -> Iterator[DepositService]:
    running = open_service(settings, database, repository)
    yield running
    running.dispatcher.close()


@pytest.fixture
def depositor(database: Database) -> Principal:
    return principal_for(database)


def sip_zip(directory: Path, **overrides: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return make_sip_zip(directory, **overrides)


@pytest.fixture
def sip(tmp_path: Path) -> Path:
    return sip_zip(tmp_path / "sips")


def deposit(service: DepositService, principal: Principal, sip: Path, **kwargs: str):
    return service.register_zip(principal, stage(service.settings, sip), **kwargs)


def audit_actions(database: Database, target_id: str) -> list[tuple[str, dict]]:
    with database.session() as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.target_id == target_id).order_by(AuditEntry.id)
        ).all()
    return [(row.action, row.detail) for row in rows]


def test_a_deposit_is_checked_packaged_stored_and_indexed(
    service: DepositService,
    depositor: Principal,
    sip: Path,
    database: Database,
    repository: OcflRepository,
) -> None:
    receipt = deposit(service, depositor, sip, remote_addr="10.0.0.7")
    assert receipt.created and receipt.status is DepositStatus.RECEIVED
    assert receipt.dossier_code == DOSSIER_CODE
    assert receipt.size == sip.stat().st_size

    view = wait_final(service, depositor, receipt.deposit_id)

    assert view.status is DepositStatus.ARCHIVED, (view.problems, view.failure_reason)
    assert (view.dossier_code, view.aip_version, view.attempts) == (DOSSIER_CODE, "v1", 1)
    assert view.finished_at is not None and view.failure_reason is None
    with database.session() as session:
        dossier = session.scalars(select(Dossier)).one()
        documents = session.scalars(select(Document).order_by(Document.ordinal)).all()
        events = session.scalars(select(PremisEventRecord)).all()
    object_id = dossier.aip_object_id
    assert (dossier.dossier_code, dossier.agency_id, dossier.aip_version) == (
        DOSSIER_CODE,
        AGENCY_ID,
        "v1",
    )
    assert dossier.file_code == "LTDT.000.00.19.H56.2024.240610-0001"
    assert dossier.applicant_id_number == "038090001234"
    state = repository.state(object_id)
    for document in documents:
        with repository.open(object_id, document.logical_path) as stream:
            data = stream.read()
        assert (len(data), state[document.logical_path].digest) == (document.size, document.sha256)
    assert [d.doc_id for d in documents] == ["240610-0001.1", "240610-0001.2", "240610-0001.3"]
    inventory = repository.inventory(object_id)
    assert inventory["head"] == "v1"
    assert inventory["versions"]["v1"]["message"] == f"deposit {receipt.deposit_id}"
    assert_stored_objects_match_storage(database, repository, object_id)
    assert_valid_ocfl(service.settings, objects=1)
    outcomes = sorted((e.event_type, e.outcome) for e in events)
    normalized = "success" if fx.fonts_get_embedded() else "failure"
    assert outcomes == sorted(
        [
            ("ingestion", "success"),
            ("fixity check", "success"),
            ("validation", "success"),
            ("virus check", "not performed"),
            ("format identification", "success"),
            *[("validation", "failure")] * 3,  # PDF/A: the sample PDFs are plain PDFs …
            *[("normalization", normalized)] * 3,  # … whose fonts are not embedded
            ("information package creation", "success"),
            ("policy assignment", "success"),  # the retention decision (recorded in the database)
        ]
    )
    stored_events = read_aip_object(repository, object_id).events
    virus = next(e for e in stored_events if e.event_type == "virus check")
    assert virus.outcome_detail == "no scanner configured"
    in_aip = {e.event_id for e in events if e.event_type != "policy assignment"}
    assert {e.identifier for e in stored_events} == in_aip
    assert staging_entries(service.settings) == []
    actions = audit_actions(database, receipt.deposit_id)
    assert actions[0][0] == "deposit.received"
    assert [detail["to"] for action, detail in actions[1:]] == [
        "checking",
        "packaging",
        "storing",
        "archived",
    ]
    assert audit_actions(database, DOSSIER_CODE)[0][0] == "dossier.archived"


def test_repeated_deposits_return_the_original_by_key_and_by_checksum(
    service: DepositService, depositor: Principal, sip: Path, database: Database
) -> None:
    first = deposit(service, depositor, sip, idempotency_key="req-1")
    again_by_key = deposit(service, depositor, sip, idempotency_key="req-1")
    again_by_checksum = deposit(service, depositor, sip, idempotency_key="req-2")
    again_without_key = deposit(service, depositor, sip)
    assert first.created
    for repeat in (again_by_key, again_by_checksum, again_without_key):
        assert (repeat.deposit_id, repeat.created, repeat.sha256) == (
            first.deposit_id,
            False,
            first.sha256,
        )
    assert wait_final(service, depositor, first.deposit_id).status is DepositStatus.ARCHIVED
    after = deposit(service, depositor, sip, idempotency_key="req-1")
    assert (after.deposit_id, after.created, after.status) == (
        first.deposit_id,
        False,
        DepositStatus.ARCHIVED,
    )
    counts = catalogue_counts(database)
    assert (counts["deposits"], counts["dossiers"]) == (1, 1)
    assert staging_entries(service.settings) == []


def test_the_same_key_for_another_sip_is_refused(
    service: DepositService, depositor: Principal, sip: Path, tmp_path: Path, database: Database
) -> None:
    first = deposit(service, depositor, sip, idempotency_key="req-1")
    other = sip_zip(tmp_path / "other", documents=2)
    with pytest.raises(IdempotencyKeyReused) as refused:
        deposit(service, depositor, other, idempotency_key="req-1")
    assert refused.value.deposit_id == first.deposit_id
    wait_final(service, depositor, first.deposit_id)
    assert catalogue_counts(database)["deposits"] == 1
    assert staging_entries(service.settings) == []


def test_the_same_sip_sent_twice_at_once_makes_one_deposit_and_one_dossier(
    service: DepositService, depositor: Principal, sip: Path, database: Database
) -> None:
    staged = [stage(service.settings, sip) for _ in range(2)]
    barrier = threading.Barrier(2)
    receipts = []

    def send(index: int) -> None:
        barrier.wait()
        receipts.append(service.register_zip(depositor, staged[index]))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({r.deposit_id for r in receipts}) == 1
    assert sorted(r.created for r in receipts) == [False, True]
    assert wait_final(service, depositor, receipts[0].deposit_id).status is DepositStatus.ARCHIVED
    counts = catalogue_counts(database)
    assert (counts["deposits"], counts["dossiers"]) == (1, 1)
    assert_valid_ocfl(service.settings, objects=1)
    assert staging_entries(service.settings) == []


@pytest.mark.parametrize("same_sip", [True, False], ids=["same SIP", "another SIP"])
def test_one_idempotency_key_sent_twice_at_once_makes_one_deposit(
    service: DepositService,
    depositor: Principal,
    sip: Path,
    tmp_path: Path,
    database: Database,
    same_sip: bool,
) -> None:
    other = sip if same_sip else sip_zip(tmp_path / "other", documents=2)
    staged = [stage(service.settings, path) for path in (sip, other)]
    barrier = threading.Barrier(2)
    receipts: list[DepositReceipt] = []
    refusals: list[IdempotencyKeyReused] = []

    def send(index: int) -> None:
        barrier.wait()
        try:
            receipts.append(service.register_zip(depositor, staged[index], idempotency_key="k-1"))
        except IdempotencyKeyReused as refused:
            refusals.append(refused)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    (first,) = [receipt for receipt in receipts if receipt.created]
    if same_sip:  # the second is answered with the first
        assert [r.deposit_id for r in receipts] == [first.deposit_id] * 2 and not refusals
    else:  # the second is refused, naming the deposit that holds the key
        assert len(receipts) == 1 and [r.deposit_id for r in refusals] == [first.deposit_id]
    assert wait_final(service, depositor, first.deposit_id).status is DepositStatus.ARCHIVED
    assert catalogue_counts(database)["deposits"] == 1
    assert staging_entries(service.settings) == []


def test_an_invalid_sip_is_rejected_with_every_problem_and_leaves_nothing(
    service: DepositService, depositor: Principal, sip: Path, tmp_path: Path, database: Database
) -> None:
    editor = SipEditor(sip.read_bytes())
    editor.set(data_path("240610-0001.2"), b"%PDF-1.4 not what was declared", refresh=False)
    editor.set_field(EAD, "maintenance", "99")
    broken = editor.write(tmp_path / "broken" / sip.name)

    receipt = deposit(service, depositor, broken)
    view = wait_final(service, depositor, receipt.deposit_id)

    assert view.status is DepositStatus.REJECTED
    codes = {(p["code"], p["path"]) for p in view.problems if p["severity"] == "error"}
    assert ("SIP_SIZE_MISMATCH", data_path("240610-0001.2")) in codes
    assert ("FIELD_BAD_CODE", EAD) in codes
    assert all(p["message"] for p in view.problems)
    counts = catalogue_counts(database)
    assert (counts["dossiers"], counts["stored_objects"], counts["premis_events"]) == (0, 0, 0)
    assert storage_objects(service.settings) == []
    assert staging_entries(service.settings) == []


def test_a_sip_of_another_agency_is_refused_before_anything_is_kept(
    service: DepositService, depositor: Principal, tmp_path: Path, database: Database
) -> None:
    foreign = sip_zip(tmp_path / "sips", dossier_code=f"{OTHER_AGENCY}-240610-0001")
    with pytest.raises(AgencyMismatch) as refused:
        deposit(service, depositor, foreign)
    assert refused.value.sip_agency == OTHER_AGENCY
    assert catalogue_counts(database)["deposits"] == 0
    assert staging_entries(service.settings) == []


def test_an_admin_deposits_for_the_agency_the_sip_names(
    service: DepositService, sip: Path, database: Database
) -> None:
    admin = principal_for(database, Role.ADMIN, None)
    receipt = deposit(service, admin, sip)
    assert wait_final(service, admin, receipt.deposit_id).agency_id == AGENCY_ID


def test_roles_that_may_not_deposit_are_refused(
    service: DepositService, sip: Path, database: Database
) -> None:
    archivist = principal_for(database, Role.ARCHIVIST, None)
    with pytest.raises(DepositForbidden):
        deposit(service, archivist, sip)
    assert staging_entries(service.settings) == []


def test_a_depositor_sees_only_deposits_of_its_own_agency(
    service: DepositService, depositor: Principal, sip: Path, database: Database
) -> None:
    receipt = deposit(service, depositor, sip)
    wait_final(service, depositor, receipt.deposit_id)
    stranger = principal_for(database, Role.DEPOSITOR, OTHER_AGENCY)
    with pytest.raises(DepositNotFound):
        service.get(stranger, receipt.deposit_id)
    archivist = principal_for(database, Role.ARCHIVIST, None)
    assert service.get(archivist, receipt.deposit_id).status is DepositStatus.ARCHIVED
    with pytest.raises(DepositNotFound):
        service.get(archivist, "00000000-0000-4000-8000-000000000000")


def supplement_zip(directory: Path, record_status: str, documents: int) -> Path:
    """A SIP of the factory dossier with another package id, ``documents`` documents."""
    plain, files = sample_deposit(documents=documents)
    target = directory / f"{record_status}.zip"
    directory.mkdir(parents=True, exist_ok=True)
    build_sip(
        plain,
        files,
        target,
        object_uuid=UUID(int=documents),
        created=datetime(2024, 7, 1, 9, 0, tzinfo=VN_TZ),
        fonds_code=FONDS_CODE,
        record_status=record_status,
    )
    return target


def archived_as_v2(
    service: DepositService, depositor: Principal, database: Database, sip: Path, documents: int
) -> tuple[DepositReceipt, Dossier]:
    """Deposit ``sip`` as a new version of the archived dossier; it ends ``archived`` as v2 with
    ``documents`` documents in the catalogue."""
    receipt = deposit(service, depositor, sip)
    view = wait_final(service, depositor, receipt.deposit_id)
    assert (view.status, view.aip_version) == (DepositStatus.ARCHIVED, "v2")
    with database.session() as session:
        dossier = session.scalars(select(Dossier)).one()
        stored_documents = session.scalars(select(Document)).all()
        session.expunge(dossier)
    assert (dossier.aip_version, len(stored_documents), dossier.total_doc) == (
        "v2",
        documents,
        documents,
    )
    return receipt, dossier


def test_an_archived_dossier_code_is_refused_unless_supplement_which_adds_a_version(
    service: DepositService,
    depositor: Principal,
    sip: Path,
    tmp_path: Path,
    database: Database,
    repository: OcflRepository,
) -> None:
    first = deposit(service, depositor, sip)
    assert wait_final(service, depositor, first.deposit_id).status is DepositStatus.ARCHIVED
    checked = FixityEngine(database, repository).run(
        FixityScope.dossier(DOSSIER_CODE), requested_by="auditor"
    )
    with database.session() as session:
        (fixity_event,) = session.scalars(
            select(PremisEventRecord.event_id).where(
                PremisEventRecord.event_type == "fixity check",
                PremisEventRecord.deposit_id.is_(None),
            )
        )
    assert checked.status.value == "passed"
    with pytest.raises(DuplicateDossier) as refused:
        deposit(service, depositor, supplement_zip(tmp_path / "new", "NEW", documents=4))
    assert refused.value.dossier_code == DOSSIER_CODE
    assert staging_entries(service.settings) == []

    sip_v2 = supplement_zip(tmp_path / "sup", "SUPPLEMENT", 4)
    second, dossier = archived_as_v2(service, depositor, database, sip_v2, documents=4)
    with database.session() as session:
        stored_versions = set(session.scalars(select(StoredObject.aip_version)))
    inventory = repository.inventory(dossier.aip_object_id)
    assert sorted(inventory["versions"]) == ["v1", "v2"]
    assert inventory["versions"]["v2"]["message"] == f"deposit {second.deposit_id}"
    assert stored_versions == {"v1", "v2"}
    assert_stored_objects_match_storage(database, repository, dossier.aip_object_id)
    assert_valid_ocfl(service.settings, objects=1)
    # v2's PREMIS carries the dossier's whole history: every event and agent of v1, then its own
    v1 = read_aip_object(repository, dossier.aip_object_id, "v1")
    v2 = read_aip_object(repository, dossier.aip_object_id)
    v1_events = [event.identifier for event in v1.events]
    v2_events = [event.identifier for event in v2.events]
    assert v2_events[: len(v1_events)] == v1_events
    with database.session() as session:
        recorded_for_second = set(
            session.scalars(
                select(PremisEventRecord.event_id).where(
                    PremisEventRecord.deposit_id == second.deposit_id
                )
            )
        )
    assert recorded_for_second and recorded_for_second <= set(v2_events[len(v1_events) :])
    assert {agent.identifier for agent in v1.agents} <= {agent.identifier for agent in v2.agents}
    assert len(set(v2_events)) == len(v2_events)
    assert fixity_event not in v1_events and fixity_event in v2_events  # checked in between


def test_a_replacement_makes_a_version_holding_only_what_it_carries(
    service: DepositService,
    depositor: Principal,
    tmp_path: Path,
    database: Database,
    repository: OcflRepository,
) -> None:
    first = deposit(service, depositor, supplement_zip(tmp_path / "v1", "NEW", documents=3))
    assert wait_final(service, depositor, first.deposit_id).status is DepositStatus.ARCHIVED
    sip_v2 = supplement_zip(tmp_path / "v2", "REPLACEMENT", 2)
    _, dossier = archived_as_v2(service, depositor, database, sip_v2, documents=2)
    v1 = read_aip_object(repository, dossier.aip_object_id, "v1")
    v2 = read_aip_object(repository, dossier.aip_object_id)
    assert v2.record_status == "REPLACEMENT"

    def data_files(summary: AipSummary) -> set[str]:
        return {
            file.path
            for representation in summary.representations
            if representation.name == "rep1"
            for file in representation.files
            if "/data/" in file.path
        }

    dropped = data_files(v1) - data_files(v2)
    assert len(data_files(v1)) == 3 and len(data_files(v2)) == 2 and len(dropped) == 1
    head_state = repository.inventory(dossier.aip_object_id)["versions"]["v2"]["state"]
    head_paths = {path for paths in head_state.values() for path in paths}
    assert data_files(v2) <= head_paths
    for path in dropped:  # gone from the head, still readable in the version that had it
        assert path not in head_paths
        with repository.open(dossier.aip_object_id, path, version="v1") as stream:
            assert stream.read(5) == b"%PDF-"
    assert [e.identifier for e in v2.events][: len(v1.events)] == [e.identifier for e in v1.events]
    assert_stored_objects_match_storage(database, repository, dossier.aip_object_id)
    assert_valid_ocfl(service.settings, objects=1)


def test_two_new_deposits_of_one_dossier_code_archive_it_once(
    service: DepositService, depositor: Principal, tmp_path: Path, database: Database
) -> None:
    sips = [supplement_zip(tmp_path / f"new{n}", "NEW", documents=n) for n in (2, 3)]
    receipts = [deposit(service, depositor, path) for path in sips]
    views = [wait_final(service, depositor, r.deposit_id) for r in receipts]

    assert sorted(v.status.value for v in views) == ["archived", "rejected"]
    rejected = next(v for v in views if v.status is DepositStatus.REJECTED)
    assert [p["code"] for p in rejected.problems if p["severity"] == "error"] == [
        "DUPLICATE_DOSSIER"
    ]
    assert catalogue_counts(database)["dossiers"] == 1
    assert_valid_ocfl(service.settings, objects=1)
    assert staging_entries(service.settings) == []


def test_a_plain_deposit_is_packaged_and_archived(
    service: DepositService, depositor: Principal, database: Database
) -> None:
    plain, files = sample_deposit(documents=2)
    metadata = plain.to_json().encode("utf-8")
    receipt = service.register_plain(depositor, metadata, files, idempotency_key="plain-1")
    again = service.register_plain(depositor, metadata, files, idempotency_key="plain-1")
    assert again.deposit_id == receipt.deposit_id and not again.created
    view = wait_final(service, depositor, receipt.deposit_id)
    assert (view.status, view.kind) == (DepositStatus.ARCHIVED, "plain")
    assert catalogue_counts(database)["documents"] == 2


def test_a_plain_deposit_with_bad_metadata_is_refused_with_every_problem(
    service: DepositService, depositor: Principal, database: Database
) -> None:
    metadata = sample_metadata(dossier={"maintenance": "99", "title": None})
    with pytest.raises(PackageInvalid) as refused:
        service.register_plain(depositor, repr(metadata).encode(), {})
    assert refused.value.problems
    assert catalogue_counts(database)["deposits"] == 0
    assert staging_entries(service.settings) == []


def test_a_transient_storage_failure_is_retried_and_archived_once(
    settings: Settings, database: Database, depositor: Principal, sip: Path
) -> None:
    repository, store = faulty_repository(settings, failures=1)
    service = open_service(settings, database, repository)
    try:
        receipt = deposit(service, depositor, sip)
        view = wait_final(service, depositor, receipt.deposit_id)
    finally:
        service.dispatcher.close()

    assert store.refused == 1
    assert (view.status, view.attempts, view.failure_reason) == (DepositStatus.ARCHIVED, 2, None)
    assert view.aip_version == "v1"
    assert_valid_ocfl(settings, objects=1)
    assert catalogue_counts(database)["dossiers"] == 1
    statuses = [d["to"] for a, d in audit_actions(database, receipt.deposit_id)[1:]]
    assert statuses == [
        "checking",
        "packaging",
        "storing",
        "received",
        "checking",
        "packaging",
        "storing",
        "archived",
    ]


def test_a_lasting_storage_failure_fails_the_deposit_and_leaves_nothing_visible(
    settings: Settings, database: Database, depositor: Principal, sip: Path
) -> None:
    repository, store = faulty_repository(settings, failures=10_000)
    service = open_service(settings, database, repository)
    try:
        receipt = deposit(service, depositor, sip)
        view = wait_final(service, depositor, receipt.deposit_id)
    finally:
        service.dispatcher.close()

    assert (view.status, view.attempts) == (DepositStatus.FAILED, settings.max_attempts)
    assert view.failure_reason is not None and "storage unreachable" in view.failure_reason
    retries = [
        d["retry_in"] for _, d in audit_actions(database, receipt.deposit_id) if "retry_in" in d
    ]
    first = settings.retry_delay_seconds  # each retry waits twice as long as the one before
    assert retries == [first * 2**n for n in range(settings.max_attempts - 1)]
    counts = catalogue_counts(database)
    assert (counts["dossiers"], counts["stored_objects"], counts["premis_events"]) == (0, 0, 0)
    assert storage_objects(settings) == []
    assert staging_entries(settings) == []

    store.failures = 0  # storage is back: sending the same SIP again starts the deposit again
    service = open_service(settings, database, repository)
    try:
        again = deposit(service, depositor, sip)
        view = wait_final(service, depositor, again.deposit_id)
    finally:
        service.dispatcher.close()
    assert (again.deposit_id, again.created) == (receipt.deposit_id, False)
    assert (view.status, view.attempts) == (DepositStatus.ARCHIVED, 1)
    assert_valid_ocfl(settings, objects=1)


def idle_service(
    settings: Settings, database: Database, repository: OcflRepository
) -> DepositService:
    """A service whose dispatcher is not started: deposits run only when the test says so."""
    return DepositService(settings, database, repository, InProcessDispatcher(settings.workers))


def process_until_done(service: DepositService, deposit_id: str) -> None:
    while (delay := service.process(deposit_id)) is not None:
        time.sleep(delay)


def test_a_deposit_held_by_another_worker_is_left_alone(
    settings: Settings,
    database: Database,
    repository: OcflRepository,
    depositor: Principal,
    sip: Path,
) -> None:
    service = idle_service(settings, database, repository)
    receipt = deposit(service, depositor, sip)
    other_worker = claim(database, receipt.deposit_id, seconds=3600)
    assert isinstance(other_worker, Deposit)

    wait = service.process(receipt.deposit_id)

    assert wait is not None and wait > 3500
    view = service.get(depositor, receipt.deposit_id)
    assert (view.status, view.attempts) == (DepositStatus.RECEIVED, 1)
    assert staging_entries(settings) == [f"{receipt.deposit_id}.zip"]


@pytest.mark.parametrize("code_at_registration", [True, False], ids=["glanced", "not-glanced"])
def test_a_deposit_waits_while_another_deposit_writes_the_same_dossier(
    settings: Settings,
    database: Database,
    repository: OcflRepository,
    depositor: Principal,
    sip: Path,
    code_at_registration: bool,
) -> None:
    service = idle_service(settings, database, repository)
    receipt = deposit(service, depositor, sip)
    if not code_at_registration:  # as when the quick look at registration cannot read it
        with database.session() as session:
            session.get_one(Deposit, receipt.deposit_id).dossier_code = None
    writer_id = _another_deposit_writing_the_dossier(database)

    delay = service.process(receipt.deposit_id)

    assert delay == BUSY_DOSSIER_SECONDS
    view = service.get(depositor, receipt.deposit_id)
    assert (view.status, view.attempts, view.waiting_for) == (DepositStatus.RECEIVED, 0, "dossier")
    assert storage_objects(settings) == []
    assert statuses_reached(database, receipt.deposit_id) == ["checking", "received"]

    # While the dossier stays busy, a look neither reads the SIP again (it is not even where
    # the check would open it) nor writes a status change to the audit trail.
    staged = deposit_path(settings.staging_dir, receipt.deposit_id)
    hidden = staged.rename(staged.with_name("hidden"))
    for _ in range(3):
        _due_now(database, receipt.deposit_id)
        assert service.process(receipt.deposit_id) == BUSY_DOSSIER_SECONDS
    view = service.get(depositor, receipt.deposit_id)
    assert (view.status, view.attempts, view.waiting_for) == (DepositStatus.RECEIVED, 0, "dossier")
    assert statuses_reached(database, receipt.deposit_id) == ["checking", "received"]
    hidden.rename(staged)

    _writer_ends(database, writer_id)
    _due_now(database, receipt.deposit_id)
    process_until_done(service, receipt.deposit_id)

    view = service.get(depositor, receipt.deposit_id)
    assert (view.status, view.attempts, view.waiting_for) == (DepositStatus.ARCHIVED, 1, None)
    assert statuses_reached(database, receipt.deposit_id) == [
        "checking",
        "received",
        "checking",
        "packaging",
        "storing",
        "archived",
    ]
    assert_valid_ocfl(settings, objects=1)


def test_a_deposit_whose_wait_ends_in_a_failed_attempt_no_longer_counts_as_waiting(
    settings: Settings,
    database: Database,
    repository: OcflRepository,
    depositor: Principal,
    sip: Path,
    tmp_path: Path,
) -> None:
    service = idle_service(settings, database, repository)
    receipt = deposit(service, depositor, sip)
    writer_id = _another_deposit_writing_the_dossier(database)
    assert service.process(receipt.deposit_id) == BUSY_DOSSIER_SECONDS
    _writer_ends(database, writer_id)
    _due_now(database, receipt.deposit_id)
    (empty := tmp_path / "no-signatures").mkdir()
    scanner_down = settings.model_copy(
        update={"virus_scanner": "clamscan", "clamav_database_dir": empty}
    )

    # The dossier is free; the check fails (the virus scanner cannot scan): a retry, not a wait.
    delay = idle_service(scanner_down, database, repository).process(receipt.deposit_id)

    assert delay == settings.retry_delay_seconds
    view = service.get(depositor, receipt.deposit_id)
    assert (view.status, view.waiting_for, view.waiting_since) == (
        DepositStatus.RECEIVED,
        None,
        None,
    )
    assert view.failure_reason is not None and "VIRUS_SCAN_FAILED" in view.failure_reason
    with database.read_session() as session:
        figures = deposit_figures(session)
    assert (figures.waiting, figures.retrying) == ({}, 1)

    _due_now(database, receipt.deposit_id)
    process_until_done(service, receipt.deposit_id)
    view = service.get(depositor, receipt.deposit_id)
    assert (view.status, view.attempts, view.waiting_for) == (DepositStatus.ARCHIVED, 2, None)
    assert_valid_ocfl(settings, objects=1)


def _another_deposit_writing_the_dossier(database: Database) -> str:
    """Add a deposit of the same dossier that holds its writer slot (``storing``); its id."""
    writer = Deposit(
        id=str(uuid4()),
        agency_id=AGENCY_ID,
        sip_sha256="0" * 64,
        sip_size=1,
        status=DepositStatus.STORING,
        dossier_code=DOSSIER_CODE,
        lease_until=utcnow() + timedelta(hours=1),
    )
    with database.session() as session:
        session.add(writer)
    return writer.id


def _writer_ends(database: Database, writer_id: str) -> None:
    """The other deposit stops writing the dossier (it failed)."""
    with database.session() as session:
        session.get_one(Deposit, writer_id).status = DepositStatus.FAILED


def _due_now(database: Database, deposit_id: str) -> None:
    """Make a postponed deposit due at once (instead of sleeping out its pause)."""
    with database.session() as session:
        session.get_one(Deposit, deposit_id).next_attempt_at = None


def test_a_deposit_on_s3_storage_records_every_object_version(
    settings: Settings,
    database: Database,
    depositor: Principal,
    sip: Path,
    s3_store: ObjectStore,
    s3_repository: OcflRepository,
) -> None:
    repository = s3_repository
    service = open_service(settings, database, repository)
    try:
        receipt = deposit(service, depositor, sip)
        view = wait_final(service, depositor, receipt.deposit_id)
    finally:
        service.dispatcher.close()

    assert view.status is DepositStatus.ARCHIVED, view.failure_reason
    with database.session() as session:
        object_id = session.scalars(select(Dossier.aip_object_id)).one()
        version_ids = set(session.scalars(select(StoredObject.version_id)))
    assert_stored_objects_match_storage(database, repository, object_id)
    if s3_store.capabilities.versioning:
        assert "" not in version_ids


def test_the_worker_command_needs_a_broker(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")}
    environment["ARCHIVE_DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "archive_service.ingest.cli"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "ARCHIVE_BROKER_URL" in done.stderr


def test_only_the_lease_is_written_without_a_flush_of_its_own(
    service: DepositService, depositor: Principal, sip: Path, database: Database
) -> None:
    """The transient transactions of a deposit (``Database.transient_session``) only renew its
    lease: never a status change, never an audit entry (a checkpoint may sign audit entries at
    once), never a catalogue row. The claim moves the deposit to ``checking``: flushed."""
    transactions: dict[int, tuple[bool, list[str]]] = {}
    ended: list[tuple[bool, list[str]]] = []

    def began(connection: Connection) -> None:
        transactions[id(connection)] = (
            bool(connection.get_execution_options().get(TRANSIENT)),
            [],
        )

    def executed(connection: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if id(connection) in transactions:
            transactions[id(connection)][1].append(statement)

    def committed(connection: Connection) -> None:
        if id(connection) in transactions:
            ended.append(transactions.pop(id(connection)))

    listeners = [("begin", began), ("before_cursor_execute", executed), ("commit", committed)]
    for name, listener in listeners:
        event.listen(database.engine, name, listener)
    try:
        receipt = deposit(service, depositor, sip)
        view = wait_final(service, depositor, receipt.deposit_id)
        with database.session() as session:  # a lease held long enough to be renewed
            until = utcnow() + timedelta(seconds=0.6)
            session.get(Deposit, receipt.deposit_id).lease_until = until
        lease = Lease(database, receipt.deposit_id, until, seconds=0.6)
        time.sleep(0.5)
        lease.release()
    finally:
        for name, listener in listeners:
            event.remove(database.engine, name, listener)
    assert view.status is DepositStatus.ARCHIVED
    assert lease.until > until  # renewed
    claimed = next(statements for _, statements in ended if _takes_lease(statements))
    assert any("INSERT INTO audit_entries" in s for s in claimed)  # received → checking
    transient = [statements for flag, statements in ended if flag]
    assert transient, "the lease was not renewed in a transient transaction"
    for statements in transient:
        skipped = ("SELECT", "PRAGMA", "BEGIN")
        writes = [s for s in statements if not s.lstrip().upper().startswith(skipped)]
        assert writes and all(s.lstrip().startswith("UPDATE deposits SET") for s in writes)
        assert not any(re.search(r"\bstatus\b", s.split("WHERE")[0]) for s in writes), writes
    assert any("INSERT INTO audit_entries" in s for _, statements in ended for s in statements)


def _takes_lease(statements: list[str]) -> bool:
    return any(s.startswith("UPDATE deposits SET") and "lease_until" in s for s in statements)


def test_a_worker_that_loses_the_lease_looks_again_later(
    service: DepositService,
    depositor: Principal,
    sip: Path,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An attempt that finds its lease taken (another worker, or renewals that failed) stops
    without writing, and asks to run again once a lease has run out instead of dropping the
    deposit: nothing else would bring it back before a worker restarts."""
    service.dispatcher.close()  # this test runs the task body itself
    receipt = deposit(service, depositor, sip)
    monkeypatch.setattr(Lease, "owns", lambda self, deposit: False)
    assert service.process(receipt.deposit_id) == service.settings.lease_seconds
    with database.session() as session:  # the claim moved it; nothing after it was written
        assert session.get(Deposit, receipt.deposit_id).status == DepositStatus.CHECKING
    monkeypatch.undo()
    with database.session() as session:  # the lease runs out
        session.get(Deposit, receipt.deposit_id).lease_until = utcnow()
    assert service.process(receipt.deposit_id) is None
    with database.session() as session:
        assert session.get(Deposit, receipt.deposit_id).status == DepositStatus.ARCHIVED
