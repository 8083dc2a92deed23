"""One fixity check: re-read a stored object as a stream, re-hash it, compare, say what was found.

No database here. The reference is what the database recorded at ingest (size and SHA-256, never
an ETag); the object's OCFL inventory gives a second, independent digest for content files. The
newest version of the key is read — it is what every reader of the archive gets (on S3 with
Object Lock a repair writes a new version on top of a damaged one, see ``repair.py``).

Outcomes: ``ok``; ``mismatch`` (other bytes, another size, or the inventory disagrees);
``missing`` (the key is gone while the store answers); ``error`` (the bytes could not be read:
the store is unreachable or failed mid-read) — an error is never a pass.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from archive_service.db.base import utcnow
from archive_service.integrity.fixity_models import CheckOutcome
from archive_service.storage.base import ObjectNotFound, ObjectStore, StorageError

READ_BUFFER = 1024 * 1024

#: Called with the number of bytes just read (a byte-rate budget sleeps in it).
Pace = Callable[[int], None]


@dataclass(frozen=True)
class Reference:
    """What one stored object must be (a ``StoredObject`` row, detached from its session)."""

    stored_object_id: int | None
    dossier_id: int | None
    storage: str
    key: str
    version_id: str  # the store version recorded at ingest ("" without versions)
    aip_version: str
    size: int
    sha256: str


@dataclass(frozen=True)
class InventoryDigest:
    """What the OCFL inventory says of a key: its digest, or why it cannot say.

    ``sha256`` and ``problem`` are both ``None`` for keys the inventory does not list by nature
    (inventories, sidecars, the object declaration).
    """

    sha256: str | None = None
    problem: str | None = None
    contradicts: bool = False  # the problem is a contradiction (a content key not in manifest)


NOT_LISTED = InventoryDigest()


@dataclass(frozen=True)
class CheckResult:
    """What one check found."""

    reference: Reference
    outcome: CheckOutcome
    checked_at: datetime
    duration_ms: int
    version_id: str = ""  # the store version read
    actual_sha256: str | None = None
    actual_size: int | None = None
    inventory_sha256: str | None = None
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is CheckOutcome.OK

    @property
    def damaged(self) -> bool:
        """Read and found wrong (mismatch or missing): what a replica can repair."""
        return self.outcome in (CheckOutcome.MISMATCH, CheckOutcome.MISSING)


def check_object(
    store: ObjectStore,
    reference: Reference,
    inventory: InventoryDigest = NOT_LISTED,
    *,
    pace: Pace | None = None,
) -> CheckResult:
    """Re-read ``reference.key`` (newest version) from ``store`` and compare; never raises
    ``StorageError`` (it becomes the outcome ``error``, or ``missing`` when the store answers)."""
    started, checked_at = time.perf_counter(), utcnow()

    def result(
        outcome: CheckOutcome,
        detail: str | None,
        read: tuple[str, str, int] | None = None,
    ) -> CheckResult:
        version_id, sha256, size = read if read is not None else ("", None, None)
        return CheckResult(
            reference,
            outcome,
            checked_at,
            round((time.perf_counter() - started) * 1000),
            version_id=version_id,
            actual_sha256=sha256,
            actual_size=size,
            inventory_sha256=inventory.sha256,
            detail=detail,
        )

    try:
        read = read_newest(store, reference.key, pace)
    except ObjectNotFound:
        unreachable = store_unreachable(store)
        if unreachable:
            return result(CheckOutcome.ERROR, f"Kho lưu trữ không truy cập được: {unreachable}")
        return result(CheckOutcome.MISSING, f"Không còn đối tượng {reference.key} trong kho")
    except (StorageError, OSError) as exc:
        return result(CheckOutcome.ERROR, f"Không đọc được {reference.key}: {exc}")
    problems = _differences(reference, inventory, read[1], read[2])
    if problems:
        return result(CheckOutcome.MISMATCH, "; ".join(problems), read)
    return result(CheckOutcome.OK, inventory.problem, read)


def read_newest(store: ObjectStore, key: str, pace: Pace | None = None) -> tuple[str, str, int]:
    """(version id read, SHA-256, size) of the newest version of ``key``, streamed."""
    version_id = store.stat(key).version_id if store.capabilities.versioning else None
    with store.open(key, version_id=version_id) as stream:
        sha256, size = hash_stream(stream, pace)
    return version_id or "", sha256, size


def hash_stream(stream: BinaryIO, pace: Pace | None = None) -> tuple[str, int]:
    """(lower-case hex SHA-256, size) of what is left in ``stream``, one buffer reused."""
    digest = hashlib.sha256()
    buffer = bytearray(READ_BUFFER)
    view = memoryview(buffer)
    size = 0
    while count := stream.readinto(buffer):  # type: ignore[attr-defined]
        digest.update(view[:count])
        size += count
        if pace is not None:
            pace(count)
    return digest.hexdigest(), size


def store_unreachable(store: ObjectStore) -> str | None:
    """Why ``store`` cannot be used now, or ``None`` when it answers."""
    try:
        store.check()
    except (StorageError, OSError) as exc:
        return str(exc) or type(exc).__name__
    return None


def _differences(
    reference: Reference, inventory: InventoryDigest, sha256: str, size: int
) -> list[str]:
    """Why the bytes read are not the object deposited (empty when they are)."""
    found = []
    if size != reference.size:
        found.append(f"kích thước {size} byte, khi nộp lưu là {reference.size} byte")
    both_agree = inventory.sha256 == reference.sha256
    if sha256 != reference.sha256:
        where = "khi nộp lưu và trong inventory OCFL" if both_agree else "khi nộp lưu"
        found.append(f"SHA-256 {sha256} khác giá trị ghi {where} {reference.sha256}")
    if inventory.sha256 is not None and not both_agree and sha256 != inventory.sha256:
        found.append(f"SHA-256 {sha256} khác digest trong inventory OCFL {inventory.sha256}")
    return found
