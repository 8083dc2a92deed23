"""Verify a rendition against what it was made from, before anyone may call it PDF/A.

A rendition passes only when all of these hold:

- the page count equals the source's (pages of a PDF, frames of an image);
- the text extracted from each page (pypdf), after Unicode NFC normalisation and whitespace
  folding, equals the source page's — so Vietnamese diacritics must survive. A page whose
  fingerprint (``page_identity``: content streams, resources, the page attributes extraction
  reads) equals its source page's has that text by construction, so neither is extracted;
- the document metadata people read (title, author, subject, keywords) is still there;
- ``validate_pdfa(..., "2b")`` says valid PDF/A-2b;
- no forbidden action, JavaScript, embedded file or signature value is left.

Anything else is a problem, stated in Vietnamese; the caller discards the file.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

import pikepdf
import pypdf
from pypdf.errors import PyPdfError

from archive_service.formats.convert_pdf import RenditionError, forbidden_constructs, open_strict
from archive_service.formats.page_identity import page_fingerprints
from archive_service.formats.pdfa import PdfaReport, validate_pdfa
from archive_service.formats.pdfa_rules import FILE_SYNTAX_NOT_CHECKED

_DOCINFO_KEYS = {
    "/Title": "tiêu đề",
    "/Author": "tác giả",
    "/Subject": "chủ đề",
    "/Keywords": "từ khoá",
}
_XMP_KEYS = {"/Title": "dc:title", "/Author": "dc:creator", "/Subject": "dc:description"}
_METADATA_KEYS = tuple(_DOCINFO_KEYS)
_TEXT_SAMPLE = 60

logging.getLogger("pypdf").setLevel(logging.ERROR)  # font quirks it works around are not news


class TextProof(StrEnum):
    """How the text of the rendition was shown equal to the source's (or not)."""

    IDENTICAL_PAGES = "identical-pages"  # every page identical in all that extraction reads
    EXTRACTED = "extracted"  # the text of every page extracted from both files and compared
    MIXED = "mixed"  # identical pages proved so, the others extracted and compared


