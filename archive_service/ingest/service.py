"""The deposit service: register deposits, run them through the pipeline, tell where they are.

No HTTP here: the API and the command line call these methods and map the domain exceptions
(``ingest.errors``) to answers.

**Registering** (``register_zip``) takes an upload already streamed into the staging area. In
order: the caller must be allowed to deposit; a deposit of this agency with the same
``Idempotency-Key`` or the same SIP SHA-256 is the *original*, which is returned (``created``
false) while the new upload is discarded — the same key with a different SIP is refused
(``IdempotencyKeyReused``); then a quick look into the SIP (``peek.glance_sip``) refuses at once
a SIP of another agency (``AgencyMismatch``) and a SIP of an archived dossier code that is not a
supplement or replacement (``DuplicateDossier``). Finally the upload is renamed to
``<deposit id>.zip`` and the deposit row and its audit entry are committed together; a
concurrent twin loses on the unique constraints and gets the original. The task is sent last.

**Decisions.** The agency of a deposit is the depositor key's agency; an admin key (no agency)
deposits for the SIP's receiving agency. A failed deposit (its staged SIP was removed) is started
again, with the newly uploaded bytes, when the same SIP (or key) is sent again. Identity numbers
in problem messages are masked for roles that may not see them. Plain deposits are idempotent by
key only (each build of a SIP has its own package id and time, hence its own SHA-256).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from archive_service.config import Settings
from archive_service.db.base import utcnow
from archive_service.db.migrate import require_up_to_date
from archive_service.db.session import Database
from archive_service.dossiers.models import Dossier
from archive_service.ingest import crashpoints
from archive_service.ingest.dispatch import TaskDispatcher, make_dispatcher
from archive_service.ingest.errors import (
    AgencyMismatch,
    DepositForbidden,
    DepositNotFound,
    DuplicateDossier,
    IdempotencyKeyReused,
)
from archive_service.ingest.models import Deposit, DepositStatus
from archive_service.ingest.peek import SipGlance, glance_sip
from archive_service.ingest.pipeline import DepositPipeline
from archive_service.ingest.process_pool import ProcessPipeline
from archive_service.ingest.staging import (
    StagedFile,
    deposit_path,
    discard,
    new_upload_path,
    remove_deposit_files,
    staged_deposit_ids,
    stale_uploads,
)
from archive_service.ingest.status import change_status
from archive_service.ingest.views import (
    DEPOSIT_VIEW_COLUMNS,
    DepositProgress,
    DepositReceipt,
    DepositView,
    PendingDeposit,
    receipt_of,
    view_of,
)
from archive_service.integrity.audit import record_audit
from archive_service.packages.mets import VN_TZ
from archive_service.packages.plain import parse_plain_metadata
from archive_service.packages.sip_builder import build_sip
from archive_service.security.masking import mask_value
from archive_service.security.models import Agency
from archive_service.security.service import Action, Principal
from archive_service.storage.ocfl import OcflRepository
from archive_service.storage.setup import open_archive_repository
from archive_service.streams import FileSource
from retention.locks import deposits_awaiting_locks

__all__ = [
    "DepositProgress",
    "DepositReceipt",
    "DepositService",
    "DepositView",
    "PendingDeposit",
    "open_deposit_service",
]

log = logging.getLogger(__name__)

#: Staged files younger than this are never swept: an upload may still be registering.
STAGING_GRACE_SECONDS = 3600.0

# The reads of every deposit and status request, built once so that their compiled form is
# reused, and run on a plain read connection (``Database.read_connection``), not a session.
_VIEW_BY_ID = select(*DEPOSIT_VIEW_COLUMNS).where(Deposit.id == bindparam("deposit_id"))
_PROGRESS_BY_ID = select(Deposit.status, Deposit.waiting_for).where(
    Deposit.id == bindparam("deposit_id")
)
_BY_KEY = select(Deposit.id, Deposit.sip_sha256).where(
    Deposit.agency_id == bindparam("agency_id"), Deposit.idempotency_key == bindparam("key")
)
_BY_SHA256 = select(Deposit.id).where(
    Deposit.agency_id == bindparam("agency_id"), Deposit.sip_sha256 == bindparam("sha256")
)
_ARCHIVED_DOSSIER = select(Dossier.id).where(Dossier.dossier_code == bindparam("dossier_code"))


class DepositService:
    """Deposits: register, process (the task body), read."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        repository: OcflRepository,
        dispatcher: TaskDispatcher,
    ) -> None:
        self.settings = settings
        self.database = database
        self.repository = repository
        self.dispatcher = dispatcher
        self.pipeline = make_pipeline(settings, database, repository)

    # --- registering

    def register_zip(
        self,
        principal: Principal,
        staged: StagedFile,
        *,
        idempotency_key: str | None = None,
        remote_addr: str | None = None,
        kind: str = "zip",
    ) -> DepositReceipt:
        """Register a staged SIP ZIP (see the module text). The staged file is consumed: moved
        into place, or removed when the request is refused or repeats an earlier one."""
        try:
            return self._register(principal, staged, idempotency_key, remote_addr, kind)
        except BaseException:
            discard(staged)
            raise

    def register_plain(
        self,
        principal: Principal,
        metadata: bytes,
        files: Mapping[str, FileSource],
        *,
        idempotency_key: str | None = None,
        remote_addr: str | None = None,
    ) -> DepositReceipt:
        """Package a plain deposit (metadata JSON + files) as a SIP in staging, then register it.

        Raises ``PackageInvalid`` (every problem of the metadata and files) before anything is
        registered. A repeated ``Idempotency-Key`` returns the original without building.
        """
        self._require_depositor(principal)
        if idempotency_key is not None:
            original = self._original_by_key(principal, idempotency_key)
            if original is not None:
                return self._repeat(original, None)
        deposit = parse_plain_metadata(metadata)
        target = new_upload_path(self.settings.staging_dir).with_suffix(".zip")
        manifest = build_sip(
            deposit,
            files,
            target,
            fonds_code=self.settings.fonds_code,
            created=datetime.now(VN_TZ),
        )
        assert manifest.sha256 is not None and manifest.size is not None
        staged = StagedFile(target, manifest.sha256, manifest.size)
        return self.register_zip(
            principal,
            staged,
            idempotency_key=idempotency_key,
            remote_addr=remote_addr,
            kind="plain",
        )

    def glance(self, principal: Principal, staged: StagedFile) -> SipGlance | None:
        """The quick pre-check of ``register_zip``, on its own: raise ``AgencyMismatch`` or
        ``DuplicateDossier`` for a SIP that would be refused; ``None`` when it cannot be read
        quickly (the full check will report why)."""
        glance = glance_sip(staged.path, self.settings.limits)
        if glance is None:
            return None
        if not principal.can_deposit_for(glance.receiving_agency_id):
            raise AgencyMismatch(glance.receiving_agency_id, principal.agency_id)
        if not glance.adds_version:
            with self.database.read_connection() as connection:
                archived = connection.scalar(
                    _ARCHIVED_DOSSIER, {"dossier_code": glance.dossier_code}
                )
            if archived is not None:
                raise DuplicateDossier(glance.dossier_code)
        return glance

    def _register(
        self,
        principal: Principal,
        staged: StagedFile,
        idempotency_key: str | None,
        remote_addr: str | None,
        kind: str,
    ) -> DepositReceipt:
        self._require_depositor(principal)
        if principal.agency_id is not None:
            original = self._original(principal.agency_id, idempotency_key, staged.sha256)
            if original is not None:
                return self._repeat(original, staged)
        glance = self.glance(principal, staged)
        agency_id = principal.agency_id or (glance.receiving_agency_id if glance else None)
        if agency_id is None:
            raise DepositForbidden(
                "Không xác định được cơ quan nộp lưu: khóa API không gắn với cơ quan nào và "
                "không đọc được receivingAgency/@id trong TTHC.xml của gói"
            )
        if principal.agency_id is None:
            original = self._original(agency_id, idempotency_key, staged.sha256)
            if original is not None:
                return self._repeat(original, staged)
        deposit_id = str(uuid.uuid4())
        target = deposit_path(self.settings.staging_dir, deposit_id)
        os.replace(staged.path, target)
        crashpoints.reached("register:staged")
        try:
            with self.database.session() as session:
                if principal.agency_id is None and glance is not None:
                    _ensure_agency(session, agency_id, glance.receiving_agency_name)
                deposit = Deposit(
                    id=deposit_id,
                    agency_id=agency_id,
                    api_key_id=principal.key_id,
                    idempotency_key=idempotency_key,
                    kind=kind,
                    sip_sha256=staged.sha256,
                    sip_size=staged.size,
                    status=DepositStatus.RECEIVED,
                    dossier_code=glance.dossier_code if glance else None,
                    record_status=glance.record_status if glance else None,
                    problems=[],
                    attempts=0,
                    received_at=utcnow(),
                )
                session.add(deposit)
                session.flush()
                record_audit(
                    session,
                    actor=principal.actor,
                    role=principal.role.value,
                    action="deposit.received",
                    target_type="deposit",
                    target_id=deposit_id,
                    remote_addr=remote_addr,
                    detail={
                        "agency_id": agency_id,
                        "kind": kind,
                        "sha256": staged.sha256,
                        "size": staged.size,
                        "dossier_code": deposit.dossier_code,
                    },
                )
        except IntegrityError:
            target.unlink(missing_ok=True)
            original = self._original(agency_id, idempotency_key, staged.sha256)
            if original is None:
                raise
            return self._repeat(original, None)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        crashpoints.reached("register:committed")
        self._submit(deposit_id)
        return receipt_of(deposit, created=True)

    def _require_depositor(self, principal: Principal) -> None:
        if not principal.may(Action.DEPOSIT):
            raise DepositForbidden(f"Vai trò {principal.role.value} không được nộp lưu hồ sơ")

    def _original_by_key(self, principal: Principal, key: str) -> Deposit | None:
        if principal.agency_id is None:
            return None
        with self.database.read_session() as session:
            return session.scalars(
                select(Deposit).where(
                    Deposit.agency_id == principal.agency_id, Deposit.idempotency_key == key
                )
            ).one_or_none()

    def _original(self, agency_id: str, key: str | None, sha256: str) -> Deposit | None:
        """The agency's earlier deposit with this key, else with this SIP checksum.

        Looked for on a read connection first; only a repeat (the rare case) loads the row."""
        with self.database.read_connection() as connection:
            original_id = _original_id(connection, agency_id, key, sha256)
        if original_id is None:
            return None
        with self.database.read_session() as session:
            return session.get(Deposit, original_id)

    def _repeat(self, original: Deposit, staged: StagedFile | None) -> DepositReceipt:
        """Answer a repeated deposit with the original; restart it if it had failed."""
        if original.status == DepositStatus.FAILED and staged is not None:
            restarted = self._restart_failed(original, staged)
            if restarted is not None:
                return receipt_of(restarted, created=False)
        if staged is not None:
            discard(staged)
        if not DepositStatus(original.status).final:
            self._submit(original.id)  # heals a task lost on the way to the broker
        return receipt_of(original, created=False)

    def _restart_failed(self, original: Deposit, staged: StagedFile) -> Deposit | None:
        """Give a failed deposit the re-sent SIP and start it again from the beginning."""
        target = deposit_path(self.settings.staging_dir, original.id)
        with self.database.session() as session:
            deposit = session.get(Deposit, original.id, with_for_update=True)
            if deposit is None or deposit.status != DepositStatus.FAILED:
                return None
            os.replace(staged.path, target)
            deposit.attempts = 0
            deposit.problems = []
            deposit.failure_reason = None
            deposit.finished_at = None
            change_status(session, deposit, DepositStatus.RECEIVED, detail={"restarted": True})
        self._submit(original.id)
        return deposit

    def _submit(self, deposit_id: str) -> None:
        try:
            self.dispatcher.submit(deposit_id)
        except Exception:
            # The deposit is registered; it is sent again when its worker starts or the same
            # request is repeated.
            log.exception("deposit %s: could not be sent to the workers", deposit_id)

    # --- processing

    def prepare(self) -> None:
        """Ready this process to run tasks before the first comes (``pipeline.start``)."""
        self.pipeline.start()

    def process(self, deposit_id: str) -> float | None:
        """The task body: advance the deposit; seconds until it must run again, or ``None``."""
        return self.pipeline.process(deposit_id)

    def pending(self) -> list[PendingDeposit]:
        """Every deposit not at its end, with how long until it may be processed (and archived
        deposits whose dossier still awaits its storage locks)."""
        now = utcnow()
        finals = [s.value for s in DepositStatus if s.final]
        with self.database.session() as session:
            rows = session.execute(
                select(Deposit.id, Deposit.lease_until, Deposit.next_attempt_at)
                .where(Deposit.status.not_in(finals))
                .order_by(Deposit.received_at)
            ).all()
            unlocked = deposits_awaiting_locks(session)
        return [
            PendingDeposit(
                deposit_id,
                max([0.0, *((moment - now).total_seconds() for moment in (lease, due) if moment)]),
            )
            for deposit_id, lease, due in rows
        ] + [PendingDeposit(deposit_id, 0.0) for deposit_id in unlocked]

    def sweep_staging(self, grace_seconds: float = STAGING_GRACE_SECONDS) -> list[Path]:
        """Remove staged files nobody needs: those of ended deposits, and (after a grace
        period) uploads and SIPs left behind by a process that died while registering them."""
        staging = self.settings.staging_dir
        ids = staged_deposit_ids(staging)
        with self.database.session() as session:
            known = dict(
                session.execute(select(Deposit.id, Deposit.status).where(Deposit.id.in_(ids))).all()
            )
        cutoff = time.time() - grace_seconds
        removed: list[Path] = []
        for deposit_id in sorted(ids):
            status = known.get(deposit_id)
            path = deposit_path(staging, deposit_id)
            orphan = status is None and (not path.exists() or path.stat().st_mtime < cutoff)
            if orphan or (status is not None and DepositStatus(status).final):
                remove_deposit_files(staging, deposit_id)
                removed.append(path)
        for upload in stale_uploads(staging, cutoff):
            upload.unlink(missing_ok=True)
            removed.append(upload)
        return removed

    def close(self) -> None:
        """Stop the dispatcher and the pipeline, and release the database connections."""
        self.dispatcher.close()
        self.pipeline.close()
        self.database.dispose()

    # --- reading

    def get(self, principal: Principal, deposit_id: str) -> DepositView:
        """A deposit as the caller may see it; another agency's deposit is ``DepositNotFound``."""
        if not principal.may(Action.READ):
            raise DepositForbidden(f"Vai trò {principal.role.value} không được xem gói nộp lưu")
        with self.database.read_connection() as connection:
            deposit = connection.execute(_VIEW_BY_ID, {"deposit_id": deposit_id}).one_or_none()
        if deposit is None or not principal.can_read_agency(deposit.agency_id):
            raise DepositNotFound(deposit_id)
        problems = list(deposit.problems or [])
        if not principal.sees_identity_numbers:
            problems = mask_value(problems)
        return view_of(deposit._mapping, problems)

    def view_if_changed(
        self,
        principal: Principal,
        deposit_id: str,
        seen: DepositProgress,
        *,
        final_only: bool = False,
    ) -> DepositView | None:
        """``get``, but only once the deposit's status or wait is no longer as ``seen`` (with
        ``final_only``: once it is final); ``None`` (after reading those two columns alone,
        the cheapest look) until then. For a status request that waits: it calls this again
        and again, in one worker-thread hop each time."""
        with self.database.read_connection() as connection:
            row = connection.execute(_PROGRESS_BY_ID, {"deposit_id": deposit_id}).one_or_none()
        current = DepositProgress(*row) if row is not None else None
        if current == seen or (final_only and current is not None and current.unfinished):
            return None
        return self.get(principal, deposit_id)


