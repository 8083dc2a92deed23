"""SIP_hoso validation end to end: good packages are read into the models, hostile ones refused.

Every hostile package is a factory SIP with one fault (checksums in METS recomputed where needed,
so that only the intended fault remains). Each is refused with the right code at the right path,
and nothing is written anywhere while it is checked.
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from archive_service.config import PackageLimits
from archive_service.packages.models import DocumentKind
from archive_service.packages.problems import ProblemCode, Severity
from archive_service.packages.sip_reader import SipReport, parse_fetch_reference, validate_sip
from tests.factories import DOSSIER_CODE, FONDS_CODE, make_sip_folder, make_sip_zip
from tests.integration.sip_mutations import (
    EAD,
    REP,
    REP_METS,
    ROOT_METS,
    TTHC,
    TTHC_NS,
    SipEditor,
    csip,
    data_path,
    doc_metadata_path,
    m,
    serialise,
    symlink_info,
    tree_snapshot,
)

LIMITS = PackageLimits()
FILE_CODE = "000.00.19.H56.2024.240610-0001"
DOC1, DOC2, DOC3 = (f"240610-0001.{n}" for n in (1, 2, 3))
SECRET = "bí-mật-không-được-lộ-4711"

# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def base_zip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Bytes of the factory SIP (3 documents) that every hostile case starts from."""
    return make_sip_zip(tmp_path_factory.mktemp("factory")).read_bytes()


@dataclass
class Sandbox:
    """A work folder where the input is the only thing present while the SIP is checked.

    The process temp dir and the working directory point at empty folders inside it, so a file
    written anywhere relative or temporary would show up in the snapshot.
    """

    root: Path
    inputs: Path
    secret: Path

    def check(self, package: Path, limits: PackageLimits = LIMITS) -> SipReport:
        before = tree_snapshot(self.root)
        report = validate_sip(package, limits)
        assert tree_snapshot(self.root) == before, "validation wrote files"
        return report


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    for name in ("input", "tmp", "cwd"):
        (tmp_path / name).mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.chdir(tmp_path / "cwd")
    return Sandbox(tmp_path, tmp_path / "input", secret)


# --------------------------------------------------------------------------- acceptance


def _assert_sample_package(report: SipReport, documents: int = 3) -> None:
    assert report.ok, [p.message for p in report.problems]
    assert report.problems == []
    package = report.package
    assert package is not None
    assert package.object_id.startswith("uuid-")
    assert package.record_status == "NEW"
    assert package.fonds_code == FONDS_CODE
    assert package.submission_agreement == FILE_CODE
    assert package.dossier.file_code == FILE_CODE
    assert package.dossier.title == "Hồ sơ đăng ký kết hôn của ông Nguyễn Văn A và bà Trần Thị B"
    assert package.dossier.total_doc == documents
    assert package.tthc.dossier_code == DOSSIER_CODE
    assert package.tthc.procedure.name == "Đăng ký kết hôn"
    assert [step.actor for step in package.tthc.history][:2] == ["Lê Thị C", "Hoàng Văn F"]
    assert len(package.documents) == documents
    first = package.documents[0]
    assert first.doc_id == DOC1
    assert first.file.path == data_path(DOC1)
    assert first.file.mime_type == "application/pdf"
    assert first.metadata_file.path == doc_metadata_path(DOC1)
    assert first.metadata.kind is DocumentKind.DOC
    assert first.metadata.title == "Tờ khai đăng ký kết hôn của ông Nguyễn Văn A và bà Trần Thị B"
    assert first.metadata.doc_code == f"{FILE_CODE}.0000001"
    for item in [*package.metadata_files, *package.schema_files, first.file]:
        assert item.sha256 == item.sha256.lower() and len(item.sha256) == 64
    assert {f.path for f in package.metadata_files} >= {ROOT_METS, REP_METS, EAD, TTHC}
    assert len(package.metadata_files) == 4 + documents
    assert {f.path for f in package.schema_files} >= {"schemas/mets1_12.xsd", "schemas/tthc.xsd"}


