"""Every deposited document goes through the format steps, end to end through the service.

Real files generated here (a Vietnamese text PDF, a PDF/A-2b file, a JPEG, a DOCX converted by
the installed LibreOffice, a signed PDF, a PDF whose font is not embedded, the EICAR string, a
garbage file named ``.pdf``, an encrypted PDF), the real ``clamscan`` with a signature database
made here, the application in-process over HTTP (SQLite, filesystem OCFL storage) — and then
the stored AIP itself is read back and checked with the validators.
"""

from __future__ import annotations

import hashlib
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import pikepdf
import pikepdf.pdfa
import pypdf
import pytest
from lxml import etree
from sqlalchemy import select

from archive_service.dossiers.models import Document, Dossier
from archive_service.formats.catalogue import FORMATS
from archive_service.formats.convert_pdf import forbidden_constructs
from archive_service.formats.identify import identify
from archive_service.formats.pdfa import validate_pdfa
from archive_service.formats.signatures_pdf import Integrity, Trust, inspect_signatures
from archive_service.formats.verify_rendition import normalise_text
from archive_service.packages.aip_items import representation_premis_path
from archive_service.packages.aip_writer import PREMIS_PATH
from archive_service.packages.mets import PREMIS_NS
from archive_service.packages.plain import parse_plain_metadata
from archive_service.packages.schemas import SchemaName, validate
from archive_service.packages.sip_builder import build_sip
from archive_service.packages.xmlsafe import parse_xml_bytes
from archive_service.storage.ocfl import OcflRepository
from tests import formats_fixtures as fx
from tests.factories import CREATED, DOSSIER_CODE, FONDS_CODE, bytes_source, sample_metadata
from tests.integration.api_client import InProcessArchive, in_process_archive, wait_for_final_status
from tests.integration.sip_mutations import SipEditor
from tests.integration.test_renditions import EXPECTED
from tests.signed_pdf_fixtures import SIGNER_NAME, make_pki, signed_vietnamese_pdf

AGENCY = DOSSIER_CODE.split("-")[0]
SIGNATURE = "Archive.Test.EICAR"
P = {"p": PREMIS_NS}
DOSSIERS = "/api/v1/dossiers"


@dataclass(frozen=True)
class Deposited:
    """A deposit sent to the archive and its final JSON."""

    dossier_code: str
    files: dict[str, bytes]  # file name given by the depositor → bytes
    sip: Path
    status: dict[str, Any]


def clamav_database(directory: Path) -> Path:
    """A ClamAV database with one hash signature: the EICAR test string."""
    directory.mkdir(parents=True, exist_ok=True)
    md5 = hashlib.md5(fx.EICAR).hexdigest()
    (directory / "archive-test.hdb").write_text(f"{md5}:{len(fx.EICAR)}:{SIGNATURE}\n")
    return directory


def sip_with(directory: Path, dossier_code: str, files: dict[str, bytes]) -> Path:
    """A SIP of the sample dossier whose documents are ``files`` (name → bytes), in order."""
    metadata = sample_metadata(documents=len(files), dossier_code=dossier_code)
    for entry, (name, data) in zip(metadata["documents"], files.items(), strict=True):
        entry["fileName"] = name
        entry["sha256"] = hashlib.sha256(data).hexdigest()
    deposit = parse_plain_metadata(metadata)
    sources = {
        document.name: bytes_source(data)
        for document, data in zip(deposit.documents, files.values(), strict=True)
    }
    directory.mkdir(parents=True, exist_ok=True)
    manifest = build_sip(
        deposit,
        sources,
        directory / f"{dossier_code}.zip",
        object_uuid=uuid4(),
        created=CREATED,
        fonds_code=FONDS_CODE,
    )
    assert manifest.location is not None
    return manifest.location


def deposit(archive: InProcessArchive, key: str, sip: Path) -> dict[str, Any]:
    client = archive.client_for(key)
    answer = client.post(
        "/api/v1/deposits", content=sip.read_bytes(), headers={"Content-Type": "application/zip"}
    )
    assert answer.status_code == 202, answer.text
    return wait_for_final_status(client, answer.json()["deposit_id"])


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dinh-dang")


@pytest.fixture(scope="module")
def archive(work: Path) -> Iterator[InProcessArchive]:
    with in_process_archive(
        work / "data", virus_scanner="clamscan", clamav_database_dir=clamav_database(work / "db")
    ) as running:
        yield running


