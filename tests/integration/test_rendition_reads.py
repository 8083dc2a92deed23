"""How often a rendition and its source are read, and what is written beside them:
verification opens the rendition once for all our checks (PDF/A ones included) unless qpdf
warned while reading it, and reads only the metadata the source has; the lossless path makes no
scratch folder; a source the deposit's checks validated is not validated again — with every
check's outcome as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pikepdf
import pytest

from archive_service.formats import rendition, rendition_scratch
from archive_service.formats.convert_pdf import RenditionError, convert_pdf, open_strict
from archive_service.formats.identify import identify
from archive_service.formats.pdfa import PdfaReport, validate_pdfa
from archive_service.formats.rendition import RenditionStatus, RenditionTools, make_rendition
from archive_service.formats.verify_rendition import SourceFacts, read_source_facts
from archive_service.formats.verify_rendition import verify_rendition as verify
from tests import formats_fixtures as fx

TOOLS = RenditionTools(libreoffice=None, ghostscript=None, use_verapdf=False)


@pytest.fixture
def opened_paths(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The name of every file pikepdf opens (ours and ``pikepdf.pdfa``'s opens alike)."""
    names: list[str] = []
    real_open = pikepdf.open

    def counted(source: object, *args: object, **kwargs: object) -> pikepdf.Pdf:
        names.append(Path(str(source)).name)
        return real_open(source, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pikepdf, "open", counted)
    yield names


def _unwarned_pdfs(folder: Path) -> Iterator[Path]:
    """Every PDF fixture and its lossless draft that qpdf reads, strictly, without a warning."""
    for fixture in fx.PDF_FIXTURES:
        source = fx.build_fixture(folder, fixture.key)
        draft = folder / f"{source.stem}-nhap.pdf"
        try:
            convert_pdf(source, draft)
        except RenditionError:
            draft = source
        for path in dict.fromkeys((source, draft)):
            try:
                with open_strict(path) as pdf:
                    list(pdf.objects)
                    if pdf.get_warnings():
                        continue
            except RenditionError:
                continue
            yield path


@pytest.mark.parametrize("flavour", ["2b", None])
def test_our_checks_on_an_opened_file_report_what_a_fresh_open_does(
    tmp_path: Path, flavour: str | None
) -> None:
    checked = 0
    for path in _unwarned_pdfs(tmp_path):
        fresh = validate_pdfa(path, flavour, use_verapdf=False)
        with open_strict(path) as pdf:
            list(pdf.objects)  # as verification reads it first
            shared = validate_pdfa(path, flavour, use_verapdf=False, opened=pdf)
            assert len(pdf.pages) > 0  # left open for its owner
        assert shared == fresh, path.name
        checked += 1
    assert checked >= 10


def test_verification_opens_the_rendition_once_besides_pikepdf_pdfa(
    tmp_path: Path, opened_paths: list[str]
) -> None:
    source = fx.vietnamese_pdf(tmp_path / "to-khai.pdf", pages=2)
    output = tmp_path / "ban-pdfa.pdf"
    convert_pdf(source, output)
    facts = read_source_facts(source)
    opened_paths.clear()
    check = verify(output, facts, file_name="ban-pdfa.pdf", use_verapdf=False)
    assert check.ok, check.problems
    assert opened_paths == ["ban-pdfa.pdf", "ban-pdfa.pdf"]  # ours, then pikepdf.pdfa's


def test_a_rendition_qpdf_warns_about_is_validated_from_a_fresh_open(
    tmp_path: Path, opened_paths: list[str]
) -> None:
    source = fx.vietnamese_pdf(tmp_path / "to-khai.pdf")
    output = _with_a_wrong_stream_length(source, tmp_path / "sai-do-dai.pdf")
    facts = read_source_facts(source)
    opened_paths.clear()
    check = verify(output, facts, file_name="sai-do-dai.pdf", use_verapdf=False)
    assert opened_paths == ["sai-do-dai.pdf"] * 3
    assert check.pdfa_report is not None
    clauses = {rule.clause for rule in check.pdfa_report.failed_rules}
    assert "6.1.7.1" in clauses  # the warning qpdf gave is still a failed rule
    assert not check.ok


def _with_a_wrong_stream_length(source: Path, target: Path) -> Path:
    """A PDF/A-2b candidate whose last stream declares 3 bytes too few (same file size)."""
    draft = target.with_name("nhap.pdf")
    convert_pdf(source, draft)
    with pikepdf.open(draft) as pdf:
        pdf.save(
            target,
            object_stream_mode=pikepdf.ObjectStreamMode.disable,
            compress_streams=False,
        )
    data = target.read_bytes()
    found = list(re.finditer(rb"/Length (\d+)", data))[-1]
    length = found.group(1)
    wrong = str(int(length) - 3).rjust(len(length)).encode()
    target.write_bytes(data[: found.start(1)] + wrong + data[found.end(1) :])
    return target


