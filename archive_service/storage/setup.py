"""Build the archive's store and OCFL repository from the settings."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.engine import make_url

from archive_service.config import Settings
from archive_service.storage.advisory_locks import AdvisoryWriterLocks
from archive_service.storage.base import ExclusiveWriters, ObjectStore
from archive_service.storage.factory import open_store
from archive_service.storage.ocfl import OcflRepository
from archive_service.storage.writer_locks import WriterLocks

log = logging.getLogger(__name__)

#: Beside an SQLite database: the file of its archive's named locks (``database_locks``).
LOCK_FILE_SUFFIX = "-locks"


def open_archive_store(settings: Settings) -> ObjectStore:
    """The object store named by the settings (the embedded default is a local directory)."""
    secret = settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None
    return open_store(
        settings.effective_storage_url(),
        endpoint=settings.s3_endpoint,
        access_key=settings.s3_access_key,
        secret_key=secret,
        secure=settings.s3_secure,
        region=settings.s3_region,
    )


def open_archive_repository(settings: Settings) -> OcflRepository:
    """The OCFL storage root of the archive, created on first use."""
    store = open_archive_store(settings)
    writers = None
    if not isinstance(store, ExclusiveWriters):  # a store with locks of its own needs none
        writers = database_locks(settings.effective_database_url())
        if writers is None:
            log.warning("%r has no writer locks: run one writer process only", store)
    repository = OcflRepository(store, writers=writers)
    repository.initialize()
    return repository


def database_locks(database_url: str) -> ExclusiveWriters | None:
    """Named locks that die with their holder, kept where every process of the archive on the
    database at ``database_url`` sees them: PostgreSQL's advisory locks, or with an SQLite
    database — whose processes all run on its host — a lock file beside it. The OCFL writers
    of a store without locks of its own (S3) and the replica sync hold them. ``None`` for an
    in-memory database or one named by a ``file:`` URI (then one process only must write)."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        return AdvisoryWriterLocks(url.render_as_string(hide_password=False))
    name = url.database or ""
    in_a_file = name not in ("", ":memory:") and not name.startswith("file:")
    if url.get_backend_name() == "sqlite" and in_a_file:
        database = Path(name)
        return WriterLocks(database.with_name(database.name + LOCK_FILE_SUFFIX))
    return None
