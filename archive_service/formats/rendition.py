"""PDF/A-2b renditions: choose the conversion path per file, convert, verify, keep or discard.

Paths, by what identification found in the content:

- PDF claiming PDF/A-2 (level B, or A/U which include it) and valid → ``not-needed``.
- Any other PDF (PDF/A-1b included: it becomes a lossless 2b rendition, since the archive's
  renditions are all PDF/A-2b) → pikepdf, the page content untouched.
- PDF showing text in fonts that are not embedded (ISO 19005-2 6.2.11.4.1; seen in the source
  before converting, or failed by the pikepdf draft's validation) → Ghostscript only when a
  usable one (≥ 10.03) is present, else ``failed``: embedding fonts means re-rendering the
  pages, which pikepdf does not do.
- JPEG, PNG, GIF, TIFF (every frame a page) → img2pdf, then pikepdf.
- Word processor, spreadsheet and presentation documents → LibreOffice headless, then pikepdf.
- Plain text, CSV and HTML (open text formats), audio and video → ``not-needed``.
- Anything not accepted, encrypted, damaged or unreadable → ``failed`` with the reason.

Every conversion is verified (``verify_rendition``); one that fails any check is deleted and
reported ``failed`` with the reason, so nothing is ever called PDF/A that is not. The source is
only read: a rendition is always a new file in ``work_dir`` (a signed PDF keeps its bytes and
signature; its rendition says the signature does not carry over). The text of a page the
pikepdf step kept identical (same content, resources and attributes, by SHA-256) is proved
equal without being extracted (``text_proof``).
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, replace
from enum import StrEnum
from importlib import metadata
from pathlib import Path

from archive_service.formats.catalogue import FormatKind
from archive_service.formats.convert_image import convert_image
from archive_service.formats.convert_office import (
    DEFAULT_TIMEOUT,
    EXPORT_FILTERS,
    NOT_INSTALLED,
    convert_office,
)
from archive_service.formats.convert_pdf import (
    PdfaStep,
    RenditionError,
    ghostscript_to_pdf,
    make_pdfa_2b,
    open_strict,
)
from archive_service.formats.identify import Identification
from archive_service.formats.local_paths import hide_local_paths
from archive_service.formats.pdf_structure import unembedded_page_fonts
from archive_service.formats.pdfa import PdfaReport, PdfaVerdict, validate_pdfa
from archive_service.formats.rendition_scratch import Scratch
from archive_service.formats.tools import detect_tools
from archive_service.formats.verify_rendition import (
    RenditionCheck,
    SourceFacts,
    TextProof,
    carry_document_metadata,
    source_facts,
    verify_rendition,
)

FONT_EMBEDDING_CLAUSE = "6.2.11.4.1"
IMAGE_FORMATS = frozenset({"jpeg", "png", "gif", "tiff"})
OPEN_TEXT_FORMATS = frozenset({"txt", "csv", "html"})
_GHOSTSCRIPT_TIMEOUT = 120.0


class RenditionStatus(StrEnum):
    """``created``: a verified PDF/A-2b file exists; ``not-needed``; ``failed`` (see reason)."""

    CREATED = "created"
    NOT_NEEDED = "not-needed"
    FAILED = "failed"


class ConversionPath(StrEnum):
    """How the rendition was (or would have been) made."""

    NONE = "none"
    PDF = "pdf-pikepdf"
    PDF_GHOSTSCRIPT = "pdf-ghostscript-pikepdf"
    IMAGE = "image-img2pdf-pikepdf"
    OFFICE = "office-libreoffice-pikepdf"


@dataclass(frozen=True)
class ToolAgent:
    """A program that took part in a conversion (a PREMIS agent)."""

    name: str
    version: str

    def label(self) -> str:
        """``pikepdf 10.18.0``."""
        return f"{self.name} {self.version}"


@dataclass(frozen=True)
class ExternalTool:
    """An installed executable and its version."""

    executable: str
    version: str


@dataclass(frozen=True)
class RenditionTools:
    """The external converters a rendition may use (None: not installed or not usable)."""

    libreoffice: ExternalTool | None
    ghostscript: ExternalTool | None
    office_timeout: float = DEFAULT_TIMEOUT
    ghostscript_timeout: float = _GHOSTSCRIPT_TIMEOUT
    use_verapdf: bool = True

    @classmethod
    def detect(cls) -> RenditionTools:
        """What this machine has (looked up once per process); Ghostscript only if ≥ 10.03."""
        return _detected_tools()


@functools.cache
def _detected_tools() -> RenditionTools:
    found = {status.key: status for status in detect_tools()}

    def usable(key: str) -> ExternalTool | None:
        status = found.get(key)
        if status is None or not status.usable or not status.location:
            return None
        return ExternalTool(status.location, status.version or "?")

    return RenditionTools(libreoffice=usable("libreoffice"), ghostscript=usable("ghostscript"))


@dataclass(frozen=True)
class RenditionResult:
    """The outcome for one document.

    ``pdfa_report`` is the rendition's validation (created, or failed after conversion), or the
    source's own when the rendition is not needed. ``changes`` lists what the rendition
    changed or removed compared to the source; ``warnings`` what people must know about it.
    ``text_proof`` says how ``text_equal`` was established (None when the text was not compared).
    """

    file_name: str
    status: RenditionStatus
    path: ConversionPath
    output_path: Path | None
    agents: tuple[ToolAgent, ...]
    input_pages: int | None
    output_pages: int | None
    text_equal: bool | None
    pdfa_report: PdfaReport | None
    dpi: int | None
    reason: str | None
    duration: float
    warnings: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()
    text_proof: TextProof | None = None

    @property
    def text_proved_identical(self) -> bool:
        """Every page proved identical to its source page, so its text too (none extracted)."""
        return self.text_proof is TextProof.IDENTICAL_PAGES

    @property
    def tool(self) -> str | None:
        """The converting program's name (the first agent)."""
        return self.agents[0].name if self.agents else None

    @property
    def tool_version(self) -> str | None:
        """The converting program's version."""
        return self.agents[0].version if self.agents else None


