"""The SIP builder: plain deposit → SIP_hoso ZIP or folder, exactly per the package format."""

from __future__ import annotations

import hashlib
import io
import json
import tracemalloc
import zipfile
from pathlib import Path
from uuid import UUID

import pytest
from lxml import etree

from archive_service.packages.ead import read_simpledc
from archive_service.packages.mets import CSIP_NS, METS_NS, XLINK_NS
from archive_service.packages.plain import PlainDeposit, files_from_folder, parse_plain_metadata
from archive_service.packages.problems import PackageInvalid, ProblemCode, Severity
from archive_service.packages.schemas import SchemaName, schema_files, validate
from archive_service.packages.sip_builder import build_sip, write_sip_folder
from archive_service.packages.sip_reader import validate_sip
from archive_service.packages.tthc import read_tthc
from archive_service.streams import FileSource
from tests.factories import (
    CREATED,
    DOSSIER_CODE,
    FONDS_CODE,
    big_document_source,
    bytes_source,
    make_sip_folder,
    make_sip_zip,
    pdf_document,
    sample_deposit,
    sample_metadata,
)

PACKAGE_UUID = UUID("5b7c2f0e-1d3a-4e8f-9a6b-0c1d2e3f4a5b")
ROOT = "uuid-5B7C2F0E-1D3A-4E8F-9A6B-0C1D2E3F4A5B"
FIXTURE = Path(__file__).parents[1] / "fixtures" / "sample_sip"
M = f"{{{METS_NS}}}"


def _build(deposit: PlainDeposit, files: dict[str, FileSource], out: Path | io.BytesIO) -> None:
    build_sip(deposit, files, out, object_uuid=PACKAGE_UUID, created=CREATED, fonds_code=FONDS_CODE)


def _zip(tmp_path: Path, documents: int = 3) -> zipfile.ZipFile:
    deposit, files = sample_deposit(documents=documents)
    out = tmp_path / "sip.zip"
    _build(deposit, files, out)
    return zipfile.ZipFile(out)


def _xml(archive: zipfile.ZipFile, path: str) -> etree._Element:
    return etree.fromstring(archive.read(f"{ROOT}/{path}"))


def _schema_for(name: str) -> SchemaName:
    if name == "METS.xml":
        return SchemaName.METS
    if name == "TTHC.xml":
        return SchemaName.TTHC
    return SchemaName.EAD if name == "EAD.xml" else SchemaName.EAD_DOC


def test_zip_holds_exactly_the_sip_tree(tmp_path: Path) -> None:
    archive = _zip(tmp_path)
    documents = [f"240610-0001.{n}" for n in (1, 2, 3)]
    expected = {
        "METS.xml",
        "metadata/descriptive/EAD.xml",
        "metadata/descriptive/TTHC.xml",
        "representations/rep1/METS.xml",
        *(f"representations/rep1/data/{doc}.pdf" for doc in documents),
        *(f"representations/rep1/metadata/descriptive/EAD_DOC_{doc}.xml" for doc in documents),
        *(f"schemas/{schema.name}" for schema in schema_files(with_premis=False)),
    }
    assert {name.removeprefix(f"{ROOT}/") for name in archive.namelist()} == expected
    assert all(name.startswith(f"{ROOT}/") for name in archive.namelist())
    assert archive.testzip() is None


def test_documents_are_stored_and_xml_is_deflated(tmp_path: Path) -> None:
    archive = _zip(tmp_path)
    for info in archive.infolist():
        expected = zipfile.ZIP_STORED if info.filename.endswith(".pdf") else zipfile.ZIP_DEFLATED
        assert info.compress_type == expected, info.filename


def test_every_xml_file_validates_against_the_bundled_schemas(tmp_path: Path) -> None:
    archive = _zip(tmp_path)
    xml_names = [n for n in archive.namelist() if n.endswith(".xml")]
    assert len(xml_names) == 7
    for name in xml_names:
        problems = validate(
            etree.fromstring(archive.read(name)), _schema_for(Path(name).name), name
        )
        assert problems == [], name