def test_factory_zip_is_accepted_and_read(sandbox: Sandbox) -> None:
    package = make_sip_zip(sandbox.inputs)
    report = sandbox.check(package)
    _assert_sample_package(report)
    assert report.package is not None
    with zipfile.ZipFile(package) as archive:
        data = archive.read(f"{report.package.object_id}/{data_path(DOC2)}")
    assert report.package.documents[1].file.sha256 == hashlib.sha256(data).hexdigest()


def test_factory_folder_is_accepted_and_read(sandbox: Sandbox) -> None:
    report = sandbox.check(make_sip_folder(sandbox.inputs))
    _assert_sample_package(report)


def test_two_hundred_documents_are_accepted(sandbox: Sandbox) -> None:
    report = sandbox.check(make_sip_zip(sandbox.inputs, documents=200))
    _assert_sample_package(report, documents=200)
    assert report.package is not None
    assert report.package.documents[-1].doc_id == "240610-0001.200"


def test_fetch_file_carries_the_reference_of_an_earlier_document(
    sandbox: Sandbox, base_zip: bytes
) -> None:
    editor = SipEditor(base_zip)
    _make_fetch(editor, b"240509-0007.1\n")
    report = sandbox.check(editor.write(sandbox.inputs / "sip.zip"))
    assert report.ok, [p.message for p in report.problems]
    assert report.package is not None
    holey = report.package.documents[1]
    assert holey.file.path == f"{REP}/data/{DOC2}.fetch.txt"
    assert holey.fetch_reference == "240509-0007.1"
    assert report.package.documents[0].fetch_reference is None


SAMPLE = next((Path(__file__).parents[1] / "fixtures" / "sample_sip").iterdir())
SAMPLE_FILE_CODE = "000.00.19.H56.2024.240311-0042"


def _zip_folder(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in sorted(folder.rglob("*")):
            if item.is_file():
                archive.write(item, f"{folder.name}/{item.relative_to(folder).as_posix()}")
    return target


@pytest.mark.parametrize("packed", [False, True], ids=["folder", "zip"])
def test_sample_style_sip_is_accepted_with_only_its_known_quirks(
    sandbox: Sandbox, packed: bool
) -> None:
    fixture_before = tree_snapshot(SAMPLE)
    package = _zip_folder(SAMPLE, sandbox.inputs / "sample.zip") if packed else SAMPLE
    report = sandbox.check(package)
    assert tree_snapshot(SAMPLE) == fixture_before
    assert report.ok, [p.message for p in report.errors]
    first_doc = f"{REP}/metadata/descriptive/EAD_DOC_240311-0042.1.xml"
    assert sorted((p.code, p.path, p.field, p.severity) for p in report.problems) == [
        (ProblemCode.DOC_CODE_MISMATCH, first_doc, "docCode", Severity.WARNING),
        (ProblemCode.FIELD_MISSING, EAD, "paperFileCode", Severity.WARNING),
    ]
    package_model = report.package
    assert package_model is not None
    assert package_model.object_id == SAMPLE.name
    assert package_model.fonds_code == "G09"
    assert package_model.creator_name == "Phần mềm Một cửa điện tử tỉnh Thanh Hóa"
    dossier = package_model.dossier
    assert dossier.file_code == SAMPLE_FILE_CODE
    assert dossier.title == "Hồ sơ đăng ký kết hôn của ông Đỗ Minh Quân và bà Vũ Thị Hồng Nhung"
    assert dossier.confidence_level == "02" and dossier.paper_file_code is None
    assert package_model.tthc.dossier_code == "000.00.19.H56-240311-0042"
    assert [d.doc_id for d in package_model.documents] == [
        "240311-0042.1",
        "240311-0042.2",
        "240311-0042.3",
    ]
    first, _, holey = package_model.documents
    assert first.metadata.doc_code == "000.00.19.H56.2023.240311-0042.0000001"
    assert first.metadata.title.startswith("Tờ khai đăng ký kết hôn của ông Đỗ Minh Quân")
    assert holey.file.path == f"{REP}/data/240311-0042.3.pdf.fetch.txt"
    assert holey.fetch_reference == "240115-0007.2"
    assert first.fetch_reference is None


def test_percent_encoded_href_names_a_file_with_spaces_and_diacritics(
    sandbox: Sandbox, base_zip: bytes
) -> None:
    editor = SipEditor(base_zip)
    editor.rename("schemas/ead_doc.xsd", "schemas/ead doc (bản gốc).xsd")
    assert b"ead%20doc%20%28b%E1%BA%A3n%20g%E1%BB%91c%29.xsd" in editor.get(ROOT_METS)
    report = sandbox.check(editor.write(sandbox.inputs / "sip.zip"))
    assert report.ok and report.problems == []
    assert report.package is not None
    assert "schemas/ead doc (bản gốc).xsd" in {f.path for f in report.package.schema_files}


def test_arc_doc_code_is_read_as_doc_code(sandbox: Sandbox, base_zip: bytes) -> None:
    editor = SipEditor(base_zip)

    def rename(root: etree._Element) -> None:
        element = root.find("docCode")
        assert element is not None
        element.tag = "arcDocCode"

    editor.edit_xml(_DOC1_META, rename)
    report = sandbox.check(editor.write(sandbox.inputs / "sip.zip"))
    assert report.ok and report.problems == []
    assert report.package is not None
    assert report.package.documents[0].metadata.doc_code == f"{FILE_CODE}.0000001"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"240509-0007.1", "240509-0007.1"),
        (b"\xef\xbb\xbf240509-0007.1\r\n", "240509-0007.1"),
        (b"", None),
        (b"a b", None),
        (b"x" * 26, None),
        (b"\xff\xfe", None),
        (b"../../etc/passwd", None),
    ],
)
def test_parse_fetch_reference(data: bytes, expected: str | None) -> None:
    assert parse_fetch_reference(data) == expected


