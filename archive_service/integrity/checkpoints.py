"""Signed checkpoints of the audit chain: the archive's Ed25519 key, signing, storage copies.

``run_checkpoint(settings, database, store)`` is the periodic task (every
``audit_checkpoint_interval_seconds``): it checks the entries written since the last checkpoint,
signs their Merkle root and head (see ``integrity.chain``), asks the time-stamping authority when
``tsa_url`` is set, writes the checkpoint as a JSON object under ``audit/checkpoints/`` in the
archive's store (under Object Lock governance retention where the store enforces it), then
records it in the database. Nothing is signed when the entries do not chain correctly.

The private key lives in a PEM file (``Settings.effective_audit_signing_key()``), created on
first use with mode 0600 in a 0700 directory.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)
from sqlalchemy.exc import IntegrityError

from archive_service.config import Settings
from archive_service.db.base import utcnow
from archive_service.db.session import Database
from archive_service.integrity.audit_log import iter_chain_entries, latest_checkpoint
from archive_service.integrity.chain import (
    GENESIS_HASH,
    ChainProblem,
    ChainVerifier,
    CheckpointStatement,
    MalformedRecord,
    SignedCheckpoint,
    key_fingerprint,
    merkle_root,
    timestamp_digest,
)
from archive_service.integrity.models import AuditCheckpoint
from archive_service.integrity.timestamping import TimestampError, request_timestamp
from archive_service.storage.base import ObjectStore, Retention, RetentionMode

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "audit/checkpoints/"
CHECKPOINT_FORMAT = "archive-audit-checkpoint/1"
#: Object Lock on each checkpoint copy: governance mode (an administrator with the right to
#: bypass governance can still remove it), extendable later.
CHECKPOINT_RETENTION = timedelta(days=366 * 10)


class SigningKeyError(Exception):
    """The signing key file cannot be read or is not an Ed25519 private key."""


class AuditChainBroken(Exception):
    """The entries to be checkpointed do not chain; nothing was signed."""

    def __init__(self, problem: ChainProblem) -> None:
        super().__init__(f"không ký điểm kiểm tra: {problem.message}")
        self.problem = problem


# --- the key ------------------------------------------------------------------------------------


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in ``path``, generated there (mode 0600) when absent."""
    if not path.exists():
        _create_key_file(path)
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SigningKeyError(f"không đọc được khóa ký nhật ký kiểm toán {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"khóa ký nhật ký kiểm toán {path} không phải khóa Ed25519")
    return key


def _create_key_file(path: Path) -> None:
    """Write a new key atomically; when another process wins the race, keep its key."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        else:
            logger.info("created the audit signing key %s", path)
    finally:
        temporary.unlink(missing_ok=True)


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    """The public key as PEM (SubjectPublicKeyInfo)."""
    return public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM; ``ValueError`` for anything else."""
    key = load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("khóa công khai không phải khóa Ed25519")
    return key


def archive_public_key(settings: Settings) -> Ed25519PublicKey:
    """The public half of the archive's signing key (created on first use)."""
    return load_signing_key(settings.effective_audit_signing_key()).public_key()


# --- the stored copy ----------------------------------------------------------------------------


def checkpoint_key(first_seq: int, last_seq: int) -> str:
    """Storage key of a checkpoint's copy."""
    return f"{CHECKPOINT_PREFIX}{first_seq:012d}-{last_seq:012d}.json"


def checkpoint_document(checkpoint: SignedCheckpoint, public_key: Ed25519PublicKey) -> bytes:
    """The JSON object written to storage: the checkpoint and the key that signed it."""
    document: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "checkpoint": checkpoint.as_json(),
        "public_key": public_key_pem(public_key),
    }
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True).encode()