def test_mets_declares_every_file_with_its_real_size_and_upper_case_checksum(
    tmp_path: Path,
) -> None:
    archive = _zip(tmp_path)
    checked = set()
    for mets_path, base in (
        ("METS.xml", ""),
        ("representations/rep1/METS.xml", "representations/rep1/"),
    ):
        for element in _xml(archive, mets_path).iter(f"{M}file", f"{M}mdRef"):
            locator = element if element.tag == f"{M}mdRef" else element.find(f"{M}FLocat")
            path = base + locator.get(f"{{{XLINK_NS}}}href")
            data = archive.read(f"{ROOT}/{path}")
            assert element.get("CHECKSUM") == hashlib.sha256(data).hexdigest().upper()
            assert element.get("CHECKSUMTYPE") == "SHA-256"
            assert element.get("SIZE") == str(len(data))
            assert element.get("CREATED") == "2024-06-12T15:00:00.000+07:00"
            checked.add(path)
    every_file_but_root_mets = {n.removeprefix(f"{ROOT}/") for n in archive.namelist()} - {
        "METS.xml"
    }
    assert checked == every_file_but_root_mets


def test_root_mets_header_and_structure(tmp_path: Path) -> None:
    root = _xml(_zip(tmp_path), "METS.xml")
    assert root.get("OBJID") == ROOT
    assert root.get("TYPE") == "Mixed"
    assert root.get("PROFILE") == "https://earksip.dilcis.eu/profile/E-ARK-SIP.xml"
    header = root.find(f"{M}metsHdr")
    assert header.get(f"{{{CSIP_NS}}}OAISPACKAGETYPE") == "SIP"
    assert header.get("RECORDSTATUS") == "NEW"
    assert header.get("CREATEDATE") == "2024-06-12T15:00:00.000+07:00"
    agent = header.find(f"{M}agent")
    assert (agent.get("ROLE"), agent.get("TYPE"), agent.get("OTHERTYPE")) == (
        "CREATOR",
        "OTHER",
        "SOFTWARE",
    )
    assert agent.findtext(f"{M}note") == FONDS_CODE
    assert (
        header.findtext(f"{M}altRecordID[@TYPE='SUBMISSIONAGREEMENT']")
        == "000.00.19.H56.2024.240610-0001"
    )
    amd = root.find(f"{M}amdSec")
    assert amd.get("ID", "").startswith("uuid-") and len(amd) == 0
    refs = {ref.get(f"{{{XLINK_NS}}}href"): ref for ref in root.iter(f"{M}mdRef")}
    assert refs["metadata/descriptive/EAD.xml"].get("MDTYPE") == "DC"
    assert refs["metadata/descriptive/TTHC.xml"].get("MDTYPE") == "OTHER"
    assert refs["metadata/descriptive/TTHC.xml"].get("OTHERMDTYPE") == "TTHC"
    groups = [g.get("USE") for g in root.iter(f"{M}fileGrp")]
    assert groups == ["Schemas", "Representations/rep1"]
    for xsd in root.find(f"{M}fileSec/{M}fileGrp[@USE='Schemas']"):
        assert xsd.get("MIMETYPE") == "application/octet-stream"
    struct_map = root.find(f"{M}structMap")
    assert (struct_map.get("TYPE"), struct_map.get("LABEL")) == ("PHYSICAL", "CSIP")
    top = struct_map.find(f"{M}div")
    assert [d.get("LABEL") for d in top.findall(f"{M}div")] == [
        "Metadata",
        "Schemas",
        "Representations/rep1",
    ]
    dmd_ids = top.find(f"{M}div[@LABEL='Metadata']").get("DMDID").split()
    assert dmd_ids == [s.get("ID") for s in root.findall(f"{M}dmdSec")]
    pointer = top.find(f"{M}div[@LABEL='Representations/rep1']/{M}mptr")
    assert pointer.get(f"{{{XLINK_NS}}}href") == "representations/rep1/METS.xml"


def test_representation_mets_pairs_each_document_with_its_metadata(tmp_path: Path) -> None:
    rep = _xml(_zip(tmp_path), "representations/rep1/METS.xml")
    assert rep.get("OBJID") == "rep1"
    assert rep.get(f"{{{CSIP_NS}}}CONTENTINFORMATIONTYPE") == "MIXED"
    assert rep.find(f"{M}amdSec").get("ID")
    metadata_of = {
        s.get("ID"): s.find(f"{M}mdRef").get(f"{{{XLINK_NS}}}href")
        for s in rep.findall(f"{M}dmdSec")
    }
    file_of = {
        f.get("ID"): f.find(f"{M}FLocat").get(f"{{{XLINK_NS}}}href") for f in rep.iter(f"{M}file")
    }
    assert [g.get("USE") for g in rep.iter(f"{M}fileGrp")] == ["Data"]
    top = rep.find(f"{M}structMap/{M}div")
    assert top.get("TYPE") == "ORIGINAL"
    pairs = [
        (metadata_of[div.get("DMDID")], file_of[div.find(f"{M}fptr").get("FILEID")])
        for div in top.findall(f"{M}div[@LABEL='MetadataLink']/{M}div")
    ]
    assert pairs == [
        (f"metadata/descriptive/EAD_DOC_240610-0001.{n}.xml", f"data/240610-0001.{n}.pdf")
        for n in (1, 2, 3)
    ]


