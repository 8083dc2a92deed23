"""The audit chain on SQLite and PostgreSQL: rows edited, deleted, reordered or forged directly in
the database are named by verification; checkpoints are signed, stored and checked."""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from archive_service.config import Settings
from archive_service.db.migrate import upgrade
from archive_service.db.models import AuditCheckpoint, AuditEntry
from archive_service.db.session import Database
from archive_service.integrity.audit import record_audit
from archive_service.integrity.audit_log import audit_metrics, checkpoint_from_row
from archive_service.integrity.audit_verify import verify_database
from archive_service.integrity.chain import (
    EntryContent,
    ProblemKind,
    VerificationReport,
    signature_is_valid,
    timestamp_digest,
)
from archive_service.integrity.checkpoints import (
    AuditChainBroken,
    CheckpointSigner,
    create_checkpoint,
    read_checkpoint_document,
    run_checkpoint,
)
from archive_service.integrity.timestamping import token_matches
from archive_service.storage.base import ObjectLocked, ObjectStore
from archive_service.storage.filesystem import FilesystemStore
from tests.audit_support import (
    ENTRY_COLUMNS,
    execute,
    fill_trail,
    local_tsa,
    rewrite_from,
    row,
    signer_in,
)
from tests.integration.api_client import in_process_archive


@pytest.fixture
def signer(tmp_path: Path) -> CheckpointSigner:
    return signer_in(tmp_path)


def verified(
    database: Database, signer: CheckpointSigner, store: ObjectStore | None = None
) -> VerificationReport:
    with database.read_session() as session:
        return verify_database(session, signer.private_key.public_key(), store)


def first_broken(
    database: Database, signer: CheckpointSigner, store: ObjectStore | None = None
) -> tuple[int | None, ProblemKind]:
    problem = verified(database, signer, store).first_problem
    assert problem is not None, "the tampering went unnoticed"
    return problem.seq, problem.kind


# --- the chain ------------------------------------------------------------------------------------


def test_an_untouched_chain_verifies(database: Database, signer: CheckpointSigner) -> None:
    fill_trail(database, 6)
    report = verified(database, signer)
    assert report.ok, report.problems
    assert (report.entries, report.head_seq) == (6, 6)
    assert report.head_hash == row(database, 6)["entry_hash"]
    assert row(database, 1)["prev_hash"] == "0" * 64
    assert row(database, 2)["prev_hash"] == row(database, 1)["entry_hash"]


def test_a_detail_edited_in_sql_is_named(database: Database, signer: CheckpointSigner) -> None:
    fill_trail(database, 6)
    execute(database, "UPDATE audit_entries SET detail = '{\"số\": 999}' WHERE seq = 3")
    assert first_broken(database, signer) == (3, ProblemKind.CONTENT_HASH_MISMATCH)


def test_a_deleted_row_is_named(database: Database, signer: CheckpointSigner) -> None:
    fill_trail(database, 6)
    execute(database, "DELETE FROM audit_entries WHERE seq = 4")
    assert first_broken(database, signer) == (4, ProblemKind.SEQ_GAP)


def test_two_rows_with_swapped_contents_are_named(
    database: Database, signer: CheckpointSigner
) -> None:
    fill_trail(database, 6)
    second, fifth = row(database, 2), row(database, 5)
    columns = (*ENTRY_COLUMNS, "detail")
    assignments = ", ".join(f"{column} = :{column}" for column in columns)
    for seq, other in ((2, fifth), (5, second)):
        values = {column: other[column] for column in columns}
        values["detail"] = _json_text(values["detail"])
        execute(
            database, f"UPDATE audit_entries SET {assignments} WHERE seq = :seq", seq=seq, **values
        )
    assert first_broken(database, signer) == (2, ProblemKind.CONTENT_HASH_MISMATCH)


def test_two_whole_rows_with_swapped_numbers_are_named(
    database: Database, signer: CheckpointSigner
) -> None:
    fill_trail(database, 6)
    execute(database, "UPDATE audit_entries SET seq = -1 WHERE seq = 2")
    execute(database, "UPDATE audit_entries SET seq = 2 WHERE seq = 5")
    execute(database, "UPDATE audit_entries SET seq = 5 WHERE seq = -1")
    assert first_broken(database, signer) == (2, ProblemKind.PREV_HASH_MISMATCH)


