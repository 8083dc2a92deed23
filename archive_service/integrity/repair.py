"""Repair from a replica: restore a damaged or missing object from a second, verified copy.

The replica is a second storage endpoint (``ARCHIVE_REPLICA_STORAGE_URL``: another directory or
another bucket, ideally on another server) holding the same keys. A repair

1. reads the replica's newest version of the key and hashes it: it must have the size and SHA-256
   the database recorded at ingest, or nothing is written;
2. streams it again into the primary store with that SHA-256 as the expected digest (the store
   verifies while writing and keeps nothing on a mismatch);
3. checks the primary object again like any fixity check.

**Object Lock.** On S3 a damaged version under retention cannot be overwritten or deleted: the
repair writes a *new version* of the key, with the retention and legal hold of the version
recorded at ingest, and the damaged one stays, locked, underneath (visible with
``list_versions``). Fixity checks and every reader read the newest version, so the repaired
bytes are what the archive serves, and the database's reference then names that version. The
filesystem store has no versions: it accepts writing again the very bytes a lock protects and
keeps the lock (any other bytes are refused with ``ObjectLocked``, and the repair then fails and
the damage stays reported).

Without a replica nothing is repaired: the damage stays in the report and in the
``last_outcome`` of the object until someone acts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from archive_service.config import Settings
from archive_service.integrity.fixity_check import (
    CheckResult,
    InventoryDigest,
    check_object,
    read_newest,
)
from archive_service.integrity.fixity_models import RepairOutcome
from archive_service.storage import lockrules
from archive_service.storage.base import (
    ObjectLocked,
    ObjectNotFound,
    ObjectStore,
    Retention,
    StorageError,
)
from archive_service.storage.factory import open_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RepairResult:
    """What a repair did; ``recheck`` is the check of the primary object after writing."""

    outcome: RepairOutcome
    detail: str
    recheck: CheckResult | None = None
    version_id: str | None = None  # the version written on the primary store

    @property
    def repaired(self) -> bool:
        return self.outcome is RepairOutcome.REPAIRED


class CopyRefused(StorageError):
    """The source copy does not have the expected size and SHA-256: nothing was written."""


def open_replica_store(settings: Settings) -> ObjectStore | None:
    """The replica store the settings name, ``None`` when no replica is configured."""
    if not settings.replica_storage_url:
        return None
    secret = settings.replica_s3_secret_key
    return open_store(
        settings.replica_storage_url,
        endpoint=settings.replica_s3_endpoint,
        access_key=settings.replica_s3_access_key,
        secret_key=secret.get_secret_value() if secret else None,
        secure=settings.replica_s3_secure,
        region=settings.replica_s3_region,
    )


@dataclass(frozen=True)
class Protection:
    """The Object Lock a repaired copy must carry: that of the version recorded at ingest."""

    retention: Retention | None = None
    legal_hold: bool = False

    @classmethod
    def of(cls, store: ObjectStore, key: str, version_id: str) -> Protection:
        """The active lock of ``key``'s recorded version (none when it cannot be read)."""
        try:
            info = store.stat(key, version_id=version_id or None)
        except (StorageError, OSError):
            return cls()
        retention = info.retention if lockrules.is_active(info.retention) else None
        return cls(retention, info.legal_hold)


def copy_verified(
    source: ObjectStore,
    target: ObjectStore,
    key: str,
    *,
    sha256: str,
    size: int,
    protection: Protection | None = None,
) -> str | None:
    """Copy the newest version of ``key`` from ``source`` to ``target`` once it is proven to have
    ``size`` bytes hashing to ``sha256``, under ``protection``; return the version id written
    (``None`` without versions). ``CopyRefused`` when the source has other bytes."""
    version_id, found, found_size = read_newest(source, key)
    if (found, found_size) != (sha256, size):
        raise CopyRefused(
            f"bản sao của {key} có SHA-256 {found} ({found_size} byte), "
            f"không phải {sha256} ({size} byte) như khi nộp lưu"
        )
    lock = protection or Protection()
    with source.open(key, version_id=version_id or None) as stream:
        written = target.put(
            key,
            stream,
            size=size,
            expected_sha256=sha256,
            retention=lock.retention,
            legal_hold=lock.legal_hold,
        )
    return written.version_id


class ReplicaRepairer:
    """Restores damaged objects of the primary store from the replica."""

    def __init__(self, primary: ObjectStore, replica: ObjectStore) -> None:
        self.primary = primary
        self.replica = replica

    def repair(self, damaged: CheckResult, inventory: InventoryDigest) -> RepairResult:
        """Restore ``damaged.reference`` from the replica, then check it again."""
        reference = damaged.reference
        key = reference.key
        protection = Protection.of(self.primary, key, reference.version_id)
        try:
            version_id = copy_verified(
                self.replica,
                self.primary,
                key,
                sha256=reference.sha256,
                size=reference.size,
                protection=protection,
            )
        except CopyRefused as exc:
            return self._failed(key, f"Không khôi phục: {exc}")
        except ObjectNotFound:
            return self._failed(key, f"Không khôi phục: bản sao không có {key}")
        except ObjectLocked as exc:
            return self._failed(
                key, f"Không khôi phục: {key} đang bị khóa (Object Lock/giữ pháp lý): {exc}"
            )
        except (StorageError, OSError) as exc:
            return self._failed(key, f"Không khôi phục được {key} từ bản sao: {exc}")
        recheck = check_object(self.primary, reference, inventory)
        if not recheck.ok:
            return self._failed(
                key, f"Đã chép lại {key} từ bản sao nhưng kiểm tra lại: {recheck.detail}", recheck
            )
        written = f" (phiên bản mới {version_id})" if version_id else ""
        detail = (
            f"Đã khôi phục {key} từ bản sao{written}: bản sao được xác minh SHA-256 "
            f"{reference.sha256} trước khi chép, kiểm tra lại sau khi chép: khớp"
        )
        log.warning("fixity repair: %s", detail)
        return RepairResult(RepairOutcome.REPAIRED, detail, recheck, version_id)

    @staticmethod
    def _failed(key: str, detail: str, recheck: CheckResult | None = None) -> RepairResult:
        log.error("fixity repair of %s failed: %s", key, detail)
        return RepairResult(RepairOutcome.FAILED, detail, recheck)