def test_metadata_written_is_the_deposit_with_defaults_applied(tmp_path: Path) -> None:
    archive = _zip(tmp_path)
    dossier = read_simpledc(_xml(archive, "metadata/descriptive/EAD.xml"))
    assert dossier["fileCode"] == ["000.00.19.H56.2024.240610-0001"]
    assert dossier["title"] == ["Hồ sơ đăng ký kết hôn của ông Nguyễn Văn A và bà Trần Thị B"]
    assert dossier["totalDoc"] == ["3"]
    assert dossier["numberOfPage"] == ["4"]
    second = read_simpledc(
        _xml(archive, "representations/rep1/metadata/descriptive/EAD_DOC_240610-0001.2.xml")
    )
    assert second["docId"] == ["240610-0001.2"]
    assert second["docCode"] == ["000.00.19.H56.2024.240610-0001.0000002"]
    assert second["maintenance"] == ["01"]
    assert second["subject"] == ["Giấy xác nhận tình trạng hôn nhân của bà Trần Thị B"]
    facts = read_tthc(_xml(archive, "metadata/descriptive/TTHC.xml"))
    assert facts == sample_deposit()[0].tthc


def test_declared_codes_are_kept(tmp_path: Path) -> None:
    deposit, files = sample_deposit(dossier={"fileCode": "H56.2024.01.042"})
    _build(deposit, files, tmp_path / "sip.zip")
    archive = zipfile.ZipFile(tmp_path / "sip.zip")
    assert read_simpledc(_xml(archive, "metadata/descriptive/EAD.xml"))["fileCode"] == [
        "H56.2024.01.042"
    ]
    first = _xml(archive, "representations/rep1/metadata/descriptive/EAD_DOC_240610-0001.1.xml")
    assert read_simpledc(first)["docCode"] == ["H56.2024.01.042.0000001"]


def test_the_sip_reader_accepts_the_built_sip_with_the_same_content(tmp_path: Path) -> None:
    deposit, _ = sample_deposit()
    report = validate_sip(make_sip_zip(tmp_path))
    assert report.problems == []
    package = report.package
    assert package is not None
    assert package.dossier_code == DOSSIER_CODE
    assert package.fonds_code == FONDS_CODE
    assert package.tthc == deposit.tthc
    assert [d.metadata.title for d in package.documents] == [
        d.fields["subject"] for d in deposit.documents
    ]
    assert [d.file.sha256 for d in package.documents] == [d.sha256 for d in deposit.documents]


def test_a_two_hundred_document_sip_builds_and_reads(tmp_path: Path) -> None:
    report = validate_sip(make_sip_zip(tmp_path, documents=200))
    assert report.problems == []
    assert report.package is not None
    assert len(report.package.documents) == 200
    assert report.package.dossier.total_doc == 200
    assert report.package.documents[-1].doc_id == "240610-0001.200"


def test_building_twice_gives_identical_bytes(tmp_path: Path) -> None:
    first, second = io.BytesIO(), io.BytesIO()
    for out in (first, second):
        deposit, files = sample_deposit()
        _build(deposit, files, out)
    assert first.getvalue() == second.getvalue()
    deposit, files = sample_deposit()
    _build(deposit, files, tmp_path / "sip.zip")
    assert (tmp_path / "sip.zip").read_bytes() == first.getvalue()