def test_a_forged_row_with_a_recomputed_hash_but_a_wrong_link_is_named(
    database: Database, signer: CheckpointSigner
) -> None:
    fill_trail(database, 6)
    forged = EntryContent(
        seq=4,
        at=_entry_at(database, 4),
        actor="key:1",
        role="admin",
        action="disposal.approved",
        target_type="dossier",
        target_id="000.00.12.H12-240610-0004",
        remote_addr=None,
        detail={"forged": True},
        prev_hash=row(database, 2)["entry_hash"],
    )
    execute(database, "DELETE FROM audit_entries WHERE seq = 4")
    with database.session() as session:
        session.add(
            AuditEntry(
                seq=4,
                at=forged.at,
                actor=forged.actor,
                role=forged.role,
                action=forged.action,
                target_type=forged.target_type,
                target_id=forged.target_id,
                remote_addr=None,
                detail=dict(forged.detail),
                prev_hash=forged.prev_hash,
                entry_hash=forged.digest(),
            )
        )
    assert first_broken(database, signer) == (4, ProblemKind.PREV_HASH_MISMATCH)


def test_concurrent_appends_on_postgresql_never_share_a_number(
    postgres_url: str, signer: CheckpointSigner
) -> None:
    upgrade(postgres_url)
    database = Database(postgres_url)
    threads, per_thread = 8, 12
    start = threading.Barrier(threads)
    failures: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            start.wait()
            for number in range(per_thread):
                with database.session() as session:
                    record_audit(session, actor=f"key:{worker}", action="document.read")
                    record_audit(
                        session, actor=f"key:{worker}", action="aip.read", detail={"n": number}
                    )
        except BaseException as exc:  # reported to the test below
            failures.append(exc)

    try:
        workers = [threading.Thread(target=append, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert failures == []
        with database.session() as session:
            numbers = list(session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))
        assert numbers == list(range(1, threads * per_thread * 2 + 1))
        report = verified(database, signer)
        assert report.ok, report.problems
    finally:
        database.dispose()


# --- checkpoints ----------------------------------------------------------------------------------


def test_a_checkpoint_signs_the_entries_and_is_stored_beside_them(
    database: Database, signer: CheckpointSigner, fs_store: FilesystemStore
) -> None:
    fill_trail(database, 5)
    made = create_checkpoint(database, fs_store, signer)
    assert made is not None
    assert (made.statement.first_seq, made.statement.last_seq) == (1, 5)
    assert made.statement.head_hash == row(database, 5)["entry_hash"]
    assert signature_is_valid(made, signer.private_key.public_key())
    with fs_store.open(made.storage_key or "") as stored:
        assert read_checkpoint_document(stored.read()) == made
    assert create_checkpoint(database, fs_store, signer) is None  # nothing new
    fill_trail(database, 2, start=6)
    second = create_checkpoint(database, fs_store, signer)
    assert second is not None
    assert (second.statement.first_seq, second.statement.last_seq) == (6, 7)
    report = verified(database, signer, fs_store)
    assert report.ok, report.problems
    assert report.checkpoints == 2


def test_a_changed_entry_before_a_checkpoint_is_caught_by_its_root(
    database: Database, signer: CheckpointSigner, fs_store: FilesystemStore
) -> None:
    fill_trail(database, 5)
    create_checkpoint(database, fs_store, signer)
    fill_trail(database, 2, start=6)
    rewrite_from(database, 2, {"số": 2, "tên": "đã sửa"})  # the chain itself is consistent again
    report = verified(database, signer)
    assert [(p.seq, p.kind) for p in report.problems] == [(1, ProblemKind.CHECKPOINT_ROOT_MISMATCH)]


def test_a_checkpoint_row_changed_in_the_database_fails_its_signature_and_its_copy(
    database: Database, signer: CheckpointSigner, fs_store: FilesystemStore
) -> None:
    fill_trail(database, 3)
    create_checkpoint(database, fs_store, signer)
    execute(database, "UPDATE audit_checkpoints SET merkle_root = :root", root="ab" * 32)
    kinds = {p.kind for p in verified(database, signer, fs_store).problems}
    assert kinds == {
        ProblemKind.BAD_SIGNATURE,
        ProblemKind.CHECKPOINT_ROOT_MISMATCH,
        ProblemKind.CHECKPOINT_STORAGE_MISMATCH,
    }


def test_removed_checkpoint_rows_and_cut_entries_are_found_through_the_stored_copy(
    database: Database, signer: CheckpointSigner, fs_store: FilesystemStore
) -> None:
    fill_trail(database, 4)
    create_checkpoint(database, fs_store, signer)
    execute(database, "DELETE FROM audit_entries WHERE seq >= 3")
    assert first_broken(database, signer) == (3, ProblemKind.MISSING_ENTRIES)
    execute(database, "DELETE FROM audit_checkpoints")
    assert verified(database, signer).ok  # the database alone no longer shows it
    assert first_broken(database, signer, fs_store) == (
        1,
        ProblemKind.CHECKPOINT_STORAGE_MISMATCH,
    )


def test_a_broken_chain_is_not_signed(
    database: Database, signer: CheckpointSigner, fs_store: FilesystemStore
) -> None:
    fill_trail(database, 4)
    execute(database, "UPDATE audit_entries SET actor = 'key:999' WHERE seq = 2")
    with pytest.raises(AuditChainBroken) as refused:
        create_checkpoint(database, fs_store, signer)
    assert (refused.value.problem.seq, refused.value.problem.kind) == (
        2,
        ProblemKind.CONTENT_HASH_MISMATCH,
    )
    assert list(fs_store.list("audit/")) == []
    with database.session() as session:
        assert session.scalar(select(func.count(AuditCheckpoint.id))) == 0


def test_run_checkpoint_creates_the_key_with_private_permissions_and_reports_metrics(
    database: Database, tmp_path: Path, fs_store: FilesystemStore
) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=database.url)
    with database.session() as session:
        assert audit_metrics(session) == {
            "archive_audit_chain_length": 0.0,
            "archive_audit_checkpointed_entries": 0.0,
            "archive_audit_last_checkpoint_timestamp_seconds": None,
        }
    fill_trail(database, 3)
    made = run_checkpoint(settings, database, fs_store)
    assert made is not None
    key_file = tmp_path / "data" / "keys" / "audit-ed25519.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.parent.stat().st_mode & 0o077 == 0
    fill_trail(database, 2, start=4)
    with database.session() as session:
        metrics = audit_metrics(session)
    assert metrics["archive_audit_chain_length"] == 5.0
    assert metrics["archive_audit_checkpointed_entries"] == 3.0
    assert metrics["archive_audit_last_checkpoint_timestamp_seconds"] == (
        made.statement.created_at.timestamp()
    )