@pytest.fixture(scope="module")
def key(archive: InProcessArchive) -> str:
    return archive.create_key("depositor", AGENCY)


@pytest.fixture(scope="module")
def files(work: Path) -> dict[str, bytes]:
    """The documents of the dossier that is archived: every rendition path, and its limits."""
    folder = work / "tai-lieu"
    folder.mkdir()
    pki = make_pki(folder)
    made = {
        "van-ban.pdf": fx.vietnamese_pdf(folder / "van-ban.pdf", pages=2),
        "giay-chung-nhan.pdf": fx.pdfa_2b(folder / "giay-chung-nhan.pdf"),
        "anh-chup.jpg": fx.jpeg(folder / "anh-chup.jpg"),
        "to-trinh.docx": fx.docx(folder / "to-trinh.docx"),
        "da-ky.pdf": signed_vietnamese_pdf(folder, pki),
        "khong-nhung-phong.pdf": fx.helvetica_pdf(folder / "khong-nhung-phong.pdf"),
        "ghi-chu.txt": fx.text_file(folder / "ghi-chu.txt"),
    }
    return {name: path.read_bytes() for name, path in made.items()}


@pytest.fixture(scope="module")
def archived(archive: InProcessArchive, key: str, work: Path, files: dict[str, bytes]) -> Deposited:
    code = DOSSIER_CODE.replace("-0001", "-0101")
    sip = sip_with(work / "sips", code, files)
    return Deposited(code, files, sip, deposit(archive, key, sip))


@pytest.fixture(scope="module")
def stored(archive: InProcessArchive, archived: Deposited) -> Stored:
    return Stored.read(archive, archived)


@dataclass(frozen=True)
class Stored:
    """The archived dossier as the catalogue and the stored AIP hold it."""

    repository: OcflRepository
    object_id: str
    rows: dict[str, Document]  # by the depositor's file name
    premis: etree._Element
    folder: Path

    @classmethod
    def read(cls, archive: InProcessArchive, archived: Deposited) -> Stored:
        assert archived.status["status"] == "archived", archived.status
        repository: OcflRepository = archive.app.state.repository
        with archive.database.session() as session:
            dossier = session.scalars(
                select(Dossier).where(Dossier.dossier_code == archived.dossier_code)
            ).one()
            documents = session.scalars(
                select(Document).where(Document.dossier_id == dossier.id).order_by(Document.ordinal)
            ).all()
            object_id = dossier.aip_object_id
            session.expunge_all()
        names = list(archived.files)
        rows = {names[document.ordinal - 1]: document for document in documents}
        premis = parse_xml_bytes(read(repository, object_id, PREMIS_PATH), PREMIS_PATH)
        folder = archive.settings.data_dir / "doc-lai"
        folder.mkdir(exist_ok=True)
        return cls(repository, object_id, rows, premis.getroot(), folder)

    def bytes_of(self, path: str) -> bytes:
        return read(self.repository, self.object_id, path)

    def copy_of(self, path: str) -> Path:
        """The stored file written out, for the validators."""
        target = self.folder / path.replace("/", "_")
        target.write_bytes(self.bytes_of(path))
        return target

    def events(self, event_type: str) -> list[etree._Element]:
        return [
            event
            for event in self.premis.iterfind("p:event", P)
            if event.findtext("p:eventType", namespaces=P) == event_type
        ]


def read(repository: OcflRepository, object_id: str, path: str) -> bytes:
    with repository.open(object_id, path) as stream:
        return stream.read()


def texts(path: Path) -> list[str]:
    reader = pypdf.PdfReader(path)
    return [unicodedata.normalize("NFC", page.extract_text() or "") for page in reader.pages]


def pages(path: Path) -> int:
    with pikepdf.open(path) as pdf:
        return len(pdf.pages)


def outcome(event: etree._Element) -> tuple[str | None, str]:
    detail = event.findtext("p:eventOutcomeInformation/p:eventOutcomeDetail/*", namespaces=P)
    return event.findtext("p:eventOutcomeInformation/p:eventOutcome", namespaces=P), detail or ""


def linked(event: etree._Element, role: str) -> list[str]:
    return [
        link.findtext("p:linkingObjectIdentifierValue", namespaces=P) or ""
        for link in event.iterfind("p:linkingObjectIdentifier", P)
        if link.findtext("p:linkingObjectRole", namespaces=P) == role
    ]


