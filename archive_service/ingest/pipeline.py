"""The deposit pipeline for one deposit: check → package → store → index, crash-safe.

``DepositPipeline.process`` is the body of the background task. It claims the deposit with a
lease (one worker at a time), then:

1. **resume** — if an earlier attempt died while writing, look at the dossier's OCFL object: a
   head version whose message is ``deposit <id>`` means storage committed and only the database
   part is missing, so go straight to step 5; anything else an attempt left half-written is
   removed (``OcflRepository.recover``) before going on;
2. **check** — open the staged ZIP safely and check the SIP completely (``read_sip``), plus the
   archive's own rules: the SIP's receiving agency must be the depositor's (``AGENCY_MISMATCH``);
   any error rejects the deposit with every problem found. A SIP without errors then goes
   through the format checks (``format_checks``: virus check, identification by content, PDF
   signatures, PDF/A validation), whose errors reject it too;
3. **package** — in one transaction: the dossier code must not be archived already unless the SIP
   is a ``SUPPLEMENT`` or ``REPLACEMENT`` (``DUPLICATE_DOSSIER``), the target OCFL object is fixed
   (a new one, or the archived dossier's for a new version) and the deposit takes the dossier's
   writer slot: at most one deposit per dossier code is packaging or storing (a partial unique
   index), so two deposits never write one object. Then the PDF/A-2b renditions are made
   (``renditions_step``) and the AIP is built in the work folder;
4. **store** — ``add_version`` with message ``deposit <id>``; the root inventory written last is
   the commit point of storage;
5. **verify and index** — every key of the new version is read back and hashed, then ONE
   database transaction records the dossier, its documents, stored objects and events and moves
   the deposit to ``archived``; only after that are the staged files removed.

A crash at any point therefore leaves either nothing visible (the partial version is removed by
the next attempt) or a complete AIP that the next attempt records. A failing attempt is retried
with doubling back-off; after ``max_attempts`` the deposit is ``failed`` — but only once nothing
it wrote is left in storage: a committed version is never abandoned, it is always finished.

**Decision — new versions.** A ``SUPPLEMENT`` or ``REPLACEMENT`` SIP carries the dossier as it
now stands: the new version's state is the AIP built from it (files it no longer has are removed
from the new version; earlier versions keep them, and unchanged bytes are not stored again). Its
``PREMIS.xml`` carries on the history: every event and agent of the AIP as it stood (earlier
deposits, holds and releases, retention changes), then the new deposit's events.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import BinaryIO, NoReturn
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from archive_service import SOFTWARE_NAME, __version__
from archive_service.config import Settings
from archive_service.db.base import utcnow
from archive_service.db.session import Database
from archive_service.dossiers.models import Dossier
from archive_service.formats.pdfa import pikepdf_validator_version
from archive_service.formats.rendition import RenditionTools
from archive_service.ingest import crashpoints
from archive_service.ingest.catalogue import ArchivedVersion, record_archived
from archive_service.ingest.errors import DuplicateDossier
from archive_service.ingest.events import IngestFacts, aip_uuid_for, ingest_events
from archive_service.ingest.format_catalogue import stored_document_formats
from archive_service.ingest.format_checks import FormatReport, check_formats
from archive_service.ingest.lease import Finished, Lease, LeaseLost, Wait, claim
from archive_service.ingest.models import WRITING_STATUSES, Deposit, DepositStatus, WaitingFor
from archive_service.ingest.peek import NEW_VERSION_STATUSES
from archive_service.ingest.readback import head_message, read_back_head
from archive_service.ingest.renditions_step import package_formats
from archive_service.ingest.staging import (
    COPIES_DIR,
    deposit_path,
    empty_work_folder,
    remove_deposit_files,
    work_path,
)
from archive_service.ingest.status import (
    SYSTEM_ACTOR,
    change_status,
    deposit_writing,
    start_waiting,
    stop_waiting,
)
from archive_service.integrity.audit import record_audit
from archive_service.integrity.fixity_record import waiting_aip_history
from archive_service.packages.aip_reader import read_aip, read_aip_object
from archive_service.packages.aip_writer import (
    AipTree,
    ArchiveIdentity,
    aip_object_id,
    build_aip,
)
from archive_service.packages.container import PackageSource, open_package
from archive_service.packages.mets import VN_TZ
from archive_service.packages.models import SipPackage
from archive_service.packages.premis import PremisAgent, PremisEvent
from archive_service.packages.problems import PackageInvalid, Problem, ProblemCode, errors
from archive_service.packages.schemas import aip_schema_sources
from archive_service.packages.schemas import compile_all as compile_all_schemas
from archive_service.packages.sip_reader import read_sip
from archive_service.packages.tthc import TTHC_PATH
from archive_service.storage.base import StoreBusy
from archive_service.storage.ocfl import OcflRepository
from archive_service.streams import FileSource
from retention.assign import assign_retention
from retention.change_errors import DossierBusy
from retention.changes import change_pending
from retention.locks import lock_deposit_dossier
from retention.schedule import load_schedule

log = logging.getLogger(__name__)

#: Longest wait between two attempts, however many failed.
MAX_BACKOFF_SECONDS = 3600.0
#: How long a deposit waits when another deposit of the same dossier is being written.
BUSY_DOSSIER_SECONDS = 1.0

_OBJECT_ID = re.compile(r"^urn:(?P<fonds>[^:]+):uuid-(?P<uuid>[0-9A-Fa-f-]{36})$")


def _carried_on(history: Sequence[PremisEvent], new: Sequence[PremisEvent]) -> list[PremisEvent]:
    """The earlier events, then the new ones that are not among them (by identifier)."""
    known = {event.identifier for event in history}
    return [*history, *(event for event in new if event.identifier not in known)]


def version_message(deposit_id: str) -> str:
    """The OCFL version message that marks a version as written by this deposit."""
    return f"deposit {deposit_id}"


def backoff_seconds(settings: Settings, attempts: int) -> float:
    """Wait before the next attempt after ``attempts`` attempts: doubling, capped."""
    return min(settings.retry_delay_seconds * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)


class PermanentFailure(Exception):
    """Retrying cannot help; the deposit fails now (once nothing half-written is left)."""


class _Done(Exception):
    """The attempt ended early (rejected or postponed); ``result`` is what ``process`` returns."""

    def __init__(self, result: float | None) -> None:
        self.result = result
        super().__init__(result)


@dataclass(frozen=True)
class _Target:
    """The OCFL object a deposit writes, and how to build its AIP."""

    object_id: str
    aip_uuid: UUID
    archive: ArchiveIdentity
    new_version: bool = False  # of an archived dossier's object (else a new object)


class DepositPipeline:
    """Runs deposits through the pipeline; safe to call from many threads and processes."""

    def __init__(self, settings: Settings, database: Database, repository: OcflRepository):
        self.settings = settings
        self.database = database
        self.repository = repository
        self.archive = ArchiveIdentity(
            archive_code=settings.archive_code,
            archive_name=settings.archive_name,
            fonds_code=settings.fonds_code,
            software_name=SOFTWARE_NAME,
            software_version=__version__,
        )
        self.schedule = load_schedule(settings.retention_schedule_path)

    def process(self, deposit_id: str) -> float | None:
        """Advance a deposit as far as possible; return seconds until it needs another run.

        ``None``: nothing more to do (it reached its end). Raises ``DepositNotFound`` for an
        unknown id.
        """
        claimed = claim(
            self.database, deposit_id, self.settings.lease_seconds, starting=DepositStatus.CHECKING
        )
        if isinstance(claimed, Finished):
            remove_deposit_files(self.settings.staging_dir, deposit_id)
            return self.apply_locks(deposit_id)
        if isinstance(claimed, Wait):
            return claimed.seconds
        assert claimed.lease_until is not None
        lease = Lease(self.database, deposit_id, claimed.lease_until, self.settings.lease_seconds)
        try:
            _Attempt(self, claimed, lease).run()
        except _Done as done:
            return done.result
        except LeaseLost:
            # Another worker holds it now, or the lease could not be renewed: look again once a
            # lease has run out (claim then waits for a live holder, or takes the deposit over).
            log.warning("deposit %s: lease lost; looking again later", deposit_id)
            return self.settings.lease_seconds
        except Exception as exc:
            log.exception("deposit %s: attempt %d failed", deposit_id, claimed.attempts)
            return _Attempt(self, claimed, lease).record_failure(exc)
        finally:
            lease.release()
        return self.apply_locks(deposit_id)

    def start(self) -> None:
        """Look up now what each process otherwise looks up at its first deposit: the
        external tools and their versions, the PDF/A validator, the compiled XML schemas and
        the AIP's schema files."""
        RenditionTools.detect()
        pikepdf_validator_version()
        compile_all_schemas()
        aip_schema_sources()

    def close(self) -> None:
        """Nothing to stop: the task bodies run on the caller's thread."""

    def apply_locks(self, deposit_id: str) -> float | None:
        """Lock the archived deposit's dossier in storage, after its transaction committed
        (``retention.locks``); on failure, the delay before the task runs again to finish it."""
        try:
            lock_deposit_dossier(self.database, self.repository, self.settings, deposit_id)
        except Exception:
            log.exception("deposit %s: storage locks not applied yet; retrying", deposit_id)
            return backoff_seconds(self.settings, 1)
        return None


