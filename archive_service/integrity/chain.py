"""The hash chain of the audit trail: canonical form, hashes, Merkle roots, verification.

Pure functions and values only (no database, no files), shared by the service and by the offline
verifier of an export.

Canonical form of an entry (what its ``entry_hash`` is the SHA-256 of, as lower-case hex):
a JSON object with exactly the keys ``seq``, ``at``, ``actor``, ``role``, ``action``,
``target_type``, ``target_id``, ``remote_addr``, ``detail`` and ``prev_hash``; keys sorted by
Unicode code point (also inside ``detail``), no whitespace (``,`` and ``:`` separators), non-ASCII
characters written as themselves, the whole encoded as UTF-8; absent values are ``null``; ``at``
is written in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always six fractional digits); NaN and
infinities are not allowed. ``prev_hash`` is the ``entry_hash`` of the entry before, and 64 zeros
for the first entry (``seq`` 1). Sequence numbers start at 1 and have no gaps.

A checkpoint signs a statement — the canonical JSON (same rules) of ``archive``, ``first_seq``,
``last_seq``, ``entries``, ``merkle_root``, ``head_hash`` and ``created_at`` — with Ed25519. Its
Merkle root is computed as in RFC 6962 over the 32-byte entry hashes of ``first_seq`` to
``last_seq``: a leaf is ``SHA-256(0x00 ‖ hash)``, an inner node ``SHA-256(0x01 ‖ left ‖ right)``,
and a list of n > 1 leaves splits after the largest power of two smaller than n. When a
time-stamping authority is configured, its RFC 3161 token stamps the SHA-256 of the 64 signature
bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from archive_service.integrity.timestamping import token_matches

GENESIS_HASH = "0" * 64
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
HASH_LENGTH = 64


class MalformedRecord(ValueError):
    """An entry or checkpoint (typically read from an export) lacks a field or has a wrong type."""


def canonical_json(value: Any) -> bytes:
    """``value`` in the canonical JSON form (sorted keys, no whitespace, UTF-8)."""
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def format_timestamp(moment: datetime) -> str:
    """``moment`` (timezone-aware) in the fixed UTC form of the canonical JSON."""
    if moment.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> datetime:
    """The inverse of ``format_timestamp``; anything else is ``MalformedRecord``."""
    try:
        return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except (TypeError, ValueError) as exc:
        raise MalformedRecord(f"thời điểm không đúng dạng {TIMESTAMP_FORMAT}: {text!r}") from exc


@dataclass(frozen=True)
class EntryContent:
    """The hashed content of one audit entry."""

    seq: int
    at: datetime
    actor: str
    role: str | None
    action: str
    target_type: str | None
    target_id: str | None
    remote_addr: str | None
    detail: Mapping[str, Any]
    prev_hash: str

    def as_json(self) -> dict[str, Any]:
        """The content as a JSON object (the timestamp in its fixed form)."""
        return {
            "seq": self.seq,
            "at": format_timestamp(self.at),
            "actor": self.actor,
            "role": self.role,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "remote_addr": self.remote_addr,
            "detail": dict(self.detail),
            "prev_hash": self.prev_hash,
        }

    def digest(self) -> str:
        """SHA-256 of the canonical form: the entry's hash."""
        return sha256_hex(canonical_json(self.as_json()))


@dataclass(frozen=True)
class ChainEntry:
    """An entry as stored: its content and the hash recorded with it."""

    content: EntryContent
    entry_hash: str

    @property
    def seq(self) -> int:
        return self.content.seq

    def as_json(self) -> dict[str, Any]:
        """Content and stored hash, as written into an export."""
        return {**self.content.as_json(), "entry_hash": self.entry_hash}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChainEntry:
        """Read an entry written by ``as_json``; ``MalformedRecord`` when it is not one."""
        content = EntryContent(
            seq=_field(data, "seq", int),
            at=parse_timestamp(_field(data, "at", str)),
            actor=_field(data, "actor", str),
            role=_optional(data, "role", str),
            action=_field(data, "action", str),
            target_type=_optional(data, "target_type", str),
            target_id=_optional(data, "target_id", str),
            remote_addr=_optional(data, "remote_addr", str),
            detail=_field(data, "detail", dict),
            prev_hash=_field(data, "prev_hash", str),
        )
        return cls(content, _field(data, "entry_hash", str))