# --- the archived dossier ------------------------------------------------------------------------


def test_every_rendition_stored_as_pdfa_validates_and_keeps_text_and_pages(
    stored: Stored, archived: Deposited
) -> None:
    made = {name: row for name, row in stored.rows.items() if row.rendition_path}
    assert {"van-ban.pdf", "anh-chup.jpg", "to-trinh.docx"} <= set(made)
    for name, row in made.items():
        assert row.rendition_status == "created"
        assert row.rendition_path and row.rendition_path.startswith("representations/rep2/data/")
        rendition = stored.copy_of(row.rendition_path)
        assert hashlib.sha256(rendition.read_bytes()).hexdigest() == row.rendition_sha256
        assert rendition.stat().st_size == row.rendition_size
        report = validate_pdfa(rendition, "2b")
        assert report.is_valid_pdfa_2b, (name, report.summary_vi(), report.not_checked)
        # the same verdict from pikepdf's validator called directly, and no action left
        assert pikepdf.pdfa.validate_written(rendition, "2b").findings == [], name
        with pikepdf.open(rendition) as pdf:
            assert forbidden_constructs(pdf) == [], name
        original = stored.copy_of(row.logical_path)
        if name.endswith(".pdf"):
            assert pages(rendition) == pages(original), name
            if name == "khong-nhung-phong.pdf":  # re-rendered by Ghostscript: the same words
                assert [normalise_text(t) for t in texts(rendition)] == [
                    normalise_text(t) for t in texts(original)
                ]
            else:
                assert texts(rendition) == texts(original), name
    assert pages(stored.copy_of(made["anh-chup.jpg"].rendition_path or "")) == 1
    docx_text = "\n".join(texts(stored.copy_of(made["to-trinh.docx"].rendition_path or "")))
    for line in fx.VIETNAMESE_LINES:
        assert unicodedata.normalize("NFC", line) in docx_text
    assert (
        "Hồ sơ thủ tục hành chính"
        in texts(stored.copy_of(made["van-ban.pdf"].rendition_path or ""))[0]
    )


def test_the_catalogue_records_formats_by_content_and_rendition_outcomes(
    stored: Stored, archived: Deposited, work: Path
) -> None:
    for name, data in archived.files.items():
        row = stored.rows[name]
        source = work / "goc" / name
        source.parent.mkdir(exist_ok=True)
        source.write_bytes(data)
        found = identify(source)
        assert row.mime_type == found.mime_type, name
        assert row.pronom_id == found.pronom_id, name
        assert row.format_name is not None and row.format_name.startswith(found.format_name)
    rows = stored.rows
    for kept in ("giay-chung-nhan.pdf", "ghi-chu.txt"):  # valid PDF/A-2b; open text format
        assert (rows[kept].rendition_status, rows[kept].rendition_path) == ("not-needed", None)
    unembedded = rows["khong-nhung-phong.pdf"]
    if fx.fonts_get_embedded():  # by Ghostscript
        assert unembedded.rendition_status == "created", unembedded.rendition_failure
        assert unembedded.rendition_path and unembedded.rendition_failure is None
    else:
        assert (unembedded.rendition_status, unembedded.rendition_path) == ("failed", None)
        assert unembedded.rendition_failure and "phông chữ" in unembedded.rendition_failure
        assert unembedded.file_name in unembedded.rendition_failure


def test_a_signed_pdf_keeps_its_bytes_and_its_signature_in_the_archive(
    stored: Stored, archived: Deposited
) -> None:
    row = stored.rows["da-ky.pdf"]
    original = stored.copy_of(row.logical_path)
    assert original.read_bytes() == archived.files["da-ky.pdf"]
    signatures = inspect_signatures(original)
    assert len(signatures) == 1
    assert signatures[0].integrity is Integrity.INTACT and signatures[0].verifies
    assert signatures[0].trust is Trust.NOT_VALIDATED
    events = stored.events("digital signature validation")
    assert len(events) == 1
    result, detail = outcome(events[0])
    assert result == "success" and "not trust-validated" in detail and SIGNER_NAME in detail
    assert "valid" not in detail.replace("not trust-validated", "")
    normalization = [
        event
        for event in stored.events("normalization")
        if f"{stored.object_id}/{row.logical_path}" in linked(event, "source")
    ]
    assert len(normalization) == 1
    if row.rendition_status == "created":  # the rendition, if any, says what it lost
        assert "Chữ ký số của bản gốc không chuyển sang" in (
            normalization[0].findtext("p:eventDetailInformation/p:eventDetail", namespaces=P) or ""
        )
    else:
        assert row.rendition_status == "failed" and row.rendition_failure


