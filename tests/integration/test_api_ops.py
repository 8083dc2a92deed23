"""Liveness, readiness and the service's start-up rules; the error shape of framework errors."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from archive_service.app import create_app, prepare_first_run
from archive_service.config import Settings
from archive_service.db.migrate import DatabaseNotMigrated
from archive_service.db.session import Database
from archive_service.security.service import authenticate
from tests.integration.api_client import InProcessArchive, in_process_archive


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[InProcessArchive]:
    with in_process_archive(tmp_path / "data") as running:
        yield running


def test_healthz_and_readyz_answer_when_everything_works(archive: InProcessArchive) -> None:
    assert archive.client.get("/healthz").json()["status"] == "ok"
    ready = archive.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"database": "ok", "storage": "ok", "broker": "in-process"},
    }


def test_readyz_logs_nothing_of_its_own(
    archive: InProcessArchive, caplog: pytest.LogCaptureFixture
) -> None:
    """Probes come every few seconds: the schema check must not log (Alembic's reader did)."""
    with caplog.at_level(logging.DEBUG):
        assert archive.client.get("/readyz").status_code == 200
    assert [r.name for r in caplog.records if not r.name.startswith("httpx")] == []


def test_readyz_is_503_naming_the_database_when_its_schema_is_not_the_head(
    archive: InProcessArchive,
) -> None:
    with archive.database.session() as session:
        session.execute(text("UPDATE alembic_version SET version_num = '0001_older'"))
    response = archive.client.get("/readyz")
    assert response.status_code == 503
    details = response.json()["error"]["details"]
    assert [detail["check"] for detail in details] == ["database"]
    assert "0001_older" in details[0]["message"]
    assert "archive db upgrade" in details[0]["message"]


def test_readyz_is_503_naming_the_storage_when_it_is_gone(archive: InProcessArchive) -> None:
    shutil.rmtree(archive.settings.data_dir / "storage")
    response = archive.client.get("/readyz")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "NOT_READY"
    assert [detail["check"] for detail in error["details"]] == ["storage"]
    assert "does not exist" in error["details"][0]["message"]


def test_readyz_is_503_naming_the_broker_when_it_cannot_be_reached(tmp_path: Path) -> None:
    with in_process_archive(tmp_path / "data", broker_url="redis://127.0.0.1:9/0") as archive:
        response = archive.client.get("/readyz")
    assert response.status_code == 503
    assert [d["check"] for d in response.json()["error"]["details"]] == ["broker"]


def test_the_service_refuses_to_start_on_a_database_that_is_not_migrated(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    with pytest.raises(DatabaseNotMigrated, match="archive db upgrade"):
        create_app(settings)
    assert not (tmp_path / "data" / "archive.db").exists()  # nothing was created
    settings.data_dir.mkdir()
    empty = Database(settings.effective_database_url())
    with empty.engine.connect():
        pass  # an empty SQLite file: there, but without a schema
    empty.dispose()
    with pytest.raises(DatabaseNotMigrated, match="chưa khởi tạo"):
        create_app(settings)


def test_the_first_run_migrates_and_makes_one_admin_key_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first = prepare_first_run(settings)
    assert first.migrated and first.admin_key is not None
    again = prepare_first_run(settings)
    assert (again.migrated, again.admin_key) == (False, None)
    app = create_app(settings)
    with app.state.database.session() as session:
        principal = authenticate(session, first.admin_key)
    assert principal is not None and principal.role == "admin"
    with TestClient(app) as client:
        listed = client.get(
            "/api/v1/dossiers", headers={"Authorization": f"Bearer {first.admin_key}"}
        )
    assert listed.json() == {"items": [], "total": 0, "page": 1, "page_size": 20}


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api/v1/nothing-here", 404, "NOT_FOUND"),
        ("DELETE", "/healthz", 405, "METHOD_NOT_ALLOWED"),
        ("PUT", "/api/v1/deposits", 405, "METHOD_NOT_ALLOWED"),
    ],
)
def test_framework_errors_use_the_error_shape(
    archive: InProcessArchive, method: str, path: str, status: int, code: str
) -> None:
    response = archive.client.request(method, path)
    assert response.status_code == status
    assert set(response.json()) == {"error"}
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["details"] == []
