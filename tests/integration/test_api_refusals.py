"""Every refusal of ``POST /api/v1/deposits`` answers its documented status and code, and leaves
nothing behind: no deposit row, no file in the staging area, no object in storage.

An invalid SIP is the exception that proves the rule: it is accepted (202) and then ``rejected``
with its problems — but it, too, ends with nothing staged and nothing stored.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import httpx
import pytest
from sqlalchemy import func, select

from archive_service.db.session import Database
from archive_service.ingest.models import Deposit
from tests.factories import DOSSIER_CODE, make_sip_zip, sample_deposit
from tests.integration.api_client import (
    ArchiveServer,
    InProcessArchive,
    in_process_archive,
    running_server,
    wait_for_final_status,
)

AGENCY = DOSSIER_CODE.split("-")[0]
OTHER_AGENCY = "000.00.20.H57"
DEPOSITS = "/api/v1/deposits"
ZIP = {"Content-Type": "application/zip"}
UPLOAD_LIMIT = 200_000


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[InProcessArchive]:
    with in_process_archive(
        tmp_path / "data", limits={"max_upload_bytes": UPLOAD_LIMIT}
    ) as running:
        yield running


@pytest.fixture
def sip(tmp_path: Path) -> Path:
    return make_sip_zip(tmp_path, documents=2)


def assert_left_nothing(archive: InProcessArchive, stored_before: list[str]) -> None:
    assert archive.deposit_count() == 0
    assert archive.staged_files() == []
    assert archive.stored_keys() == stored_before


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], list)
    return error


def test_an_invalid_sip_is_rejected_with_every_problem_and_leaves_nothing(
    archive: InProcessArchive, tmp_path: Path
) -> None:
    stored_before = archive.stored_keys()
    good = make_sip_zip(tmp_path, documents=2)
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("/data/240610-0001.2.pdf"):
                data += b"tampered"  # size and checksum no longer those METS declares
            dst.writestr(info, data)
    depositor = archive.client_for(archive.create_key("depositor", AGENCY))
    answer = depositor.post(DEPOSITS, content=broken.read_bytes(), headers=ZIP)
    assert answer.status_code == 202, answer.text
    final = wait_for_final_status(depositor, answer.json()["deposit_id"])
    assert final["status"] == "rejected"
    assert final["problems"], final
    assert all({"code", "path", "message"} <= set(problem) for problem in final["problems"])
    assert any("240610-0001.2.pdf" in (problem["path"] or "") for problem in final["problems"])
    assert archive.staged_files() == []
    assert archive.stored_keys() == stored_before


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_an_upload_over_the_limit_is_413(
    archive: InProcessArchive, tmp_path: Path, declared: bool
) -> None:
    stored_before = archive.stored_keys()
    depositor = archive.client_for(archive.create_key("depositor", AGENCY))
    body = b"PK" + b"\0" * (UPLOAD_LIMIT + 10)
    content: bytes | Iterator[bytes] = body if declared else iter([body[:50_000], body[50_000:]])
    response = depositor.post(DEPOSITS, content=content, headers=ZIP)
    assert_error(response, 413, "UPLOAD_TOO_LARGE")
    assert_left_nothing(archive, stored_before)


def form_part(name: str, data: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--b\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"


FORM_END = b"--b--\r\n"
FORM = {"Content-Type": "multipart/form-data; boundary=b"}


def test_a_multipart_upload_over_the_limit_is_413_while_streaming(
    archive: InProcessArchive,
) -> None:
    stored_before = archive.stored_keys()
    depositor = archive.client_for(archive.create_key("depositor", AGENCY))
    deposit, _ = sample_deposit(documents=1)
    chunks = [
        form_part("metadata", deposit.to_json().encode(), "metadata.json"),
        form_part("file1", b"%PDF" + b"x" * (UPLOAD_LIMIT + 1), "big.pdf"),
        FORM_END,
    ]
    response = depositor.post(DEPOSITS, content=iter(chunks), headers=FORM)  # no Content-Length
    assert_error(response, 413, "UPLOAD_TOO_LARGE")
    assert_left_nothing(archive, stored_before)


def test_a_sip_of_another_agency_is_403(archive: InProcessArchive, sip: Path) -> None:
    stored_before = archive.stored_keys()
    stranger = archive.client_for(archive.create_key("depositor", OTHER_AGENCY))
    response = stranger.post(DEPOSITS, content=sip.read_bytes(), headers=ZIP)
    error = assert_error(response, 403, "AGENCY_MISMATCH")
    assert AGENCY in str(error["message"]) and OTHER_AGENCY in str(error["message"])
    assert_left_nothing(archive, stored_before)


def test_a_role_that_may_not_deposit_is_403(archive: InProcessArchive, sip: Path) -> None:
    stored_before = archive.stored_keys()
    auditor = archive.client_for(archive.create_key("auditor"))
    response = auditor.post(DEPOSITS, content=sip.read_bytes(), headers=ZIP)
    assert_error(response, 403, "FORBIDDEN")
    assert_left_nothing(archive, stored_before)


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "AUTH_REQUIRED"),
        ("Bearer ak_" + "x" * 40, "AUTH_INVALID"),
        ("Basic dXNlcjpwYXNz", "AUTH_INVALID"),
    ],
)
def test_a_missing_or_bad_key_is_401(
    archive: InProcessArchive, sip: Path, authorization: str | None, code: str
) -> None:
    stored_before = archive.stored_keys()
    headers = dict(ZIP)
    if authorization is not None:
        headers["Authorization"] = authorization
    response = archive.client.post(DEPOSITS, content=sip.read_bytes(), headers=headers)
    assert_error(response, 401, code)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert_left_nothing(archive, stored_before)


def test_a_second_sip_of_an_archived_dossier_is_409(
    archive: InProcessArchive, tmp_path: Path, sip: Path
) -> None:
    depositor = archive.client_for(archive.create_key("depositor", AGENCY))
    first = depositor.post(DEPOSITS, content=sip.read_bytes(), headers=ZIP)
    assert wait_for_final_status(depositor, first.json()["deposit_id"])["status"] == "archived"
    stored_before, rows_before = archive.stored_keys(), archive.deposit_count()
    (tmp_path / "again").mkdir()
    again = make_sip_zip(
        tmp_path / "again", documents=2, object_uuid=UUID("0b6f3a52-7d1c-4e8a-9f20-5c4b3a2d1e0f")
    )
    response = depositor.post(DEPOSITS, content=again.read_bytes(), headers=ZIP)
    error = assert_error(response, 409, "DUPLICATE_DOSSIER")
    assert DOSSIER_CODE in str(error["message"])
    assert archive.deposit_count() == rows_before
    assert archive.staged_files() == []
    assert archive.stored_keys() == stored_before


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (
            b"--b\r\nContent-Disposition: form-data; name=",
            FORM["Content-Type"],
            "MULTIPART_MALFORMED",
        ),
        (b"anything", "multipart/form-data", "MULTIPART_MALFORMED"),
        (
            form_part("file1", b"%PDF", "a.pdf") + FORM_END,
            FORM["Content-Type"],
            "MULTIPART_MALFORMED",
        ),
        (b"", "application/zip", "EMPTY_BODY"),
    ],
    ids=["truncated", "no-boundary", "no-metadata-part", "empty-zip"],
)
def test_a_malformed_body_is_400(
    archive: InProcessArchive, body: bytes, content_type: str, code: str
) -> None:
    stored_before = archive.stored_keys()
    depositor = archive.client_for(archive.create_key("depositor", AGENCY))
    response = depositor.post(DEPOSITS, content=body, headers={"Content-Type": content_type})
    assert_error(response, 400, code)
    assert_left_nothing(archive, stored_before)


def test_invalid_plain_metadata_is_422_with_every_problem(archive: InProcessArchive) -> None:
    stored_before = archive.stored_keys()
    depositor = archive.client_for(archive.create_key("depositor", AGENCY))
    deposit, files = sample_deposit(documents=2)
    metadata = json.loads(deposit.to_json())
    del metadata["dossier"]["title"]
    metadata["dossier"]["endDate"] = "31/02/2024"
    parts = {"metadata": ("metadata.json", json.dumps(metadata).encode(), "application/json")}
    for name, source in files.items():
        with source.open() as stream:
            parts[name] = (f"{name}.pdf", stream.read(), "application/pdf")
    response = depositor.post(DEPOSITS, files=parts)
    error = assert_error(response, 422, "PLAIN_DEPOSIT_INVALID")
    fields = {detail["field"] for detail in error["details"]}
    assert {"dossier.title", "dossier.endDate"} <= fields
    assert_left_nothing(archive, stored_before)


def test_another_content_type_is_415(archive: InProcessArchive) -> None:
    stored_before = archive.stored_keys()
    depositor = archive.client_for(archive.create_key("depositor", AGENCY))
    response = depositor.post(DEPOSITS, content=b"hello", headers={"Content-Type": "text/plain"})
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert_left_nothing(archive, stored_before)


# --- a client that goes away half-way, on a real server ------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArchiveServer]:
    with running_server(tmp_path_factory.mktemp("disconnect") / "archive-data") as running:
        yield running


def broken_upload(first: bytes, staging_dir: Path, seen: list[Path]) -> Iterator[bytes]:
    """Send ``first``, wait until the server has staged some of it, then fail like a crash."""
    yield first
    deadline = time.monotonic() + 30.0
    while not seen and time.monotonic() < deadline:
        seen.extend(path for path in staging_dir.rglob("*") if path.is_file())
        time.sleep(0.02)
    raise RuntimeError("the client went away")


def deposit_rows(server: ArchiveServer) -> int:
    database = Database(server.database_url)
    try:
        with database.session() as session:
            return int(session.scalar(select(func.count(Deposit.id))) or 0)
    finally:
        database.dispose()


@pytest.mark.parametrize("content_type", ["application/zip", "multipart/form-data; boundary=b"])
def test_a_client_that_disconnects_mid_upload_leaves_nothing(
    server: ArchiveServer, sip: Path, content_type: str
) -> None:
    key = server.create_key("depositor", AGENCY)
    stored_before = sorted((server.data_dir / "storage").rglob("*"))
    data = sip.read_bytes()
    if content_type.startswith("multipart"):
        data = (
            b'--b\r\nContent-Disposition: form-data; name="file1"; filename="a.zip"\r\n\r\n' + data
        )
    seen: list[Path] = []
    with server.client(key) as client, pytest.raises(RuntimeError, match="went away"):
        client.post(
            DEPOSITS,
            content=broken_upload(data[: len(data) // 2], server.staging_dir, seen),
            headers={"Content-Type": content_type, "Content-Length": str(len(data))},
        )
    assert seen, "the server never started to stage the upload"
    assert server.staging_once_emptied() == []
    assert deposit_rows(server) == 0
    assert sorted((server.data_dir / "storage").rglob("*")) == stored_before
    with server.client(key) as client:  # and the server keeps serving
        assert client.get("/readyz").status_code == 200


#: How much of a header that never ends the test offers before calling the server defenceless
#: (uvicorn's h11 refuses after 16 KiB; the kernel's socket buffers take some MiB more).
ENDLESS_HEADER_LIMIT = 64 * 1024 * 1024


def test_a_header_that_never_ends_is_cut_off_and_the_server_keeps_serving(
    server: ArchiveServer,
) -> None:
    """One connection sending a header without end must not fill the server's memory nor
    stall other requests: the server refuses it after a bounded amount (``cli.serve``)."""
    address = urlsplit(server.base_url)
    offered = 0
    with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: archive\r\nX-Fill: ")
        chunk = b"a" * 65536
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while offered < ENDLESS_HEADER_LIMIT:
                connection.sendall(chunk)
                offered += len(chunk)
    assert offered < ENDLESS_HEADER_LIMIT, "the server took 64 MiB of one header"
    with server.client() as client:
        assert client.get("/healthz").status_code == 200