def merkle_root(entry_hashes: Sequence[str]) -> str:
    """RFC 6962 Merkle tree hash over hex entry hashes (at least one)."""
    if not entry_hashes:
        raise ValueError("a Merkle root needs at least one entry")
    return _merkle([bytes.fromhex(value) for value in entry_hashes]).hex()


def _merkle(leaves: Sequence[bytes]) -> bytes:
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    split = 1 << ((len(leaves) - 1).bit_length() - 1)
    left, right = _merkle(leaves[:split]), _merkle(leaves[split:])
    return hashlib.sha256(b"\x01" + left + right).digest()


@dataclass(frozen=True)
class CheckpointStatement:
    """What a checkpoint signs: a span of the chain, its Merkle root and its head."""

    archive: str
    first_seq: int
    last_seq: int
    merkle_root: str
    head_hash: str
    created_at: datetime

    @property
    def entries(self) -> int:
        return self.last_seq - self.first_seq + 1

    def as_json(self) -> dict[str, Any]:
        return {
            "archive": self.archive,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "entries": self.entries,
            "merkle_root": self.merkle_root,
            "head_hash": self.head_hash,
            "created_at": format_timestamp(self.created_at),
        }

    def canonical(self) -> bytes:
        """The signed bytes."""
        return canonical_json(self.as_json())


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint statement with its Ed25519 signature and optional RFC 3161 token."""

    statement: CheckpointStatement
    signature: str  # hex
    key_fingerprint: str
    storage_key: str | None = None
    tsa_token: bytes | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "statement": self.statement.as_json(),
            "signature": self.signature,
            "key_fingerprint": self.key_fingerprint,
            "storage_key": self.storage_key,
            "tsa_token": self.tsa_token.hex() if self.tsa_token is not None else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SignedCheckpoint:
        raw = _field(data, "statement", dict)
        statement = CheckpointStatement(
            archive=_field(raw, "archive", str),
            first_seq=_field(raw, "first_seq", int),
            last_seq=_field(raw, "last_seq", int),
            merkle_root=_field(raw, "merkle_root", str),
            head_hash=_field(raw, "head_hash", str),
            created_at=parse_timestamp(_field(raw, "created_at", str)),
        )
        token = _optional(data, "tsa_token", str)
        try:
            tsa_token = bytes.fromhex(token) if token is not None else None
        except ValueError as exc:
            raise MalformedRecord("tsa_token không phải chuỗi hex") from exc
        return cls(
            statement=statement,
            signature=_field(data, "signature", str),
            key_fingerprint=_field(data, "key_fingerprint", str),
            storage_key=_optional(data, "storage_key", str),
            tsa_token=tsa_token,
        )


def key_fingerprint(public_key: Ed25519PublicKey) -> str:
    """SHA-256 (hex) of the 32 raw bytes of an Ed25519 public key."""
    return sha256_hex(public_key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def signature_is_valid(checkpoint: SignedCheckpoint, public_key: Ed25519PublicKey) -> bool:
    """Whether ``checkpoint``'s signature over its statement verifies with ``public_key``."""
    try:
        public_key.verify(bytes.fromhex(checkpoint.signature), checkpoint.statement.canonical())
    except (InvalidSignature, ValueError):
        return False
    return True


def timestamp_digest(checkpoint: SignedCheckpoint) -> bytes:
    """What the RFC 3161 token of a checkpoint stamps: SHA-256 of the signature bytes."""
    return hashlib.sha256(bytes.fromhex(checkpoint.signature)).digest()


class ProblemKind(StrEnum):
    """Why verification failed."""

    SEQ_GAP = "seq_gap"
    PREV_HASH_MISMATCH = "prev_hash_mismatch"
    CONTENT_HASH_MISMATCH = "content_hash_mismatch"
    CHECKPOINT_ROOT_MISMATCH = "checkpoint_root_mismatch"
    BAD_SIGNATURE = "bad_signature"
    BAD_TIMESTAMP = "bad_timestamp"
    CHECKPOINT_GAP = "checkpoint_gap"
    MISSING_ENTRIES = "missing_entries"
    CHECKPOINT_STORAGE_MISMATCH = "checkpoint_storage_mismatch"
    MALFORMED = "malformed"