def test_the_manifest_describes_the_zip_and_every_file(tmp_path: Path) -> None:
    deposit, files = sample_deposit()
    out = tmp_path / "sip.zip"
    manifest = build_sip(
        deposit, files, out, object_uuid=PACKAGE_UUID, created=CREATED, fonds_code=FONDS_CODE
    )
    data = out.read_bytes()
    assert (manifest.size, manifest.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert manifest.object_id == ROOT and manifest.location == out
    archive = zipfile.ZipFile(out)
    assert len(manifest.files) == len(archive.namelist())
    for entry in manifest.files:
        assert hashlib.sha256(archive.read(f"{ROOT}/{entry.path}")).hexdigest() == entry.sha256


def test_folder_output_has_the_same_files_as_the_zip(tmp_path: Path) -> None:
    folder = make_sip_folder(tmp_path / "folder")
    archive = zipfile.ZipFile(make_sip_zip(tmp_path))
    in_folder = {
        p.relative_to(folder.parent).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file()
    }
    assert in_folder == {name: archive.read(name) for name in archive.namelist()}
    assert [p.name for p in (tmp_path / "folder").iterdir()] == [folder.name]


def test_a_big_document_is_streamed_not_held_in_memory(tmp_path: Path) -> None:
    size = 40 * 1024 * 1024
    source = big_document_source(size)
    deposit, _ = sample_deposit(documents=1, document={"sha256": source.sha256})
    tracemalloc.start()
    try:
        manifest = build_sip(
            deposit, {"file1": source}, tmp_path / "big.zip", fonds_code=FONDS_CODE
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < size // 2
    data = manifest.file("representations/rep1/data/240610-0001.1.pdf")
    assert (data.size, data.sha256) == (size, source.sha256)


# --- refusals ---------------------------------------------------------------------------------


def _refusal(deposit: PlainDeposit, files: dict[str, FileSource], tmp_path: Path) -> PackageInvalid:
    out = tmp_path / "out" / "sip.zip"
    out.parent.mkdir()
    stream = io.BytesIO()
    with pytest.raises(PackageInvalid) as first:
        _build(deposit, files, out)
    with pytest.raises(PackageInvalid):
        _build(deposit, files, stream)
    with pytest.raises(PackageInvalid):
        write_sip_folder(
            deposit, files, out.parent, object_uuid=PACKAGE_UUID, fonds_code=FONDS_CODE
        )
    assert list(out.parent.iterdir()) == []
    assert stream.getvalue() == b""
    return first.value


def test_bad_metadata_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    deposit, files = sample_deposit(
        dossier={"title": None, "endDate": "31/02/2024", "mode": "09"},
        document={"issuedDate": "2024-06-10"},
    )
    refusal = _refusal(deposit, files, tmp_path)
    assert {p.code for p in refusal.problems} == {ProblemCode.PLAIN_METADATA_INVALID}
    assert {p.field for p in refusal.problems} >= {
        "dossier.title",
        "dossier.endDate",
        "dossier.mode",
        "documents[0].issuedDate",
        "documents[2].issuedDate",
    }
    assert all(p.path == "metadata" and p.message for p in refusal.problems)


def test_missing_and_undeclared_files_are_refused(tmp_path: Path) -> None:
    deposit, files = sample_deposit()
    files["extra"] = files.pop("file2")
    refusal = _refusal(deposit, files, tmp_path)
    found = {(p.code, p.path) for p in refusal.problems}
    assert found == {
        (ProblemCode.PLAIN_FILE_MISSING, "file2"),
        (ProblemCode.PLAIN_FILE_UNDECLARED, "extra"),
    }


def test_a_result_naming_an_unknown_document_is_refused(tmp_path: Path) -> None:
    metadata = sample_metadata()
    metadata["tthc"]["results"][0]["docId"] = "240610-0001.9"
    deposit = parse_plain_metadata(metadata)
    _, files = sample_deposit()
    refusal = _refusal(deposit, files, tmp_path)
    assert [p.field for p in refusal.problems] == ["tthc.results[0].docId"]


def test_an_unsafe_doc_id_is_refused(tmp_path: Path) -> None:
    deposit, files = sample_deposit(documents=1, document={"docId": "../../etc"})
    refusal = _refusal(deposit, files, tmp_path)
    (unsafe,) = [p for p in refusal.problems if p.field == "documents[0].docId"]
    assert "../../etc" in unsafe.message


def test_a_file_of_unknown_format_is_refused(tmp_path: Path) -> None:
    deposit, _ = sample_deposit(documents=2, document={"sha256": None, "fileName": None})
    files = {"file1": bytes_source(b"MZ\x90\x00 not a document"), "file2": bytes_source(b"data")}
    refusal = _refusal(deposit, files, tmp_path)
    assert sorted(p.field or "" for p in refusal.problems) == [
        "documents[0].fileName",
        "documents[1].fileName",
    ]


def test_a_declared_checksum_that_does_not_match_leaves_no_output(tmp_path: Path) -> None:
    deposit, files = sample_deposit()
    content = pdf_document("Nội dung khác")
    # The source does not know its checksum: the mismatch shows only while copying.
    files["file2"] = FileSource(open=lambda: io.BytesIO(content))
    out = tmp_path / "sip.zip"
    with pytest.raises(PackageInvalid) as refusal:
        _build(deposit, files, out)
    assert [(p.code, p.path) for p in refusal.value.problems] == [
        (ProblemCode.PLAIN_CHECKSUM_MISMATCH, "file2")
    ]
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(PackageInvalid):
        write_sip_folder(deposit, files, tmp_path, object_uuid=PACKAGE_UUID, fonds_code=FONDS_CODE)
    assert list(tmp_path.iterdir()) == []
    stream = io.BytesIO()
    with pytest.raises(PackageInvalid):
        _build(deposit, files, stream)
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(stream)


def test_a_checksum_known_by_the_source_is_compared_before_writing(tmp_path: Path) -> None:
    deposit, files = sample_deposit()
    files["file1"] = bytes_source(pdf_document("Tài liệu khác"))
    refusal = _refusal(deposit, files, tmp_path)
    assert [(p.code, p.field) for p in refusal.problems] == [
        (ProblemCode.PLAIN_CHECKSUM_MISMATCH, "documents[0].sha256")
    ]


# --- the hand-written sample SIP -------------------------------------------------------------


def test_the_sample_sip_fixture_declares_correct_checksums() -> None:
    (package,) = FIXTURE.iterdir()
    declared = set()
    for mets_path in (package / "METS.xml", package / "representations/rep1/METS.xml"):
        root = etree.parse(str(mets_path)).getroot()
        assert root.nsmap[None] == METS_NS  # the sample uses the default namespace for METS
        for element in root.iter(f"{M}file", f"{M}mdRef"):
            locator = element if element.tag == f"{M}mdRef" else element.find(f"{M}FLocat")
            target = mets_path.parent / locator.get(f"{{{XLINK_NS}}}href")
            data = target.read_bytes()
            assert element.get("SIZE") == str(len(data)), target
            assert element.get("CHECKSUM") == hashlib.sha256(data).hexdigest().upper(), target
            declared.add(target)
    on_disk = {p for p in package.rglob("*") if p.is_file()} - {package / "METS.xml"}
    assert declared == on_disk


def test_the_sample_sip_fixture_carries_the_quirks_readers_must_tolerate() -> None:
    (package,) = FIXTURE.iterdir()
    ead = (package / "metadata/descriptive/EAD.xml").read_bytes()
    assert b"\r\n" in ead
    dossier = read_simpledc(etree.fromstring(ead))
    assert list(dossier)[:2] == ["title", "riskRecovery"]  # not the table order
    assert dossier["confidenceLevel"] == ["02"] and dossier["paperFileCode"] == [""]
    first = read_simpledc(
        etree.parse(
            str(package / "representations/rep1/metadata/descriptive/EAD_DOC_240311-0042.1.xml")
        ).getroot()
    )
    assert first["docCode"][0].startswith("000.00.19.H56.2023.")
    assert dossier["fileCode"][0].startswith("000.00.19.H56.2024.")
    fetch = package / "representations/rep1/data/240311-0042.3.pdf.fetch.txt"
    assert fetch.read_text().strip() == "240115-0007.2"


def test_the_sip_reader_accepts_the_sample_with_warnings_only() -> None:
    (package,) = FIXTURE.iterdir()
    report = validate_sip(package)
    assert report.package is not None
    assert {p.severity for p in report.problems} == {Severity.WARNING}
    assert {p.field for p in report.problems} == {"paperFileCode", "docCode"}


# --- the plain metadata JSON -----------------------------------------------------------------


def test_the_metadata_json_round_trips() -> None:
    deposit, _ = sample_deposit()
    again = parse_plain_metadata(deposit.to_json().encode())
    assert again == deposit
    flat = json.loads(deposit.to_json())["documents"][0]
    assert flat["name"] == "file1" and flat["typeName"] == "32" and "fields" not in flat


def test_malformed_metadata_json_is_reported_with_json_paths() -> None:
    metadata = sample_metadata()
    del metadata["tthc"]["procedure"]
    metadata["tthc"]["received"] = "hôm qua"
    metadata["documents"][1]["numberOfPage"] = {"pages": 1}
    metadata["documents"][2]["sha256"] = "abc"
    metadata["extra"] = 1
    with pytest.raises(PackageInvalid) as refusal:
        parse_plain_metadata(json.dumps(metadata))
    assert {p.code for p in refusal.value.problems} == {ProblemCode.PLAIN_METADATA_INVALID}
    assert {p.field for p in refusal.value.problems} == {
        "tthc.procedure",
        "tthc.received",
        "documents[1].numberOfPage",
        "documents[2].sha256",
        "extra",
    }
    with pytest.raises(PackageInvalid) as not_json:
        parse_plain_metadata(b"{not json")
    assert not_json.value.problems[0].field == "$"


def test_json_numbers_and_booleans_become_field_text() -> None:
    metadata = sample_metadata()
    metadata["dossier"]["riskRecovery"] = False
    metadata["documents"][0]["numberOfPage"] = 3
    deposit = parse_plain_metadata(metadata)
    assert deposit.dossier["riskRecovery"] == "0"
    assert deposit.documents[0].fields["numberOfPage"] == "3"


def test_without_a_national_dossier_code_codes_must_be_declared(tmp_path: Path) -> None:
    metadata = sample_metadata(dossier_code="HS/2024/15")
    metadata["tthc"]["results"] = []
    deposit = parse_plain_metadata(metadata)
    _, files = sample_deposit()
    refusal = _refusal(deposit, files, tmp_path)
    assert {p.field for p in refusal.problems} >= {"dossier.fileCode", "documents[0].docId"}
    assert any("HS/2024/15" in p.message for p in refusal.problems)
    declared = sample_metadata(dossier_code="HS/2024/15", dossier={"fileCode": "H56.2024.15"})
    declared["tthc"]["results"] = []
    for n, document in enumerate(declared["documents"], start=1):
        document["docId"] = f"HS2024-15.{n}"
    _build(parse_plain_metadata(declared), files, tmp_path / "sip.zip")
    archive = zipfile.ZipFile(tmp_path / "sip.zip")
    first = _xml(archive, "representations/rep1/metadata/descriptive/EAD_DOC_HS2024-15.1.xml")
    assert read_simpledc(first)["docCode"] == ["H56.2024.15.0000001"]


def test_photographs_get_an_ead_pic_file(tmp_path: Path) -> None:
    metadata = sample_metadata(documents=1)
    metadata["documents"].append(
        {
            "name": "photo",
            "kind": "pic",
            "fileName": "Ảnh trao giấy chứng nhận.JPG",
            "title": "Ảnh trao giấy chứng nhận kết hôn",
            "photoDate": "12/06/2024",
            "colour": "01",
            "mode": "02",
            "language": "01",
        }
    )
    metadata["tthc"]["results"] = []
    deposit = parse_plain_metadata(metadata)
    files = {**sample_deposit(documents=1)[1], "photo": bytes_source(b"\xff\xd8\xff\xe0 JFIF")}
    _build(deposit, files, tmp_path / "sip.zip")
    archive = zipfile.ZipFile(tmp_path / "sip.zip")
    path = "representations/rep1/metadata/descriptive/EAD_PIC_240610-0001.2.xml"
    photo = _xml(archive, path)
    assert validate(photo, SchemaName.EAD_PIC, path) == []
    assert read_simpledc(photo)["docCode"] == ["000.00.19.H56.2024.240610-0001.0000002"]
    data = _xml(archive, "representations/rep1/METS.xml").find(f"{M}fileSec/{M}fileGrp/{M}file[2]")
    assert data.get("MIMETYPE") == "image/jpeg"
    assert archive.getinfo(f"{ROOT}/representations/rep1/data/240610-0001.2.jpg")


def test_files_of_a_deposit_are_found_in_a_folder(tmp_path: Path) -> None:
    deposit, files = sample_deposit()
    folder = tmp_path / "files"
    folder.mkdir()
    for document in deposit.documents:
        with files[document.name].open() as stream:
            (folder / (document.file_name or document.name)).write_bytes(stream.read())
    (tmp_path / "secret").write_bytes(b"outside")
    escaping = deposit.model_copy(
        update={
            "documents": [
                *deposit.documents[:2],
                deposit.documents[2].model_copy(update={"name": "../secret"}),
            ]
        }
    )
    found = files_from_folder(escaping, folder)
    assert sorted(found) == ["file1", "file2"]
    build_sip(deposit, files_from_folder(deposit, folder), tmp_path / "sip.zip", fonds_code="G09")
    assert validate_sip(tmp_path / "sip.zip").problems == []
