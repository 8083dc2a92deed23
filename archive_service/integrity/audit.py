"""The single way to write the audit trail: append one entry in the caller's transaction.

Entries are never changed or removed; the ORM refuses to update or delete them. Identity numbers
in ``detail`` are masked before they are written, because the trail can never be corrected.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper, Session

from archive_service.db.base import utcnow
from archive_service.integrity.models import AuditEntry
from archive_service.security.masking import mask_value

MAX_ACTOR, MAX_ACTION, MAX_TARGET_TYPE, MAX_TARGET_ID, MAX_REMOTE_ADDR = 200, 100, 50, 200, 100


class AuditTrailIsAppendOnly(Exception):
    """Something tried to change or delete an audit entry."""


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    role: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    remote_addr: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append an audit entry (who, what, on what, from where, when) to ``session``'s transaction.

    ``actor`` is ``key:<id>``, ``system`` or ``cli:<user>``; ``action`` a dotted verb such as
    ``deposit.received``. The entry is flushed, so it has its id; it is committed or rolled back
    together with the caller's work.
    """
    _check("actor", actor, MAX_ACTOR, required=True)
    _check("action", action, MAX_ACTION, required=True)
    _check("target_type", target_type, MAX_TARGET_TYPE)
    _check("target_id", target_id, MAX_TARGET_ID)
    _check("remote_addr", remote_addr, MAX_REMOTE_ADDR)
    entry = AuditEntry(
        at=utcnow(),
        actor=actor,
        role=str(role) if role is not None else None,
        action=action,
        target_type=target_type,
        target_id=target_id,
        remote_addr=remote_addr,
        detail=mask_value(dict(detail or {})),
    )
    session.add(entry)
    session.flush()
    return entry


def _check(name: str, value: str | None, limit: int, *, required: bool = False) -> None:
    if required and not value:
        raise ValueError(f"audit entry needs a non-empty {name}")
    if value is not None and len(value) > limit:
        raise ValueError(f"audit {name} longer than {limit} characters: {value[:40]!r}…")


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _refuse_change(_mapper: Mapper[Any], _connection: Connection, entry: AuditEntry) -> None:
    raise AuditTrailIsAppendOnly(f"audit entry {entry.id} cannot be changed or deleted")