def test_the_rendition_metadata_is_read_only_for_what_the_source_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = fx.vietnamese_pdf(tmp_path / "to-khai.pdf")
    output = tmp_path / "ban-pdfa.pdf"
    convert_pdf(source, output)  # its title is in the XMP (pikepdf wrote it there too)
    parsed: list[str] = []
    real_metadata = pikepdf.Pdf.open_metadata

    def counted(pdf: pikepdf.Pdf, *args: object, **kwargs: object) -> object:
        parsed.append(pdf.filename)
        return real_metadata(pdf, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pikepdf.Pdf, "open_metadata", counted)
    untitled = SourceFacts(1, read_source_facts(source).texts)
    assert verify(output, untitled, file_name="x.pdf", use_verapdf=False).ok
    assert parsed == []
    with pikepdf.open(output, allow_overwriting_input=True) as pdf:
        del pdf.trailer["/Info"]
        pdf.save()
    parsed.clear()
    titled = SourceFacts(1, untitled.texts, {"/Title": "Tờ khai"})
    check = verify(output, titled, file_name="x.pdf", use_verapdf=False)
    assert len(parsed) == 1 and not check.metadata_equal  # the XMP read, the title compared


def test_the_lossless_path_makes_no_scratch_folder_and_leaves_only_the_rendition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_folder(*args: object, **kwargs: object) -> None:
        raise AssertionError("a scratch folder was made")

    monkeypatch.setattr(rendition_scratch.tempfile, "TemporaryDirectory", no_folder)
    source = fx.vietnamese_pdf(tmp_path / "to-khai.pdf")
    work = tmp_path / "out"
    result = make_rendition(source, identify(source), work, tools=TOOLS)
    assert result.status is RenditionStatus.CREATED, result.reason
    assert list(work.iterdir()) == [work / "to-khai.pdf"]


def test_a_draft_that_fails_is_removed_and_named_as_the_rendition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make = rendition.make_pdfa_2b

    def truncated(pdf: pikepdf.Pdf, output: Path) -> object:
        step = make(pdf, output)
        output.write_bytes(output.read_bytes()[:200])
        return step

    monkeypatch.setattr(rendition, "make_pdfa_2b", truncated)
    source = fx.vietnamese_pdf(tmp_path / "to-khai.pdf")
    work = tmp_path / "out"
    result = make_rendition(source, identify(source), work, tools=TOOLS)
    assert result.status is RenditionStatus.FAILED
    assert result.reason == (
        "Tệp to-khai.pdf: bản chuyển đổi bị huỷ vì không qua kiểm tra: bản PDF/A: tệp PDF bị "
        "hỏng, không đọc được: rendition.pdf: can't find startxref"
    )
    assert list(work.iterdir()) == []


@pytest.fixture
def validated(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The files ``make_rendition`` validates itself (its sources claiming PDF/A-2)."""
    names: list[str] = []
    real_validate = rendition.validate_pdfa

    def counted(path: Path, *args: Any, **kwargs: Any) -> PdfaReport:
        names.append(Path(path).name)
        return real_validate(path, *args, **kwargs)

    monkeypatch.setattr(rendition, "validate_pdfa", counted)
    yield names


def _checked(source: Path) -> PdfaReport:
    """The source's validation as the deposit's check step makes it."""
    return validate_pdfa(source, file_name=source.name, full_rules_if_unclaimed=False)


def test_the_check_steps_validation_of_a_claimed_pdfa_2_is_not_repeated(
    tmp_path: Path, validated: list[str]
) -> None:
    tools = replace(TOOLS, use_verapdf=True)
    for build, status in (
        (fx.pdfa_with_javascript, RenditionStatus.CREATED),  # claims 2b, is not: converted
        (fx.pdfa_2b, RenditionStatus.NOT_NEEDED),
    ):
        source = build(tmp_path / "ban-goc.pdf")
        report = _checked(source)
        alone = make_rendition(source, identify(source), tmp_path / "a", tools=tools)
        assert validated == ["ban-goc.pdf"]
        given = make_rendition(
            source, identify(source), tmp_path / "b", tools=tools, source_report=report
        )
        assert validated == ["ban-goc.pdf"]  # not validated again
        assert given.status is alone.status is status
        assert replace(given, duration=0, output_path=None) == replace(
            alone, duration=0, output_path=None
        )
        validated.clear()


def test_a_validation_of_something_else_is_not_taken_for_the_sources(
    tmp_path: Path, validated: list[str]
) -> None:
    source = fx.pdfa_claim(tmp_path / "ban-goc.pdf", 2, "U")
    unclaimed = fx.vietnamese_pdf(tmp_path / "khac.pdf")
    other_reports = (
        validate_pdfa(source, "2b", use_verapdf=False),  # another flavour than 2u
        _checked(unclaimed),  # our checks only, of a file claiming nothing
    )
    for other in other_reports:
        make_rendition(source, identify(source), tmp_path / "out", tools=TOOLS, source_report=other)
    given = _checked(source)
    make_rendition(source, identify(source), tmp_path / "out", tools=TOOLS, source_report=given)
    assert validated == ["ban-goc.pdf"] * 3  # nor without veraPDF allowed, as the checks had