@dataclass
class _Draft:
    """A converted, not yet verified rendition and what it must be compared with."""

    pdf: Path
    source: SourceFacts
    path: ConversionPath
    agents: tuple[ToolAgent, ...]
    step: PdfaStep
    resolution_warnings: tuple[str, ...] = ()

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.step.warnings + self.resolution_warnings


@dataclass
class _Outcome:
    """Fields of a result, filled in as the work goes on."""

    file_name: str
    started: float
    path: ConversionPath = ConversionPath.NONE
    agents: tuple[ToolAgent, ...] = ()
    input_pages: int | None = None
    output_pages: int | None = None
    text_equal: bool | None = None
    text_proof: TextProof | None = None
    pdfa_report: PdfaReport | None = None
    dpi: int | None = None
    warnings: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()

    def result(
        self, status: RenditionStatus, reason: str | None, output: Path | None = None
    ) -> RenditionResult:
        return RenditionResult(
            file_name=self.file_name,
            status=status,
            path=self.path,
            output_path=output,
            agents=self.agents,
            input_pages=self.input_pages,
            output_pages=self.output_pages,
            text_equal=self.text_equal,
            pdfa_report=self.pdfa_report,
            dpi=self.dpi,
            reason=reason,
            duration=time.perf_counter() - self.started,
            warnings=self.warnings,
            changes=self.changes,
            text_proof=self.text_proof,
        )


