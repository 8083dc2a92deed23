"""What the deposit service answers: the receipt of a deposit and the view of its progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping

from archive_service.ingest.models import Deposit, DepositStatus


@dataclass(frozen=True)
class DepositReceipt:
    """The answer to a deposit: the deposit (new, or the original one for a repeated request)."""

    deposit_id: str
    status: DepositStatus
    created: bool  # False: an earlier deposit with the same key or the same SIP was returned
    sha256: str  # of the SIP as received (for a repeated request: of the original)
    size: int
    dossier_code: str | None


@dataclass(frozen=True)
class DepositView:
    """Where a deposit is, with every problem found; ``problems`` items are ``Problem.as_dict``."""

    deposit_id: str
    agency_id: str
    kind: str  # zip | plain
    status: DepositStatus
    final: bool
    sha256: str
    size: int
    dossier_code: str | None
    record_status: str | None
    aip_version: str | None
    problems: list[dict[str, Any]]
    attempts: int
    failure_reason: str | None
    received_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    next_attempt_at: datetime | None
    #: What it waits for without using an attempt (``WaitingFor``: ``dossier``, ``storage``).
    waiting_for: str | None
    waiting_since: datetime | None

    @property
    def progress(self) -> DepositProgress:
        """Its status and what it waits for: what a status request that waits watches."""
        return DepositProgress(self.status, self.waiting_for)


@dataclass(frozen=True)
class DepositProgress:
    """Where a deposit is in its course: its status, and what it waits for if it does."""

    status: str
    waiting_for: str | None = None

    @property
    def unfinished(self) -> bool:
        """Not archived, rejected nor failed yet."""
        return not DepositStatus(self.status).final


#: The columns of ``deposits`` a ``DepositView`` is made of (``view_of``).
DEPOSIT_VIEW_COLUMNS = (
    Deposit.id,
    Deposit.agency_id,
    Deposit.kind,
    Deposit.status,
    Deposit.sip_sha256,
    Deposit.sip_size,
    Deposit.dossier_code,
    Deposit.record_status,
    Deposit.aip_version,
    Deposit.problems,
    Deposit.attempts,
    Deposit.failure_reason,
    Deposit.received_at,
    Deposit.updated_at,
    Deposit.finished_at,
    Deposit.next_attempt_at,
    Deposit.waiting_for,
    Deposit.waiting_since,
)


@dataclass(frozen=True)
class PendingDeposit:
    """A deposit not at its end yet, and how long until it may be processed."""

    deposit_id: str
    due_in: float


def receipt_of(deposit: Deposit, *, created: bool) -> DepositReceipt:
    return DepositReceipt(
        deposit_id=deposit.id,
        status=DepositStatus(deposit.status),
        created=created,
        sha256=deposit.sip_sha256,
        size=deposit.sip_size,
        dossier_code=deposit.dossier_code,
    )


def view_of(deposit: RowMapping, problems: list[dict[str, Any]]) -> DepositView:
    """The view of a deposit row (the columns of ``DEPOSIT_VIEW_COLUMNS``, by name)."""
    status = DepositStatus(deposit["status"])
    return DepositView(
        deposit_id=deposit["id"],
        agency_id=deposit["agency_id"],
        kind=deposit["kind"],
        status=status,
        final=status.final,
        sha256=deposit["sip_sha256"],
        size=deposit["sip_size"],
        dossier_code=deposit["dossier_code"],
        record_status=deposit["record_status"],
        aip_version=deposit["aip_version"],
        problems=problems,
        attempts=deposit["attempts"],
        failure_reason=deposit["failure_reason"],
        received_at=deposit["received_at"],
        updated_at=deposit["updated_at"],
        finished_at=deposit["finished_at"],
        next_attempt_at=deposit["next_attempt_at"],
        waiting_for=deposit["waiting_for"],
        waiting_since=deposit["waiting_since"],
    )
