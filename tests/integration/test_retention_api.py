"""``GET /api/v1/retention/schedule`` on the real application: rows with their legal basis and
the file's version for archivists, auditors and admins; refused to depositors and anonymous
callers; a schedule file with errors stops the application from starting.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from retention.schedule import SHIPPED_SCHEDULE, ScheduleInvalid, load_schedule
from tests.integration.api_client import InProcessArchive, in_process_archive

SCHEDULE = "/api/v1/retention/schedule"


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[InProcessArchive]:
    with in_process_archive(tmp_path / "data") as running:
        yield running


@pytest.mark.parametrize("role", ["archivist", "auditor", "admin"])
def test_the_schedule_in_force_is_shown_with_its_basis(
    archive: InProcessArchive, role: str
) -> None:
    answer = archive.client_for(archive.create_key(role)).get(SCHEDULE)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    shipped = load_schedule(SHIPPED_SCHEDULE)
    assert body["version"] == shipped.version
    assert body["effective"] == "2025-07-01"
    assert body["source"] == "schedule.csv"
    assert body["sha256"] == hashlib.sha256(SHIPPED_SCHEDULE.read_bytes()).hexdigest()
    assert [row["procedure_code"] for row in body["rows"]] == [row.key for row in shipped.rows]
    marriage = next(row for row in body["rows"] if row["procedure_code"] == "1.000894")
    assert marriage["retention"] == "01" and marriage["years"] is None
    assert "Thông tư 04/2020/TT-BTP" in marriage["legal_basis"]
    fallback = body["rows"][-1]
    assert (fallback["procedure_code"], fallback["retention"]) == ("*", "declared")
    assert all(row["legal_basis"] for row in body["rows"])


def test_depositors_and_anonymous_callers_are_refused(archive: InProcessArchive) -> None:
    depositor = archive.client_for(archive.create_key("depositor", "000.00.19.H56"))
    refused = depositor.get(SCHEDULE)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "FORBIDDEN"
    anonymous = archive.client.get(SCHEDULE)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "AUTH_REQUIRED"


def test_the_configured_schedule_file_is_the_one_served(tmp_path: Path) -> None:
    path = tmp_path / "tinh.csv"
    path.write_text(
        "# version: 2026-tinh\n"
        "procedure_code,retention,years,legal_basis,note\n"
        "1.000001,07,25,Quyết định thử Điều 2,\n",
        encoding="utf-8",
    )
    with in_process_archive(tmp_path / "data", retention_schedule_path=path) as archive:
        body = archive.client_for(archive.create_key("auditor")).get(SCHEDULE).json()
    assert body["version"] == "2026-tinh" and body["effective"] is None
    assert body["rows"] == [
        {
            "line": 3,
            "procedure_code": "1.000001",
            "scope": "procedure",
            "retention": "07",
            "years": 25,
            "name": "",
            "legal_basis": "Quyết định thử Điều 2",
            "note": "",
        }
    ]


def test_a_schedule_with_errors_stops_the_application_at_start(tmp_path: Path) -> None:
    path = tmp_path / "hong.csv"
    path.write_text(
        "# version: 1\nprocedure_code,retention,years,legal_basis,note\n1.000001,07,99,,\n",
        encoding="utf-8",
    )
    with (
        pytest.raises(ScheduleInvalid, match=r"hong\.csv:3 \[years\]"),
        in_process_archive(tmp_path / "data", retention_schedule_path=path),
    ):
        pass  # pragma: no cover - never reached


def test_the_schedule_is_listed_in_the_api_description(archive: InProcessArchive) -> None:
    document = archive.client.get("/openapi.json").json()
    assert SCHEDULE in document["paths"]
    names = [tag["name"] for tag in document["tags"]]
    assert "retention" in names and len(names) == len(set(names))
