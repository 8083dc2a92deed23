"""What the deposit service tests share: settings on a temporary data directory, real keys,
staging a SIP, waiting for a deposit to end, and looking at what storage and database hold.

``FaultyStore`` wraps a real store and makes its ``put`` fail a number of times with
``StorageUnavailable`` (a storage outage); everything else goes to the real store.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import func, select

from archive_service.config import Settings
from archive_service.db.session import Database
from archive_service.dossiers.models import Document, Dossier, PremisEventRecord, StoredObject
from archive_service.ingest.dispatch import InProcessDispatcher
from archive_service.ingest.models import Deposit
from archive_service.ingest.service import DepositService
from archive_service.ingest.staging import StagedFile, stage_stream
from archive_service.ingest.views import DepositView
from archive_service.integrity.models import AuditEntry
from archive_service.security.models import Role
from archive_service.security.service import Principal, authenticate, create_api_key
from archive_service.storage.base import ObjectStore, PutResult, StorageUnavailable
from archive_service.storage.filesystem import FilesystemStore
from archive_service.storage.ocfl import OcflRepository
from tests.factories import DOSSIER_CODE
from tests.integration.test_ocfl import ocfl_py_findings

AGENCY_ID = DOSSIER_CODE.split("-")[0]
#: Longest a test waits for a deposit to end before it fails (never reached when all is well).
WAIT_LIMIT_SECONDS = 120.0


def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    """Settings of an archive on ``tmp_path`` (filesystem storage) and ``database_url``."""
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "storage_url": (tmp_path / "storage").as_uri(),
        "workers": 2,
        "pipeline_processes": 0,  # threads: a test process starts no children unless it asks
        "max_attempts": 3,
        "retry_delay_seconds": 0.05,
        "lease_seconds": 30.0,
        **overrides,
    }
    return Settings(**values)


def storage_root(settings: Settings) -> Path:
    return Path(settings.effective_storage_url().removeprefix("file://"))


def principal_for(
    database: Database, role: Role = Role.DEPOSITOR, agency_id: str | None = AGENCY_ID
) -> Principal:
    """A real API key of ``role`` (its agency created when new), authenticated."""
    with database.session() as session:
        key = create_api_key(session, role=role, agency_id=agency_id, label="test")
    with database.session() as session:
        principal = authenticate(session, key)
    assert principal is not None
    return principal


def stage(settings: Settings, sip: Path) -> StagedFile:
    """Stream a SIP file into the staging area, as an upload would arrive."""
    with sip.open("rb") as stream:
        return stage_stream(stream, settings.staging_dir, settings.limits.max_upload_bytes)


def wait_final(service: DepositService, principal: Principal, deposit_id: str) -> DepositView:
    """Poll the deposit until it reaches its end; then let the in-process tasks finish (the
    staged files of a deposit are removed just after its last transaction)."""
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    while not (view := service.get(principal, deposit_id)).final:
        assert time.monotonic() < deadline, f"deposit {deposit_id} still {view.status}"
        time.sleep(0.02)
    if isinstance(service.dispatcher, InProcessDispatcher):
        assert service.dispatcher.wait_idle(WAIT_LIMIT_SECONDS)
    return view


def count(database: Database, model: type) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def catalogue_counts(database: Database) -> dict[str, int]:
    """How many rows each table of the archived catalogue (and the deposits table) holds."""
    tables: Mapping[str, type] = {
        "deposits": Deposit,
        "dossiers": Dossier,
        "documents": Document,
        "stored_objects": StoredObject,
        "premis_events": PremisEventRecord,
    }
    return {name: count(database, model) for name, model in tables.items()}


def staging_entries(settings: Settings) -> list[str]:
    staging = settings.staging_dir
    return sorted(p.name for p in staging.iterdir()) if staging.exists() else []


def storage_objects(settings: Settings) -> list[str]:
    """Keys under the storage root other than the root's own files (so: objects' keys)."""
    root = storage_root(settings)
    relative = [p.relative_to(root) for p in root.rglob("*") if p.is_file()]
    return sorted(str(p) for p in relative if len(p.parts) > 1 and p.parts[0] != "extensions")


def assert_valid_ocfl(settings: Settings, objects: int) -> None:
    """ocfl-py validates the storage root and finds ``objects`` objects."""
    valid, codes, found = ocfl_py_findings(storage_root(settings))
    # W004: OCFL prefers sha512; sha256 is allowed and is what the archive uses.
    assert valid and codes <= {"W004"}, codes
    assert len(found) == objects


def assert_stored_objects_match_storage(
    database: Database, repository: OcflRepository, object_id: str
) -> None:
    """The database knows every key of the object, with the size and SHA-256 on disk."""
    keys = set(repository.content_keys(object_id))
    with database.session() as session:
        rows = session.scalars(select(StoredObject)).all()
    assert {row.key for row in rows} == keys
    store = repository.store
    for row in rows:
        with store.open(row.key) as stream:
            data = stream.read()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (row.size, row.sha256)


class FaultyStore:
    """A real store whose ``put`` raises ``StorageUnavailable`` for the first ``failures`` calls."""

    def __init__(self, inner: ObjectStore, failures: int) -> None:
        self._inner = inner
        self.failures = failures
        self.refused = 0

    def put(self, key: str, stream: BinaryIO, **kwargs: Any) -> PutResult:
        if self.refused < self.failures:
            self.refused += 1
            raise StorageUnavailable(f"storage unreachable while writing {key}")
        return self._inner.put(key, stream, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def faulty_repository(settings: Settings, failures: int) -> tuple[OcflRepository, FaultyStore]:
    """The archive's storage root, created for real, then used through a ``FaultyStore``."""
    inner = FilesystemStore(storage_root(settings))
    OcflRepository(inner).initialize()
    faulty = FaultyStore(inner, failures)
    return OcflRepository(faulty), faulty


def statuses_reached(database: Database, deposit_id: str) -> list[str]:
    """The statuses the audit trail says the deposit moved to, in order."""
    with database.read_session() as session:
        details = session.scalars(
            select(AuditEntry.detail)
            .where(AuditEntry.action == "deposit.status_changed")
            .where(AuditEntry.target_id == deposit_id)
            .order_by(AuditEntry.seq)
        )
        return [detail["to"] for detail in details]