def read_checkpoint_document(data: bytes) -> SignedCheckpoint:
    """The checkpoint in a stored copy; ``MalformedRecord`` when it is not one."""
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise MalformedRecord(f"bản lưu điểm kiểm tra không phải JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != CHECKPOINT_FORMAT:
        raise MalformedRecord(f"bản lưu điểm kiểm tra không có format {CHECKPOINT_FORMAT}")
    checkpoint = document.get("checkpoint")
    if not isinstance(checkpoint, dict):
        raise MalformedRecord("bản lưu điểm kiểm tra thiếu trường checkpoint")
    return SignedCheckpoint.from_json(checkpoint)


def store_checkpoint(
    store: ObjectStore, checkpoint: SignedCheckpoint, public_key: Ed25519PublicKey
) -> None:
    """Write the checkpoint's copy, under Object Lock where the store enforces it."""
    if checkpoint.storage_key is None:
        raise ValueError("a checkpoint needs its storage key before it is stored")
    data = checkpoint_document(checkpoint, public_key)
    retention = None
    if store.capabilities.object_lock:
        retention = Retention(
            RetentionMode.GOVERNANCE, checkpoint.statement.created_at + CHECKPOINT_RETENTION
        )
    store.put(
        checkpoint.storage_key,
        io.BytesIO(data),
        size=len(data),
        expected_sha256=hashlib.sha256(data).hexdigest(),
        metadata={"content-type": "application/json"},
        retention=retention,
    )


# --- making checkpoints -------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointSigner:
    """What signs: the archive's key and name, and the time-stamping authority if any."""

    private_key: Ed25519PrivateKey
    archive_code: str
    tsa_url: str | None = None

    def sign(self, statement: CheckpointStatement, storage_key: str) -> SignedCheckpoint:
        """Sign ``statement`` (and have the signature time-stamped when a TSA is set)."""
        signed = SignedCheckpoint(
            statement=statement,
            signature=self.private_key.sign(statement.canonical()).hex(),
            key_fingerprint=key_fingerprint(self.private_key.public_key()),
            storage_key=storage_key,
        )
        if self.tsa_url is None:
            return signed
        try:
            token = request_timestamp(self.tsa_url, timestamp_digest(signed))
        except TimestampError as exc:
            logger.error("audit checkpoint %s signed without a time stamp: %s", storage_key, exc)
            return signed
        return SignedCheckpoint(
            statement, signed.signature, signed.key_fingerprint, storage_key, token
        )


def create_checkpoint(
    database: Database,
    store: ObjectStore,
    signer: CheckpointSigner,
    *,
    now: datetime | None = None,
) -> SignedCheckpoint | None:
    """Checkpoint the entries written since the last checkpoint; ``None`` when there are none.

    Raises ``AuditChainBroken`` (nothing signed) when those entries do not chain to the last
    checkpoint and to each other. When another process checkpointed the same entries first,
    returns ``None`` (its stored copy may stay beside the winner's, both signing the same span).
    """
    with database.read_session() as session:
        latest = latest_checkpoint(session)
        after, prev_hash = (latest.last_seq, latest.head_hash) if latest else (0, GENESIS_HASH)
        verifier = ChainVerifier(
            [], signer.private_key.public_key(), first_seq=after + 1, prev_hash=prev_hash
        )
        hashes: list[str] = []
        for entry in iter_chain_entries(session, after_seq=after):
            verifier.add(entry)
            hashes.append(entry.entry_hash)
    report = verifier.finish()
    if report.first_problem is not None:
        logger.error("audit chain broken, checkpoint refused: %s", report.first_problem.message)
        raise AuditChainBroken(report.first_problem)
    if not hashes:
        return None
    first_seq, last_seq = after + 1, after + len(hashes)
    statement = CheckpointStatement(
        archive=signer.archive_code,
        first_seq=first_seq,
        last_seq=last_seq,
        merkle_root=merkle_root(hashes),
        head_hash=hashes[-1],
        created_at=now or utcnow(),
    )
    checkpoint = signer.sign(statement, checkpoint_key(first_seq, last_seq))
    store_checkpoint(store, checkpoint, signer.private_key.public_key())
    try:
        with database.session() as session:
            session.add(_row(checkpoint))
    except IntegrityError:
        logger.warning("audit entries %d–%d were checkpointed concurrently", first_seq, last_seq)
        return None
    logger.info(
        "audit checkpoint %d–%d signed, root %s", first_seq, last_seq, statement.merkle_root
    )
    return checkpoint


def run_checkpoint(
    settings: Settings, database: Database, store: ObjectStore
) -> SignedCheckpoint | None:
    """The periodic task: checkpoint what was written since the last run (see module doc)."""
    signer = CheckpointSigner(
        private_key=load_signing_key(settings.effective_audit_signing_key()),
        archive_code=settings.archive_code,
        tsa_url=settings.tsa_url,
    )
    return create_checkpoint(database, store, signer)


def _row(checkpoint: SignedCheckpoint) -> AuditCheckpoint:
    statement = checkpoint.statement
    return AuditCheckpoint(
        archive_code=statement.archive,
        first_seq=statement.first_seq,
        last_seq=statement.last_seq,
        merkle_root=statement.merkle_root,
        head_hash=statement.head_hash,
        signature=checkpoint.signature,
        key_fingerprint=checkpoint.key_fingerprint,
        created_at=statement.created_at,
        storage_key=checkpoint.storage_key
        or checkpoint_key(statement.first_seq, statement.last_seq),
        tsa_token=checkpoint.tsa_token,
    )
