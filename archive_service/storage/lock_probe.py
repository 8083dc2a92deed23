"""Does the store really enforce retention locks? Ask it, with a probe object.

A small object is written under the reserved prefix ``.doctor/``, given a short GOVERNANCE
retention (one day), then deleted *without* the governance bypass:

- the store refuses (``ObjectLocked``): locks are **enforced**;
- the delete succeeds and the version is gone: locks are **not enforced** — nothing stops an
  archived version from being deleted before its time;
- the store will not even set the retention (a bucket without Object Lock): **not enforced**.

Afterwards the probe is removed with the governance bypass. When even that is refused (a
COMPLIANCE default retention of the bucket, or no right to bypass) the key and version left
behind are reported. A bucket whose default retention already locks new objects is probed with
that lock. On the filesystem store the rules are enforced by the archive's own code, not by
the file system: the result says so.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from archive_service.storage import lockrules
from archive_service.storage.base import (
    ObjectLocked,
    ObjectNotFound,
    ObjectStore,
    Retention,
    RetentionMode,
    StorageError,
)
from archive_service.storage.filesystem import FilesystemStore

PROBE_PREFIX = ".doctor/"
PROBE_BYTES = b"archive doctor: storage lock probe; safe to delete once its retention ends\n"
DEFAULT_HOLD = timedelta(days=1)


class LockVerdict(StrEnum):
    """``enforced``, ``not-enforced``, or ``not-checked`` when the probe could not run."""

    ENFORCED = "enforced"
    NOT_ENFORCED = "not-enforced"
    NOT_CHECKED = "not-checked"


@dataclass(frozen=True)
class LockProbe:
    """What the probe found, in Vietnamese for people, and what it left behind (if anything)."""

    store: str
    verdict: LockVerdict
    detail: str
    key: str | None = None
    mode: str | None = None
    retain_until: datetime | None = None
    enforced_by: str | None = None  # "storage" (the server) or "archive code" (filesystem)
    leftover_key: str | None = None
    leftover_version: str | None = None
    cleanup_problem: str | None = None

    @property
    def ok(self) -> bool:
        """Locks are enforced."""
        return self.verdict is LockVerdict.ENFORCED


def probe_locks(
    store: ObjectStore,
    *,
    mode: RetentionMode = RetentionMode.GOVERNANCE,
    hold: timedelta = DEFAULT_HOLD,
) -> LockProbe:
    """Write, lock and try to delete a probe object on ``store``; then clean it up."""
    name = repr(store)
    try:
        store.check()
    except StorageError as exc:
        return LockProbe(name, LockVerdict.NOT_CHECKED, f"kho lưu trữ không dùng được: {exc}")
    key = f"{PROBE_PREFIX}lock-probe-{uuid.uuid4().hex}"
    try:
        version = store.put(key, io.BytesIO(PROBE_BYTES), size=len(PROBE_BYTES)).version_id
        info = store.stat(key, version_id=version)
    except StorageError as exc:
        return LockProbe(
            name, LockVerdict.NOT_CHECKED, f"không ghi được đối tượng thử: {exc}", key=key
        )
    version = info.version_id or version
    retention = info.retention if lockrules.is_active(info.retention) else None
    if retention is None:  # no default retention of the bucket: set our own
        wanted = Retention(mode, datetime.now(UTC).replace(microsecond=0) + hold)
        try:
            store.set_retention(key, wanted, version_id=version)
        except StorageError as exc:
            return _finish(
                store,
                key,
                version,
                LockProbe(
                    name,
                    LockVerdict.NOT_ENFORCED,
                    f"kho không nhận khóa lưu giữ (retention) cho đối tượng: {exc}",
                    key=key,
                ),
            )
        retention = wanted
    return _finish(store, key, version, _try_delete(store, name, key, version, retention))


def _try_delete(
    store: ObjectStore, name: str, key: str, version: str | None, retention: Retention
) -> LockProbe:
    """Delete the locked probe without any bypass: the store must refuse."""
    on_files = isinstance(store, FilesystemStore)
    locked = f"đối tượng đang khóa {retention.mode.value} đến {retention.until.isoformat()}"
    probe = LockProbe(
        name,
        LockVerdict.NOT_CHECKED,
        "",
        key=key,
        mode=retention.mode.value,
        retain_until=retention.until,
        enforced_by="archive code" if on_files else "storage",
    )
    try:
        store.delete(key, version_id=version)
    except ObjectLocked:
        where = (
            "mã của kho lưu trữ (kho tệp: người có quyền trên thư mục vẫn xóa được tệp)"
            if on_files
            else "máy chủ lưu trữ"
        )
        detail = f"xóa {locked} (không vượt khóa) bị từ chối; khóa do {where} thực thi"
        return replace(probe, verdict=LockVerdict.ENFORCED, detail=detail)
    except StorageError as exc:
        return replace(probe, detail=f"thử xóa đối tượng thử gặp lỗi khác: {exc}")
    if _still_there(store, key, version):
        detail = f"lệnh xóa được nhận nhưng {locked} vẫn còn nguyên"
        return replace(probe, verdict=LockVerdict.ENFORCED, detail=detail)
    detail = f"{locked} đã bị xóa được, không cần vượt khóa: kho không thực thi khóa lưu giữ"
    return replace(probe, verdict=LockVerdict.NOT_ENFORCED, detail=detail, enforced_by=None)


def _still_there(store: ObjectStore, key: str, version: str | None) -> bool:
    try:
        store.stat(key, version_id=version)
    except ObjectNotFound:
        return False
    return True


def _finish(store: ObjectStore, key: str, version: str | None, probe: LockProbe) -> LockProbe:
    """Remove what is left of the probe, with the governance bypass; report what cannot be."""
    try:
        if not _still_there(store, key, version):
            return probe
        store.delete(key, version_id=version, bypass_governance=True)
        if not _still_there(store, key, version):
            return probe
        problem = "đối tượng thử vẫn còn sau khi xóa"
    except StorageError as exc:
        problem = f"không xóa được đối tượng thử: {exc}"
    return replace(probe, leftover_key=key, leftover_version=version, cleanup_problem=problem)


def probe_configured_storage() -> LockProbe:
    """``probe_locks`` on the archive's own store, as the settings name it."""
    from archive_service.config import get_settings
    from archive_service.storage.setup import open_archive_store

    try:
        store = open_archive_store(get_settings())
    except ValueError as exc:  # a bad storage URL or setting (pydantic's errors are ValueErrors)
        return LockProbe("?", LockVerdict.NOT_CHECKED, f"cấu hình kho lưu trữ không hợp lệ: {exc}")
    return probe_locks(store)
