"""Leases: one worker at a time processes a deposit, and a dead worker's claim runs out.

Claiming a deposit sets ``lease_until`` in the same transaction that checks nobody else holds
it. While the worker runs, a background thread renews the lease (every third of its length) with
a compare-and-set on the value it last wrote; if the row holds anything else, another worker took
over and this one must stop. A worker that dies simply stops renewing: its lease runs out and any
other worker (or the restarted one) may claim the deposit.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from archive_service.db.base import utcnow
from archive_service.db.session import Database
from archive_service.ingest.errors import DepositNotFound
from archive_service.ingest.models import Deposit, DepositStatus, WaitingFor
from archive_service.ingest.status import change_status

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another worker holds the deposit now; this one must stop without recording anything."""


@dataclass(frozen=True)
class Wait:
    """The deposit cannot be processed now: try again in ``seconds``."""

    seconds: float


@dataclass(frozen=True)
class Finished:
    """The deposit has reached its end: nothing to do."""

    deposit: Deposit


def _seconds_until(moment: datetime | None, now: datetime) -> float:
    return max(0.0, (moment - now).total_seconds()) if moment is not None else 0.0


def claim(
    database: Database,
    deposit_id: str,
    seconds: float,
    *,
    starting: DepositStatus | None = None,
) -> Deposit | Wait | Finished:
    """Take the lease of a deposit that is due; count the attempt. The row is returned detached.

    With ``starting`` (the pipeline's claims), a deposit still ``received`` moves to that
    status in the same transaction, so the first step of an attempt costs no transaction of
    its own — unless it waits for its dossier: it stays ``received`` until the dossier is free
    (a wait writes no status change). A claim is an ordinary, flushed transaction: it may
    write a status change and its audit entry (only renewals are transient)."""
    with database.session() as session:
        deposit = session.get(Deposit, deposit_id, with_for_update=True)
        if deposit is None:
            raise DepositNotFound(deposit_id)
        if DepositStatus(deposit.status).final:
            return Finished(deposit)
        now = utcnow()
        wait = max(
            _seconds_until(deposit.lease_until, now), _seconds_until(deposit.next_attempt_at, now)
        )
        if wait > 0:
            return Wait(wait)
        deposit.lease_until = now + timedelta(seconds=seconds)
        deposit.next_attempt_at = None
        deposit.attempts += 1
        waiting = deposit.waiting_for == WaitingFor.DOSSIER
        if starting is not None and deposit.status == DepositStatus.RECEIVED and not waiting:
            change_status(session, deposit, starting)
        return deposit


class Lease:
    """A claimed deposit's lease, renewed in the background until ``release``."""

    def __init__(self, database: Database, deposit_id: str, until: datetime, seconds: float):
        self._database = database
        self.deposit_id = deposit_id
        self.until = until
        self._seconds = seconds
        self._lost = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._renew_until_stopped, name=f"lease-{deposit_id}", daemon=True
        )
        self._thread.start()

    def check(self) -> None:
        """Raise ``LeaseLost`` when the lease was taken over or ran out unrenewed."""
        if self._lost or utcnow() >= self.until:
            raise LeaseLost(f"deposit {self.deposit_id}: lease lost")

    def owns(self, deposit: Deposit) -> bool:
        """Whether ``deposit`` (read in the caller's transaction) still carries this lease."""
        return not self._lost and deposit.lease_until == self.until

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """No renewal happens inside: the caller may compare and clear the lease itself."""
        with self._lock:
            yield

    def release(self) -> None:
        """Stop renewing (the caller clears ``lease_until`` in its last transaction)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self._seconds / 3):
            with self._lock:
                if self._stop.is_set() or self._lost:
                    return
                self._renew()

    def _renew(self) -> None:
        new = utcnow() + timedelta(seconds=self._seconds)
        try:
            with self._database.transient_session() as session:
                result = session.execute(
                    update(Deposit)
                    .where(Deposit.id == self.deposit_id, Deposit.lease_until == self.until)
                    .values(lease_until=new, updated_at=Deposit.updated_at)
                )
                renewed = getattr(result, "rowcount", 0) == 1
        except SQLAlchemyError as exc:
            log.warning("deposit %s: lease not renewed: %s", self.deposit_id, exc)
            return
        if renewed:
            self.until = new
        else:
            self._lost = True
