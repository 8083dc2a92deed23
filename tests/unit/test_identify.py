"""Identification by content: every generated fixture is recognised as what it is, checked against
the accepted list and its extension, and only the head and tail of a file are read."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pikepdf
import pytest

from archive_service.formats.catalogue import FORMATS, extension_of
from archive_service.formats.containers import MAX_PART_BYTES, MAX_ZIP_ENTRIES
from archive_service.formats.identify import HEAD_BYTES, TAIL_BYTES, identify
from archive_service.packages.problems import ProblemCode, Severity
from tests import formats_fixtures as fx


class CountingFile(io.FileIO):
    """A real file that counts the bytes read from it."""

    bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        count = super().readinto(buffer) or 0
        self.bytes_read += count
        return count

    def readall(self) -> bytes:
        data = super().readall()
        self.bytes_read += len(data)
        return data


@pytest.mark.parametrize("fixture", fx.FIXTURES, ids=lambda fixture: fixture.key)
def test_fixture_is_identified_by_content(tmp_path: Path, fixture: fx.FormatFixture) -> None:
    path = fx.build_fixture(tmp_path, fixture.key)

    found = identify(path)

    assert found.file_name == fixture.file_name
    assert found.format_key == fixture.format_key
    assert found.mime_type == fixture.mime_type
    assert found.pronom_id == fixture.pronom_id
    assert found.format_version == fixture.version
    assert found.accepted is fixture.accepted
    assert tuple(problem.code.value for problem in found.problems) == fixture.problems
    if "FORMAT_MISMATCH" in fixture.problems:
        assert not found.extension_ok
    for problem in found.problems:
        assert fixture.file_name in problem.message


def test_mismatch_message_says_what_the_content_is(tmp_path: Path) -> None:
    path = fx.build_fixture(tmp_path, "docx-named-pdf")

    (problem,) = identify(path).problems

    assert problem.code is ProblemCode.FORMAT_MISMATCH
    assert problem.message == (
        "Tệp don.pdf: nội dung là Microsoft Word (DOCX) nhưng phần mở rộng là '.pdf'; "
        "phần mở rộng phù hợp: .docx"
    )


def test_a_declared_media_type_that_is_not_the_content_is_a_mismatch(tmp_path: Path) -> None:
    path = fx.vietnamese_pdf(tmp_path / "to-khai.pdf")

    (problem,) = identify(path, declared_type="image/jpeg").problems

    assert problem.code is ProblemCode.FORMAT_MISMATCH
    assert problem.message == (
        "Tệp to-khai.pdf: được khai báo là 'image/jpeg' (MIMETYPE trong METS) nhưng nội dung là "
        "PDF (application/pdf)"
    )


@pytest.mark.parametrize(
    "declared",
    [
        "application/pdf",
        "APPLICATION/PDF; name=to-khai.pdf",  # case and parameters do not matter
        "application/x-pdf",  # an older name
        "application/octet-stream",  # claims no format
        "",
        None,
    ],
)
def test_a_declared_media_type_naming_the_content_fits(
    tmp_path: Path, declared: str | None
) -> None:
    path = fx.vietnamese_pdf(tmp_path / "to-khai.pdf")

    assert identify(path, declared_type=declared).ok


def test_a_declared_type_the_archive_does_not_list_is_only_a_warning(tmp_path: Path) -> None:
    path = fx.vietnamese_pdf(tmp_path / "to-khai.pdf")

    found = identify(path, declared_type="application/x-acrobat-document")

    assert found.ok
    (problem,) = found.problems
    assert (problem.code, problem.severity) == (ProblemCode.FORMAT_DECLARED_TYPE, Severity.WARNING)
    assert "'application/x-acrobat-document'" in problem.message
    assert "ghi là application/pdf" in problem.message
    (as_problem,) = found.as_problems("representations/rep1/data/a.pdf")
    assert as_problem.severity is Severity.WARNING


@pytest.mark.parametrize(
    ("key", "declared"),
    [
        ("html", "text/xml"),
        ("csv", "text/comma-separated-values"),
        ("docx", "application/zip"),
    ],
)
def test_generic_names_systems_send_for_a_format_fit_it(
    tmp_path: Path, key: str, declared: str
) -> None:
    assert identify(fx.build_fixture(tmp_path, key), declared_type=declared).problems == ()


def test_older_names_are_taken_only_for_their_own_format(tmp_path: Path) -> None:
    jpeg = fx.jpeg(tmp_path / "anh.jpg")
    csv = fx.csv_file(tmp_path / "bang.csv")

    assert identify(jpeg, declared_type="image/jpg").ok
    assert identify(csv, declared_type="text/plain").ok
    assert not identify(jpeg, declared_type="text/plain").ok
    assert not identify(jpeg, declared_type="image/png").ok


def test_content_refused_for_what_it_is_gets_no_second_problem_for_its_type(
    tmp_path: Path,
) -> None:
    path = fx.build_fixture(tmp_path, "docm")

    problems = identify(path, declared_type="application/pdf").problems

    assert [problem.code for problem in problems] == [ProblemCode.FORMAT_NOT_ACCEPTED]


def test_refusal_names_the_format_and_the_accepted_list(tmp_path: Path) -> None:
    path = fx.build_fixture(tmp_path, "docm")

    (problem,) = identify(path).problems

    assert problem.code is ProblemCode.FORMAT_NOT_ACCEPTED
    assert problem.message.startswith(
        "Tệp co-macro.docm: Word có macro (DOCM) không thuộc danh mục định dạng được chấp nhận"
    )
    assert "DOCX" in problem.message and "PDF" in problem.message


def test_password_protected_pdf_is_refused_with_the_reason(tmp_path: Path) -> None:
    found = identify(fx.build_fixture(tmp_path, "pdf-encrypted"))

    assert found.format_key == "pdf-encrypted"
    assert "mật khẩu" in found.problems[0].message


def test_pdf_with_only_an_owner_password_is_accepted(tmp_path: Path) -> None:
    found = identify(fx.build_fixture(tmp_path, "pdf-owner-password"))

    assert (found.format_key, found.accepted, found.problems) == ("pdf", True, ())


def test_claimed_pdfa_part_and_level_give_the_pronom_id(tmp_path: Path) -> None:
    for part, conformance, pronom in ((2, "U", "fmt/478"), (3, "B", "fmt/480"), (1, "A", "fmt/95")):
        path = fx.pdfa_claim(tmp_path / f"a{part}{conformance}.pdf", part, conformance)
        found = identify(path)
        assert (found.format_name, found.pronom_id) == ("PDF/A", pronom)
        assert found.format_version == f"{part}{conformance.lower()}"


def test_problems_become_package_problems_at_the_given_path(tmp_path: Path) -> None:
    path = fx.build_fixture(tmp_path, "exe-named-pdf")

    problems = identify(path).as_problems("representations/rep1/data/hoa-don.pdf")

    assert [p.code for p in problems] == [
        ProblemCode.FORMAT_MISMATCH,
        ProblemCode.FORMAT_NOT_ACCEPTED,
    ]
    assert {p.path for p in problems} == {"representations/rep1/data/hoa-don.pdf"}
    assert {p.severity for p in problems} == {Severity.ERROR}


def test_a_stream_is_identified_under_its_declared_name_and_left_where_it_was(
    tmp_path: Path,
) -> None:
    data = fx.build_fixture(tmp_path, "odt").read_bytes()
    stream = io.BytesIO(data)
    stream.seek(7)

    found = identify(stream, "van-ban.pdf")

    assert found.format_key == "odt"
    assert found.problems[0].code is ProblemCode.FORMAT_MISMATCH
    assert stream.tell() == 7


def test_a_stream_that_cannot_seek_is_refused() -> None:
    class OneWay(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

    with pytest.raises(ValueError, match="seekable"):
        identify(OneWay(), "x.pdf")  # type: ignore[arg-type]


def test_large_zip_is_identified_from_its_end_record_and_one_small_part(tmp_path: Path) -> None:
    path = fx.docx(tmp_path / "lon.docx")
    with zipfile.ZipFile(path, "a", zipfile.ZIP_STORED) as archive:
        archive.writestr("word/media/scan.bin", bytes(20 * 1024 * 1024))

    with CountingFile(path) as stream:
        found = identify(stream, "lon.docx")

    assert found.format_key == "docx"
    assert stream.bytes_read < HEAD_BYTES + TAIL_BYTES + 64 * 1024


@pytest.mark.parametrize("truncated", [False, True], ids=["whole", "truncated"])
def test_large_pdf_is_identified_without_reading_its_streams(
    tmp_path: Path, truncated: bool
) -> None:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.pages[0].Resources = pikepdf.Dictionary(
        XObject=pikepdf.Dictionary(Big=pdf.make_stream(bytes(16 * 1024 * 1024)))
    )
    path = tmp_path / "lon.pdf"
    pdf.save(path, compress_streams=False)
    if truncated:  # a damaged file must not make identification rebuild it by reading it all
        with open(path, "r+b") as file:
            file.truncate(12 * 1024 * 1024)

    with CountingFile(path) as stream:
        found = identify(stream, "lon.pdf")

    assert (found.format_key, found.format_version) == ("pdf", "1.3")
    assert stream.bytes_read < 1024 * 1024


def test_large_text_file_is_identified_from_its_head(tmp_path: Path) -> None:
    path = tmp_path / "nhat-ky.txt"
    path.write_bytes(("Nhật ký xử lý hồ sơ\n" * 400_000).encode())

    with CountingFile(path) as stream:
        found = identify(stream, "nhat-ky.txt")

    assert found.format_key == "txt"
    assert stream.bytes_read <= HEAD_BYTES


def test_oversized_content_types_part_is_not_read(tmp_path: Path) -> None:
    padding = "<!-- " + "x" * (MAX_PART_BYTES + 10) + " -->"
    fx.docx(tmp_path / "a.docx")
    with zipfile.ZipFile(tmp_path / "a.docx") as source:
        types = source.read("[Content_Types].xml").decode()
    path = tmp_path / "b.docx"
    fx._zip(path, [("[Content_Types].xml", (types + padding).encode())])

    found = identify(path)

    assert found.format_key == "zip"
    assert found.problems[0].code is ProblemCode.FORMAT_MISMATCH


def test_zip_with_too_many_entries_is_not_opened(tmp_path: Path) -> None:
    path = tmp_path / "nhieu.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        for index in range(MAX_ZIP_ENTRIES):
            archive.writestr(f"p/{index}", b"")

    assert identify(path).format_key == "zip"


def test_content_types_with_a_dtd_is_refused_not_parsed(tmp_path: Path) -> None:
    hostile = (
        '<?xml version="1.0"?><!DOCTYPE Types [<!ENTITY x "word">]><Types xmlns="'
        'http://schemas.openxmlformats.org/package/2006/content-types"><Override '
        'PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.wordprocessingml.document.main+xml"/></Types>'
    )
    path = fx._zip(tmp_path / "x.docx", [("[Content_Types].xml", hostile.encode())])

    assert identify(path).format_key == "zip"


def test_legacy_vietnamese_code_page_text_is_plain_text(tmp_path: Path) -> None:
    path = tmp_path / "cu.txt"
    text = "Đăng ky\u0301 kê\u0301t hôn, hô\u0300 sơ\r\n"  # base letters and combining tones
    path.write_bytes(text.encode("cp1258"))

    assert identify(path).format_key == "txt"


def test_html_extension_on_text_without_markup_is_a_mismatch(tmp_path: Path) -> None:
    path = fx.text_file(tmp_path / "trang.htm")

    found = identify(path)

    assert (found.format_key, found.extension_ok) == ("txt", False)
    assert found.problems[0].code is ProblemCode.FORMAT_MISMATCH


def test_extension_is_read_case_insensitively_and_from_the_last_dot() -> None:
    assert extension_of("data/Quyet.Dinh.PDF") == "pdf"
    assert extension_of(".hidden") == ""
    assert extension_of("khong-duoi") == ""


def test_every_accepted_format_of_the_list_is_in_the_catalogue() -> None:
    accepted = {key for key, spec in FORMATS.items() if spec.accepted}
    listed = {"pdf", "txt", "rtf", "doc", "docx", "odt", "csv", "xlsx", "xls", "ods", "html",
              "pptx", "ppt", "odp", "jpeg", "gif", "tiff", "png", "mpeg", "avi", "wmv", "mov",
              "mp3", "wma", "aac"}  # fmt: skip

    assert listed <= accepted