ENTRY_PROBLEMS = frozenset(
    {ProblemKind.SEQ_GAP, ProblemKind.PREV_HASH_MISMATCH, ProblemKind.CONTENT_HASH_MISMATCH}
)


@dataclass(frozen=True)
class ChainProblem:
    """One finding: the entry (or the first entry of a checkpoint's span) where it shows."""

    seq: int | None
    kind: ProblemKind
    message: str

    def sort_key(self) -> tuple[int, int]:
        return (self.seq if self.seq is not None else 0, 0 if self.kind in ENTRY_PROBLEMS else 1)

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": str(self.kind), "message": self.message}


@dataclass(frozen=True)
class VerificationReport:
    """The outcome of verifying a chain and its checkpoints."""

    entries: int
    checkpoints: int
    head_seq: int | None
    head_hash: str | None
    problems: list[ChainProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> ChainProblem | None:
        """The earliest finding in the chain: the first broken entry (or span)."""
        return min(self.problems, key=ChainProblem.sort_key) if self.problems else None

    def as_json(self) -> dict[str, Any]:
        first = self.first_problem
        return {
            "ok": self.ok,
            "entries": self.entries,
            "checkpoints": self.checkpoints,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "first_problem": first.as_json() if first else None,
            "problems": [p.as_json() for p in sorted(self.problems, key=ChainProblem.sort_key)],
        }


class ChainVerifier:
    """Checks entries fed in ``seq`` order against each other and against signed checkpoints.

    After the first broken link the chain checks stop (later entries would all follow from it),
    but every checkpoint is still checked. Only one checkpoint's entry hashes are held at a time.
    """

    def __init__(
        self,
        checkpoints: Iterable[SignedCheckpoint],
        public_key: Ed25519PublicKey,
        *,
        first_seq: int = 1,
        prev_hash: str = GENESIS_HASH,
    ) -> None:
        """Verify from ``first_seq`` on, the entry before having hash ``prev_hash``."""
        self._checkpoints = sorted(checkpoints, key=lambda c: c.statement.first_seq)
        self._problems: list[ChainProblem] = []
        self._first_seq = first_seq
        self._expected_seq = first_seq
        self._prev_hash = prev_hash
        self._chain_broken = False
        self._entries = 0
        self._head: ChainEntry | None = None
        self._open = 0  # index of the first checkpoint not yet closed
        self._leaves: list[str] = []
        self._leaf_seqs: list[int] = []
        self._check_checkpoints(public_key)

    def add(self, entry: ChainEntry) -> None:
        """Check the next entry."""
        self._entries += 1
        if entry.seq <= (self._head.seq if self._head else self._first_seq - 1):
            self._break(entry.seq, ProblemKind.SEQ_GAP, f"mục số {entry.seq} không theo thứ tự")
            return
        self._head = entry
        if not self._chain_broken:
            self._check_link(entry)
        self._collect_leaf(entry)

    def finish(self) -> VerificationReport:
        """Close the remaining checkpoints and report."""
        while self._open < len(self._checkpoints):
            self._close_checkpoint()
        head = self._head
        return VerificationReport(
            entries=self._entries,
            checkpoints=len(self._checkpoints),
            head_seq=head.seq if head else None,
            head_hash=head.entry_hash if head else None,
            problems=list(self._problems),
        )

    def _check_link(self, entry: ChainEntry) -> None:
        seq = entry.seq
        if seq != self._expected_seq:
            missing = f"{self._expected_seq}" + (
                f"–{seq - 1}" if seq - 1 > self._expected_seq else ""
            )
            self._break(
                self._expected_seq,
                ProblemKind.SEQ_GAP,
                f"thiếu mục số {missing} (mục tiếp theo có số {seq})",
            )
        elif entry.content.prev_hash != self._prev_hash:
            self._break(
                seq,
                ProblemKind.PREV_HASH_MISMATCH,
                f"mục số {seq}: prev_hash {entry.content.prev_hash[:16]}… không phải mã băm "
                f"của mục trước ({self._prev_hash[:16]}…)",
            )
        elif entry.content.digest() != entry.entry_hash:
            self._break(
                seq,
                ProblemKind.CONTENT_HASH_MISMATCH,
                f"mục số {seq}: nội dung không khớp mã băm đã ghi (entry_hash)",
            )
        self._expected_seq = seq + 1
        self._prev_hash = entry.entry_hash

    def _break(self, seq: int, kind: ProblemKind, message: str) -> None:
        self._chain_broken = True
        self._problems.append(ChainProblem(seq, kind, message))

    def _collect_leaf(self, entry: ChainEntry) -> None:
        while self._open < len(self._checkpoints):
            statement = self._checkpoints[self._open].statement
            if entry.seq < statement.first_seq:
                return
            if entry.seq <= statement.last_seq:
                self._leaves.append(entry.entry_hash)
                self._leaf_seqs.append(entry.seq)
                return
            self._close_checkpoint()

    def _close_checkpoint(self) -> None:
        statement = self._checkpoints[self._open].statement
        leaves, seqs = self._leaves, self._leaf_seqs
        self._open += 1
        self._leaves, self._leaf_seqs = [], []
        span = f"điểm kiểm tra mục {statement.first_seq}–{statement.last_seq}"
        last_seen = self._head.seq if self._head else self._first_seq - 1
        if statement.last_seq > last_seen:
            self._problems.append(
                ChainProblem(
                    max(last_seen + 1, statement.first_seq),
                    ProblemKind.MISSING_ENTRIES,
                    f"{span} đã ký đến mục {statement.last_seq} nhưng chuỗi chỉ còn đến mục "
                    f"{last_seen}",
                )
            )
        elif len(seqs) != statement.entries:
            self._problems.append(
                ChainProblem(
                    statement.first_seq,
                    ProblemKind.CHECKPOINT_ROOT_MISMATCH,
                    f"{span}: có {len(seqs)} mục thay vì {statement.entries}",
                )
            )
        elif merkle_root(leaves) != statement.merkle_root or leaves[-1] != statement.head_hash:
            self._problems.append(
                ChainProblem(
                    statement.first_seq,
                    ProblemKind.CHECKPOINT_ROOT_MISMATCH,
                    f"{span}: gốc Merkle của các mục hiện có khác gốc đã ký — "
                    "ít nhất một mục trong khoảng này đã bị sửa",
                )
            )

    def _check_checkpoints(self, public_key: Ed25519PublicKey) -> None:
        fingerprint = key_fingerprint(public_key)
        expected_first = self._first_seq
        for checkpoint in self._checkpoints:
            statement = checkpoint.statement
            span = f"điểm kiểm tra mục {statement.first_seq}–{statement.last_seq}"
            if statement.first_seq != expected_first or statement.last_seq < statement.first_seq:
                self._problems.append(
                    ChainProblem(
                        expected_first,
                        ProblemKind.CHECKPOINT_GAP,
                        f"{span} không nối tiếp điểm kiểm tra trước (cần bắt đầu từ mục "
                        f"{expected_first})",
                    )
                )
            expected_first = statement.last_seq + 1
            if checkpoint.key_fingerprint != fingerprint:
                message = (
                    f"{span} được ký bằng khóa {checkpoint.key_fingerprint[:16]}…, không phải "
                    f"khóa công khai dùng để kiểm tra ({fingerprint[:16]}…)"
                )
            elif not signature_is_valid(checkpoint, public_key):
                message = f"{span}: chữ ký Ed25519 không hợp lệ"
            else:
                self._check_timestamp(checkpoint, span)
                continue
            self._problems.append(
                ChainProblem(statement.first_seq, ProblemKind.BAD_SIGNATURE, message)
            )

    def _check_timestamp(self, checkpoint: SignedCheckpoint, span: str) -> None:
        token = checkpoint.tsa_token
        if token is not None and not token_matches(token, timestamp_digest(checkpoint)):
            self._problems.append(
                ChainProblem(
                    checkpoint.statement.first_seq,
                    ProblemKind.BAD_TIMESTAMP,
                    f"{span}: dấu thời gian RFC 3161 không đóng cho chữ ký của điểm kiểm tra",
                )
            )


def _field(data: Mapping[str, Any], name: str, kind: type) -> Any:
    if name not in data:
        raise MalformedRecord(f"thiếu trường {name}")
    return _typed(name, data[name], kind)


def _optional(data: Mapping[str, Any], name: str, kind: type) -> Any:
    value = data.get(name)
    return None if value is None else _typed(name, value, kind)


def _typed(name: str, value: Any, kind: type) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MalformedRecord(f"trường {name} phải có kiểu {kind.__name__}")
    return value
