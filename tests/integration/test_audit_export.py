"""``archive audit …`` as real processes: checkpoint, export, verify live and offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from archive_service.config import Settings
from archive_service.db.migrate import upgrade
from archive_service.db.session import Database
from archive_service.integrity.audit_export import ExportUnreadable, verify_export, write_export
from archive_service.integrity.chain import (
    ChainEntry,
    ProblemKind,
    SignedCheckpoint,
    key_fingerprint,
    merkle_root,
)
from archive_service.integrity.checkpoints import (
    archive_public_key,
    load_public_key,
    public_key_pem,
    run_checkpoint,
)
from archive_service.storage.setup import open_archive_store
from tests.audit_support import execute, fill_trail

ARCHIVE = [sys.executable, "-m", "archive_service.cli"]


def archive(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ARCHIVE, *args], capture_output=True, text=True, env=env, timeout=120)


def environment(**variables: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")}
    return {**base, **variables}


def test_checkpoint_export_and_live_verify_through_the_cli(
    database: Database, tmp_path: Path
) -> None:
    env = environment(ARCHIVE_DATA_DIR=str(tmp_path / "data"), ARCHIVE_DATABASE_URL=database.url)
    fill_trail(database, 5)
    signed = archive("audit", "checkpoint", env=env)
    assert signed.returncode == 0, signed.stderr
    assert "mục 1–5" in signed.stdout
    fill_trail(database, 2, start=6)

    exported = archive("audit", "export", "--out", str(tmp_path / "trail.jsonl"), env=env)
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in (tmp_path / "trail.jsonl").read_text().splitlines()]
    assert [line["type"] for line in lines] == ["header", "checkpoint", *["entry"] * 7]
    assert [line["seq"] for line in lines[2:]] == list(range(1, 8))
    published = archive("audit", "public-key", env=env)
    assert published.returncode == 0, published.stderr
    with (tmp_path / "trail.jsonl").open(encoding="utf-8") as export_lines:
        offline = verify_export(export_lines, load_public_key(published.stdout.encode()))
    assert offline.report.ok, offline.report.problems
    assert offline.key_fingerprint in published.stderr

    live = archive("audit", "verify", env=env)
    assert live.returncode == 0, live.stdout + live.stderr
    assert "HỢP LỆ" in live.stdout
    execute(database, "DELETE FROM audit_entries WHERE seq = 6")
    broken = archive("audit", "verify", "--json", env=env)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    first = json.loads(broken.stdout)["first_problem"]
    assert (first["seq"], first["kind"]) == (6, "seq_gap")


@pytest.fixture
def exported(sqlite_url: str, tmp_path: Path) -> Path:
    """An export of a checkpointed trail of 6 entries (plus the public key as a PEM file)."""
    upgrade(sqlite_url)
    database = Database(sqlite_url)
    settings = Settings(data_dir=tmp_path / "data", database_url=sqlite_url)
    try:
        fill_trail(database, 4)
        run_checkpoint(settings, database, open_archive_store(settings))
        fill_trail(database, 2, start=5)
        key = archive_public_key(settings)
        (tmp_path / "archive.pem").write_text(public_key_pem(key))
        path = tmp_path / "trail.jsonl"
        with database.read_session() as session, path.open("w", encoding="utf-8") as out:
            summary = write_export(session, key, settings.archive_code, out)
        assert (summary.entries, summary.checkpoints) == (6, 1)
    finally:
        database.dispose()
    return path


#: No data directory, an unreachable database: the offline verifier must need neither.
OFFLINE = {
    "ARCHIVE_DATA_DIR": "/nonexistent",
    "ARCHIVE_DATABASE_URL": "postgresql://x@127.0.0.1:9/x",
}


def test_an_export_verifies_offline_and_a_tampered_one_fails_with_exit_1(
    exported: Path, tmp_path: Path
) -> None:
    env = environment(**OFFLINE)
    good = archive("audit", "verify", "--from-export", str(exported), env=env)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "HỢP LỆ" in good.stdout and "chỉ chứng minh tệp tự nhất quán" in good.stdout
    given = archive(
        "audit", "verify", "--from-export", str(exported), "--public-key",
        str(tmp_path / "archive.pem"), env=env,
    )  # fmt: skip
    assert given.returncode == 0, given.stdout + given.stderr

    lines = exported.read_text(encoding="utf-8").splitlines()
    entry = json.loads(lines[4])  # header, checkpoint, then entry 3
    assert entry["seq"] == 3
    entry["detail"]["tên"] = "Hồ sơ đã sửa"
    lines[4] = json.dumps(entry, ensure_ascii=False)
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bad = archive("audit", "verify", "--from-export", str(tampered), env=env)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "mục hỏng đầu tiên: mục số 3 (content_hash_mismatch)" in bad.stdout

    missing = archive("audit", "verify", "--from-export", str(tmp_path / "none.jsonl"), env=env)
    assert missing.returncode == 2


def test_another_key_than_the_archives_fails_the_checkpoints(exported: Path) -> None:
    with exported.open(encoding="utf-8") as lines:
        result = verify_export(lines, Ed25519PrivateKey.generate().public_key())
    assert not result.key_from_file
    assert result.key_fingerprint != result.file_key_fingerprint
    assert [p.kind for p in result.report.problems] == [ProblemKind.BAD_SIGNATURE]


def test_a_re_signed_forgery_passes_only_with_the_files_own_key(
    exported: Path, tmp_path: Path
) -> None:
    forged = tmp_path / "forged.jsonl"
    forged.write_text(_re_signed_forgery(exported), encoding="utf-8")
    with forged.open(encoding="utf-8") as lines:
        trusting = verify_export(lines)
    assert trusting.report.ok and trusting.key_from_file  # why --public-key matters
    archive_key = (tmp_path / "archive.pem").read_bytes()
    with forged.open(encoding="utf-8") as lines:
        checked = verify_export(lines, load_public_key(archive_key))
    assert [p.kind for p in checked.report.problems] == [ProblemKind.BAD_SIGNATURE]


def test_malformed_and_foreign_files_are_reported(exported: Path, tmp_path: Path) -> None:
    lines = exported.read_text(encoding="utf-8").splitlines()
    cut = [*lines[:5], "{not json", *lines[5:]]
    result = verify_export(cut)
    assert result.report.first_problem is not None
    assert result.report.first_problem.kind is ProblemKind.MALFORMED
    assert "dòng 6" in result.report.first_problem.message
    late_checkpoint = [lines[0], *lines[2:], lines[1]]
    assert verify_export(late_checkpoint).report.problems[0].kind is ProblemKind.MALFORMED
    with pytest.raises(ExportUnreadable):
        verify_export(['{"type": "header", "format": "other"}'])
    with pytest.raises(ExportUnreadable):
        verify_export([])


def _re_signed_forgery(exported: Path) -> str:
    """The export with entry 2 rewritten, the chain rebuilt and re-signed by another key."""
    records = [json.loads(line) for line in exported.read_text(encoding="utf-8").splitlines()]
    header, checkpoint = records[0], SignedCheckpoint.from_json(records[1])
    entries = [ChainEntry.from_json(record) for record in records[2:]]
    rebuilt: list[ChainEntry] = []
    prev = entries[0].content.prev_hash
    for entry in entries:
        detail: dict[str, Any] = dict(entry.content.detail)
        if entry.seq == 2:
            detail["tên"] = "giả mạo"
        content = replace(entry.content, prev_hash=prev, detail=detail)
        rebuilt.append(ChainEntry(content, content.digest()))
        prev = rebuilt[-1].entry_hash
    forger = Ed25519PrivateKey.generate()
    span = rebuilt[: checkpoint.statement.last_seq]
    statement = replace(
        checkpoint.statement,
        merkle_root=merkle_root([e.entry_hash for e in span]),
        head_hash=span[-1].entry_hash,
    )
    re_signed = SignedCheckpoint(
        statement,
        forger.sign(statement.canonical()).hex(),
        key_fingerprint(forger.public_key()),
        checkpoint.storage_key,
    )
    header = {
        **header,
        "public_key": public_key_pem(forger.public_key()),
        "key_fingerprint": key_fingerprint(forger.public_key()),
    }
    out = [header, {"type": "checkpoint", **re_signed.as_json()}]
    out += [{"type": "entry", **entry.as_json()} for entry in rebuilt]
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in out)