def make_pipeline(
    settings: Settings, database: Database, repository: OcflRepository
) -> DepositPipeline | ProcessPipeline:
    """Where task bodies run: child processes when configured for the in-process dispatcher
    (``ProcessPipeline``), else this process (``DepositPipeline``, also in Celery workers)."""
    processes = settings.effective_pipeline_processes()
    if processes and not settings.broker_url:
        return ProcessPipeline(settings, processes)
    return DepositPipeline(settings, database, repository)


def open_deposit_service(
    settings: Settings, dispatcher: TaskDispatcher | None = None
) -> DepositService:
    """A deposit service on the configured database and storage (refuses an un-migrated
    database with ``DatabaseNotMigrated``); the dispatcher defaults to ``make_dispatcher``."""
    database = Database(settings.effective_database_url())
    try:
        require_up_to_date(database.engine)
        repository = open_archive_repository(settings)
        return DepositService(
            settings, database, repository, dispatcher or make_dispatcher(settings)
        )
    except BaseException:
        database.dispose()
        raise


def _original_id(
    connection: Connection, agency_id: str, key: str | None, sha256: str
) -> str | None:
    """Id of the agency's deposit with ``key`` (``IdempotencyKeyReused`` if it brought another
    SIP), else of its deposit of the SIP with ``sha256``; ``None`` when there is neither."""
    if key is not None:
        by_key = connection.execute(_BY_KEY, {"agency_id": agency_id, "key": key}).one_or_none()
        if by_key is not None:
            if by_key.sip_sha256 != sha256:
                raise IdempotencyKeyReused(key, by_key.id)
            return str(by_key.id)
    found: str | None = connection.scalar(_BY_SHA256, {"agency_id": agency_id, "sha256": sha256})
    return found


def _ensure_agency(session: Session, agency_id: str, name: str) -> None:
    if session.get(Agency, agency_id) is None:
        session.add(Agency(id=agency_id, name=name))
        session.flush()
