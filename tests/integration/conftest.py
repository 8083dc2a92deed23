"""Shared fixtures: every database test runs on SQLite (WAL) and on a real PostgreSQL; an
archive on the test's folder and database, with its OCFL repository."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from archive_service.config import Settings
from archive_service.db.migrate import upgrade
from archive_service.db.session import Database
from archive_service.storage.base import ObjectStore
from archive_service.storage.ocfl import OcflRepository
from archive_service.storage.setup import open_archive_repository
from tests.integration.deposit_setup import make_settings
from tests.service_stack import postgres_database


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards (ARCHIVE_TEST_POSTGRES_URL: server)."""
    with postgres_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A new SQLite database file."""
    return f"sqlite:///{tmp_path / 'archive.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database of each kind, not yet migrated."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def sqlite_database(sqlite_url: str) -> Iterator[Database]:
    """A migrated SQLite database, for tests that need one kind only (the S3 ones)."""
    yield from _migrated(sqlite_url)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A migrated database of each kind."""
    yield from _migrated(database_url)


def _migrated(url: str) -> Iterator[Database]:
    upgrade(url)
    database = Database(url)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def settings(tmp_path: Path, database: Database) -> Settings:
    """An archive on ``tmp_path`` (filesystem storage) and the test's database (a module with
    other needs defines its own ``settings``)."""
    return make_settings(tmp_path, database.url)


@pytest.fixture
def repository(settings: Settings) -> OcflRepository:
    """The OCFL repository of ``settings``' storage."""
    return open_archive_repository(settings)


@pytest.fixture
def s3_repository(s3_store: ObjectStore) -> OcflRepository:
    """An OCFL storage root, initialized, in a fresh bucket of the harness's S3 server."""
    repository = OcflRepository(s3_store)
    repository.initialize()
    return repository
