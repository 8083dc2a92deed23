"""Build the archive's store and OCFL repository from the settings."""

from __future__ import annotations

from archive_service.config import Settings
from archive_service.storage.base import ObjectStore
from archive_service.storage.factory import open_store
from archive_service.storage.ocfl import OcflRepository


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
    repository = OcflRepository(open_archive_store(settings))
    repository.initialize()
    return repository
