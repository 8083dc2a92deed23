"""S3 Object Lock rules, for backends that must enforce them in code (the filesystem store).

The rules are those of S3: a legal hold forbids deletion until lifted; an active COMPLIANCE
retention can only be extended, never shortened, changed to another mode or bypassed; an active
GOVERNANCE retention may be shortened, changed to another mode or bypassed only with
``bypass_governance``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from archive_service.storage.base import ObjectLocked, Retention, RetentionMode


def is_active(retention: Retention | None, now: datetime | None = None) -> bool:
    """Whether ``retention`` still protects its object at ``now`` (default: the current time)."""
    return retention is not None and retention.until > (now or datetime.now(UTC))


def is_locked(retention: Retention | None, legal_hold: bool) -> bool:
    """Whether anything at all forbids changing or deleting the object now."""
    return legal_hold or is_active(retention)


def refuse_delete(
    key: str, retention: Retention | None, legal_hold: bool, *, bypass_governance: bool
) -> None:
    """Raise ``ObjectLocked`` when the object may not be deleted."""
    if legal_hold:
        raise ObjectLocked(f"{key}: under legal hold")
    if not is_active(retention):
        return
    assert retention is not None
    if retention.mode is RetentionMode.COMPLIANCE:
        raise ObjectLocked(f"{key}: under COMPLIANCE retention until {retention.until.isoformat()}")
    if not bypass_governance:
        raise ObjectLocked(f"{key}: under GOVERNANCE retention until {retention.until.isoformat()}")


def refuse_overwrite(key: str, retention: Retention | None, legal_hold: bool) -> None:
    """Raise ``ObjectLocked`` when a store without versions would destroy a locked object."""
    if is_locked(retention, legal_hold):
        raise ObjectLocked(f"{key}: locked, cannot be replaced")


def refuse_retention_change(
    key: str, current: Retention | None, new: Retention, *, bypass_governance: bool
) -> None:
    """Raise ``ObjectLocked`` unless ``new`` only extends an active retention (same mode)."""
    if not is_active(current):
        return
    assert current is not None
    if new.mode is current.mode and new.until >= current.until:
        return
    if current.mode is RetentionMode.COMPLIANCE:
        raise ObjectLocked(f"{key}: COMPLIANCE retention can only be extended")
    if not bypass_governance:
        raise ObjectLocked(f"{key}: changing GOVERNANCE retention needs bypass_governance")