def test_checkpoints_on_s3_are_under_object_lock(
    sqlite_url: str, signer: CheckpointSigner, s3_store: ObjectStore
) -> None:
    upgrade(sqlite_url)
    database = Database(sqlite_url)
    try:
        fill_trail(database, 2)
        made = create_checkpoint(database, s3_store, signer)
        assert made is not None and made.storage_key is not None
        info = s3_store.stat(made.storage_key)
        assert info.retention is not None
        assert info.retention.until > made.statement.created_at
        with pytest.raises(ObjectLocked):
            s3_store.delete(made.storage_key, version_id=info.version_id)
        assert verified(database, signer, s3_store).ok
    finally:
        database.dispose()


def test_a_configured_tsa_stamps_each_checkpoint(
    database: Database, signer: CheckpointSigner, fs_store: FilesystemStore
) -> None:
    fill_trail(database, 3)
    with local_tsa() as url:
        stamping = CheckpointSigner(signer.private_key, signer.archive_code, tsa_url=url)
        made = create_checkpoint(database, fs_store, stamping)
    assert made is not None and made.tsa_token is not None
    assert token_matches(made.tsa_token, timestamp_digest(made))
    with database.session() as session:
        stored = checkpoint_from_row(session.scalars(select(AuditCheckpoint)).one())
    assert stored.tsa_token == made.tsa_token
    assert verified(database, signer, fs_store).ok
    execute(database, "UPDATE audit_checkpoints SET tsa_token = :token", token=b"\x30\x00")
    assert first_broken(database, signer) == (1, ProblemKind.BAD_TIMESTAMP)


