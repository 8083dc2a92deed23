"""``archive db …`` and ``archive admin …`` as real processes, on embedded SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from archive_service.db.migrate import head_revision, upgrade
from archive_service.db.models import Agency, ApiKey, AuditEntry
from archive_service.db.session import Database
from archive_service.security.models import Role
from archive_service.security.service import authenticate

ARCHIVE = [sys.executable, "-m", "archive_service.cli"]
KEY_LINE = re.compile(r"ak_[A-Za-z0-9_-]{40}\n")
AGENCY = "000.00.12.H12"


class Archive:
    """The ``archive`` command with one configuration (only the given ARCHIVE_* variables)."""

    def __init__(self, database_url: str, **variables: str) -> None:
        self.database_url = database_url
        base = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")}
        self.env = {**base, **variables}

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*ARCHIVE, *args], capture_output=True, text=True, env=self.env, timeout=120
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> Archive:
    """The command configured for the embedded default (a data dir not yet made) or PostgreSQL."""
    data_dir = tmp_path / "new" / "archive-data"
    if request.param == "sqlite":
        return Archive(f"sqlite:///{data_dir / 'archive.db'}", ARCHIVE_DATA_DIR=str(data_dir))
    url = str(request.getfixturevalue("postgres_url"))
    return Archive(url, ARCHIVE_DATA_DIR=str(data_dir), ARCHIVE_DATABASE_URL=url)


def test_upgrade_then_keys_are_created_listed_and_revoked(archive: Archive) -> None:
    upgraded = archive("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert head_revision() in upgraded.stdout
    current = archive("db", "current")
    assert (current.returncode, current.stdout) == (0, f"{head_revision()} (mới nhất)\n")

    created = archive(
        "admin", "create-key", "--role", "depositor", "--agency", AGENCY, "--label", "Sở Tư pháp"
    )
    assert created.returncode == 0, created.stderr
    assert KEY_LINE.fullmatch(created.stdout), created.stdout
    key = created.stdout.strip()

    database = Database(archive.database_url)
    try:
        with database.session() as session:
            principal = authenticate(session, key)
            assert principal is not None
            assert (principal.role, principal.agency_id) == (Role.DEPOSITOR, AGENCY)
            audited = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [e.action for e in audited] == ["agency.created", "key.created"]
        assert all(e.actor.startswith("cli") for e in audited)

        listed = archive("admin", "list-keys", "--json")
        assert listed.returncode == 0, listed.stderr
        assert key not in listed.stdout
        [shown] = json.loads(listed.stdout)
        assert shown["id"] == principal.key_id
        assert (shown["prefix"], shown["role"], shown["agency_id"]) == (
            key[:12],
            "depositor",
            AGENCY,
        )
        assert (shown["label"], shown["active"]) == ("Sở Tư pháp", True)

        revoked = archive("admin", "revoke-key", str(principal.key_id))
        assert revoked.returncode == 0, revoked.stderr
        with database.session() as session:
            assert authenticate(session, key) is None
    finally:
        database.dispose()


def test_commands_on_an_unmigrated_embedded_database_change_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "archive-data"
    archive = Archive("", ARCHIVE_DATA_DIR=str(data_dir))
    result = archive("admin", "create-key", "--role", "admin")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "archive db upgrade" in result.stderr
    current = archive("db", "current")
    assert current.returncode == 1
    assert "chưa khởi tạo" in current.stdout
    assert not data_dir.exists()


def test_refused_keys_print_no_key_and_explain_why(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    archive = Archive(sqlite_url, ARCHIVE_DATABASE_URL=sqlite_url)
    no_agency = archive("admin", "create-key", "--role", "depositor")
    assert (no_agency.returncode, no_agency.stdout) == (1, "")
    assert "--agency" in no_agency.stderr
    agency_for_archivist = archive("admin", "create-key", "--role", "Archivist", "--agency", "X")
    assert (agency_for_archivist.returncode, agency_for_archivist.stdout) == (1, "")
    assert "archivist" in agency_for_archivist.stderr
    unknown = archive("admin", "revoke-key", "42")
    assert unknown.returncode == 1
    assert "42" in unknown.stderr
    database = Database(sqlite_url)
    try:
        with database.session() as session:
            for table in (ApiKey, Agency, AuditEntry):
                assert session.scalar(select(func.count()).select_from(table)) == 0
    finally:
        database.dispose()