# --------------------------------------------------------------------------- hostile corpus

Build = Callable[[SipEditor, Sandbox], Path]


@dataclass(frozen=True)
class Case:
    """One broken SIP: how to make it and the error it must be refused with."""

    build: Build
    code: ProblemCode
    path: str
    field: str | None = None
    limits: PackageLimits | None = None
    #: Other error codes that necessarily come with this fault.
    also: frozenset[ProblemCode] = frozenset()


def _zip(change: Callable[[SipEditor], object]) -> Build:
    """Apply ``change`` to the factory SIP and write it as the input ZIP."""

    def build(editor: SipEditor, sandbox: Sandbox) -> Path:
        change(editor)
        return editor.write(sandbox.inputs / "sip.zip")

    return build


def _tweak(tweak: Callable[[zipfile.ZipFile], None]) -> Build:
    def build(editor: SipEditor, sandbox: Sandbox) -> Path:
        return editor.write(sandbox.inputs / "sip.zip", tweak)

    return build


def _raw(make: Callable[[bytes], bytes]) -> Build:
    """An input whose bytes are derived from the factory ZIP bytes."""

    def build(editor: SipEditor, sandbox: Sandbox) -> Path:
        good = editor.write(sandbox.root / "good.zip")
        package = sandbox.inputs / "sip.zip"
        package.write_bytes(make(good.read_bytes()))
        good.unlink()
        return package

    return build


def _field(path: str, tag: str, value: str | None) -> Build:
    return _zip(lambda editor: editor.set_field(path, tag, value))


def _mets_attribute(path: str, name: str, value: str) -> Build:
    return _zip(lambda editor: editor.edit_xml(path, lambda root: root.set(name, value)))


def _header_attribute(name: str, value: str) -> Build:
    def change(root: etree._Element) -> None:
        header = root.find(m("metsHdr"))
        assert header is not None
        header.set(name, value)

    return _zip(lambda editor: editor.edit_xml(ROOT_METS, change))


def _tthc(change: Callable[[etree._Element], object]) -> Build:
    return _zip(lambda editor: editor.edit_xml(TTHC, change))