def make_rendition(
    source_path: str | os.PathLike[str],
    identification: Identification,
    work_dir: str | os.PathLike[str],
    *,
    tools: RenditionTools | None = None,
    output_name: str | None = None,
    source_report: PdfaReport | None = None,
) -> RenditionResult:
    """Make, verify and keep (in ``work_dir``) the PDF/A-2b rendition of one document.

    ``output_name`` defaults to the source's stem with ``.pdf`` (``-pdfa.pdf`` when that is the
    source itself, which is never written to); a file of that name already in ``work_dir`` is
    replaced, so give each document a folder of its own or a name. ``tools`` defaults to what
    is installed here. ``source_report`` is ``validate_pdfa(source_path)`` as the caller made
    it, with its defaults (the deposit's check step does): a source claiming PDF/A-2 is not
    validated again when that report checked what this would (``_source_validation``).
    """
    outcome = _Outcome(identification.file_name, time.perf_counter())
    source, folder = Path(source_path), Path(work_dir)
    target = _target(source, folder, output_name)
    tools = tools or RenditionTools.detect()
    skip = _no_conversion(identification)
    if skip is not None:
        return outcome.result(*skip)
    folder.mkdir(parents=True, exist_ok=True)
    scratch = Scratch(folder)
    try:
        result = _render(source, identification, scratch, target, tools, outcome, source_report)
    except RenditionError as error:
        result = outcome.result(RenditionStatus.FAILED, _reason(identification, error.reason))
    finally:
        scratch.clean()
    if result.reason is None:
        return result
    shown = hide_local_paths(
        scratch.shown(result.reason), source, identification.file_name, scratch.folders()
    )
    return replace(result, reason=shown)


def _render(
    source: Path,
    identification: Identification,
    scratch: Scratch,
    target: Path,
    tools: RenditionTools,
    outcome: _Outcome,
    source_report: PdfaReport | None,
) -> RenditionResult:
    """Convert, verify, and fall back to Ghostscript for a PDF whose fonts are not embedded."""
    if identification.format_key == "pdf" and _claims_pdfa_2(identification):
        outcome.path = ConversionPath.PDF
        report = _source_validation(source, identification, tools, source_report)
        if _is_pdfa_2(report):
            outcome.pdfa_report = report
            return outcome.result(RenditionStatus.NOT_NEEDED, _already_pdfa(report))
    draft = _convert(source, identification, scratch, tools, outcome)
    check = _verify(draft, target, tools, outcome)
    unembedded = _failed_font_embedding(draft, check)
    if unembedded:
        draft = _ghostscript_draft(source, draft.source, scratch, tools, outcome, unembedded)
        check = _verify(draft, target, tools, outcome)
    if not check.ok:
        reason = "bản chuyển đổi bị huỷ vì không qua kiểm tra: " + "; ".join(check.problems)
        return outcome.result(RenditionStatus.FAILED, f"Tệp {outcome.file_name}: {reason}")
    os.replace(draft.pdf, target)
    return outcome.result(RenditionStatus.CREATED, None, target)


def _target(source: Path, folder: Path, output_name: str | None) -> Path:
    if output_name is not None:
        target = folder / output_name
        if target.resolve() == source.resolve():
            raise ValueError("a rendition must not replace its source")
        return target
    target = folder / f"{source.stem}.pdf"
    if target.resolve() == source.resolve():
        target = folder / f"{source.stem}-pdfa.pdf"
    return target


def _no_conversion(identification: Identification) -> tuple[RenditionStatus, str] | None:
    """Documents decided on identification alone: refused formats, and formats kept as is."""
    name, key = identification.file_name, identification.format_key
    if not identification.accepted:
        refusals = "; ".join(problem.message for problem in identification.problems)
        reason = (
            refusals or f"Tệp {name}: định dạng {identification.format_name} không được chấp nhận"
        )
        return RenditionStatus.FAILED, f"{reason} — không tạo bản PDF/A"
    if identification.kind in (FormatKind.AUDIO, FormatKind.VIDEO):
        return (
            RenditionStatus.NOT_NEEDED,
            f"Tệp {name}: âm thanh và video được lưu ở định dạng gốc, không có bản PDF/A",
        )
    if key in OPEN_TEXT_FORMATS:
        return (
            RenditionStatus.NOT_NEEDED,
            f"Tệp {name}: {identification.format_name} là định dạng văn bản mở, "
            "được lưu ở định dạng gốc",
        )
    if key != "pdf" and key not in IMAGE_FORMATS and key not in EXPORT_FILTERS:
        return (
            RenditionStatus.FAILED,
            f"Tệp {name}: chưa có cách chuyển {identification.format_name} sang PDF/A-2b",
        )
    return None


