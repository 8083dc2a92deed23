"""The destruction certificate as PDF/A-2b ("Biên bản hủy tài liệu").

A dossier whose term ended in 2020 is archived through the real pipeline (embedded SQLite and a
filesystem store), proposed, approved and destroyed; its certificate must be a valid PDF/A-2b
file (our validator, and veraPDF when installed) whose extracted text holds the Vietnamese
wording with its diacritics, the decision and the SHA-256 of every object version destroyed. A
list that is not executed, or does not exist, has no certificate.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pikepdf
import pytest

from archive_service.formats.pdfa import validate_pdfa
from archive_service.formats.verapdf import find_verapdf
from archive_service.formats.verify_rendition import normalise_text, page_texts
from retention.certificate_pdf import destruction_certificate_pdf
from retention.disposal_views import (
    DestroyedObject,
    DestructionRecordView,
    DisposalItemView,
    DisposalView,
)
from retention.errors import DisposalNotExecuted
from retention.review import mark_due
from tests.integration.api_client import InProcessArchive, in_process_archive
from tests.integration.retention_setup import EXPIRED_CODE, DossierSpec

#: Also ended 12/06/2010: proposed, never approved.
PROPOSED_ONLY_CODE = "000.00.19.H56-100610-0004"
ARCHIVE_NAME = "Lưu trữ điện tử tỉnh Quảng Trị"
ARCHIVE_CODE = "LTQT"
DECISION = {
    "decision_number": "15/QĐ-UBND",
    "decision_date": "2035-03-01",
    "signer": "Chủ tịch Phạm Văn Đức",
}


@dataclass
class Executed:
    """The running archive, a client per person, an executed list and a list only proposed."""

    running: InProcessArchive
    clients: dict[str, Any]
    executed_id: int
    proposed_id: int

    def __getitem__(self, who: str) -> Any:
        return self.clients[who]


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Executed]:
    work = tmp_path_factory.mktemp("certificate")
    with in_process_archive(
        work / "data", archive_name=ARCHIVE_NAME, archive_code=ARCHIVE_CODE
    ) as running:
        roles = {
            "depositor": ("depositor", "000.00.19.H56"),
            "archivist": ("archivist", None),
            "admin": ("admin", None),
            "auditor": ("auditor", None),
        }
        clients = {
            who: running.client_for(running.create_key(role, agency))
            for who, (role, agency) in roles.items()
        }
        for spec in (DossierSpec(EXPIRED_CODE, documents=2), DossierSpec(PROPOSED_ONLY_CODE)):
            answer = clients["depositor"].post(
                "/api/v1/deposits",
                content=spec.sip(work / "sips").read_bytes(),
                headers={"Content-Type": "application/zip"},
            )
            assert answer.status_code == 202, answer.text
            assert running.app.state.dispatcher.wait_idle(120)
        assert sorted(mark_due(running.database, date.today())) == [
            EXPIRED_CODE,
            PROPOSED_ONLY_CODE,
        ]
        ids = []
        for code in (EXPIRED_CODE, PROPOSED_ONLY_CODE):
            proposed = clients["archivist"].post(
                "/api/v1/disposals",
                json={"dossier_codes": [code], "reason": "Hồ sơ hết thời hạn bảo quản"},
            )
            assert proposed.status_code == 201, proposed.text
            ids.append(proposed.json()["id"])
        url = f"/api/v1/disposals/{ids[0]}"
        assert clients["admin"].post(f"{url}/approve", json=DECISION).status_code == 200
        done = clients["archivist"].post(f"{url}/execute")
        assert done.status_code == 200 and done.json()["status"] == "executed", done.text
        yield Executed(running, clients, ids[0], ids[1])


@pytest.fixture(scope="module")
def certificate(executed: Executed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    answer = executed["auditor"].get(f"/api/v1/disposals/{executed.executed_id}/certificate.pdf")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert f'filename="huy-{executed.executed_id}.pdf"' in answer.headers["content-disposition"]
    path = tmp_path_factory.mktemp("pdf") / "certificate.pdf"
    path.write_bytes(answer.content)
    return path


def test_certificate_is_valid_pdfa_2b(certificate: Path) -> None:
    report = validate_pdfa(certificate, "2b")

    assert report.is_valid_pdfa_2b, (report.failed_rules, report.not_checked)
    if find_verapdf() is not None:  # the authority, where installed, gave the verdict
        assert "veraPDF" in report.validator
    with pikepdf.open(certificate) as pdf:
        fonts = [font for page in pdf.pages for font in page.Resources.Font.values()]
        assert fonts and all("/FontFile2" in font.FontDescriptor for font in fonts)
        assert {str(font.BaseFont).split("+")[1] for font in fonts} <= {
            "DejaVuSans",
            "DejaVuSans-Bold",
        }
        assert len(pdf.trailer.ID) == 2
        assert pdf.open_metadata()["pdfaid:part"] == "2"


def test_certificate_text_holds_the_vietnamese_facts_and_every_sha256(
    executed: Executed, certificate: Path
) -> None:
    disposal = executed["auditor"].get(f"/api/v1/disposals/{executed.executed_id}").json()
    (record,) = executed["auditor"].get(f"/api/v1/disposals/{executed.executed_id}/records").json()
    text = " ".join(page_texts(certificate))

    expected = [
        "BIÊN BẢN HỦY TÀI LIỆU HẾT GIÁ TRỊ",
        f"Danh sách hủy số {executed.executed_id}",
        ARCHIVE_NAME.upper(),
        f"Mã kho lưu trữ: {ARCHIVE_CODE}",
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Quyết định số 15/QĐ-UBND ngày 01/03/2035",
        "người ký: Chủ tịch Phạm Văn Đức",
        "Lý do hủy: Hồ sơ hết thời hạn bảo quản",
        f"Đề nghị hủy {disposal['proposed_by']}",
        f"Phê duyệt {disposal['approved_by']}",
        f"Hoàn thành hủy {disposal['executed_by']}",
        EXPIRED_CODE,
        normalise_text(record["title"]),
        "hết hạn ngày 31/12/2020",
        f"{record['object_count']} đối tượng",
    ]
    for phrase in expected:
        assert phrase in text, phrase
    assert len(record["objects"]) == record["object_count"] >= 4
    for entry in record["objects"]:
        assert entry["sha256"] in text, entry["key"]
    digests = {entry["sha256"] for entry in record["objects"]}
    assert set(re.findall(r"\b[0-9a-f]{64}\b", text)) == digests  # nothing else looks like one
    assert PROPOSED_ONLY_CODE not in text  # another list's dossier


def test_same_list_gives_the_same_bytes(executed: Executed, certificate: Path) -> None:
    again = executed["archivist"].get(f"/api/v1/disposals/{executed.executed_id}/certificate.pdf")

    assert again.status_code == 200
    assert (
        hashlib.sha256(again.content).digest() == hashlib.sha256(certificate.read_bytes()).digest()
    )


def test_no_certificate_for_a_list_not_executed_or_unknown(executed: Executed) -> None:
    cases = [
        (executed["auditor"], executed.proposed_id, 404, "DISPOSAL_NOT_EXECUTED"),
        (executed["archivist"], 999_999, 404, "DISPOSAL_NOT_FOUND"),
        (executed["depositor"], executed.executed_id, 403, "FORBIDDEN"),
    ]
    for client, proposal_id, status, code in cases:
        answer = client.get(f"/api/v1/disposals/{proposal_id}/certificate.pdf")
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"].startswith("application/json")
        error = answer.json()["error"]
        assert error["code"] == code and error["message"] and error["details"] == []
    listed = executed["auditor"].get(f"/api/v1/disposals/{executed.proposed_id}").json()
    assert listed["status"] == "proposed"  # asking changed nothing


# --- many objects: the hash table continues over pages -----------------------------------------


def _long_list(objects: int) -> tuple[DisposalView, DestructionRecordView]:
    moment = datetime(2035, 3, 2, 3, 4, 5, tzinfo=UTC)
    entries = [
        DestroyedObject(
            storage="file",
            key=f"ab/cd/ef/object-{n}/v1/content/Tài liệu số {n} – bản chính.pdf",
            version_id="",
            size=1000 + n,
            sha256=hashlib.sha256(f"đối tượng {n}".encode()).hexdigest(),
        )
        for n in range(objects)
    ]
    record = DestructionRecordView(
        id=1,
        proposal_id=7,
        dossier_code=EXPIRED_CODE,
        title="Hồ sơ <đăng ký> kết hôn & ghi chú\t📁",  # a tab, and no glyph for the emoji
        agency_id="000.00.19.H56",
        file_code="LTQT.01",
        procedure_code="1.999001",
        aip_object_id="urn:uuid:1",
        end_date=date(2010, 6, 12),
        retention_code="06",
        retention_years=10,
        disposal_date=date(2020, 12, 31),
        retention_basis={"retention": "10 năm", "basis": []},
        decision_number="15/QĐ-UBND",
        decision_date=date(2035, 3, 1),
        signer="Phạm Văn D",
        proposed_by="key:1",
        approved_by="key:2",
        executed_by="key:3",
        object_count=objects,
        total_bytes=sum(entry.size for entry in entries),
        objects=entries,
        started_at=moment,
        destroyed_at=moment + timedelta(minutes=1),
    )
    item = DisposalItemView(
        dossier_code=EXPIRED_CODE,
        title=record.title,
        retention="06",
        disposal_date=record.disposal_date,
        status="destroyed",
        skip_reason=None,
        processed_at=moment,
        destruction_record_id=1,
    )
    proposal = DisposalView(
        id=7,
        status="executed",
        reason="Hết thời hạn",
        proposed_by="key:1",
        proposed_at=moment - timedelta(days=30),
        decision_number="15/QĐ-UBND",
        decision_date=date(2035, 3, 1),
        signer=unicodedata.normalize("NFD", "Nguyễn Thị Ánh"),  # decomposed marks
        approved_by="key:2",
        approved_at=moment - timedelta(days=1),
        executed_by="key:3",
        execution_started_at=moment,
        executed_at=moment + timedelta(minutes=1),
        items=[item],
    )
    return proposal, record


def test_a_long_hash_list_continues_over_pages(tmp_path: Path) -> None:
    proposal, record = _long_list(180)
    path = tmp_path / "long.pdf"
    path.write_bytes(
        destruction_certificate_pdf(proposal, [record], archive_code="LT", archive_name="Kho")
    )

    texts = page_texts(path)
    assert len(texts) >= 4
    assert all("Khóa đối tượng (phiên bản) và SHA-256" in page for page in texts[2:-1])
    text = " ".join(texts)
    assert all(entry.sha256 in text for entry in record.objects)
    assert "Hồ sơ <đăng ký> kết hôn & ghi chú \ufffd" in text
    assert "người ký: Nguyễn Thị Ánh." in text  # drawn precomposed
    assert validate_pdfa(path, "2b").is_valid_pdfa_2b


def test_a_list_not_executed_is_refused_before_anything_is_drawn() -> None:
    proposal, record = _long_list(1)
    approved = proposal.model_copy(update={"status": "approved", "executed_at": None})

    with pytest.raises(DisposalNotExecuted, match="chưa được thực hiện"):
        destruction_certificate_pdf(approved, [record], archive_code="LT", archive_name="Kho")
