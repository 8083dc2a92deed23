"""The format part of a deposit's package step: PDF/A-2b renditions and what the AIP records.

Every checked document that is not valid PDF/A-2b goes through ``make_rendition`` (which itself
decides that valid PDF/A-2a/2u files need none) — except audio, video and open text formats,
which are kept as they are (the rule ``make_rendition`` applies too) and so are not even copied:

- **created** — the verified rendition goes to rep2 with a ``normalization`` event (source =
  the original, outcome = the rendition, agents = the tools with their versions as executing
  programs and the PDF/A validators that checked the rendition as validators). For a signed
  original the event says the signature does not carry over; the original keeps its bytes and
  its signature in rep1.
- **failed** — a ``normalization`` event with outcome ``failure`` and the reason, linked to the
  original: the document is a preservation risk, recorded in the catalogue as "rendition
  failed"; the deposit goes on, since the original is kept.

The originals are copied into the work folder only for the conversion and removed after it;
the renditions stay there until the AIP is stored. A converter that breaks down on a file in a
way the rendition module did not foresee fails that document's rendition, not the deposit;
an ``OSError`` (a full disk …) fails the attempt, which is retried.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from archive_service.config import Settings
from archive_service.db.base import utcnow
from archive_service.formats.catalogue import PDFA_PRONOM, FormatKind
from archive_service.formats.rendition import (
    OPEN_TEXT_FORMATS,
    ConversionPath,
    RenditionResult,
    RenditionStatus,
    RenditionTools,
    make_rendition,
)
from archive_service.ingest.format_checks import CheckedDocument, FormatReport
from archive_service.ingest.format_events import event_id, format_events, tool_agent
from archive_service.ingest.package_files import extract, numbered_name
from archive_service.packages.aip_writer import (
    ArchiveIdentity,
    FileFacts,
    Rendition,
    archive_agent,
    premis_identifier,
)
from archive_service.packages.container import PackageSource
from archive_service.packages.models import SipPackage
from archive_service.packages.premis import (
    AgentRole,
    EventType,
    LinkedAgent,
    LinkedObject,
    ObjectRole,
    Outcome,
    PremisAgent,
    PremisEvent,
)
from archive_service.streams import FileSource, measured_source, path_opener

log = logging.getLogger(__name__)

RENDITION_MIME = "application/pdf"
RENDITION_FORMAT = "PDF/A"
RENDITION_FLAVOUR = "2b"
RENDITIONS_DIR = "renditions"
SIGNATURE_NOT_CARRIED = (
    "Chữ ký số của bản gốc không chuyển sang bản chuyển đổi; bản gốc trong rep1 được giữ "
    "nguyên từng byte cùng chữ ký của nó"
)


@dataclass(frozen=True)
class FormatPackaging:
    """What the format checks and renditions add to ``build_aip``."""

    virus_check: PremisEvent | None  # replaces the ingest events' "not performed" one
    events: tuple[PremisEvent, ...]  # checks, then failed normalizations
    renditions: tuple[Rendition, ...]
    agents: tuple[PremisAgent, ...]
    file_facts: dict[str, FileFacts]


def package_formats(
    report: FormatReport,
    sip: SipPackage,
    source: PackageSource,
    work: Path,
    *,
    deposit_id: str,
    object_id: str,
    archive: ArchiveIdentity,
    settings: Settings,
    tools: RenditionTools | None = None,
) -> FormatPackaging:
    """Make the renditions in ``work/renditions`` and gather the events, agents and facts."""
    checks = format_events(
        report,
        deposit_id=deposit_id,
        object_id=object_id,
        sip_object_id=sip.object_id,
        archive=archive,
        trust_anchors=bool(settings.signature_trust_anchors),
    )
    step = _Renditions(
        sip, source, report.copies, work / RENDITIONS_DIR, deposit_id, object_id, archive
    )
    for index, document in enumerate(report.documents):
        if needs_rendition(document):
            step.render(index, document, tools or RenditionTools.detect())
    return FormatPackaging(
        virus_check=checks.virus_check,
        events=(*checks.events, *step.failures),
        renditions=tuple(step.renditions),
        agents=(*checks.agents, *step.agents.values()),
        file_facts=report.file_facts(),
    )


def needs_rendition(document: CheckedDocument) -> bool:
    """Whether ``make_rendition`` is to see the document: not for valid PDF/A-2b, nor for the
    formats kept as they are (audio, video, open text)."""
    if document.pdfa is not None and document.pdfa.is_valid_pdfa_2b:
        return False
    found = document.identification
    kept = (
        found.kind in (FormatKind.AUDIO, FormatKind.VIDEO) or found.format_key in OPEN_TEXT_FORMATS
    )
    return not kept


class _Renditions:
    def __init__(
        self,
        sip: SipPackage,
        source: PackageSource,
        copies: Mapping[str, Path],
        folder: Path,
        deposit_id: str,
        object_id: str,
        archive: ArchiveIdentity,
    ) -> None:
        self.files = {document.doc_id: document.file for document in sip.documents}
        self.source, self.copies, self.folder = source, copies, folder
        self.deposit_id, self.object_id = deposit_id, object_id
        self.archive = archive_agent(archive)
        self.renditions: list[Rendition] = []
        self.failures: list[PremisEvent] = []
        self.agents: dict[str, PremisAgent] = {}
        self.names: set[str] = set()

    def render(self, index: int, document: CheckedDocument, tools: RenditionTools) -> None:
        """Render the copy the checks read (a new copy if they made none) into the folder."""
        original = self.copies.get(document.path)
        made = original is None
        if original is None:
            package_file = self.files[document.doc_id]
            name = numbered_name(index, document.path)
            original = extract(self.source, package_file, self.folder / "originals", name)
        name = self.unique_name(document.file_name)
        try:
            result = _rendition(original, document, self.folder, tools, name)
        finally:
            if made:
                original.unlink(missing_ok=True)
        if result.status is RenditionStatus.CREATED and result.output_path is not None:
            self.names.add(name)
            self.renditions.append(self.rendition(document, result, result.output_path))
        elif result.status is RenditionStatus.FAILED:
            self.failures.append(self.failure(document, result))

    def unique_name(self, original_name: str) -> str:
        """``<stem>.pdf``; ``<stem>-2.pdf`` … when another rendition already has that name."""
        stem = posixpath.splitext(original_name)[0] or original_name
        name, number = f"{stem}.pdf", 1
        while name in self.names:
            number += 1
            name = f"{stem}-{number}.pdf"
        return name

    def rendition(
        self, document: CheckedDocument, result: RenditionResult, path: Path
    ) -> Rendition:
        source = measured_source(FileSource(open=path_opener(path)))
        return Rendition(
            doc_id=document.doc_id,
            source=source,
            file_name=path.name,
            mime_type=RENDITION_MIME,
            format_name=RENDITION_FORMAT,
            format_version=RENDITION_FLAVOUR,
            pronom_id=PDFA_PRONOM[RENDITION_FLAVOUR],
            event=self.event(document, result, Outcome.SUCCESS, _created_detail(result)),
        )

    def failure(self, document: CheckedDocument, result: RenditionResult) -> PremisEvent:
        return self.event(document, result, Outcome.FAILURE, result.reason)

    def event(
        self,
        document: CheckedDocument,
        result: RenditionResult,
        outcome: Outcome,
        outcome_detail: str | None,
    ) -> PremisEvent:
        """The ``normalization`` event (``build_aip`` adds the rendition as its outcome)."""
        tools = [tool_agent(agent.name, agent.version) for agent in result.agents]
        opinions = result.pdfa_report.opinions if result.pdfa_report else ()
        validators = [tool_agent(opinion.validator, opinion.version) for opinion in opinions]
        for agent in (*tools, *validators):
            self.agents.setdefault(agent.identifier, agent)
        by = ", ".join(agent.label() for agent in result.agents) or "không có công cụ phù hợp"
        detail = (
            f"Tạo bản PDF/A-{RENDITION_FLAVOUR} của tệp {document.file_name} "
            f"(cách chuyển đổi: {result.path}; công cụ: {by})"
        )
        if document.signed and outcome is Outcome.SUCCESS:
            detail += f". {SIGNATURE_NOT_CARRIED}"
        original = premis_identifier(self.object_id, document.path)
        return PremisEvent(
            identifier=event_id(self.deposit_id, EventType.NORMALIZATION, document.path),
            event_type=EventType.NORMALIZATION,
            date_time=utcnow(),
            detail=detail,
            outcome=outcome,
            outcome_detail=outcome_detail,
            agents=(
                LinkedAgent(self.archive.identifier, AgentRole.IMPLEMENTER),
                *(LinkedAgent(tool.identifier, AgentRole.EXECUTING_PROGRAM) for tool in tools),
                *(LinkedAgent(check.identifier, AgentRole.VALIDATOR) for check in validators),
            ),
            objects=(LinkedObject(original, ObjectRole.SOURCE),),
        )


def _rendition(
    original: Path, document: CheckedDocument, folder: Path, tools: RenditionTools, name: str
) -> RenditionResult:
    """``make_rendition`` (given the checks' validation of the original, which it need not
    repeat); a failure it did not foresee (not ``OSError``) becomes ``failed``."""
    identification = document.identification
    try:
        return make_rendition(
            original,
            identification,
            folder,
            tools=tools,
            output_name=name,
            source_report=document.pdfa,
        )
    except OSError:
        raise
    except Exception as error:
        log.exception("rendition of %s broke down", identification.file_name)
        (folder / name).unlink(missing_ok=True)
        return RenditionResult(
            file_name=identification.file_name,
            status=RenditionStatus.FAILED,
            path=ConversionPath.NONE,
            output_path=None,
            agents=(),
            input_pages=None,
            output_pages=None,
            text_equal=None,
            pdfa_report=None,
            dpi=None,
            reason=f"Tệp {identification.file_name}: việc chuyển đổi dừng vì lỗi không lường "
            f"trước ({type(error).__name__}: {error})",
            duration=0.0,
        )


def _created_detail(result: RenditionResult) -> str:
    """Pages, text, validity, resolution and what the conversion changed."""
    parts = [
        f"{result.input_pages} trang bản gốc, {result.output_pages} trang bản PDF/A",
        (
            "chữ của mọi trang trùng khớp bản gốc (nội dung và tài nguyên trang giống hệt, "
            "đã đối chiếu bằng SHA-256)"
            if result.text_proved_identical
            else "chữ trích được trùng khớp với bản gốc"
            if result.text_equal
            else ""
        ),
        result.pdfa_report.summary_vi() if result.pdfa_report else "",
        f"độ phân giải ảnh {result.dpi} dpi" if result.dpi else "",
        _listed("thay đổi", result.changes),
        _listed("lưu ý", result.warnings),
    ]
    return "; ".join(part for part in parts if part)


def _listed(label: str, items: Sequence[str]) -> str:
    return f"{label}: {', '.join(items)}" if items else ""