def _convert(
    source: Path,
    identification: Identification,
    scratch: Scratch,
    tools: RenditionTools,
    outcome: _Outcome,
) -> _Draft:
    """The unverified rendition in ``scratch``, by the path the format calls for."""
    key = identification.format_key
    if key == "pdf":
        return _pdf_draft(source, scratch, tools, outcome)
    if key in IMAGE_FORMATS:
        outcome.path = ConversionPath.IMAGE
        outcome.agents = (_python_agent("img2pdf"), _python_agent("pikepdf"))
        folder = scratch.folder()
        conversion = convert_image(source, folder, folder / "rendition.pdf")
        outcome.dpi = conversion.dpi
        return _Draft(
            folder / "rendition.pdf",
            SourceFacts.of_images(conversion.frames),
            ConversionPath.IMAGE,
            outcome.agents,
            conversion.step,
            conversion.resolution_warnings,
        )
    return _office_draft(source, key, scratch, tools, outcome)


def _pdf_draft(source: Path, scratch: Scratch, tools: RenditionTools, outcome: _Outcome) -> _Draft:
    """The lossless draft; the source is opened once for its facts and the conversion.

    The facts are read before the conversion changes anything: the page fingerprints that let
    verification prove identical pages without extracting their text, which is extracted from
    the source file later only for pages not proved so.

    A source whose pages show text in fonts that are not embedded goes straight to Ghostscript
    (or fails without a usable one): the lossless path keeps the page content as it is, so its
    draft could only fail the embedding rule. (Fonts of annotations are left to the draft's
    validation: a signature's appearance, for one, is dropped from the rendition.)"""
    outcome.path = ConversionPath.PDF
    outcome.agents = (_python_agent("pikepdf"),)
    with open_strict(source) as pdf:
        unembedded = unembedded_page_fonts(pdf)
        if unembedded and tools.ghostscript is None:
            raise _fonts_need_ghostscript(unembedded)
        facts = source_facts(pdf, source)
        outcome.input_pages = facts.pages
        if not unembedded:
            output = scratch.draft()
            return _Draft(output, facts, outcome.path, outcome.agents, make_pdfa_2b(pdf, output))
    return _ghostscript_draft(source, facts, scratch, tools, outcome, unembedded)


def _failed_font_embedding(draft: _Draft, check: RenditionCheck) -> list[str]:
    """Messages of the failed font-embedding rule, when the lossless PDF path met it."""
    if draft.path is not ConversionPath.PDF or check.pdfa_report is None:
        return []
    rules = check.pdfa_report.failed_rules
    return list(dict.fromkeys(r.message for r in rules if r.clause == FONT_EMBEDDING_CLAUSE))


def _ghostscript_draft(
    source: Path,
    facts: SourceFacts,
    scratch: Scratch,
    tools: RenditionTools,
    outcome: _Outcome,
    unembedded: list[str],
) -> _Draft:
    """Re-render with a usable Ghostscript; without one, fail with the fonts named.

    Re-rendered pages are new objects: their text is always extracted and compared, never
    proved by page identity.
    """
    if tools.ghostscript is None:
        raise _fonts_need_ghostscript(unembedded)
    outcome.path = ConversionPath.PDF_GHOSTSCRIPT
    outcome.agents = (
        ToolAgent("Ghostscript", tools.ghostscript.version),
        _python_agent("pikepdf"),
    )
    folder = scratch.folder()
    rendered, output = folder / "ghostscript.pdf", folder / "ghostscript-rendition.pdf"
    ghostscript_to_pdf(source, rendered, tools.ghostscript.executable, tools.ghostscript_timeout)
    with open_strict(rendered) as pdf:
        carried = carry_document_metadata(facts.metadata, pdf)
        step = make_pdfa_2b(pdf, output)
    if carried:
        note = f"chép {', '.join(carried)} của bản gốc (Ghostscript chỉ đọc chúng từ DocInfo)"
        step = replace(step, changes=(note, *step.changes))
    return _Draft(output, replace(facts, fingerprints=()), outcome.path, outcome.agents, step)


