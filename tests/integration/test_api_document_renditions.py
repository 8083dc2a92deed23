"""The rendition step as a reader of ``GET /api/v1/dossiers/{code}`` sees it, per document:
created (with the file, its digest and the validators that approved it), not needed, or failed
with the reason — and, for a signed PDF, an unsigned PDF/A-2b copy served on request while the
original is served byte for byte with its signature still verifying.

Real files, the application in-process over HTTP (SQLite, filesystem OCFL storage).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pikepdf
import pytest

from archive_service.formats.pdfa import validate_pdfa
from archive_service.formats.signatures_pdf import Integrity, inspect_signatures
from archive_service.formats.verify_rendition import page_texts
from tests import formats_fixtures as fx
from tests.factories import DOSSIER_CODE
from tests.integration.api_client import in_process_archive
from tests.integration.test_ingest_formats import deposit, sip_with
from tests.signed_pdf_fixtures import make_pki, signed_vietnamese_pdf

AGENCY = DOSSIER_CODE.split("-")[0]
CODE = DOSSIER_CODE.replace("-0001", "-0301")
DOSSIERS = "/api/v1/dossiers"
SIGNATURE_NOTE = "Chữ ký số của bản gốc không chuyển sang bản chuyển đổi"


@dataclass(frozen=True)
class Archived:
    """The deposited files and the dossier as the API describes it."""

    client: Any
    folder: Path
    files: dict[str, bytes]
    detail: dict[str, Any]

    def document(self, name: str) -> dict[str, Any]:
        """The document deposited as ``name`` (the SIP builder names the files itself)."""
        ordinal = list(self.files).index(name) + 1
        (found,) = [d for d in self.detail["documents"] if d["ordinal"] == ordinal]
        return found

    def download(self, name: str, **params: str) -> bytes:
        url = f"{DOSSIERS}/{CODE}/documents/{self.document(name)['doc_id']}"
        response = self.client.get(url, params=params)
        assert response.status_code == 200, response.text
        return bytes(response.content)

    def saved(self, name: str, data: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(data)
        return path


@pytest.fixture(scope="module")
def archived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archived]:
    work = tmp_path_factory.mktemp("ban-chuyen-doi")
    folder = work / "tai-lieu"
    folder.mkdir()
    made = {
        "da-ky.pdf": signed_vietnamese_pdf(folder, make_pki(folder)),
        "giay-chung-nhan.pdf": fx.pdfa_2b(folder / "giay-chung-nhan.pdf"),
        "bi-cat-cut.pdf": fx.truncated_pdf(folder / "bi-cat-cut.pdf"),  # no rendition anywhere
        "ghi-chu.txt": fx.text_file(folder / "ghi-chu.txt"),
    }
    files = {name: path.read_bytes() for name, path in made.items()}
    with in_process_archive(work / "data") as archive:
        key = archive.create_key("depositor", AGENCY)
        status = deposit(archive, key, sip_with(work / "sips", CODE, files))
        assert status["status"] == "archived", status
        client = archive.client_for(key)
        detail = client.get(f"{DOSSIERS}/{CODE}").json()
        downloads = work / "tai-ve"
        downloads.mkdir()
        yield Archived(client, downloads, files, detail)


def test_a_created_rendition_shows_its_file_digest_and_validator(archived: Archived) -> None:
    rendition = archived.document("da-ky.pdf")["rendition"]

    assert rendition["status"] == "created" and rendition["reason"] is None
    assert rendition["kind"] == "pdfa" and rendition["mime_type"] == "application/pdf"
    stem = archived.document("da-ky.pdf")["file_name"].rsplit(".", 1)[0]
    assert rendition["file_name"] == f"{stem}.pdf"
    assert rendition["path"] == f"representations/rep2/data/{stem}.pdf"
    data = archived.download("da-ky.pdf", rendition="pdfa")
    assert hashlib.sha256(data).hexdigest() == rendition["sha256"]
    assert len(data) == rendition["size"]
    report = validate_pdfa(archived.saved("ban-pdfa.pdf", data), "2b")
    assert report.is_valid_pdfa_2b
    expected = " + ".join(f"{o.validator} {o.version}" for o in report.opinions)
    assert rendition["validator"] == expected


def test_not_needed_and_failed_renditions_say_so_without_a_file(archived: Archived) -> None:
    for name in ("giay-chung-nhan.pdf", "ghi-chu.txt"):  # valid PDF/A-2b; open text format
        assert archived.document(name)["rendition"] == {
            "kind": "pdfa",
            "status": "not-needed",
            "reason": None,
            "file_name": None,
            "path": None,
            "size": None,
            "sha256": None,
            "mime_type": None,
            "validator": None,
        }
    failed = archived.document("bi-cat-cut.pdf")["rendition"]
    assert failed["status"] == "failed"
    assert archived.document("bi-cat-cut.pdf")["file_name"] in failed["reason"]
    assert "startxref" in failed["reason"]
    assert failed["path"] is None and failed["sha256"] is None and failed["validator"] is None
    doc_id = archived.document("bi-cat-cut.pdf")["doc_id"]
    missing = archived.client.get(
        f"{DOSSIERS}/{CODE}/documents/{doc_id}", params={"rendition": "pdfa"}
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "RENDITION_NOT_FOUND"


def test_the_signed_original_is_served_unchanged_and_its_rendition_is_an_unsigned_copy(
    archived: Archived,
) -> None:
    original = archived.saved("goc.pdf", archived.download("da-ky.pdf"))
    rendition = archived.saved("pdfa.pdf", archived.download("da-ky.pdf", rendition="pdfa"))

    assert original.read_bytes() == archived.files["da-ky.pdf"]
    (signature,) = inspect_signatures(original)
    assert signature.integrity is Integrity.INTACT and signature.verifies
    assert inspect_signatures(rendition) == []
    with pikepdf.open(original) as source, pikepdf.open(rendition) as copy:
        assert len(copy.pages) == len(source.pages)
    assert page_texts(rendition) == page_texts(original)
    normalizations = [
        event for event in archived.detail["events"] if event["event_type"] == "normalization"
    ]
    name = archived.document("da-ky.pdf")["file_name"]
    signed = [event for event in normalizations if name in (event["detail"] or "")]
    assert len(signed) == 1 and SIGNATURE_NOTE in signed[0]["detail"]
    assert signed[0]["outcome"] == "success"
