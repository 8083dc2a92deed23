"""Verify the audit trail in the database: the chain, its checkpoints and their stored copies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.orm import Session

from archive_service.integrity.audit_log import iter_chain_entries, load_checkpoints
from archive_service.integrity.chain import (
    ChainProblem,
    ChainVerifier,
    MalformedRecord,
    ProblemKind,
    SignedCheckpoint,
    VerificationReport,
)
from archive_service.integrity.checkpoints import CHECKPOINT_PREFIX, read_checkpoint_document
from archive_service.storage.base import ObjectNotFound, ObjectStore


def verify_database(
    session: Session, public_key: Ed25519PublicKey, store: ObjectStore | None = None
) -> VerificationReport:
    """Check every entry and checkpoint with ``public_key``; with ``store``, also the copies.

    The copies in storage (under Object Lock) are what the database cannot rewrite: each
    checkpoint row must have an identical copy, and a copy newer than every row shows that
    checkpoint rows were removed. Storage errors other than a missing copy propagate.
    """
    checkpoints = load_checkpoints(session)
    verifier = ChainVerifier(checkpoints, public_key)
    for entry in iter_chain_entries(session):
        verifier.add(entry)
    report = verifier.finish()
    if store is None:
        return report
    stored = compare_stored_copies(store, checkpoints)
    return replace(report, problems=[*report.problems, *stored])


def report_summary(report: VerificationReport) -> dict[str, Any]:
    """What the trail records of a verification."""
    first = report.first_problem
    return {
        "ok": report.ok,
        "entries": report.entries,
        "checkpoints": report.checkpoints,
        "first_problem": first.as_json() if first else None,
    }


def compare_stored_copies(
    store: ObjectStore, checkpoints: Sequence[SignedCheckpoint]
) -> list[ChainProblem]:
    """Differences between checkpoint rows and their copies in ``store``."""
    problems = [
        problem
        for checkpoint in checkpoints
        if (problem := _compare(store, checkpoint)) is not None
    ]
    known = {checkpoint.storage_key for checkpoint in checkpoints}
    newest = max((c.statement.last_seq for c in checkpoints), default=0)
    for info in store.list(CHECKPOINT_PREFIX):
        if info.key in known:
            continue
        copy = _read(store, info.key)
        if isinstance(copy, ChainProblem):
            problems.append(copy)
        elif copy.statement.last_seq > newest:
            problems.append(
                _mismatch(
                    copy.statement.first_seq,
                    f"kho lưu bản điểm kiểm tra {info.key} (mục {copy.statement.first_seq}–"
                    f"{copy.statement.last_seq}) mà cơ sở dữ liệu không có",
                )
            )
    return problems


def _compare(store: ObjectStore, checkpoint: SignedCheckpoint) -> ChainProblem | None:
    first = checkpoint.statement.first_seq
    if checkpoint.storage_key is None:
        return _mismatch(first, f"điểm kiểm tra từ mục {first} không ghi khóa lưu trữ")
    copy = _read(store, checkpoint.storage_key)
    if isinstance(copy, ChainProblem):
        return copy
    if copy.statement != checkpoint.statement or copy.signature != checkpoint.signature:
        return _mismatch(
            first,
            f"điểm kiểm tra từ mục {first} khác bản lưu {checkpoint.storage_key} trong kho",
        )
    return None


def _read(store: ObjectStore, key: str) -> SignedCheckpoint | ChainProblem:
    try:
        with store.open(key) as stream:
            return read_checkpoint_document(stream.read())
    except ObjectNotFound:
        return _mismatch(None, f"không có bản lưu điểm kiểm tra {key} trong kho")
    except MalformedRecord as exc:
        return _mismatch(None, f"bản lưu điểm kiểm tra {key} hỏng: {exc}")


def _mismatch(seq: int | None, message: str) -> ChainProblem:
    return ChainProblem(seq, ProblemKind.CHECKPOINT_STORAGE_MISMATCH, message)