def _fonts_need_ghostscript(unembedded: list[str]) -> RenditionError:
    """The failure of a PDF with fonts not embedded on a machine without a usable Ghostscript."""
    return RenditionError(
        f"phông chữ không được nhúng ({'; '.join(unembedded[:3])}); nhúng phông phải dựng "
        "lại trang, việc chỉ Ghostscript ≥ 10.03 làm được mà không hỏng chữ tiếng Việt — "
        "máy này không có"
    )


def _office_draft(
    source: Path, key: str, scratch: Scratch, tools: RenditionTools, outcome: _Outcome
) -> _Draft:
    outcome.path = ConversionPath.OFFICE
    if tools.libreoffice is None:
        raise RenditionError(NOT_INSTALLED)
    outcome.agents = (
        ToolAgent("LibreOffice", tools.libreoffice.version),
        _python_agent("pikepdf"),
    )
    folder = scratch.folder()
    office = tools.libreoffice
    printed = convert_office(source, key, folder, office.executable, tools.office_timeout)
    output = folder / "rendition.pdf"
    with open_strict(printed) as pdf:
        facts = source_facts(pdf, printed)
        outcome.input_pages = facts.pages
        step = make_pdfa_2b(pdf, output)
    return _Draft(output, facts, outcome.path, outcome.agents, step)


def _verify(
    draft: _Draft, target: Path, tools: RenditionTools, outcome: _Outcome
) -> RenditionCheck:
    check = verify_rendition(
        draft.pdf, draft.source, file_name=target.name, use_verapdf=tools.use_verapdf
    )
    outcome.input_pages = check.input_pages
    outcome.output_pages = check.output_pages
    outcome.text_equal = check.text_equal
    outcome.text_proof = check.text_proof
    outcome.pdfa_report = check.pdfa_report
    outcome.warnings = draft.warnings
    outcome.changes = draft.step.changes
    return check


def _source_validation(
    source: Path, identification: Identification, tools: RenditionTools, known: PdfaReport | None
) -> PdfaReport:
    """The validation of a source claiming PDF/A-2: ``known`` when it is what this would make.

    ``known`` is ``validate_pdfa(source)`` with its defaults: veraPDF when installed, the full
    rule set for a file claiming PDF/A. With veraPDF allowed here too, for the same file name,
    of a file whose claim it read, against the flavour this checks, it is the same report.
    """
    flavour = _flavour_to_check(identification)
    if (
        known is not None
        and tools.use_verapdf
        and known.file_name == identification.file_name
        and known.claimed_part is not None
        and known.checked_flavour == flavour
    ):
        return known
    return validate_pdfa(
        source, flavour, file_name=identification.file_name, use_verapdf=tools.use_verapdf
    )


def _claims_pdfa_2(identification: Identification) -> bool:
    """Identification read a PDF/A-2 claim (any level) in the XMP."""
    claimed = identification.format_version or ""
    return identification.format_name == "PDF/A" and claimed[:1] == "2"


def _flavour_to_check(identification: Identification) -> str:
    """PDF/A-2a and 2u files are checked as what they claim (they include 2b); others as 2b."""
    claimed = identification.format_version if identification.format_name == "PDF/A" else None
    return claimed if claimed in ("2a", "2u") else "2b"


def _is_pdfa_2(report: PdfaReport) -> bool:
    return (
        report.verdict is PdfaVerdict.VALID
        and report.claimed_part == 2
        and report.claimed_conformance in ("A", "B", "U")
    )


def _already_pdfa(report: PdfaReport) -> str:
    return f"{report.summary_vi()}: đã là PDF/A-2, không cần bản chuyển đổi"


def _reason(identification: Identification, reason: str) -> str:
    prefix = f"Tệp {identification.file_name}: "
    return reason if reason.startswith(prefix) else prefix + reason


@functools.cache
def _python_agent(package: str) -> ToolAgent:
    """The installed package and its version (looked up once per process)."""
    try:
        return ToolAgent(package, metadata.version(package))
    except metadata.PackageNotFoundError:
        return ToolAgent(package, "?")
