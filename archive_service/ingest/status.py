"""Status changes of a deposit, each written to the audit trail in the same transaction, what
a deposit waits for, and which deposit is writing a dossier."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive_service.db.base import utcnow
from archive_service.ingest.models import WRITING_STATUSES, Deposit, DepositStatus, WaitingFor
from archive_service.integrity.audit import record_audit

SYSTEM_ACTOR = "system"
STATUS_CHANGED = "deposit.status_changed"


def change_status(
    session: Session,
    deposit: Deposit,
    status: DepositStatus,
    *,
    detail: dict[str, Any] | None = None,
) -> None:
    """Move ``deposit`` to ``status`` (an end status also sets ``finished_at``) and audit it."""
    previous = deposit.status
    deposit.status = status
    now = utcnow()
    deposit.updated_at = now
    if status.final:
        deposit.finished_at = now
        deposit.lease_until = None
        deposit.next_attempt_at = None
        stop_waiting(deposit)
    if previous == status:
        return
    record_audit(
        session,
        actor=SYSTEM_ACTOR,
        action=STATUS_CHANGED,
        target_type="deposit",
        target_id=deposit.id,
        detail={"from": previous, "to": status.value, **(detail or {})},
    )


def start_waiting(deposit: Deposit, what: WaitingFor) -> None:
    """Say what ``deposit`` waits for; since when stays while it waits for the same thing."""
    if deposit.waiting_for != what:
        deposit.waiting_for, deposit.waiting_since = what, utcnow()


def stop_waiting(deposit: Deposit) -> None:
    """The deposit waits for nothing (it went past what it waited for, or ended)."""
    deposit.waiting_for = deposit.waiting_since = None


def deposit_writing(session: Session, dossier_code: str) -> str | None:
    """The id of the deposit holding the dossier's writer slot (``packaging`` or ``storing``:
    at most one, by a partial unique index), if one does."""
    return session.scalar(
        select(Deposit.id)
        .where(Deposit.dossier_code == dossier_code)
        .where(Deposit.status.in_([status.value for status in WRITING_STATUSES]))
        .limit(1)
    )