def test_an_unreachable_tsa_leaves_a_signed_checkpoint_and_an_error_log(
    database: Database,
    signer: CheckpointSigner,
    fs_store: FilesystemStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fill_trail(database, 2)
    with local_tsa() as url:
        pass  # the port is closed again
    stamping = CheckpointSigner(signer.private_key, signer.archive_code, tsa_url=url)
    with caplog.at_level(logging.ERROR):
        made = create_checkpoint(database, fs_store, stamping)
    assert made is not None and made.tsa_token is None
    assert "without a time stamp" in caplog.text
    assert verified(database, signer, fs_store).ok


def _json_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _entry_at(database: Database, seq: int) -> datetime:
    with database.session() as session:
        return session.scalars(select(AuditEntry.at).where(AuditEntry.seq == seq)).one()


# --- the HTTP API ---------------------------------------------------------------------------------


def test_auditors_list_entries_and_verify_the_chain_over_http(
    database_url: str, tmp_path: Path
) -> None:
    with in_process_archive(tmp_path / "data", database_url=database_url) as archive:
        auditor = archive.client_for(archive.create_key("auditor"))
        depositor = archive.client_for(archive.create_key("depositor", agency="000.00.12.H12"))
        newest = auditor.get("/api/v1/audit/events", params={"limit": 1}).json()["items"][0]
        base = newest["seq"] + 1  # the listing itself was audited (audit.read)
        fill_trail(archive.database, 4)  # document.read at base + 1 and base + 3
        assert depositor.get("/api/v1/audit/events").status_code == 403
        assert depositor.get("/api/v1/audit/verify").status_code == 403

        reads = auditor.get("/api/v1/audit/events", params={"action": "document.read"}).json()
        assert [item["seq"] for item in reads["items"]] == [base + 3, base + 1]  # newest first
        assert reads["next_cursor"] is None
        assert reads["items"][0]["detail"]["tên"] == "Hồ sơ đất đai"
        first = auditor.get("/api/v1/audit/events", params={"order": "asc", "limit": 2}).json()
        assert [item["seq"] for item in first["items"]] == [1, 2]
        assert first["next_cursor"] == 2
        after = auditor.get(
            "/api/v1/audit/events", params={"order": "asc", "limit": 2, "cursor": 2}
        ).json()
        assert [item["seq"] for item in after["items"]] == [3, 4]
        assert after["items"][0]["prev_hash"] == first["items"][1]["entry_hash"]

        verified_ok = auditor.get("/api/v1/audit/verify").json()
        assert verified_ok["ok"] is True and verified_ok["first_problem"] is None
        execute(archive.database, "UPDATE audit_entries SET target_id = 'x' WHERE seq = 2")
        broken = auditor.get("/api/v1/audit/verify")
        assert broken.status_code == 200
        assert broken.json()["ok"] is False
        assert broken.json()["first_problem"]["seq"] == 2
        assert broken.json()["first_problem"]["kind"] == "content_hash_mismatch"
        latest = auditor.get("/api/v1/audit/events", params={"limit": 1}).json()["items"][0]
        assert latest["action"] == "audit.verified"
        assert latest["detail"]["first_problem"]["seq"] == 2


def test_entries_written_before_the_chain_existed_are_chained_by_the_migration(
    database_url: str, signer: CheckpointSigner
) -> None:
    upgrade(database_url, "0002")
    database = Database(database_url)
    try:
        for number, at in enumerate(("2026-01-02 03:04:05.000006", "2026-01-02 03:04:06"), 1):
            execute(
                database,
                "INSERT INTO audit_entries (at, actor, action, detail) "
                "VALUES (:at, 'system', 'deposit.archived', :detail)",
                at=at,
                detail=json.dumps({"n": number}),
            )
        upgrade(database_url)
        assert (row(database, 1)["prev_hash"], row(database, 2)["prev_hash"]) == (
            "0" * 64,
            row(database, 1)["entry_hash"],
        )
        fill_trail(database, 1)
        report = verified(database, signer)
        assert report.ok, report.problems
        assert report.entries == 3
    finally:
        database.dispose()