def _tthc_text(tag: str, value: str) -> Build:
    def change(root: etree._Element) -> None:
        element = root.find(f"{{{TTHC_NS}}}{tag}")
        assert element is not None
        element.text = value

    return _tthc(change)


def _result_attribute(name: str, value: str) -> Build:
    def change(root: etree._Element) -> None:
        result = root.find(f"{{{TTHC_NS}}}results/{{{TTHC_NS}}}result")
        assert result is not None
        result.set(name, value)

    return _tthc(change)


def _flip_byte(editor: SipEditor) -> None:
    data = bytearray(editor.get(data_path(DOC1)))
    data[-10] ^= 0xFF
    editor.set(data_path(DOC1), bytes(data), refresh=False)


def _unpair_first_document(editor: SipEditor) -> None:
    editor.drop_metadata(doc_metadata_path(DOC1))


def _rename_metadata_root(editor: SipEditor) -> None:
    def change(root: etree._Element) -> None:
        root.tag = "dossier"

    editor.edit_xml(EAD, change)


def _make_fetch(editor: SipEditor, content: bytes) -> None:
    """Turn document 2 into a holey file: its data is a reference to an earlier deposit."""
    target = f"{REP}/data/{DOC2}.fetch.txt"
    editor.rename(data_path(DOC2), target, mime_type="text/plain")
    editor.set(target, content)


def _with_namespace(namespace: str) -> Callable[[SipEditor], None]:
    def change(editor: SipEditor) -> None:
        data = editor.get(ROOT_METS).replace(b"http://www.loc.gov/METS/", namespace.encode())
        editor.set(ROOT_METS, data)

    return change


def _external_entity(editor: SipEditor, sandbox: Sandbox) -> Path:
    body = editor.get(EAD).split(b"?>", 1)[1].replace(b"<title>", b"<title>&xxe;", 1)
    doctype = (f'<!DOCTYPE simpledc [<!ENTITY xxe SYSTEM "{sandbox.secret.as_uri()}">]>').encode()
    editor.set(EAD, b'<?xml version="1.0" encoding="UTF-8"?>\n' + doctype + body)
    return editor.write(sandbox.inputs / "sip.zip")


