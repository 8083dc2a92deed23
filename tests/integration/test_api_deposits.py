"""``POST /api/v1/deposits`` and ``GET /api/v1/deposits/{id}``: a SIP ZIP or a plain multipart
deposit goes in, is answered 202 with what was received, and is followed to ``archived``; repeats
return the original deposit; a deposit is only visible to its own agency and the archive staff.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from archive_service.dossiers.models import Dossier
from archive_service.ingest.pipeline import _Attempt
from archive_service.ingest.status_bell import StatusBell
from archive_service.integrity.models import AuditEntry
from tests.factories import DOSSIER_CODE, make_sip_zip, sample_deposit
from tests.integration.api_client import (
    InProcessArchive,
    in_process_archive,
    wait_for_final_status,
)

AGENCY = DOSSIER_CODE.split("-")[0]
DEPOSITS = "/api/v1/deposits"
ZIP = {"Content-Type": "application/zip"}


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[InProcessArchive]:
    with in_process_archive(tmp_path / "data") as running:
        yield running


@pytest.fixture
def sip(tmp_path: Path) -> Path:
    return make_sip_zip(tmp_path, documents=2)


def dossier_count(archive: InProcessArchive) -> int:
    with archive.database.session() as session:
        return int(session.scalar(select(func.count(Dossier.id))) or 0)


def test_a_sip_zip_is_accepted_received_and_archived(archive: InProcessArchive, sip: Path) -> None:
    depositor = archive.client_for(archive.create_key("depositor", AGENCY))
    data = sip.read_bytes()
    name = "hồ sơ 0001.zip"
    response = depositor.post(
        DEPOSITS,
        content=data,
        headers={**ZIP, "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) == {"deposit_id", "status", "received"}
    assert body["status"] == "received"
    assert body["received"] == [
        {"name": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    ]
    assert response.headers["Location"] == f"{DEPOSITS}/{body['deposit_id']}"
    final = wait_for_final_status(depositor, body["deposit_id"])
    assert final["status"] == "archived"
    assert final["dossier_code"] == DOSSIER_CODE
    assert final["problems"] == []
    assert final["sha256"] == hashlib.sha256(data).hexdigest()
    with archive.database.session() as session:
        received = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "deposit.received")
        ).one()
        assert received.target_id == body["deposit_id"]
        assert received.remote_addr == "testclient"


def test_a_long_poll_answers_at_each_change_of_status_and_refuses_a_bad_wait(
    archive: InProcessArchive, sip: Path
) -> None:
    depositor = archive.client_for(archive.create_key("depositor", AGENCY))
    deposit_id = depositor.post(DEPOSITS, content=sip.read_bytes(), headers=ZIP).json()[
        "deposit_id"
    ]
    seen = ["received"]
    for _ in range(10):
        answer = depositor.get(f"{DEPOSITS}/{deposit_id}", params={"wait": 30})
        assert answer.status_code == 200, answer.text
        status = answer.json()["status"]
        assert status != seen[-1] or status == "archived", seen  # no answer without news
        seen.append(status)
        if status == "archived":
            break
    # Each long poll ended with a new status: received → … → archived in at most 4 requests.
    assert seen[-1] == "archived" and len(seen) <= 5, seen
    assert set(seen) <= {"received", "checking", "packaging", "storing", "archived"}
    again = depositor.get(f"{DEPOSITS}/{deposit_id}", params={"wait": 30})
    assert again.json()["status"] == "archived"  # a final status is answered at once
    for bad in ("61", "-1", "soon"):
        refused = depositor.get(f"{DEPOSITS}/{deposit_id}", params={"wait": bad})
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "REQUEST_INVALID"
    unknown = depositor.get(f"{DEPOSITS}/00000000-0000-0000-0000-000000000000?wait=1")
    assert unknown.status_code == 404


def test_a_long_poll_until_final_answers_only_at_the_end(
    archive: InProcessArchive, sip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The deposit's checks start only once the long poll waits, so the poll sees every later
    # change (packaging, storing) happen and must not answer at any of them.
    polling = threading.Event()
    bell_wait, check = StatusBell.wait, _Attempt.check

    async def noted_wait(self: StatusBell, deposit_id: str, timeout: float) -> bool:
        polling.set()
        return await bell_wait(self, deposit_id, timeout)

    def check_once_polled(self: _Attempt, source: Any) -> Any:
        assert polling.wait(30), "the long poll never started"
        return check(self, source)

    monkeypatch.setattr(StatusBell, "wait", noted_wait)
    monkeypatch.setattr(_Attempt, "check", check_once_polled)
    depositor = archive.client_for(archive.create_key("depositor", AGENCY))
    deposit_id = depositor.post(DEPOSITS, content=sip.read_bytes(), headers=ZIP).json()[
        "deposit_id"
    ]
    answer = depositor.get(f"{DEPOSITS}/{deposit_id}", params={"wait": 30, "until": "final"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "archived"  # not packaging, not storing
    assert answer.json()["dossier_code"] == DOSSIER_CODE
    for bad in ("archived", "", "FINAL"):
        refused = depositor.get(f"{DEPOSITS}/{deposit_id}", params={"wait": 1, "until": bad})
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "REQUEST_INVALID"


def test_a_plain_multipart_deposit_is_packaged_and_archived(archive: InProcessArchive) -> None:
    depositor = archive.client_for(archive.create_key("depositor", AGENCY))
    deposit, files = sample_deposit(documents=3)
    contents = {}
    for name, source in files.items():
        with source.open() as stream:
            contents[name] = stream.read()
    parts = {"metadata": ("metadata.json", deposit.to_json().encode(), "application/json")}
    parts |= {name: (f"{name}.pdf", data, "application/pdf") for name, data in contents.items()}
    response = depositor.post(DEPOSITS, files=parts)
    assert response.status_code == 202, response.text
    received = {item["name"]: item for item in response.json()["received"]}
    assert received == {
        name: {"name": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        for name, data in contents.items()
    }
    final = wait_for_final_status(depositor, response.json()["deposit_id"])
    assert final["status"] == "archived", final
    assert final["kind"] == "plain"
    dossier = depositor.get(f"/api/v1/dossiers/{DOSSIER_CODE}").json()
    stored = {document["sha256"] for document in dossier["documents"]}
    assert stored == {hashlib.sha256(data).hexdigest() for data in contents.values()}
    assert archive.staged_files() == []


def test_the_same_idempotency_key_or_the_same_sip_returns_the_first_deposit(
    archive: InProcessArchive, sip: Path
) -> None:
    depositor = archive.client_for(archive.create_key("depositor", AGENCY))
    data = sip.read_bytes()
    first = depositor.post(DEPOSITS, content=data, headers={**ZIP, "Idempotency-Key": "k-1"})
    by_key = depositor.post(DEPOSITS, content=data, headers={**ZIP, "Idempotency-Key": "k-1"})
    by_sha = depositor.post(DEPOSITS, content=data, headers=ZIP)
    assert first.status_code == by_key.status_code == by_sha.status_code == 202
    deposit_id = first.json()["deposit_id"]
    assert by_key.json()["deposit_id"] == by_sha.json()["deposit_id"] == deposit_id
    assert wait_for_final_status(depositor, deposit_id)["status"] == "archived"
    assert archive.deposit_count() == 1
    assert dossier_count(archive) == 1


def test_the_same_key_for_other_bytes_is_422(archive: InProcessArchive, tmp_path: Path) -> None:
    depositor = archive.client_for(archive.create_key("depositor", AGENCY))
    (tmp_path / "one").mkdir()
    one = make_sip_zip(tmp_path / "one", documents=1)
    two = make_sip_zip(tmp_path, documents=2)
    headers = {**ZIP, "Idempotency-Key": "k-2"}
    assert depositor.post(DEPOSITS, content=one.read_bytes(), headers=headers).status_code == 202
    response = depositor.post(DEPOSITS, content=two.read_bytes(), headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_the_same_deposit_sent_twice_at_once_gives_one_dossier(
    archive: InProcessArchive, sip: Path
) -> None:
    key = archive.create_key("depositor", AGENCY)
    data = sip.read_bytes()

    def send(_: int) -> str:
        client = archive.client_for(key)
        response = client.post(DEPOSITS, content=data, headers=ZIP)
        assert response.status_code == 202, response.text
        return str(response.json()["deposit_id"])

    with ThreadPoolExecutor(4) as pool:
        ids = set(pool.map(send, range(4)))
    assert len(ids) == 1
    depositor = archive.client_for(key)
    assert wait_for_final_status(depositor, ids.pop())["status"] == "archived"
    assert archive.deposit_count() == 1
    assert dossier_count(archive) == 1
    assert archive.staged_files() == []


def test_a_deposit_is_visible_to_its_agency_and_the_archive_staff_only(
    archive: InProcessArchive, sip: Path
) -> None:
    depositor = archive.client_for(archive.create_key("depositor", AGENCY))
    deposit_id = depositor.post(DEPOSITS, content=sip.read_bytes(), headers=ZIP).json()[
        "deposit_id"
    ]
    wait_for_final_status(depositor, deposit_id)
    archivist = archive.client_for(archive.create_key("archivist"))
    assert archivist.get(f"{DEPOSITS}/{deposit_id}").json()["status"] == "archived"
    stranger = archive.client_for(archive.create_key("depositor", "000.00.20.H57"))
    for client, unknown in ((stranger, deposit_id), (depositor, "no-such-deposit")):
        response = client.get(f"{DEPOSITS}/{unknown}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "DEPOSIT_NOT_FOUND"
    assert archive.client.get(f"{DEPOSITS}/{deposit_id}").status_code == 401


def test_the_openapi_document_shows_the_deposit_body_and_the_error_shape(
    archive: InProcessArchive,
) -> None:
    document = archive.client.get("/openapi.json").json()
    post = document["paths"]["/api/v1/deposits"]["post"]
    assert set(post["requestBody"]["content"]) == {"application/zip", "multipart/form-data"}
    assert post["responses"]["202"]["content"]["application/json"]["schema"]
    conflict = post["responses"]["409"]["content"]["application/json"]
    assert conflict["example"]["error"]["code"] == "DUPLICATE_DOSSIER"
    assert "ErrorResponse" in json.dumps(conflict["schema"])
    assert archive.client.get("/docs").status_code == 200


@pytest.mark.parametrize(
    ("path", "method", "status"),
    [
        ("/api/v1/deposits", "post", "202"),
        ("/api/v1/deposits/{deposit_id}", "get", "200"),
        ("/api/v1/dossiers", "get", "200"),
        ("/api/v1/dossiers/{dossier_code}", "get", "200"),
        ("/healthz", "get", "200"),
        ("/readyz", "get", "200"),
    ],
)
def test_every_json_answer_of_the_deposit_api_has_an_example(
    archive: InProcessArchive, path: str, method: str, status: str
) -> None:
    document = archive.client.get("/openapi.json").json()
    content = document["paths"][path][method]["responses"][status]["content"]["application/json"]
    if "example" in content:
        example = content["example"]
    else:
        name = content["schema"]["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
        example = schema.get("examples", [None])[0] or {
            key: prop["examples"][0]
            for key, prop in schema["properties"].items()
            if "examples" in prop
        }
    assert isinstance(example, dict) and example
