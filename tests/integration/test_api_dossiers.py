"""Reading archived dossiers over HTTP: search, metadata with masking per role, document bytes
(Digest, ETag, ranges, 304), the AIP as a streamed ZIP, and the audit of every read.

Decision shown here: a depositor asking for another agency's dossier gets ``404
DOSSIER_NOT_FOUND``, exactly as for a dossier that does not exist.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from archive_service.dossiers.models import Document
from archive_service.integrity.models import AuditEntry
from archive_service.packages.aip_writer import aip_root_name
from tests.factories import DOSSIER_CODE, make_sip_zip
from tests.integration.api_client import (
    InProcessArchive,
    in_process_archive,
    wait_for_final_status,
)

H56, H57 = "000.00.19.H56", "000.00.20.H57"
BIRTH_CODE = "000.00.19.H56-240611-0002"
H57_CODE = "000.00.20.H57-240612-0003"
BIRTH_PROCEDURE = {
    "code": "1.001193",
    "name": "Đăng ký khai sinh",
    "sectorCode": "HT",
    "sectorName": "Hộ tịch",
}
BIRTH_TITLE = "Hồ sơ đăng ký khai sinh cho cháu Nguyễn Thị Hà"
DOSSIERS = "/api/v1/dossiers"
ID_NUMBER = "038090001234"
MASKED = "0380******34"


@dataclass
class Catalogue:
    """An archive holding three dossiers, the keys to read them, and the deposited documents."""

    archive: InProcessArchive
    keys: dict[str, str]
    originals: dict[str, bytes]  # file name → bytes, of the documents of DOSSIER_CODE

    def client(self, who: str, **options: Any) -> Any:
        return self.archive.client_for(self.keys[who], **options)


def deposit(archive: InProcessArchive, key: str, sip: Path) -> None:
    client = archive.client_for(key)
    answer = client.post(
        "/api/v1/deposits", content=sip.read_bytes(), headers={"Content-Type": "application/zip"}
    )
    assert answer.status_code == 202, answer.text
    assert wait_for_final_status(client, answer.json()["deposit_id"])["status"] == "archived"


def build_catalogue(archive: InProcessArchive, work: Path) -> Catalogue:
    keys = {
        "h56": archive.create_key("depositor", H56),
        "h57": archive.create_key("depositor", H57),
        "archivist": archive.create_key("archivist"),
        "auditor": archive.create_key("auditor"),
        "admin": archive.create_key("admin"),
    }
    sips = {
        "h56": [
            make_sip_zip(_folder(work, "a"), documents=3),
            make_sip_zip(
                _folder(work, "b"),
                documents=2,
                dossier_code=BIRTH_CODE,
                tthc={"procedure": BIRTH_PROCEDURE},
                dossier={"title": BIRTH_TITLE},
            ),
        ],
        "h57": [make_sip_zip(_folder(work, "c"), documents=1, dossier_code=H57_CODE)],
    }
    for who, packages in sips.items():
        for sip in packages:
            deposit(archive, keys[who], sip)
    with zipfile.ZipFile(sips["h56"][0]) as package:
        originals = {
            name.rsplit("/", 1)[-1]: package.read(name)
            for name in package.namelist()
            if "/representations/rep1/data/" in name
        }
    return Catalogue(archive, keys, originals)


def _folder(work: Path, name: str) -> Path:
    folder = work / name
    folder.mkdir(parents=True)
    return folder


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalogue]:
    work = tmp_path_factory.mktemp("dossiers")
    with in_process_archive(work / "data") as archive:
        yield build_catalogue(archive, work / "sips")


def codes(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["dossier_code"] for item in response.json()["items"]]


# --- search -------------------------------------------------------------------------------------


def test_search_filters_and_pages_on_every_database(tmp_path: Path, database_url: str) -> None:
    with in_process_archive(tmp_path / "data", database_url=database_url) as archive:
        catalogue = build_catalogue(archive, tmp_path / "sips")
        archivist = catalogue.client("archivist")
        everything = [H57_CODE, BIRTH_CODE, DOSSIER_CODE]  # most recently settled first
        assert codes(archivist.get(DOSSIERS)) == everything
        assert codes(archivist.get(DOSSIERS, params={"agency": H57})) == [H57_CODE]
        assert codes(archivist.get(DOSSIERS, params={"procedure": "1.001193"})) == [BIRTH_CODE]
        assert codes(archivist.get(DOSSIERS, params={"status": "returned"})) == everything
        assert codes(archivist.get(DOSSIERS, params={"status": "withdrawn"})) == []
        assert codes(archivist.get(DOSSIERS, params={"sector": "HT"})) == everything
        # settled 12, 13 and 14 June 2024 (Vietnam time); both ends inclusive
        dates = {"settled_from": "2024-06-13", "settled_to": "2024-06-13"}
        assert codes(archivist.get(DOSSIERS, params=dates)) == [BIRTH_CODE]
        assert codes(archivist.get(DOSSIERS, params={"settled_to": "2024-06-12"})) == [DOSSIER_CODE]
        assert codes(archivist.get(DOSSIERS, params={"q": "khai sinh"})) == [BIRTH_CODE]
        assert codes(archivist.get(DOSSIERS, params={"q": "240612-0003"})) == [H57_CODE]
        assert codes(archivist.get(DOSSIERS, params={"q": "100%_"})) == []
        first = archivist.get(DOSSIERS, params={"page_size": 2}).json()
        second = archivist.get(DOSSIERS, params={"page_size": 2, "page": 2}).json()
        assert (first["total"], first["page"], first["page_size"]) == (3, 1, 2)
        assert [i["dossier_code"] for i in first["items"] + second["items"]] == everything
        h56 = catalogue.client("h56")
        assert codes(h56.get(DOSSIERS)) == [BIRTH_CODE, DOSSIER_CODE]
        assert codes(h56.get(DOSSIERS, params={"agency": H57})) == []


def test_bad_search_parameters_are_422_with_their_location(catalogue: Catalogue) -> None:
    response = catalogue.client("archivist").get(
        DOSSIERS, params={"page_size": 1000, "settled_from": "12/06/2024"}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "REQUEST_INVALID"
    assert {tuple(d["loc"]) for d in error["details"]} == {
        ("query", "page_size"),
        ("query", "settled_from"),
    }


# --- one dossier --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "shown"),
    [("h56", MASKED), ("auditor", MASKED), ("archivist", ID_NUMBER), ("admin", ID_NUMBER)],
)
def test_identity_numbers_are_masked_except_for_archivists_and_admins(
    catalogue: Catalogue, who: str, shown: str
) -> None:
    response = catalogue.client(who).get(f"{DOSSIERS}/{DOSSIER_CODE}")
    assert response.status_code == 200, response.text
    dossier = response.json()
    assert dossier["applicant"]["id_number"] == shown
    assert dossier["metadata"]["tthc"]["applicant"]["idNumber"] == shown
    if shown == MASKED:
        assert ID_NUMBER not in response.text


def test_a_dossier_lists_its_documents_with_size_digest_and_format(catalogue: Catalogue) -> None:
    dossier = catalogue.client("h56").get(f"{DOSSIERS}/{DOSSIER_CODE}").json()
    assert dossier["agency_id"] == H56
    assert dossier["aip_version"] == "v1"
    documents = {d["file_name"]: d for d in dossier["documents"]}
    assert set(documents) == set(catalogue.originals)
    for name, data in catalogue.originals.items():
        assert documents[name]["size"] == len(data)
        assert documents[name]["sha256"] == hashlib.sha256(data).hexdigest()
        assert documents[name]["mime_type"] == "application/pdf"
    assert dossier["events"][0]["event_type"] == "ingestion"


def test_another_agency_s_dossier_is_not_found_for_a_depositor(catalogue: Catalogue) -> None:
    stranger = catalogue.client("h57")
    document = catalogue.client("h56").get(f"{DOSSIERS}/{DOSSIER_CODE}").json()["documents"][0]
    for path in (
        f"{DOSSIERS}/{DOSSIER_CODE}",
        f"{DOSSIERS}/{DOSSIER_CODE}/documents/{document['doc_id']}",
        f"{DOSSIERS}/000.00.19.H56-991231-9999",
    ):
        response = stranger.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "DOSSIER_NOT_FOUND"


# --- document bytes -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def first_document(catalogue: Catalogue) -> dict[str, Any]:
    dossier = catalogue.client("h56").get(f"{DOSSIERS}/{DOSSIER_CODE}").json()
    document: dict[str, Any] = dossier["documents"][0]
    document["bytes"] = catalogue.originals[document["file_name"]]
    document["url"] = f"{DOSSIERS}/{DOSSIER_CODE}/documents/{document['doc_id']}"
    return document


def test_a_document_is_served_with_its_digest_etag_and_name(
    catalogue: Catalogue, first_document: dict[str, Any]
) -> None:
    response = catalogue.client("h56").get(first_document["url"])
    data = first_document["bytes"]
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["Content-Length"] == str(len(data))
    assert response.headers["Digest"] == "sha-256=" + base64.b64encode(
        hashlib.sha256(data).digest()
    ).decode("ascii")
    assert response.headers["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert response.headers["Accept-Ranges"] == "bytes"
    name = first_document["file_name"]
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}"
    )


@pytest.mark.parametrize(
    ("header", "status", "selected"),
    [
        ("bytes=0-9", 206, slice(0, 10)),
        ("bytes=100-", 206, slice(100, None)),
        ("bytes=-50", 206, slice(-50, None)),
        ("bytes=10-99999999", 206, slice(10, None)),
        ("bytes=0-1,5-6", 200, slice(None)),  # several ranges: the whole file
        ("bytes=9-3", 200, slice(None)),  # not a valid range: ignored
        ("lines=0-3", 200, slice(None)),
    ],
)
def test_range_requests(
    catalogue: Catalogue,
    first_document: dict[str, Any],
    header: str,
    status: int,
    selected: slice,
) -> None:
    data = first_document["bytes"]
    response = catalogue.client("h56").get(first_document["url"], headers={"Range": header})
    assert response.status_code == status
    assert response.content == data[selected]
    assert response.headers["Content-Length"] == str(len(data[selected]))
    if status == 206:
        start = selected.start if selected.start >= 0 else len(data) + selected.start
        end = start + len(data[selected]) - 1
        assert response.headers["Content-Range"] == f"bytes {start}-{end}/{len(data)}"
    else:
        assert "Content-Range" not in response.headers


def test_a_range_beyond_the_end_is_416(
    catalogue: Catalogue, first_document: dict[str, Any]
) -> None:
    size = len(first_document["bytes"])
    response = catalogue.client("h56").get(
        first_document["url"], headers={"Range": f"bytes={size}-"}
    )
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{size}"
    assert response.json()["error"]["code"] == "RANGE_NOT_SATISFIABLE"


def test_conditional_requests(catalogue: Catalogue, first_document: dict[str, Any]) -> None:
    client = catalogue.client("h56")
    etag = f'"{first_document["sha256"]}"'
    for matching in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = client.get(first_document["url"], headers={"If-None-Match": matching})
        assert response.status_code == 304, matching
        assert response.content == b""
        assert response.headers["ETag"] == etag
    changed = client.get(first_document["url"], headers={"If-None-Match": '"other"'})
    assert changed.status_code == 200
    stale = client.get(first_document["url"], headers={"Range": "bytes=0-9", "If-Range": '"x"'})
    assert (stale.status_code, stale.content) == (200, first_document["bytes"])
    fresh = client.get(first_document["url"], headers={"Range": "bytes=0-9", "If-Range": etag})
    assert (fresh.status_code, fresh.content) == (206, first_document["bytes"][:10])


@pytest.mark.parametrize(
    ("suffix", "code"),
    [
        # (a PDF/A rendition that failed: test_api_document_renditions.py; the sample PDFs
        # get one wherever Ghostscript can embed their fonts)
        ("?rendition=tiff", "RENDITION_NOT_FOUND"),
        ("-nope", "DOCUMENT_NOT_FOUND"),
    ],
)
def test_missing_documents_and_renditions_are_404_with_their_code(
    catalogue: Catalogue, first_document: dict[str, Any], suffix: str, code: str
) -> None:
    response = catalogue.client("h56").get(first_document["url"] + suffix)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == code


def test_every_read_of_document_bytes_is_audited(
    catalogue: Catalogue, first_document: dict[str, Any]
) -> None:
    auditor = catalogue.client("auditor")
    before = read_audit(catalogue, "document.read")
    assert auditor.get(first_document["url"]).status_code == 200
    assert auditor.get(first_document["url"], headers={"Range": "bytes=5-9"}).status_code == 206
    etag = f'"{first_document["sha256"]}"'
    assert auditor.get(first_document["url"], headers={"If-None-Match": etag}).status_code == 304
    entries = read_audit(catalogue, "document.read")[len(before) :]
    assert len(entries) == 2  # the 304 sent no bytes: not a read
    key_id = catalogue.keys["auditor"]
    for entry in entries:
        assert entry.actor.startswith("key:") and entry.role == "auditor"
        assert entry.target_id == f"{DOSSIER_CODE}/{first_document['doc_id']}"
        assert entry.remote_addr == "testclient"
    assert entries[1].detail["start"] == 5 and entries[1].detail["length"] == 5
    assert key_id not in str([e.detail for e in entries])


def read_audit(catalogue: Catalogue, action: str) -> list[AuditEntry]:
    with catalogue.archive.database.session() as session:
        return list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        )


# --- the AIP ------------------------------------------------------------------------------------


def test_an_auditor_downloads_the_current_aip_as_a_zip(catalogue: Catalogue) -> None:
    before = len(read_audit(catalogue, "aip.read"))
    dossier = catalogue.client("auditor").get(f"{DOSSIERS}/{DOSSIER_CODE}").json()
    response = catalogue.client("auditor").get(f"{DOSSIERS}/{DOSSIER_CODE}/aip")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/zip"
    assert response.headers["X-AIP-Version"] == "v1"
    root = aip_root_name(dossier["aip_object_id"])
    assert f'filename="{root}.zip"' in response.headers["Content-Disposition"]
    repository = catalogue.archive.app.state.repository
    logical = set(repository.state(dossier["aip_object_id"]))
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.testzip() is None
        assert set(archive.namelist()) == {f"{root}/{path}" for path in logical}
        for name, data in catalogue.originals.items():
            assert archive.read(f"{root}/representations/rep1/data/{name}") == data
    entries = read_audit(catalogue, "aip.read")[before:]
    assert [(e.target_id, e.role) for e in entries] == [(DOSSIER_CODE, "auditor")]


def test_a_depositor_may_not_download_the_aip(catalogue: Catalogue) -> None:
    response = catalogue.client("h56").get(f"{DOSSIERS}/{DOSSIER_CODE}/aip")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"
    unauthenticated = catalogue.archive.client.get(f"{DOSSIERS}/{DOSSIER_CODE}/aip")
    assert unauthenticated.status_code == 401


# --- integrity failures -------------------------------------------------------------------------


def test_damaged_storage_answers_500_without_serving_wrong_bytes(tmp_path: Path) -> None:
    with in_process_archive(tmp_path / "data") as archive:
        key = archive.create_key("depositor", H56)
        deposit(archive, key, make_sip_zip(tmp_path, documents=1))
        client = archive.client_for(key, raise_server_exceptions=False)
        dossier = client.get(f"{DOSSIERS}/{DOSSIER_CODE}").json()
        url = f"{DOSSIERS}/{DOSSIER_CODE}/documents/{dossier['documents'][0]['doc_id']}"
        with archive.database.session() as session:
            session.execute(update(Document).values(sha256="0" * 64))
        response = client.get(url)
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "STORED_CONTENT_MISMATCH"

        repository = archive.app.state.repository
        inventory = (
            archive.settings.data_dir
            / "storage"
            / repository.object_root(dossier["aip_object_id"])
            / "inventory.json"
        )
        inventory.write_text('{"damaged": true}')
        response = client.get(url)
        assert response.status_code == 500
        assert response.json() == {
            "error": {
                "code": "INTERNAL",
                "message": "Lỗi nội bộ của dịch vụ; sự cố đã được ghi lại.",
                "details": [],
            }
        }