class _Attempt:
    """One attempt at one deposit, holding its lease."""

    def __init__(self, pipeline: DepositPipeline, deposit: Deposit, lease: Lease) -> None:
        self.pipeline = pipeline
        self.settings = pipeline.settings
        self.database = pipeline.database
        self.repository = pipeline.repository
        self.deposit = deposit  # detached snapshot taken when the lease was claimed
        self.deposit_id = deposit.id
        self.lease = lease
        self.formats: FormatReport | None = None  # what the check step's format checks found

    # --- the attempt

    def run(self) -> None:
        """Take the deposit as far as it goes: archived, or ``_Done`` (rejected, postponed)."""
        snapshot = self.deposit
        if snapshot.status in WRITING_STATUSES and snapshot.aip_object_id:
            object_id = snapshot.aip_object_id
            with self.writing(object_id):  # decided under the lock: a stuck writer may commit
                committed = self.committed_or_recovered(object_id)
            if committed:
                self.finish(object_id, None)
                return
        if snapshot.attempts > self.settings.max_attempts:
            raise PermanentFailure(
                f"Đã thử xử lý {self.settings.max_attempts} lần mà tiến trình đều dừng giữa chừng"
            )
        if snapshot.waiting_for == WaitingFor.DOSSIER and self.dossier_still_busy():
            self.postpone()  # the SIP is not checked again, nor its status changed, meanwhile
        staged = deposit_path(self.settings.staging_dir, self.deposit_id)
        if not staged.is_file():
            raise PermanentFailure(f"Không còn tệp gói nộp lưu {staged.name} trong vùng tạm")
        if snapshot.status != DepositStatus.CHECKING:
            self.transition(DepositStatus.CHECKING)
        else:  # the claim moved it (or an earlier attempt stopped while checking)
            self.lease.check()
        try:
            source = open_package(staged, self.settings.limits)
        except PackageInvalid as invalid:
            self.reject(invalid.problems)
        with source:
            sip, problems = self.check(source)
            crashpoints.reached("check:done")
            target = self.take_dossier(sip, problems)
            tree = self.package(sip, source, target, problems)
            crashpoints.reached("package:done")
            self.store(tree, target)
            crashpoints.reached("store:committed")
            self.finish(target.object_id, sip)

    def check(self, source: PackageSource) -> tuple[SipPackage, list[Problem]]:
        """Every problem of the SIP, plus a receiving agency other than the depositor's."""
        report = read_sip(source, self.settings.limits)
        problems = list(report.problems)
        sip = report.package
        if sip is not None and sip.tthc.receiving_agency.id != self.deposit.agency_id:
            problems.append(
                Problem(
                    ProblemCode.AGENCY_MISMATCH,
                    TTHC_PATH,
                    f"Cơ quan tiếp nhận trong TTHC.xml là {sip.tthc.receiving_agency.id}, "
                    f"nhưng gói được nộp bằng khóa của cơ quan {self.deposit.agency_id}",
                    field="receivingAgency/@id",
                )
            )
        if sip is not None and not errors(problems):
            copies = work_path(self.settings.staging_dir, self.deposit_id) / COPIES_DIR
            self.formats = check_formats(sip, source, self.settings, copies)
            problems.extend(self.formats.problems)
        if sip is None or errors(problems):
            self.reject(problems)
        return sip, problems

    def take_dossier(self, sip: SipPackage, problems: list[Problem]) -> _Target:
        """Fix the target object and take the dossier's writer slot (or reject, or postpone)."""
        try:
            with self.locked() as (session, deposit):
                deposit.dossier_code = sip.dossier_code
                deposit.record_status = sip.record_status
                deposit.problems = [p.as_dict() for p in problems]
                archived = session.scalars(
                    select(Dossier)
                    .where(Dossier.dossier_code == sip.dossier_code)
                    .with_for_update()
                ).one_or_none()
                if archived is not None and change_pending(session, archived.id):
                    raise DossierBusy(sip.dossier_code)  # a retention change writes it now
                refusal = self.refusal(sip, archived, deposit)
                if refusal is not None:
                    self.mark_rejected(session, deposit, [*problems, refusal])
                    target = None
                else:
                    target = self.target(archived)
                    deposit.aip_object_id = target.object_id
                    change_status(session, deposit, DepositStatus.PACKAGING)
                    stop_waiting(deposit)  # for the dossier, if it did
                    session.flush()
        except (IntegrityError, DossierBusy):
            self.postpone(dossier_code=sip.dossier_code)
        if target is None:
            remove_deposit_files(self.settings.staging_dir, self.deposit_id)
            raise _Done(None)
        return target

    def dossier_still_busy(self) -> bool:
        """Whether the dossier this deposit waits for is still being written: another deposit
        holds its writer slot or a retention change is pending. A cheap look, so that a wait
        costs one small transaction a second; ``take_dossier`` stays the authority."""
        code = self.deposit.dossier_code  # as read from the SIP when it was received
        if not code:
            return False
        with self.database.read_session() as session:  # this deposit is ``received``
            if deposit_writing(session, code) is not None:
                return True
            dossier_id = session.scalar(select(Dossier.id).where(Dossier.dossier_code == code))
            return dossier_id is not None and change_pending(session, dossier_id)

    def refusal(
        self, sip: SipPackage, archived: Dossier | None, deposit: Deposit
    ) -> Problem | None:
        """Why the SIP cannot go into the archived dossier of the same code, if it cannot."""
        if archived is None:
            return None
        if sip.record_status not in NEW_VERSION_STATUSES:
            return Problem(
                ProblemCode.DUPLICATE_DOSSIER,
                TTHC_PATH,
                DuplicateDossier(sip.dossier_code).message,
                field="dossierCode",
            )
        if archived.agency_id != deposit.agency_id:
            return Problem(
                ProblemCode.AGENCY_MISMATCH,
                TTHC_PATH,
                f"Hồ sơ mã {sip.dossier_code} đã lưu trữ thuộc cơ quan {archived.agency_id}; "
                f"cơ quan {deposit.agency_id} không được bổ sung hoặc thay thế hồ sơ này",
                field="receivingAgency/@id",
            )
        return None

    def target(self, archived: Dossier | None) -> _Target:
        archive = self.pipeline.archive
        if archived is None:
            aip_uuid = aip_uuid_for(self.deposit_id)
            return _Target(aip_object_id(archive.fonds_code, aip_uuid), aip_uuid, archive)
        match = _OBJECT_ID.match(archived.aip_object_id)
        if match is None:
            raise PermanentFailure(f"Mã gói AIP {archived.aip_object_id} không đúng dạng")
        fonds, aip_uuid = match.group("fonds"), UUID(match.group("uuid"))
        return _Target(
            archived.aip_object_id, aip_uuid, replace(archive, fonds_code=fonds), new_version=True
        )

    def package(
        self, sip: SipPackage, source: PackageSource, target: _Target, problems: list[Problem]
    ) -> AipTree:
        """Build the AIP's files in the deposit's work folder (emptied first, but for the
        copies the check step of this attempt just made)."""
        work = work_path(self.settings.staging_dir, self.deposit_id)
        empty_work_folder(work, keep=COPIES_DIR)
        assert self.formats is not None  # check() ran first
        formats = package_formats(
            self.formats,
            sip,
            source,
            work,
            deposit_id=self.deposit_id,
            object_id=target.object_id,
            archive=target.archive,
            settings=self.settings,
        )
        facts = IngestFacts(
            deposit_id=self.deposit_id,
            agency_id=self.deposit.agency_id,
            received_at=self.deposit.received_at,
            checked_at=utcnow(),
            warnings=[p for p in problems if p not in errors(problems)],
            virus_check=formats.virus_check,
        )
        history, known_agents = self.history(target)
        new_events = [*ingest_events(sip, facts, target.archive), *formats.events]
        tree = build_aip(
            sip,
            source,
            aip_uuid=target.aip_uuid,
            created=datetime.now(VN_TZ),
            archive=target.archive,
            events=_carried_on(history, new_events),
            renditions=formats.renditions,
            agents=[*known_agents, *formats.agents],
            file_facts=formats.file_facts,
            work_dir=work,
        )
        if tree.object_id != target.object_id:
            raise PermanentFailure(f"Gói AIP {tree.object_id} khác đối tượng {target.object_id}")
        return tree

    def history(self, target: _Target) -> tuple[tuple[PremisEvent, ...], tuple[PremisAgent, ...]]:
        """The events and agents of the AIP as it stands, which a new version carries on (its
        PREMIS is the dossier's whole history: earlier deposits, holds, retention changes), and
        the fixity and replication events recorded since (``waiting_aip_history``)."""
        if not target.new_version:
            return (), ()
        current = read_aip_object(self.repository, target.object_id, limits=self.settings.limits)
        with self.database.read_session() as session:
            dossier_id = session.scalar(
                select(Dossier.id).where(Dossier.aip_object_id == target.object_id)
            )
            waiting, agents = (
                waiting_aip_history(session, dossier_id) if dossier_id is not None else ([], [])
            )
        known = {agent.identifier for agent in current.agents}
        return (
            tuple(_carried_on(current.events, waiting)),
            (*current.agents, *(agent for agent in agents if agent.identifier not in known)),
        )

    def store(self, tree: AipTree, target: _Target) -> None:
        """Write the AIP as a new version of its OCFL object (committed by the root inventory).

        Under the object's writer lock the lease is checked once more and the head looked at:
        a worker whose lease ran out while it was writing this very deposit may have committed
        it meanwhile, and then that version is the deposit's (``finish`` verifies it)."""
        self.transition(DepositStatus.STORING)
        object_id = target.object_id
        with self.writing(object_id):
            self.lease.check()
            if self.committed_or_recovered(object_id):
                return
            removed = (
                set(self.repository.state(object_id))
                if self.repository.exists(object_id)
                else set()
            )
            removed -= set(tree.files)
            self.repository.add_version(
                object_id,
                _announced(tree.files) if crashpoints.armed() else tree.files,
                removed=removed,
                message=version_message(self.deposit_id),
                user_name=self.settings.archive_name,
                user_address=f"urn:archive:{self.settings.archive_code}",
                created=datetime.now(VN_TZ),
            )

    def committed_or_recovered(self, object_id: str) -> bool:
        """Whether the head version is this deposit's; if not, what a writer left of a version
        is removed (the caller holds the object's writer lock)."""
        if head_message(self.repository, object_id) == version_message(self.deposit_id):
            return True
        self.repository.recover(object_id)
        return False

    def finish(self, object_id: str, sip: SipPackage | None) -> None:
        """Verify the committed version, record it in one transaction, then clean staging."""
        if sip is None:
            sip = self.reread_sip()
        stored = read_back_head(self.repository, object_id, keep_metadata=True)
        open_file = stored.opener(self.repository)  # the version as it was verified
        summary = read_aip(open_file, self.settings.limits)
        formats = stored_document_formats(open_file, object_id, summary, self.settings.limits)
        with self.locked() as (session, deposit):
            dossier = record_archived(
                session,
                ArchivedVersion(
                    deposit_id=deposit.id,
                    agency_id=deposit.agency_id,
                    sip=sip,
                    aip_dossier=summary.dossier,
                    stored=stored,
                    events=summary.events,
                    formats=formats,
                ),
            )
            deposit.dossier_code = sip.dossier_code
            deposit.aip_object_id = object_id
            deposit.aip_version = stored.version
            deposit.failure_reason = None
            change_status(
                session,
                deposit,
                DepositStatus.ARCHIVED,
                detail={"aip_object_id": object_id, "aip_version": stored.version},
            )
            record_audit(
                session,
                actor=SYSTEM_ACTOR,
                action="dossier.archived" if stored.version == "v1" else "dossier.version_added",
                target_type="dossier",
                target_id=dossier.dossier_code,
                detail={"deposit_id": deposit.id, "aip_version": stored.version},
            )
            assign_retention(session, dossier, sip, self.pipeline.schedule, deposit_id=deposit.id)
        crashpoints.reached("index:committed")
        remove_deposit_files(self.settings.staging_dir, self.deposit_id)

    def reread_sip(self) -> SipPackage:
        """The staged SIP, read again to finish a deposit whose storage already committed."""
        staged = deposit_path(self.settings.staging_dir, self.deposit_id)
        try:
            with open_package(staged, self.settings.limits) as source:
                report = read_sip(source, self.settings.limits)
        except (PackageInvalid, OSError) as exc:
            raise PermanentFailure(f"Không đọc lại được gói nộp lưu {staged.name}: {exc}") from exc
        if report.package is None or not report.ok:
            raise PermanentFailure(f"Gói nộp lưu {staged.name} đã thay đổi sau khi kiểm tra")
        return report.package

    # --- ends and waits

    def reject(self, problems: list[Problem]) -> NoReturn:
        with self.locked() as (session, deposit):
            self.mark_rejected(session, deposit, problems)
        remove_deposit_files(self.settings.staging_dir, self.deposit_id)
        raise _Done(None)

    @staticmethod
    def mark_rejected(session: Session, deposit: Deposit, problems: list[Problem]) -> None:
        deposit.problems = [p.as_dict() for p in problems]
        deposit.failure_reason = None
        change_status(
            session,
            deposit,
            DepositStatus.REJECTED,
            detail={"problems": len(problems), "codes": sorted({p.code.value for p in problems})},
        )

    def postpone(self, *, storage: bool = False, dossier_code: str | None = None) -> NoReturn:
        """Another deposit of the same dossier is being written, or (``storage``) another
        writer holds its OCFL object: wait, without using an attempt. Waiting for the dossier
        starts the deposit over: it stays ``received`` (claims leave it so) and each attempt
        first looks whether the dossier is still busy (``dossier_still_busy``, by the
        ``dossier_code`` the check read, kept here) before checking the SIP again. Waiting for
        the object keeps its status, so that the next attempt finds what the other writer
        left (``run``)."""
        with self.locked() as (session, deposit):
            if dossier_code is not None:  # the quick look at registration may have found none
                deposit.dossier_code = dossier_code
            deposit.attempts -= 1
            deposit.lease_until = None
            deposit.next_attempt_at = utcnow() + timedelta(seconds=BUSY_DOSSIER_SECONDS)
            waiting = WaitingFor.STORAGE if storage else WaitingFor.DOSSIER
            if not storage:
                change_status(
                    session, deposit, DepositStatus.RECEIVED, detail={"waiting_for": waiting.value}
                )
            start_waiting(deposit, waiting)
        raise _Done(BUSY_DOSSIER_SECONDS)

    @contextmanager
    def writing(self, object_id: str) -> Iterator[None]:
        """Hold the OCFL object's writer lock (``OcflRepository.exclusive``), or postpone."""
        try:
            with self.repository.exclusive(object_id):
                self.end_storage_wait()
                yield
        except StoreBusy as busy:  # another writer holds it, or this one lost its lock
            log.warning("deposit %s: %s; waiting", self.deposit_id, busy)
            self.postpone(storage=True)

    def end_storage_wait(self) -> None:
        """The writer lock is ours: a wait for it, if the deposit was claimed waiting, is
        over (a wait for the dossier ends in ``take_dossier``'s own transaction)."""
        if self.deposit.waiting_for == WaitingFor.STORAGE:
            with self.locked() as (_, deposit):
                stop_waiting(deposit)
            self.deposit.waiting_for = None

    def record_failure(self, error: Exception) -> float | None:
        """Retry later with back-off, or fail for good once nothing half-written is left."""
        with self.database.session() as session:
            current = session.get(Deposit, self.deposit_id)
            if current is None or DepositStatus(current.status).final:
                return None
            status, object_id, attempts = current.status, current.aip_object_id, current.attempts
        committed, clean = False, True
        if status in WRITING_STATUSES and object_id:
            try:
                with self.repository.exclusive(object_id):
                    committed = self.committed_or_recovered(object_id)
            except Exception:
                log.exception("deposit %s: storage not cleaned yet", self.deposit_id)
                clean = False
        exhausted = isinstance(error, PermanentFailure) or attempts >= self.settings.max_attempts
        give_up = exhausted and clean and not committed
        delay = None if give_up else backoff_seconds(self.settings, attempts)
        reason = f"Lần thử {attempts}: {error}" if str(error) else f"Lần thử {attempts}: {error!r}"
        try:
            with self.locked() as (session, deposit):
                deposit.failure_reason = reason
                deposit.lease_until = None
                stop_waiting(deposit)  # it goes round again after a failure, or ends
                if give_up:
                    change_status(session, deposit, DepositStatus.FAILED, detail={"reason": reason})
                else:
                    assert delay is not None
                    deposit.next_attempt_at = utcnow() + timedelta(seconds=delay)
                    if clean and not committed:
                        change_status(
                            session, deposit, DepositStatus.RECEIVED, detail={"retry_in": delay}
                        )
        except LeaseLost:
            return None
        if give_up:
            remove_deposit_files(self.settings.staging_dir, self.deposit_id)
        return delay

    # --- transactions

    @contextmanager
    def locked(self) -> Iterator[tuple[Session, Deposit]]:
        """A transaction on the deposit's row, refused (``LeaseLost``) unless the lease is ours."""
        with self.lease.held(), self.database.session() as session:
            deposit = session.get(Deposit, self.deposit_id, with_for_update=True)
            if deposit is None or not self.lease.owns(deposit):
                raise LeaseLost(f"deposit {self.deposit_id}: lease lost")
            yield session, deposit

    def transition(self, status: DepositStatus) -> None:
        with self.locked() as (session, deposit):
            change_status(session, deposit, status)


def _announced(files: Mapping[str, FileSource]) -> dict[str, FileSource]:
    """``files`` whose every opening passes the ``store:content`` crash point (tests only)."""

    def announcing(source: FileSource) -> FileSource:
        def open_announced() -> AbstractContextManager[BinaryIO]:
            crashpoints.reached("store:content")
            return source.open()

        return replace(source, open=open_announced)

    return {path: announcing(source) for path, source in files.items()}