def test_premis_records_every_format_step_and_validates(
    stored: Stored, archived: Deposited
) -> None:
    assert validate(stored.premis, SchemaName.PREMIS, PREMIS_PATH) == []
    identification = stored.events("format identification")
    assert len(identification) == 1
    result, detail = outcome(identification[0])
    assert result == "success"
    for row in stored.rows.values():
        assert row.file_name in detail
    assert len(linked(identification[0], "source")) == len(archived.files)
    (virus,) = stored.events("virus check")
    with zipfile.ZipFile(archived.sip) as sip:
        sip_files = sum(1 for entry in sip.infolist() if not entry.is_dir())
    result, detail = outcome(virus)
    assert (result, detail) == ("success", f"{sip_files} tệp clean")
    described = virus.findtext("p:eventDetailInformation/p:eventDetail", namespaces=P) or ""
    assert described.startswith(f"Quét virus {sip_files} tệp của gói SIP: ClamAV ")
    assert "(clamscan), cơ sở dữ liệu chữ ký:" in described
    validations = {
        linked(event, "source")[0]: outcome(event)[0]
        for event in stored.events("validation")
        if linked(event, "source")[0].startswith(stored.object_id)  # not the SIP's validation
    }
    pdfs = {name: row for name, row in stored.rows.items() if name.endswith(".pdf")}
    assert validations == {
        f"{stored.object_id}/{row.logical_path}": (
            "success" if name == "giay-chung-nhan.pdf" else "failure"
        )
        for name, row in pdfs.items()
    }
    normalizations = [outcome(event)[0] or "" for event in stored.events("normalization")]
    created = sum(1 for row in stored.rows.values() if row.rendition_status == "created")
    failed = sum(1 for row in stored.rows.values() if row.rendition_status == "failed")
    assert sorted(normalizations) == sorted(["success"] * created + ["failure"] * failed)
    agents = {a.findtext("p:agentName", namespaces=P) for a in stored.premis.iterfind("p:agent", P)}
    assert {"LibreOffice", "img2pdf", "pikepdf", "pyhanko"} <= agents


def test_signature_information_is_real_premis_in_the_representation_file(
    stored: Stored,
) -> None:
    path = representation_premis_path("rep1")
    root = parse_xml_bytes(stored.bytes_of(path), path).getroot()
    assert validate(root, SchemaName.PREMIS, path) == []
    signed = stored.rows["da-ky.pdf"].logical_path
    objects = {
        obj.findtext("p:storage/p:contentLocation/p:contentLocationValue", namespaces=P): obj
        for obj in root.iterfind("p:object", P)
    }
    information = objects[signed].findall("p:signatureInformation", P)
    assert len(information) == 1
    signature = information[0].find("p:signature", P)
    assert signature is not None
    assert SIGNER_NAME in (signature.findtext("p:signer", namespaces=P) or "")
    assert len(signature.findtext("p:signatureValue", namespaces=P) or "") == 64
    properties = [p.text for p in signature.iterfind("p:signatureProperties", P)]
    assert "integrity: intact" in properties and "verifies: yes" in properties
    assert "trust: not trust-validated" in " ".join(p or "" for p in properties)
    unsigned = objects[stored.rows["van-ban.pdf"].logical_path]
    assert unsigned.find("p:signatureInformation", P) is None


