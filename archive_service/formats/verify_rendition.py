"""Verify a rendition against what it was made from, before anyone may call it PDF/A.

A rendition passes only when all of these hold:

- the page count equals the source's (pages of a PDF, frames of an image);
- the text extracted from each page (pypdf), after Unicode NFC normalisation and whitespace
  folding, equals the source page's — so Vietnamese diacritics must survive;
- the document metadata people read (title, author, subject, keywords) is still there;
- ``validate_pdfa(..., "2b")`` says valid PDF/A-2b;
- no forbidden action, JavaScript, embedded file or signature value is left.

Anything else is a problem, stated in Vietnamese; the caller discards the file.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pikepdf
import pypdf
from pypdf.errors import PyPdfError

from archive_service.formats.convert_pdf import RenditionError, forbidden_constructs, open_strict
from archive_service.formats.pdfa import PdfaReport, validate_pdfa
from archive_service.formats.pdfa_rules import FILE_SYNTAX_NOT_CHECKED

_DOCINFO_KEYS = {
    "/Title": "tiêu đề",
    "/Author": "tác giả",
    "/Subject": "chủ đề",
    "/Keywords": "từ khoá",
}
_XMP_KEYS = {"/Title": "dc:title", "/Author": "dc:creator", "/Subject": "dc:description"}
_TEXT_SAMPLE = 60

logging.getLogger("pypdf").setLevel(logging.ERROR)  # font quirks it works around are not news


@dataclass(frozen=True)
class SourceFacts:
    """What a rendition must keep: pages, normalised text per page, metadata people read."""

    pages: int
    texts: tuple[str, ...]
    metadata: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of_images(cls, frames: int) -> SourceFacts:
        """An image has no text layer: each of its frames is a page without text."""
        return cls(frames, ("",) * frames)


@dataclass(frozen=True)
class RenditionCheck:
    """The outcome of verifying one rendition."""

    input_pages: int
    output_pages: int | None
    text_equal: bool
    metadata_equal: bool
    pdfa_report: PdfaReport | None
    forbidden: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Every check passed."""
        return not self.problems


def normalise_text(text: str) -> str:
    """NFC, and every run of whitespace folded to one space (ends trimmed)."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def read_source_facts(path: Path) -> SourceFacts:
    """Pages, text and metadata of a source PDF (refused when damaged or password-protected)."""
    with open_strict(path) as pdf:
        return source_facts(pdf, path)


def source_facts(pdf: pikepdf.Pdf, path: Path) -> SourceFacts:
    """The facts of ``pdf``, opened by the caller from ``path`` (read before any change)."""
    return SourceFacts(len(pdf.pages), page_texts(path), document_metadata(pdf))


def page_texts(path: Path) -> tuple[str, ...]:
    """The normalised text of each page, extracted with pypdf."""
    try:
        reader = pypdf.PdfReader(path)
        if reader.is_encrypted:
            reader.decrypt("")
        return tuple(normalise_text(page.extract_text() or "") for page in reader.pages)
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise RenditionError(f"không trích được chữ từ tệp PDF: {exc}") from exc


def document_metadata(pdf: pikepdf.Pdf) -> dict[str, str]:
    """Title, author, subject and keywords (normalised), from DocInfo or else the XMP."""
    found: dict[str, str] = {}
    for key in _DOCINFO_KEYS:
        value = pdf.docinfo.get(key) if "/Info" in pdf.trailer else None
        text = normalise_text(str(value)) if value is not None else ""
        if text:
            found[key] = text
    missing = [key for key in _XMP_KEYS if key not in found]
    if missing and "/Metadata" in pdf.Root:
        try:
            xmp = pdf.open_metadata()
            for key in missing:
                text = normalise_text(_xmp_text(xmp.get(_XMP_KEYS[key])))
                if text:
                    found[key] = text
        except Exception:  # unreadable XMP: validation reports it, the DocInfo values stand
            pass
    return found


def _xmp_text(value: object) -> str:
    if not value:
        return ""
    if isinstance(value, list | set | tuple):
        return "; ".join(str(item) for item in value)
    return str(value)


def verify_rendition(
    output: Path, source: SourceFacts, *, file_name: str, use_verapdf: bool = True
) -> RenditionCheck:
    """Check the rendition at ``output`` against the facts of its source."""
    problems: list[str] = []
    try:
        with open_strict(output) as pdf:
            output_pages: int | None = len(pdf.pages)
            metadata = document_metadata(pdf)
            forbidden = tuple(forbidden_constructs(pdf))
        texts = page_texts(output)
    except RenditionError as error:
        return RenditionCheck(
            source.pages, None, False, False, None, (), (f"bản PDF/A: {error.reason}",)
        )
    if output_pages != source.pages:
        problems.append(f"số trang khác: bản gốc {source.pages}, bản PDF/A {output_pages}")
    text_equal = texts == source.texts
    if not text_equal:
        problems.append(_text_problem(source.texts, texts))
    lost = [
        label
        for key, label in _DOCINFO_KEYS.items()
        if key in source.metadata and metadata.get(key) != source.metadata[key]
    ]
    if lost:
        problems.append(f"siêu dữ liệu bị mất hoặc bị đổi: {', '.join(lost)}")
    if forbidden:
        problems.append(f"còn thành phần PDF/A cấm: {', '.join(forbidden)}")
    report = validate_pdfa(output, "2b", file_name=file_name, use_verapdf=use_verapdf)
    if not report.is_valid_pdfa_2b:
        problems.append(_pdfa_problem(report))
    return RenditionCheck(
        input_pages=source.pages,
        output_pages=output_pages,
        text_equal=text_equal,
        metadata_equal=not lost,
        pdfa_report=report,
        forbidden=forbidden,
        problems=tuple(problems),
    )


def _text_problem(expected: tuple[str, ...], found: tuple[str, ...]) -> str:
    for number, (before, after) in enumerate(zip(expected, found, strict=False), start=1):
        if before != after:
            return (
                f"chữ trích từ trang {number} khác bản gốc: "
                f"'{before[:_TEXT_SAMPLE]}' thành '{after[:_TEXT_SAMPLE]}'"
            )
    return f"chữ trích được khác bản gốc ({len(expected)} trang so với {len(found)} trang)"


def _pdfa_problem(report: PdfaReport) -> str:
    if report.failed_rules:
        rules = "; ".join(f"điều {rule.clause}: {rule.message}" for rule in report.failed_rules[:3])
        return f"không đạt PDF/A-2b ({report.validator}): {rules}"
    notes = [note for note in report.not_checked if note not in FILE_SYNTAX_NOT_CHECKED]
    unchecked = "; ".join(notes[:3]) or "không có trình kiểm tra đầy đủ"
    return f"không xác nhận được PDF/A-2b ({report.validator}): {unchecked}"
