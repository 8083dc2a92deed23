"""PDF/A-2b renditions of generated documents: the path chosen per kind, the outcome, and no
false "PDF/A" — every rendition kept passes the validator and keeps its pages and its text.

The converters are the real ones (pikepdf, img2pdf, LibreOffice, Ghostscript); the tools a test
does not want are left out of its ``RenditionTools`` rather than imitated.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pikepdf
import pytest
from pikepdf import Array, Dictionary, Name, String
from PIL import Image, ImageSequence

from archive_service.formats import verify_rendition as verification
from archive_service.formats.convert_image import MINIMUM_DPI
from archive_service.formats.convert_office import NOT_INSTALLED
from archive_service.formats.convert_pdf import (
    SIGNATURE_NOT_CARRIED,
    forbidden_constructs,
    make_pdfa_2b,
)
from archive_service.formats.identify import identify
from archive_service.formats.pdfa import validate_pdfa
from archive_service.formats.rendition import (
    ConversionPath,
    ExternalTool,
    RenditionResult,
    RenditionStatus,
    RenditionTools,
    make_rendition,
)
from archive_service.formats.verify_rendition import (
    SourceFacts,
    TextProof,
    normalise_text,
    page_texts,
    read_source_facts,
    verify_rendition,
)
from tests import formats_fixtures as fx

REPO_ROOT = Path(__file__).resolve().parents[2]
CREATED, NOT_NEEDED, FAILED = (
    RenditionStatus.CREATED,
    RenditionStatus.NOT_NEEDED,
    RenditionStatus.FAILED,
)
LIBREOFFICE = RenditionTools.detect().libreoffice
#: Ghostscript left out, so that the outcome does not depend on which version is installed.
TOOLS = RenditionTools(libreoffice=LIBREOFFICE, ghostscript=None, use_verapdf=True)
VIETNAMESE_PAGE = normalise_text(" ".join(fx.VIETNAMESE_LINES))


@dataclass(frozen=True)
class Expected:
    status: RenditionStatus
    path: ConversionPath
    reason: str | None = None  # a part of the Vietnamese reason, for failures


_OFFICE = (
    Expected(CREATED, ConversionPath.OFFICE)
    if LIBREOFFICE
    else Expected(FAILED, ConversionPath.OFFICE, NOT_INSTALLED)
)
# fmt: off
EXPECTED: dict[str, Expected] = {
    "pdf-vietnamese": Expected(CREATED, ConversionPath.PDF),
    "pdf-helvetica": Expected(FAILED, ConversionPath.PDF, "phông chữ không được nhúng"),
    "pdf-vietnamese-unembedded": Expected(FAILED, ConversionPath.PDF, "phông chữ không được nhúng"),
    "pdfa-unembedded-font": Expected(FAILED, ConversionPath.PDF, "phông chữ không được nhúng"),
    "pdfa-2b": Expected(NOT_NEEDED, ConversionPath.PDF, "đã là PDF/A-2"),
    "pdfa-scan": Expected(NOT_NEEDED, ConversionPath.PDF, "đã là PDF/A-2"),
    "pdfa-1b": Expected(CREATED, ConversionPath.PDF),
    "pdfa-javascript": Expected(CREATED, ConversionPath.PDF),
    "pdfa-no-trailer-id": Expected(CREATED, ConversionPath.PDF),
    "pdfa-scan-no-intent": Expected(CREATED, ConversionPath.PDF),
    "pdf-owner-password": Expected(CREATED, ConversionPath.PDF),
    "pdf-encrypted": Expected(FAILED, ConversionPath.NONE, "mật khẩu"),
    "pdf-truncated": Expected(FAILED, ConversionPath.PDF, "bị hỏng"),
    "pdf-header-garbage": Expected(FAILED, ConversionPath.PDF, "bị hỏng"),
    "pdf-garbage": Expected(FAILED, ConversionPath.NONE, "không nhận diện được"),
    "empty": Expected(FAILED, ConversionPath.NONE, "không có nội dung"),
    "jpeg": Expected(CREATED, ConversionPath.IMAGE),
    "jpeg-exif": Expected(CREATED, ConversionPath.IMAGE),
    "png-alpha": Expected(CREATED, ConversionPath.IMAGE),
    "tiff-multipage": Expected(CREATED, ConversionPath.IMAGE),
    "gif": Expected(CREATED, ConversionPath.IMAGE),
    "bmp": Expected(FAILED, ConversionPath.NONE, "không thuộc danh mục"),
    "docx": _OFFICE,
    "txt": Expected(NOT_NEEDED, ConversionPath.NONE, "văn bản mở"),
    "avi": Expected(NOT_NEEDED, ConversionPath.NONE, "âm thanh và video"),
}
# fmt: on


@dataclass(frozen=True)
class Run:
    source: Path
    sha256_before: str
    result: RenditionResult


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    sources = tmp_path_factory.mktemp("sources")
    work = tmp_path_factory.mktemp("renditions")
    done = {}
    for key in EXPECTED:
        source = fx.build_fixture(sources, key)
        before = fx.sha256_of(source)
        done[key] = Run(source, before, make_rendition(source, identify(source), work, tools=TOOLS))
    return done


@pytest.mark.parametrize("key", EXPECTED)
def test_every_kind_gets_its_expected_outcome(runs: dict[str, Run], key: str) -> None:
    expected, run = EXPECTED[key], runs[key]
    result = run.result

    assert (result.status, result.path) == (expected.status, expected.path), result.reason
    assert result.file_name == run.source.name
    assert fx.sha256_of(run.source) == run.sha256_before  # the original is only read
    if expected.status is CREATED:
        assert result.output_path is not None and result.output_path.is_file()
        assert result.output_path != run.source
        assert result.reason is None
        assert result.tool in {"pikepdf", "img2pdf", "LibreOffice"} and result.tool_version
        assert result.input_pages == result.output_pages and result.text_equal is True
        assert result.pdfa_report is not None and result.pdfa_report.is_valid_pdfa_2b
    else:
        assert result.output_path is None
        assert expected.reason and result.reason and expected.reason in result.reason
        assert result.reason.startswith(f"Tệp {run.source.name}")
    assert result.duration > 0


def test_every_created_rendition_is_pdfa_2b_and_keeps_text_and_pages(
    runs: dict[str, Run],
) -> None:
    created = {key: run for key, run in runs.items() if run.result.status is CREATED}
    assert set(created) == {key for key, exp in EXPECTED.items() if exp.status is CREATED}
    for key, run in created.items():
        output = run.result.output_path
        assert output is not None
        report = validate_pdfa(output, "2b")
        assert report.is_valid_pdfa_2b, (key, report.failed_rules, report.not_checked)
        pages, texts = _source_pages_and_texts(key, run.source)
        with pikepdf.open(output) as pdf:
            assert len(pdf.pages) == pages, key
            assert forbidden_constructs(pdf) == [], key
        assert page_texts(output) == texts, key


def _source_pages_and_texts(key: str, source: Path) -> tuple[int, tuple[str, ...]]:
    """Pages and text of the source, found independently of the rendition code."""
    if EXPECTED[key].path is ConversionPath.IMAGE:
        with Image.open(source) as image:
            frames = sum(1 for _ in ImageSequence.Iterator(image))
        return frames, ("",) * frames
    if EXPECTED[key].path is ConversionPath.OFFICE:
        return 1, (VIETNAMESE_PAGE,)
    with pikepdf.open(source) as pdf:
        return len(pdf.pages), page_texts(source)


def test_the_vietnamese_text_layer_survives_with_its_diacritics(runs: dict[str, Run]) -> None:
    for key in ("pdf-vietnamese", "pdfa-1b", "pdfa-javascript", "pdf-owner-password"):
        output = runs[key].result.output_path
        assert output is not None
        assert page_texts(output) == (VIETNAMESE_PAGE,), key
    assert "Hồ sơ thủ tục hành chính" in VIETNAMESE_PAGE


def test_javascript_is_removed_from_the_rendition_and_kept_in_the_original(
    runs: dict[str, Run],
) -> None:
    run = runs["pdfa-javascript"]
    assert any("JavaScript" in change for change in run.result.changes)
    assert run.result.output_path is not None
    with pikepdf.open(run.result.output_path) as rendition:
        assert "/OpenAction" not in rendition.Root
    with pikepdf.open(run.source) as original:
        assert Name.JavaScript == original.Root.OpenAction.S
        assert forbidden_constructs(original) == ["hành động JavaScript khi mở tệp (OpenAction)"]


def test_pdfa_1b_becomes_a_lossless_2b_rendition(runs: dict[str, Run]) -> None:
    result = runs["pdfa-1b"].result
    assert result.output_path is not None
    with pikepdf.open(result.output_path) as pdf, pdf.open_metadata() as xmp:
        assert (xmp["pdfaid:part"], xmp["pdfaid:conformance"]) == ("2", "B")
        assert xmp["dc:title"] == fx.VIETNAMESE_LINES[0]  # Vietnamese metadata kept
    assert any("CIDSet" in change for change in result.changes)


def test_owner_password_encryption_is_dropped_from_the_rendition(runs: dict[str, Run]) -> None:
    result = runs["pdf-owner-password"].result
    assert result.output_path is not None
    with pikepdf.open(result.output_path) as pdf:
        assert not pdf.is_encrypted and "/ID" in pdf.trailer
    assert any("mã hoá" in change for change in result.changes)


def test_scans_keep_their_pixels_resolution_and_frames(runs: dict[str, Run]) -> None:
    tiff = runs["tiff-multipage"].result
    assert (tiff.input_pages, tiff.output_pages, tiff.dpi) == (3, 3, 300)
    assert tiff.warnings == ()
    for key in ("jpeg", "png-alpha", "tiff-multipage"):
        output = runs[key].result.output_path
        assert output is not None
        with pikepdf.open(output) as pdf:
            for page in pdf.pages:
                (image,) = page.get_images().values()
                width_inches = float(page.mediabox[2]) / 72
                assert round(int(image.Width) / width_inches) == 300, key
    with pikepdf.open(runs["jpeg"].result.output_path) as pdf:
        (image,) = pdf.pages[0].get_images().values()
        assert image.Filter == Name.DCTDecode  # the JPEG bytes, not re-encoded
        assert image.read_raw_bytes() == runs["jpeg"].source.read_bytes()


def test_png_alpha_is_kept_as_a_soft_mask(runs: dict[str, Run]) -> None:
    output = runs["png-alpha"].result.output_path
    assert output is not None
    with pikepdf.open(output) as pdf, Image.open(runs["png-alpha"].source) as original:
        (image,) = pdf.pages[0].get_images().values()
        assert "/SMask" in image
        restored = pikepdf.PdfImage(image).as_pil_image()  # colour with the soft mask applied
        assert restored.mode == original.mode == "RGBA"
        assert restored.tobytes() == original.tobytes()


def test_low_or_unknown_resolution_is_flagged(runs: dict[str, Run], tmp_path: Path) -> None:
    low = fx.jpeg(tmp_path / "anh-150dpi.jpg", dpi=150)
    result = make_rendition(low, identify(low), tmp_path / "out", tools=TOOLS)
    assert result.status is CREATED and result.dpi == 150
    assert result.warnings == (f"độ phân giải 150 dpi thấp hơn mức tối thiểu {MINIMUM_DPI} dpi",)
    assert runs["jpeg-exif"].result.dpi == 72 and runs["jpeg-exif"].result.warnings
    gif = runs["gif"].result
    assert gif.dpi is None and "không ghi độ phân giải" in gif.warnings[0]


def test_without_libreoffice_an_office_document_fails_with_the_reason(tmp_path: Path) -> None:
    source = fx.docx(tmp_path / "don.docx")
    bare = RenditionTools(libreoffice=None, ghostscript=None)
    result = make_rendition(source, identify(source), tmp_path / "out", tools=bare)
    assert result.status is FAILED and result.output_path is None
    assert result.reason == f"Tệp don.docx: {NOT_INSTALLED}"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_converter_past_its_timeout_is_stopped_with_its_helpers(tmp_path: Path) -> None:
    source = fx.docx(tmp_path / "cham.docx")
    hasty = replace(TOOLS, office_timeout=0.2)
    result = make_rendition(source, identify(source), tmp_path / "out", tools=hasty)
    assert result.status is FAILED and result.output_path is None
    if LIBREOFFICE is None:
        assert result.reason == f"Tệp cham.docx: {NOT_INSTALLED}"
        return
    assert result.reason == "Tệp cham.docx: LibreOffice chạy quá 0.2 giây và bị dừng"
    work = str(tmp_path / "out")
    for command_line in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            running = command_line.read_bytes().decode("utf-8", "replace")
        except OSError:  # the process ended meanwhile
            continue
        assert work not in running, running  # no LibreOffice process left behind


def test_failures_leave_no_file_behind(runs: dict[str, Run]) -> None:
    outputs = {run.result.output_path for run in runs.values() if run.result.output_path}
    work = next(iter(outputs)).parent  # type: ignore[union-attr]
    assert set(work.iterdir()) == outputs  # no scratch folder, no discarded rendition


def test_a_rendition_never_replaces_its_source(tmp_path: Path) -> None:
    source = fx.vietnamese_pdf(tmp_path / "van-ban.pdf")
    before = fx.sha256_of(source)
    result = make_rendition(source, identify(source), tmp_path, tools=TOOLS)
    assert result.status is CREATED
    assert result.output_path == tmp_path / "van-ban-pdfa.pdf"
    assert fx.sha256_of(source) == before
    with pytest.raises(ValueError):
        make_rendition(source, identify(source), tmp_path, tools=TOOLS, output_name="van-ban.pdf")


def _signed_pdf(path: Path) -> Path:
    """A PDF with a signature field whose value is a (placeholder) CMS signature."""
    pdf = pikepdf.open(fx.vietnamese_pdf(path.with_suffix(".unsigned.pdf")))
    signature = pdf.make_indirect(
        Dictionary(
            Type=Name.Sig,
            Filter=Name("/Adobe.PPKLite"),
            SubFilter=Name("/ETSI.CAdES.detached"),
            ByteRange=Array([0, 100, 200, 300]),
            Contents=String(b"\x30" * 64),
            Name=String("Nguyễn Văn An"),
        )
    )
    field = pdf.make_indirect(
        Dictionary(
            Type=Name.Annot,
            Subtype=Name.Widget,
            FT=Name.Sig,
            T=String("Chữ ký 1"),
            V=signature,
            F=132,
            Rect=Array([0, 0, 0, 0]),
            P=pdf.pages[0].obj,
        )
    )
    pdf.pages[0].obj.Annots = Array([field])
    pdf.Root.AcroForm = Dictionary(Fields=Array([field]), SigFlags=3)
    pdf.save(path)
    return path


def test_a_signed_pdf_is_only_read_and_its_rendition_drops_the_signature(tmp_path: Path) -> None:
    source = _signed_pdf(tmp_path / "da-ky.pdf")
    before = fx.sha256_of(source)
    with pikepdf.open(source) as pdf:
        assert forbidden_constructs(pdf) == [
            "trường chữ ký số 'Chữ ký 1' cùng giá trị chữ ký",
            "cờ chữ ký (SigFlags)",
            "ô chữ ký số 'Chữ ký 1' ở trang 1",
        ]
        step = make_pdfa_2b(pdf, tmp_path / "candidate.pdf")
    assert step.signature_removed and step.warnings == (SIGNATURE_NOT_CARRIED,)
    with pikepdf.open(tmp_path / "candidate.pdf") as candidate:
        assert "/AcroForm" not in candidate.Root and "/Annots" not in candidate.pages[0].obj
        assert forbidden_constructs(candidate) == []

    result = make_rendition(source, identify(source), tmp_path / "out", tools=TOOLS)
    assert fx.sha256_of(source) == before
    with pikepdf.open(source) as original:
        assert "/V" in original.Root.AcroForm.Fields[0]
    assert result.status is CREATED, result.reason
    assert SIGNATURE_NOT_CARRIED in result.warnings
    assert result.output_path and validate_pdfa(result.output_path, "2b").is_valid_pdfa_2b
    assert page_texts(result.output_path) == page_texts(source)


def test_an_empty_signature_field_is_dropped_without_claiming_a_signature(
    tmp_path: Path,
) -> None:
    source = _signed_pdf(tmp_path / "o-ky-trong.pdf")
    with pikepdf.open(source, allow_overwriting_input=True) as pdf:
        del pdf.Root.AcroForm.Fields[0]["/V"]
        pdf.save(source)
    with pikepdf.open(source) as pdf:
        step = make_pdfa_2b(pdf, tmp_path / "candidate.pdf")
    assert not step.signature_removed and step.warnings == ()
    assert "bỏ trường chữ ký số chưa ký 'Chữ ký 1'" in step.changes


def test_verification_rejects_lost_pages_changed_text_and_lost_metadata(
    runs: dict[str, Run], tmp_path: Path
) -> None:
    output = runs["tiff-multipage"].result.output_path
    assert output is not None
    shorter = tmp_path / "shorter.pdf"
    with pikepdf.open(output) as pdf:
        del pdf.pages[2]
        pdf.save(shorter)
    check = verify_rendition(shorter, SourceFacts.of_images(3), file_name="ban-quet.pdf")
    assert not check.ok and check.output_pages == 2
    assert "số trang khác: bản gốc 3, bản PDF/A 2" in check.problems[0]

    good = runs["pdf-vietnamese"].result.output_path
    assert good is not None
    facts = read_source_facts(good)
    assert verify_rendition(good, facts, file_name="x.pdf").ok
    stripped = SourceFacts(1, (VIETNAMESE_PAGE.replace("Hồ", "Ho"),), {"/Title": "Tờ khai"})
    check = verify_rendition(good, stripped, file_name="x.pdf")
    assert not check.text_equal and not check.metadata_equal
    assert any(problem.startswith("chữ trích từ trang 1 khác") for problem in check.problems)
    assert any("tiêu đề" in problem for problem in check.problems)


def test_text_comparison_ignores_unicode_form_and_spacing_only() -> None:
    decomposed = "Ho\u0302\u0300 so\u031b   thu\u0309 tu\u0323c\n"
    assert normalise_text(decomposed) == "Hồ sơ thủ tục"
    assert normalise_text("Hồ sơ") != normalise_text("Ho so")


# --- Text proved by page identity --------------------------------------------------------------


def _recorded_extractions(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    """Every pypdf extraction verification runs, as (file name, pages asked for)."""
    calls: list[tuple[str, object]] = []
    extract = verification.page_texts

    def recorded(path: Path, numbers: list[int] | None = None) -> tuple[str, ...]:
        calls.append((path.name, None if numbers is None else tuple(numbers)))
        return extract(path, numbers)

    monkeypatch.setattr(verification, "page_texts", recorded)
    return calls


def test_a_lossless_pdf_rendition_is_proved_by_identical_pages_without_extraction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extractions = _recorded_extractions(monkeypatch)
    source = fx.vietnamese_pdf(tmp_path / "to-khai.pdf", pages=3)
    result = make_rendition(source, identify(source), tmp_path / "out", tools=TOOLS)
    assert result.status is CREATED, result.reason
    assert result.text_equal is True and result.text_proof is TextProof.IDENTICAL_PAGES
    assert result.text_proved_identical
    assert extractions == []
    assert result.output_path is not None  # the proof holds: the texts are in fact equal
    assert page_texts(result.output_path) == page_texts(source) == (VIETNAMESE_PAGE,) * 3


def test_a_rendition_with_changed_text_falls_back_to_extraction_and_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extractions = _recorded_extractions(monkeypatch)
    source = fx.vietnamese_pdf(tmp_path / "to-khai.pdf", pages=3)
    facts = read_source_facts(source)
    output = tmp_path / "mat-dong.pdf"
    with pikepdf.open(source) as pdf:  # the second page loses its last line
        contents = pdf.pages[1].obj.Contents
        contents.write(re.sub(rb"<[0-9A-F]+> Tj T\* ET$", b"ET", contents.read_bytes()))
        make_pdfa_2b(pdf, output)
    assert extractions == []

    check = verify_rendition(output, facts, file_name="mat-dong.pdf")
    assert not check.ok and not check.text_equal
    assert check.text_proof is TextProof.MIXED
    assert sorted(extractions) == [("mat-dong.pdf", (1,)), ("to-khai.pdf", (1,))]
    assert any(
        problem.startswith("chữ trích từ trang 2 khác bản gốc") for problem in check.problems
    )


# --- Spreadsheets and presentations (LibreOffice Calc and Impress) ------------------------------

OFFICE_KINDS = {  # file name → (format key, pages of the rendition)
    "thong-ke.ods": ("ods", 1),
    "thong-ke.xlsx": ("xlsx", 1),
    "trinh-chieu.odp": ("odp", 2),
    "trinh-chieu.pptx": ("pptx", 2),
}


@pytest.fixture(scope="module")
def office_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """ODS and ODP written here; XLSX and PPTX saved from them by LibreOffice itself."""
    assert LIBREOFFICE, "LibreOffice (Debian packages libreoffice-*-nogui) is needed here"
    sources = tmp_path_factory.mktemp("office")
    work = tmp_path_factory.mktemp("office-renditions")
    sheet = fx.ods_spreadsheet(sources / "thong-ke.ods")
    slides = fx.odp_presentation(sources / "trinh-chieu.odp")
    made = {
        sheet.name: sheet,
        slides.name: slides,
        "thong-ke.xlsx": fx.office_converted(
            sheet, sources / "thong-ke.xlsx", LIBREOFFICE.executable
        ),
        "trinh-chieu.pptx": fx.office_converted(
            slides, sources / "trinh-chieu.pptx", LIBREOFFICE.executable
        ),
    }
    runs = {}
    for name, source in made.items():
        before = fx.sha256_of(source)
        result = make_rendition(source, identify(source), work, tools=TOOLS)
        runs[name] = Run(source, before, result)
    return runs


@pytest.mark.parametrize("name", OFFICE_KINDS)
def test_spreadsheets_and_presentations_get_a_verified_rendition(
    office_runs: dict[str, Run], name: str
) -> None:
    run = office_runs[name]
    format_key, pages = OFFICE_KINDS[name]
    result = run.result

    assert identify(run.source).format_key == format_key
    assert (result.status, result.path) == (CREATED, ConversionPath.OFFICE), result.reason
    assert result.tool == "LibreOffice" and result.input_pages == result.output_pages == pages
    assert fx.sha256_of(run.source) == run.sha256_before
    output = result.output_path
    assert output is not None
    report = validate_pdfa(output, "2b")
    assert report.is_valid_pdfa_2b, (report.failed_rules, report.not_checked)
    texts = page_texts(output)
    assert len(texts) == pages
    if format_key in ("ods", "xlsx"):
        for row in fx.SHEET_ROWS:
            assert all(normalise_text(cell) in texts[0] for cell in row), (name, row)
    else:
        assert texts == tuple(normalise_text(line) for line in fx.SLIDE_LINES)


def test_opendocument_files_and_their_microsoft_copies_print_the_same_text(
    office_runs: dict[str, Run],
) -> None:
    for original, copy in (
        ("thong-ke.ods", "thong-ke.xlsx"),
        ("trinh-chieu.odp", "trinh-chieu.pptx"),
    ):
        first, second = office_runs[original].result, office_runs[copy].result
        assert first.output_path and second.output_path
        assert page_texts(first.output_path) == page_texts(second.output_path)


# --- Ghostscript: the fallback for fonts that are not embedded -----------------------------------


def _ghostscript() -> ExternalTool:
    """The installed Ghostscript, forced into use whatever its version (the test's point)."""
    executable = shutil.which("gs")
    assert executable, "Ghostscript (Debian package ghostscript) is needed by these tests"
    version = subprocess.run(
        [executable, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return ExternalTool(executable, version)


def test_ghostscript_embeds_missing_fonts_and_is_verified(tmp_path: Path) -> None:
    ghostscript = _ghostscript()
    tools = replace(TOOLS, ghostscript=ghostscript)
    source = fx.helvetica_pdf(tmp_path / "ban-sao.pdf")
    result = make_rendition(source, identify(source), tmp_path / "out", tools=tools)
    assert result.status is CREATED, result.reason
    assert result.path is ConversionPath.PDF_GHOSTSCRIPT
    assert result.agents[0].label() == f"Ghostscript {ghostscript.version}"
    assert result.output_path and validate_pdfa(result.output_path, "2b").is_valid_pdfa_2b
    assert page_texts(result.output_path) == page_texts(source)


def test_ghostscript_keeps_vietnamese_text_of_a_font_it_must_embed(tmp_path: Path) -> None:
    """Re-rendered pages are compared by their extracted text, diacritics included."""
    tools = replace(TOOLS, ghostscript=_ghostscript())
    source = fx.vietnamese_unembedded_pdf(tmp_path / "giay-bien-nhan.pdf")
    result = make_rendition(source, identify(source), tmp_path / "out", tools=tools)
    assert result.status is CREATED, result.reason
    assert result.path is ConversionPath.PDF_GHOSTSCRIPT
    assert result.text_proof == "extracted"
    assert result.output_path and validate_pdfa(result.output_path, "2b").is_valid_pdfa_2b
    assert page_texts(result.output_path) == page_texts(source)
    assert "Hồ sơ thủ tục hành chính" in page_texts(result.output_path)[0]


def test_a_ghostscript_rendition_keeps_a_title_the_source_holds_only_in_its_xmp(
    tmp_path: Path,
) -> None:
    """Ghostscript takes the title from DocInfo only ("Untitled" otherwise, which the check
    refused); the rendition gets the source's, in DocInfo and XMP, and says so."""
    tools = replace(TOOLS, ghostscript=_ghostscript())
    source = fx.pdfa_claim_unembedded_font(tmp_path / "thong-bao.pdf")  # Vietnamese dc:title
    with pikepdf.open(source) as original:
        assert "/Title" not in original.docinfo
        title = original.open_metadata()["dc:title"]
    result = make_rendition(source, identify(source), tmp_path / "out", tools=tools)
    assert result.status is CREATED, result.reason
    assert result.output_path and validate_pdfa(result.output_path, "2b").is_valid_pdfa_2b
    with pikepdf.open(result.output_path) as rendition:
        assert str(rendition.docinfo["/Title"]) == title == "Hồ sơ thủ tục hành chính"
        assert rendition.open_metadata()["dc:title"] == title
    assert any("tiêu đề" in change and "Ghostscript" in change for change in result.changes)


def test_ghostscript_output_of_a_damaged_pdf_is_refused(tmp_path: Path) -> None:
    tools = replace(TOOLS, ghostscript=_ghostscript())
    for damaged in (fx.truncated_pdf, fx.garbage_with_pdf_header):  # gs would exit 0 on these
        path = damaged(tmp_path / f"{damaged.__name__}.pdf")
        refused = make_rendition(path, identify(path), tmp_path / "out2", tools=tools)
        assert refused.status is FAILED and refused.output_path is None
        assert refused.reason and "bị hỏng" in refused.reason


# --- The benchmark still runs ------------------------------------------------------------------


def test_the_rendition_benchmark_runs_every_path_on_tiny_inputs(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "rendition_speed.py"), "--tiny", "--json"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    report = json.loads(done.stdout)
    paths = {row["path"] for row in report["paths"]}
    assert {"pdf", "image"} <= paths
    assert ("office" in paths) == (LIBREOFFICE is not None)
    for row in report["paths"]:
        assert row["pages"] > 0 and row["created"] == row["files"]
        assert row["ours_s_per_page"] > 0 and row["bare_s_per_page"] > 0
        assert row["conversion_s_per_page"] > 0
    assert list(tmp_path.iterdir()) == []