def test_the_rendition_is_served_by_the_documents_endpoint(
    archive: InProcessArchive, key: str, stored: Stored, archived: Deposited
) -> None:
    client = archive.client_for(key)
    row = stored.rows["anh-chup.jpg"]
    url = f"{DOSSIERS}/{archived.dossier_code}/documents/{row.doc_id}"
    response = client.get(url, params={"rendition": "pdfa"})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.content == stored.bytes_of(row.rendition_path or "")
    assert client.get(url).content == archived.files["anh-chup.jpg"]
    # a rendition that failed (no usable Ghostscript here) or was not needed (PDF/A-2b already)
    without = "giay-chung-nhan.pdf" if fx.fonts_get_embedded() else "khong-nhung-phong.pdf"
    missing = client.get(
        f"{DOSSIERS}/{archived.dossier_code}/documents/{stored.rows[without].doc_id}",
        params={"rendition": "pdfa"},
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "RENDITION_NOT_FOUND"
    listed = client.get(f"{DOSSIERS}/{archived.dossier_code}").json()["documents"]
    by_id = {document["doc_id"]: document for document in listed}
    assert by_id[row.doc_id]["rendition"]["sha256"] == row.rendition_sha256
    assert by_id[row.doc_id]["mime_type"] == "image/jpeg"


# --- one dossier of every other kind: its PREMIS per document -------------------------------------

#: Fixtures deposited together, each then looked up in the AIP's PREMIS.
KINDS = (
    "pdfa-1b",
    "pdfa-javascript",
    "pdf-truncated",
    "pdf-vietnamese-unembedded",
    "png-alpha",
    "tiff-multipage",
)


def _expected_rendition(key: str) -> str:
    """The rendition status the archive's own tools give the fixture (Ghostscript, when this
    machine has a usable one, embeds the font the lossless path cannot)."""
    if key == "pdf-vietnamese-unembedded" and fx.fonts_get_embedded():
        return "created"
    return str(EXPECTED[key].status)


def test_each_kind_of_document_gets_its_format_validation_and_rendition_in_premis(
    archive: InProcessArchive, key: str, work: Path
) -> None:
    folder = work / "moi-loai"
    folder.mkdir()
    fixtures = [fx.FIXTURES_BY_KEY[kind] for kind in KINDS]
    files = {f.file_name: f.build(folder / f.file_name).read_bytes() for f in fixtures}
    deposited = Deposited(
        DOSSIER_CODE.replace("-0001", "-0105"),
        files,
        sip := sip_with(work / "sips", DOSSIER_CODE.replace("-0001", "-0105"), files),
        deposit(archive, key, sip),
    )
    stored = Stored.read(archive, deposited)
    rep1_path = representation_premis_path("rep1")
    rep1 = parse_xml_bytes(stored.bytes_of(rep1_path), rep1_path).getroot()
    objects = {
        obj.findtext("p:storage/p:contentLocation/p:contentLocationValue", namespaces=P): obj
        for obj in rep1.iterfind("p:object", P)
    }
    validations = {linked(e, "source")[0]: outcome(e)[0] for e in stored.events("validation")}
    normalizations = {linked(e, "source")[0]: outcome(e)[0] for e in stored.events("normalization")}
    for fixture in fixtures:
        row = stored.rows[fixture.file_name]
        premis_id = f"{stored.object_id}/{row.logical_path}"
        designation = "p:objectCharacteristics/p:format/p:formatDesignation/p:formatName"
        registry = "p:objectCharacteristics/p:format/p:formatRegistry/p:formatRegistryKey"
        obj = objects[row.logical_path]
        assert obj.findtext(registry, namespaces=P) == fixture.pronom_id, fixture.key
        assert (obj.findtext(designation, namespaces=P) or "").startswith(
            FORMATS[fixture.format_key].name
        ), fixture.key
        if fixture.pdfa_verdict is not None:
            wanted = "success" if fixture.pdfa_verdict == "valid" else "failure"
            assert validations[premis_id] == wanted, fixture.key
        else:
            assert premis_id not in validations, fixture.key
        rendition = _expected_rendition(fixture.key)
        assert row.rendition_status == rendition, (fixture.key, row.rendition_failure)
        wanted_normalization = {"created": "success", "failed": "failure"}.get(rendition)
        assert normalizations.get(premis_id) == wanted_normalization, fixture.key
    assert validate(stored.premis, SchemaName.PREMIS, PREMIS_PATH) == []
    assert validate(rep1, SchemaName.PREMIS, rep1_path) == []
    # what tools said about the files is recorded without the server's scratch paths
    truncated = stored.rows[fx.FIXTURES_BY_KEY["pdf-truncated"].file_name]
    assert truncated.rendition_failure and "startxref" in truncated.rendition_failure
    server_paths = str(archive.settings.data_dir)
    assert server_paths not in truncated.rendition_failure
    assert server_paths not in etree.tostring(stored.premis, encoding="unicode")


# --- refused deposits ----------------------------------------------------------------------------


def test_an_infected_file_rejects_the_deposit_and_nothing_is_stored(
    archive: InProcessArchive, key: str, work: Path, archived: Deposited
) -> None:
    keys_before = archive.stored_keys()
    code = DOSSIER_CODE.replace("-0001", "-0102")
    files = {"van-ban.pdf": archived.files["van-ban.pdf"], "ghi-chu.txt": fx.EICAR}
    status = deposit(archive, key, sip_with(work / "sips", code, files))
    assert status["status"] == "rejected"
    found = [p for p in status["problems"] if p["code"] == "VIRUS_FOUND"]
    assert len(found) == 1
    assert found[0]["path"].endswith(".txt")
    assert found[0]["path"] in found[0]["message"]
    assert f"{SIGNATURE}.UNOFFICIAL" in found[0]["message"]
    assert archive.stored_keys() == keys_before
    assert archive.staged_files() == []


def test_content_that_is_not_its_type_or_not_accepted_rejects_the_deposit(
    archive: InProcessArchive, key: str, work: Path
) -> None:
    folder = work / "bi-tu-choi"
    folder.mkdir()
    files = {
        "ho-so.pdf": fx.garbage(folder / "ho-so.pdf").read_bytes(),
        "bao-mat.pdf": fx.encrypted_pdf(folder / "bao-mat.pdf").read_bytes(),
    }
    keys_before = archive.stored_keys()
    code = DOSSIER_CODE.replace("-0001", "-0103")
    status = deposit(archive, key, sip_with(work / "sips", code, files))
    assert status["status"] == "rejected"
    problems = {p["code"]: p for p in status["problems"]}
    assert set(problems) == {"FORMAT_MISMATCH", "FORMAT_NOT_ACCEPTED"}
    for problem in problems.values():
        assert problem["path"].startswith("representations/rep1/data/")
        assert problem["path"].rsplit("/", 1)[-1] in problem["message"]
    assert "mật khẩu" in problems["FORMAT_NOT_ACCEPTED"]["message"]
    assert archive.stored_keys() == keys_before


DATA = "representations/rep1/data/"


def test_a_declared_media_type_that_is_not_the_content_rejects_the_deposit(
    archive: InProcessArchive, key: str, work: Path, archived: Deposited
) -> None:
    """The METS says one document is a JPEG; its bytes are a PDF (the name says .pdf)."""
    code = DOSSIER_CODE.replace("-0001", "-0104")
    files = {"to-khai.pdf": archived.files["van-ban.pdf"], "ghi-chu.txt": "Ghi chú".encode()}
    editor = SipEditor(sip_with(work / "sips", code, files).read_bytes())
    pdf_path = next(p for p in editor.members if p.startswith(DATA) and p.endswith(".pdf"))
    editor.set_file_attribute(pdf_path, "MIMETYPE", "image/jpeg")
    keys_before = archive.stored_keys()
    status = deposit(archive, key, editor.write(work / "sips" / f"{code}-mime.zip"))
    assert status["status"] == "rejected"
    assert [(p["code"], p["path"]) for p in status["problems"]] == [("FORMAT_MISMATCH", pdf_path)]
    message = status["problems"][0]["message"]
    assert "'image/jpeg'" in message and "application/pdf" in message
    assert pdf_path.rsplit("/", 1)[-1] in message
    assert archive.stored_keys() == keys_before
    assert archive.staged_files() == []


def test_a_scanner_that_cannot_scan_fails_the_deposit_instead_of_passing_it(
    tmp_path: Path, files: dict[str, bytes]
) -> None:
    empty_database = tmp_path / "clamav-rong"
    empty_database.mkdir()
    with in_process_archive(
        tmp_path / "data",
        virus_scanner="clamscan",
        clamav_database_dir=empty_database,
        max_attempts=2,
        retry_delay_seconds=0.05,
    ) as archive:
        key = archive.create_key("depositor", AGENCY)
        sip = sip_with(tmp_path / "sips", DOSSIER_CODE, {"van-ban.pdf": files["van-ban.pdf"]})
        status = deposit(archive, key, sip)
        assert status["status"] == "failed"
        assert status["attempts"] == 2
        reason = status["failure_reason"]
        assert "VIRUS_SCAN_FAILED: không quét được virus cho" in reason
        assert "cơ sở dữ liệu chữ ký virus trống" in reason
        assert "van-ban" not in str(archive.stored_keys())
        assert not [k for k in archive.stored_keys() if "/v1/" in k]