_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE simpledc [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<simpledc><title>&lol9;</title></simpledc>
"""


def _folder_with_symlink(editor: SipEditor, sandbox: Sandbox) -> Path:
    root = make_sip_folder(sandbox.inputs)
    (root / REP / "data" / "link.pdf").symlink_to(sandbox.secret)
    return root


def _encrypt_first_data_file(archive: zipfile.ZipFile) -> None:
    for info in archive.filelist:
        if info.filename.endswith(data_path(DOC1)):
            info.flag_bits |= 0x1


def _understate_size(editor: SipEditor, sandbox: Sandbox) -> Path:
    """ZIP header and METS agree on a size 100 bytes short of the real content."""
    declared = len(editor.get(_DOC1_DATA)) - 100
    editor.set_file_attribute(_DOC1_DATA, "SIZE", str(declared))

    def tweak(archive: zipfile.ZipFile) -> None:
        for info in archive.filelist:
            if info.filename.endswith(_DOC1_DATA):
                info.file_size = declared

    return editor.write(sandbox.inputs / "sip.zip", tweak)


def _remove_pointer(root: etree._Element) -> None:
    pointer = next(root.iter(m("mptr")))
    pointer.getparent().remove(pointer)  # type: ignore[union-attr]


def _remove_creator_note(root: etree._Element) -> None:
    for note in root.iter(m("note")):
        note.getparent().remove(note)  # type: ignore[union-attr]


def _remove_child(tag: str) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        element = root.find(tag)
        assert element is not None
        root.remove(element)

    return change


_DOC1_DATA = data_path(DOC1)
_DOC1_META = doc_metadata_path(DOC1)
_DOC2_META = doc_metadata_path(DOC2)

CASES: dict[str, Case] = {
    # --- files and METS declarations
    "checksum mismatch": Case(
        _zip(_flip_byte), ProblemCode.SIP_CHECKSUM_MISMATCH, _DOC1_DATA, "CHECKSUM"
    ),
    "size mismatch": Case(
        _zip(lambda e: e.set(_DOC1_DATA, e.get(_DOC1_DATA) + b"\n%extra", refresh=False)),
        ProblemCode.SIP_SIZE_MISMATCH,
        _DOC1_DATA,
        "SIZE",
    ),
    "missing data file": Case(
        _zip(lambda e: e.remove(_DOC1_DATA)), ProblemCode.SIP_FILE_MISSING, _DOC1_DATA
    ),
    "unreferenced file": Case(
        _zip(lambda e: e.set(f"{REP}/data/ghi-chú.pdf", b"%PDF-1.4", refresh=False)),
        ProblemCode.SIP_FILE_UNREFERENCED,
        f"{REP}/data/ghi-chú.pdf",
    ),
    "checksum type MD5": Case(
        _zip(lambda e: e.set_file_attribute(_DOC1_DATA, "CHECKSUMTYPE", "MD5")),
        ProblemCode.SIP_CHECKSUM_TYPE,
        _DOC1_DATA,
        "CHECKSUMTYPE",
    ),
    "href with dot-dot": Case(
        _zip(lambda e: e.edit_xml(REP_METS, _href_up)),
        ProblemCode.METS_REFERENCE_INVALID,
        REP_METS,
        "xlink:href",
        also=frozenset({ProblemCode.SIP_FILE_UNREFERENCED}),
    ),
    "data file without EAD_DOC": Case(
        _zip(_unpair_first_document), ProblemCode.EAD_DOC_MISSING, _DOC1_DATA
    ),
    "representation METS missing": Case(
        _zip(lambda e: e.remove(REP_METS)), ProblemCode.SIP_FILE_MISSING, REP_METS
    ),
    "no mptr to the representation": Case(
        _zip(lambda e: e.edit_xml(ROOT_METS, _remove_pointer)),
        ProblemCode.METS_STRUCTMAP,
        ROOT_METS,
        "mptr",
    ),
    "METS missing": Case(_zip(lambda e: e.remove(ROOT_METS)), ProblemCode.METS_MISSING, ROOT_METS),
    "EAD.xml missing": Case(_zip(lambda e: e.drop_metadata(EAD)), ProblemCode.EAD_MISSING, EAD),
    "TTHC.xml missing": Case(_zip(lambda e: e.drop_metadata(TTHC)), ProblemCode.TTHC_MISSING, TTHC),
    # --- METS header
    "wrong METS namespace": Case(
        _zip(_with_namespace("http://www.loc.gov/METS/v2/")),
        ProblemCode.XML_WRONG_NAMESPACE,
        ROOT_METS,
    ),
    "wrong package type": Case(
        _header_attribute(csip("OAISPACKAGETYPE"), "AIP"),
        ProblemCode.METS_PACKAGE_TYPE,
        ROOT_METS,
        "OAISPACKAGETYPE",
    ),
    "OBJID mismatch": Case(
        _mets_attribute(ROOT_METS, "OBJID", "uuid-00000000-0000-0000-0000-000000000000"),
        ProblemCode.METS_OBJID_MISMATCH,
        ROOT_METS,
        "OBJID",
    ),
    "unknown record status": Case(
        _header_attribute("RECORDSTATUS", "DRAFT"),
        ProblemCode.METS_RECORD_STATUS,
        ROOT_METS,
        "RECORDSTATUS",
    ),
    "no fonds code": Case(
        _zip(lambda e: e.edit_xml(ROOT_METS, _remove_creator_note)),
        ProblemCode.METS_HEADER,
        ROOT_METS,
        "agent/note",
    ),
    # --- XML safety
    "external entity (XXE)": Case(_external_entity, ProblemCode.XML_FORBIDDEN_DTD, EAD),
    "billion laughs": Case(_zip(lambda e: e.set(EAD, _LAUGHS)), ProblemCode.XML_FORBIDDEN_DTD, EAD),
    "non-XML metadata": Case(
        _zip(lambda e: e.set(_DOC1_META, e.get(_DOC1_DATA))),
        ProblemCode.XML_MALFORMED,
        _DOC1_META,
    ),
    "wrong root element": Case(_zip(_rename_metadata_root), ProblemCode.XML_WRONG_ROOT, EAD),
    "XML over the size limit": Case(
        _zip(lambda e: e.set_field(EAD, "description", "Ghi chú " * 3000)),
        ProblemCode.XML_TOO_LARGE,
        EAD,
        limits=PackageLimits(max_xml_bytes=16_000),
    ),
    # --- dossier fields
    "missing required field": Case(
        _field(EAD, "title", None), ProblemCode.FIELD_MISSING, EAD, "title"
    ),
    "bad code list value": Case(_field(EAD, "mode", "09"), ProblemCode.FIELD_BAD_CODE, EAD, "mode"),
    "bad date": Case(
        _field(EAD, "startDate", "31/02/2024"), ProblemCode.FIELD_BAD_DATE, EAD, "startDate"
    ),
    "startDate after endDate": Case(
        _field(EAD, "startDate", "13/06/2024"), ProblemCode.DATE_RANGE, EAD, "startDate"
    ),
    "totalDoc mismatch": Case(
        _field(EAD, "totalDoc", "5"), ProblemCode.TOTAL_DOC_MISMATCH, EAD, "totalDoc"
    ),
    "riskRecovery=1 without status": Case(
        _field(EAD, "riskRecovery", "1"),
        ProblemCode.FIELD_MISSING,
        EAD,
        "riskRecoveryStatus",
    ),
    "digitised without paperFileCode": Case(
        _field(EAD, "confidenceLevel", "02"),
        ProblemCode.FIELD_MISSING,
        EAD,
        "paperFileCode",
    ),
    "unknown element": Case(
        _field(EAD, "nguoiLap", "Lê Thị C"), ProblemCode.FIELD_UNKNOWN, EAD, "nguoiLap"
    ),
    # --- documents
    "document field too long": Case(
        _field(_DOC1_META, "subject", "Đ" * 501),
        ProblemCode.FIELD_TOO_LONG,
        _DOC1_META,
        "subject",
    ),
    "duplicate docId": Case(
        _field(_DOC2_META, "docId", DOC1),
        ProblemCode.DOC_ID_DUPLICATE,
        _DOC2_META,
        "docId",
        also=frozenset({ProblemCode.DOC_ID_FILE_MISMATCH}),
    ),
    "docId does not name the file": Case(
        _field(_DOC1_META, "docId", "240610-0001.9"),
        ProblemCode.DOC_ID_FILE_MISMATCH,
        _DOC1_DATA,
        "docId",
    ),
    "fetch reference malformed": Case(
        _zip(lambda e: _make_fetch(e, b"240509-0007.1 urn:x\nsecond line")),
        ProblemCode.FETCH_REFERENCE_INVALID,
        f"{REP}/data/{DOC2}.fetch.txt",
    ),
    # --- TTHC
    "result docId not in package": Case(
        _result_attribute("docId", "240610-0001.9"),
        ProblemCode.TTHC_RESULT_DOC_MISSING,
        TTHC,
        "result/@docId",
    ),
    "bad dossier code": Case(
        _tthc_text("dossierCode", "H56-2024-1"),
        ProblemCode.TTHC_DOSSIER_CODE,
        TTHC,
        "dossierCode",
        also=frozenset({ProblemCode.TTHC_RESULT_CODE}),
    ),
    "bad result code": Case(
        _result_attribute("code", f"{DOSSIER_CODE}-1"),
        ProblemCode.TTHC_RESULT_CODE,
        TTHC,
        "result/@code",
    ),
    "finished before received": Case(
        _tthc_text("finished", "2024-06-09T10:02:00+07:00"),
        ProblemCode.TTHC_DATES,
        TTHC,
        "finished",
    ),
    "TTHC without applicant": Case(
        _tthc(_remove_child(f"{{{TTHC_NS}}}applicant")), ProblemCode.TTHC_INVALID, TTHC
    ),
    "TTHC in the wrong namespace": Case(
        _zip(lambda e: e.set(TTHC, e.get(TTHC).replace(TTHC_NS.encode(), b"urn:other"))),
        ProblemCode.XML_WRONG_NAMESPACE,
        TTHC,
    ),
    # --- container
    "dot-dot entry": Case(
        _zip(lambda e: e.add_entry(f"{e.root}/../../evil.sh", b"rm -rf /")),
        ProblemCode.SIP_PATH_TRAVERSAL,
        "../../evil.sh",
    ),
    "absolute entry": Case(
        _zip(lambda e: e.add_entry("/etc/cron.d/evil", b"* * * * * root id")),
        ProblemCode.SIP_ABSOLUTE_PATH,
        "/etc/cron.d/evil",
        also=frozenset({ProblemCode.SIP_ROOT_FOLDER}),
    ),
    "symlink entry in ZIP": Case(
        _zip(lambda e: e.add_entry(symlink_info(f"{e.root}/{REP}/data/link.pdf"), b"/etc/passwd")),
        ProblemCode.SIP_LINK,
        f"{REP}/data/link.pdf",
    ),
    "symlink in folder": Case(_folder_with_symlink, ProblemCode.SIP_LINK, f"{REP}/data/link.pdf"),
    "zip bomb": Case(
        _zip(lambda e: e.add_entry(f"{e.root}/{REP}/data/bomb.pdf", b"\0" * 8_000_000)),
        ProblemCode.SIP_COMPRESSION_RATIO,
        f"{REP}/data/bomb.pdf",
    ),
    "too many entries": Case(
        _zip(lambda e: None),
        ProblemCode.SIP_TOO_MANY_ENTRIES,
        "",
        limits=PackageLimits(max_entries=10),
    ),
    "total size over limit": Case(
        _zip(lambda e: None),
        ProblemCode.SIP_TOO_LARGE,
        "",
        limits=PackageLimits(max_total_bytes=50_000),
    ),
    "duplicate entry name (case)": Case(
        _zip(lambda e: e.add_entry(f"{e.root}/{_DOC1_DATA.upper()}", b"%PDF")),
        ProblemCode.SIP_DUPLICATE_ENTRY,
        _DOC1_DATA.upper(),
    ),
    "encrypted entry": Case(
        _tweak(_encrypt_first_data_file), ProblemCode.SIP_ENCRYPTED_ENTRY, _DOC1_DATA
    ),
    "member larger than its header says": Case(
        _understate_size, ProblemCode.SIP_UNREADABLE, _DOC1_DATA
    ),
    "not a zip": Case(
        _raw(lambda data: b"%PDF-1.7\n" + data[:500]), ProblemCode.SIP_NOT_ZIP, "sip.zip"
    ),
    "truncated zip": Case(
        _raw(lambda data: data[: len(data) * 2 // 3]), ProblemCode.SIP_UNREADABLE, "sip.zip"
    ),
}


def _href_up(root: etree._Element) -> None:
    locator = next(root.iter(m("FLocat")))
    locator.set(
        "{http://www.w3.org/1999/xlink}href",
        "../../" + locator.get("{http://www.w3.org/1999/xlink}href", ""),
    )


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_hostile_sip_is_refused_with_the_right_code(
    case: Case, sandbox: Sandbox, base_zip: bytes
) -> None:
    package = case.build(SipEditor(base_zip), sandbox)
    report = sandbox.check(package, case.limits or LIMITS)
    assert not report.ok
    assert report.package is None
    found = [(p.code, p.path) for p in report.errors]
    assert (case.code, case.path) in found, [(p.code, p.path, p.message) for p in report.problems]
    intended = [p for p in report.errors if (p.code, p.path) == (case.code, case.path)]
    if case.field:
        assert case.field in {p.field for p in intended}
    assert all(p.message for p in report.problems)
    assert {p.code for p in report.errors} <= {case.code, *case.also}, [
        (p.code, p.path, p.message) for p in report.errors
    ]


def test_corpus_covers_thirty_distinct_faults() -> None:
    assert len(CASES) >= 30
    assert len({(c.code, c.path, c.field) for c in CASES.values()}) >= 30


def test_external_entity_is_never_resolved(sandbox: Sandbox, base_zip: bytes) -> None:
    report = sandbox.check(_external_entity(SipEditor(base_zip), sandbox))
    assert [p.code for p in report.problems] == [ProblemCode.XML_FORBIDDEN_DTD]
    assert all(SECRET not in repr(p) for p in report.problems)


def test_billion_laughs_is_not_expanded(sandbox: Sandbox, base_zip: bytes) -> None:
    editor = SipEditor(base_zip)
    editor.set(EAD, _LAUGHS)
    package = editor.write(sandbox.inputs / "sip.zip")
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = sandbox.check(package)
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert [p.code for p in report.problems] == [ProblemCode.XML_FORBIDDEN_DTD]
    assert all("lollol" not in p.message for p in report.problems)
    assert peak_after - peak_before < 50 * 1024  # KiB: an expansion would need gigabytes


def test_every_problem_is_reported_at_once(sandbox: Sandbox, base_zip: bytes) -> None:
    editor = SipEditor(base_zip)
    _flip_byte(editor)
    editor.set_field(EAD, "mode", "09")
    editor.set_field(_DOC2_META, "issuedDate", "2024-06-10")
    editor.edit_xml(TTHC, lambda root: root.find(f"{{{TTHC_NS}}}dossierCode").set("x", "1"))  # type: ignore[union-attr]
    editor.set(f"{REP}/data/thừa.pdf", b"%PDF", refresh=False)
    report = sandbox.check(editor.write(sandbox.inputs / "sip.zip"))
    found = {(p.code, p.path) for p in report.errors}
    assert {
        (ProblemCode.SIP_CHECKSUM_MISMATCH, _DOC1_DATA),
        (ProblemCode.FIELD_BAD_CODE, EAD),
        (ProblemCode.FIELD_BAD_DATE, _DOC2_META),
        (ProblemCode.TTHC_INVALID, TTHC),
        (ProblemCode.SIP_FILE_UNREFERENCED, f"{REP}/data/thừa.pdf"),
    } <= found


def test_messages_are_vietnamese_and_name_the_file(sandbox: Sandbox, base_zip: bytes) -> None:
    editor = SipEditor(base_zip)
    editor.set_field(EAD, "totalDoc", "7")
    report = sandbox.check(editor.write(sandbox.inputs / "sip.zip"))
    [problem] = report.errors
    assert problem.severity is Severity.ERROR
    assert EAD in problem.message and "totalDoc" in problem.message
    assert "tài liệu" in problem.message


def test_unreadable_representation_mets_is_reported_once(sandbox: Sandbox, base_zip: bytes) -> None:
    editor = SipEditor(base_zip)
    editor.set(REP_METS, b"<mets>not closed")
    report = sandbox.check(editor.write(sandbox.inputs / "sip.zip"))
    assert [(p.code, p.path) for p in report.errors] == [(ProblemCode.XML_MALFORMED, REP_METS)]


def test_serialise_round_trip_keeps_factory_sip_valid(sandbox: Sandbox, base_zip: bytes) -> None:
    """The mutation helper itself changes nothing unless asked (guards the corpus above)."""
    editor = SipEditor(base_zip)
    editor.edit_xml(EAD, lambda root: None)
    editor.set(ROOT_METS, serialise(editor.xml(ROOT_METS)))
    report = sandbox.check(editor.write(sandbox.inputs / "sip.zip"))
    assert report.ok and report.problems == []
    assert os.listdir(sandbox.root / "tmp") == [] and os.listdir(sandbox.root / "cwd") == []
    shutil.rmtree(sandbox.inputs)