@dataclass(frozen=True)
class SourceFacts:
    """What a rendition must keep: pages, normalised text per page, metadata people read.

    The text is given (``known_texts``) or extracted from ``text_source`` when first needed —
    which verification skips for every page whose fingerprint proves it identical.
    """

    pages: int
    known_texts: tuple[str, ...] | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    fingerprints: tuple[str | None, ...] = ()
    text_source: Path | None = None
    _extracted: dict[int, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def of_images(cls, frames: int) -> SourceFacts:
        """An image has no text layer: each of its frames is a page without text."""
        return cls(frames, ("",) * frames)

    @property
    def texts(self) -> tuple[str, ...]:
        """The normalised text of every page."""
        if self.known_texts is not None:
            return self.known_texts
        return self.texts_of(range(self.pages))

    def texts_of(self, numbers: Sequence[int]) -> tuple[str, ...]:
        """The normalised text of the pages ``numbers`` (0-based), each extracted at most once."""
        if self.known_texts is not None:
            return tuple(self.known_texts[number] for number in numbers)
        missing = [number for number in numbers if number not in self._extracted]
        if missing:
            if self.text_source is None:
                raise ValueError("source facts without their text nor a file to extract it from")
            self._extracted.update(zip(missing, page_texts(self.text_source, missing), strict=True))
        return tuple(self._extracted[number] for number in numbers)


@dataclass(frozen=True)
class RenditionCheck:
    """The outcome of verifying one rendition (``text_proof``: None when not compared)."""

    input_pages: int
    output_pages: int | None
    text_equal: bool
    metadata_equal: bool
    pdfa_report: PdfaReport | None
    forbidden: tuple[str, ...]
    problems: tuple[str, ...]
    text_proof: TextProof | None = None

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
        facts = source_facts(pdf, path)
        return replace(facts, fingerprints=_unless_repaired(pdf, facts.fingerprints))


def source_facts(pdf: pikepdf.Pdf, path: Path) -> SourceFacts:
    """The facts of ``pdf``, opened by the caller from ``path`` (read before any change).

    The page fingerprints are taken now; the text is extracted from ``path`` only if needed.
    A damaged object qpdf meets while fingerprinting reads as null and leaves a warning on
    ``pdf``: the caller must refuse the file then, as ``make_pdfa_2b`` does after saving.
    """
    return SourceFacts(
        len(pdf.pages),
        metadata=document_metadata(pdf),
        fingerprints=page_fingerprints(pdf),
        text_source=path,
    )


def page_texts(path: Path, numbers: Sequence[int] | None = None) -> tuple[str, ...]:
    """The normalised text of each page (of the pages ``numbers``, 0-based), with pypdf."""
    try:
        reader = pypdf.PdfReader(path)
        if reader.is_encrypted:
            reader.decrypt("")
        pages = reader.pages if numbers is None else [reader.pages[n] for n in numbers]
        return tuple(normalise_text(page.extract_text() or "") for page in pages)
    except (PyPdfError, ValueError, KeyError, TypeError, IndexError, OSError) as exc:
        raise RenditionError(f"không trích được chữ từ tệp PDF: {exc}") from exc


def document_metadata(pdf: pikepdf.Pdf, keys: Collection[str] = _METADATA_KEYS) -> dict[str, str]:
    """Title, author, subject and keywords (normalised), from DocInfo or else the XMP.

    Only ``keys`` are read: the XMP is parsed only when DocInfo lacks one it can hold.
    """
    found: dict[str, str] = {}
    for key in _DOCINFO_KEYS:
        value = pdf.docinfo.get(key) if key in keys and "/Info" in pdf.trailer else None
        text = normalise_text(str(value)) if value is not None else ""
        if text:
            found[key] = text
    missing = [key for key in _XMP_KEYS if key in keys and key not in found]
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


def carry_document_metadata(metadata: Mapping[str, str], target: pikepdf.Pdf) -> list[str]:
    """Give ``target`` (a re-rendering) the source's ``metadata`` (``SourceFacts.metadata``)
    in DocInfo and the XMP alike; the names of what was carried.

    Ghostscript reads the title, author, subject and keywords from DocInfo only: a title held
    in the XMP alone comes out "Untitled", which the rendition check would then refuse."""
    if not metadata:
        return []
    for key, value in metadata.items():
        target.docinfo[key] = pikepdf.String(value)
    with target.open_metadata(set_pikepdf_as_editor=False) as xmp:
        xmp.load_from_docinfo(target.docinfo)
    return [_DOCINFO_KEYS[key] for key in metadata]


def _xmp_text(value: object) -> str:
    if not value:
        return ""
    if isinstance(value, list | set | tuple):
        return "; ".join(str(item) for item in value)
    return str(value)


def verify_rendition(
    output: Path, source: SourceFacts, *, file_name: str, use_verapdf: bool = True
) -> RenditionCheck:
    """Check the rendition at ``output`` against the facts of its source.

    The text of a page is extracted (from both files) only when its fingerprint does not prove
    it identical to the source page. A source whose text cannot be extracted raises
    ``RenditionError``, as ``source_facts`` did when it extracted the text at once. The
    PDF/A validation's own checks read the file as opened here, unless qpdf warned while it
    was read: then the validation opens it anew, as it does any file.
    """
    try:
        pdf = open_strict(output)
    except RenditionError as error:
        return _unreadable(source, error)
    with pdf:
        try:
            found = _OutputFacts.read(pdf, source)
            unproved = _unproved_pages(source, found.pages, found.fingerprints)
            texts = () if unproved == [] else page_texts(output, unproved)
        except RenditionError as error:
            return _unreadable(source, error)
        text_proof, text_problem = _compare_texts(source, unproved, texts)
        lost = [
            label
            for key, label in _DOCINFO_KEYS.items()
            if key in source.metadata and found.metadata.get(key) != source.metadata[key]
        ]
        opened = None if found.warned else pdf
        report = validate_pdfa(
            output, "2b", file_name=file_name, use_verapdf=use_verapdf, opened=opened
        )
    problems = [] if found.pages == source.pages else [_pages_problem(source.pages, found.pages)]
    if text_problem:
        problems.append(text_problem)
    if lost:
        problems.append(f"siêu dữ liệu bị mất hoặc bị đổi: {', '.join(lost)}")
    if found.forbidden:
        problems.append(f"còn thành phần PDF/A cấm: {', '.join(found.forbidden)}")
    if not report.is_valid_pdfa_2b:
        problems.append(_pdfa_problem(report))
    return RenditionCheck(
        input_pages=source.pages,
        output_pages=found.pages,
        text_equal=text_problem is None,
        metadata_equal=not lost,
        pdfa_report=report,
        forbidden=found.forbidden,
        problems=tuple(problems),
        text_proof=text_proof,
    )


class _OutputFacts(NamedTuple):
    """What verification reads from the rendition; ``warned``: qpdf warned while reading it."""

    pages: int
    metadata: dict[str, str]
    forbidden: tuple[str, ...]
    fingerprints: tuple[str | None, ...]
    warned: bool

    @classmethod
    def read(cls, pdf: pikepdf.Pdf, source: SourceFacts) -> _OutputFacts:
        """Only the metadata the source has is read (the rest is never compared)."""
        pages = len(pdf.pages)
        metadata = document_metadata(pdf, source.metadata.keys())
        forbidden = tuple(forbidden_constructs(pdf))
        fingerprints = page_fingerprints(pdf) if source.fingerprints else ()
        warned = bool(pdf.get_warnings())
        return cls(pages, metadata, forbidden, () if warned else fingerprints, warned)


def _unreadable(source: SourceFacts, error: RenditionError) -> RenditionCheck:
    return RenditionCheck(
        source.pages, None, False, False, None, (), (f"bản PDF/A: {error.reason}",)
    )


def _pages_problem(expected: int, found: int) -> str:
    return f"số trang khác: bản gốc {expected}, bản PDF/A {found}"


def _unless_repaired(
    pdf: pikepdf.Pdf, fingerprints: tuple[str | None, ...]
) -> tuple[str | None, ...]:
    """``fingerprints``, or none when qpdf warned while reading ``pdf`` (so had to repair it)."""
    return () if pdf.get_warnings() else fingerprints


def _unproved_pages(
    source: SourceFacts, output_pages: int | None, fingerprints: tuple[str | None, ...]
) -> list[int] | None:
    """Pages whose fingerprints do not prove them identical (None: no page can be proved)."""
    if output_pages != source.pages or not source.fingerprints:
        return None
    if len(fingerprints) != output_pages or len(source.fingerprints) != source.pages:
        return None
    pairs = enumerate(zip(source.fingerprints, fingerprints, strict=True))
    return [number for number, (before, after) in pairs if before is None or before != after]


def _compare_texts(
    source: SourceFacts, unproved: list[int] | None, found: tuple[str, ...]
) -> tuple[TextProof, str | None]:
    """How equality was established, and the problem when the extracted texts differ.

    ``found`` is the rendition's text of the ``unproved`` pages (of all pages when None).
    """
    if unproved == []:
        return TextProof.IDENTICAL_PAGES, None
    numbers: Sequence[int]
    if unproved is None:
        expected = source.texts
        numbers = range(len(expected))
    else:
        expected, numbers = source.texts_of(unproved), unproved
    partial = unproved is not None and len(unproved) < source.pages
    proof = TextProof.MIXED if partial else TextProof.EXTRACTED
    return proof, None if expected == found else _text_problem(numbers, expected, found)


def _text_problem(numbers: Sequence[int], expected: tuple[str, ...], found: tuple[str, ...]) -> str:
    """The first page (of ``numbers``, 0-based) whose text differs, or the page counts."""
    for number, before, after in zip(numbers, expected, found, strict=False):
        if before != after:
            return (
                f"chữ trích từ trang {number + 1} khác bản gốc: "
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
