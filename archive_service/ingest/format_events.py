"""The PREMIS events and agents of a deposit's format checks.

- ``format identification`` — one per deposit, linked to every document it identified; its
  outcome detail lists each file's format, version, MIME type and PRONOM id;
- ``virus check`` — one per deposit when a scanner is configured: engine, how it ran and its
  signature database (version, count); without a scanner the ingest events keep their own
  "not performed" event;
- ``validation`` — one per PDF: the PDF/A flavour checked, the verdict (``success`` = valid,
  ``failure`` = invalid, ``warning`` = not fully checked), failed ISO 19005 clauses, what was not
  checked, and the validators as agents;
- ``digital signature validation`` — one per signed PDF (or PDF whose signatures could not be
  read): integrity and cryptographic verification of every signature; trust is reported as
  "not trust-validated" unless trust anchors are configured — never as "valid".

Identifiers are UUID-5 of the deposit id and what the event is about, so a retried deposit
describes the same events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from uuid import UUID, uuid5

from archive_service.formats.pdfa import PdfaReport, PdfaVerdict
from archive_service.formats.signatures_pdf import Integrity, signature_note
from archive_service.formats.virus import ScanResult, premis_event
from archive_service.ingest.format_checks import CheckedDocument, FormatReport, VirusCheck
from archive_service.packages.aip_writer import ArchiveIdentity, premis_identifier, software_agent
from archive_service.packages.premis import (
    AgentRole,
    AgentType,
    EventType,
    LinkedAgent,
    LinkedObject,
    ObjectRole,
    Outcome,
    PremisAgent,
    PremisEvent,
)

#: Failed rules named in a validation event's outcome detail (the rest are counted).
MAX_RULES_LISTED = 10
_VERDICT_OUTCOMES = {
    PdfaVerdict.VALID: Outcome.SUCCESS,
    PdfaVerdict.INVALID: Outcome.FAILURE,
    PdfaVerdict.NOT_CHECKED: Outcome.WARNING,
}


@dataclass(frozen=True)
class FormatEvents:
    """The events of the format checks, and the agents (tools) they name."""

    virus_check: PremisEvent | None
    events: tuple[PremisEvent, ...]
    agents: tuple[PremisAgent, ...]


def event_id(deposit_id: str, event_type: EventType, about: str) -> str:
    """The identifier of the ``event_type`` event of a deposit about ``about``."""
    return str(uuid5(UUID(deposit_id), f"event:{event_type}:{about}"))


def tool_agent(name: str, version: str | None, *notes: str) -> PremisAgent:
    """A program as a PREMIS agent, identified ``<name>/<version>``."""
    return PremisAgent(
        identifier=f"{name}/{version or '?'}",
        name=name,
        agent_type=AgentType.SOFTWARE,
        version=version,
        notes=notes,
    )


def python_tool_agent(package: str) -> PremisAgent:
    """An installed Python package as a PREMIS agent."""
    try:
        version: str | None = metadata.version(package)
    except metadata.PackageNotFoundError:
        version = None
    return tool_agent(package, version)


def format_events(
    report: FormatReport,
    *,
    deposit_id: str,
    object_id: str,
    sip_object_id: str,
    archive: ArchiveIdentity,
    trust_anchors: bool,
) -> FormatEvents:
    """The events of ``report`` for the AIP ``object_id`` made from the SIP ``sip_object_id``."""
    builder = _Builder(report, deposit_id, object_id, archive)
    events = [builder.identification()]
    events += [builder.validation(d, d.pdfa) for d in report.documents if d.pdfa is not None]
    events += [
        builder.signatures(d, trust_anchors)
        for d in report.documents
        if d.signed or d.signature_problem
    ]
    virus = report.virus_check
    virus_event = builder.virus_check(virus, sip_object_id) if virus else None
    return FormatEvents(virus_event, tuple(events), tuple(builder.agents.values()))


class _Builder:
    def __init__(
        self, report: FormatReport, deposit_id: str, object_id: str, archive: ArchiveIdentity
    ) -> None:
        self.report, self.deposit_id, self.object_id = report, deposit_id, object_id
        self.software = software_agent(archive)
        self.agents: dict[str, PremisAgent] = {}

    def agent(self, agent: PremisAgent, role: AgentRole) -> LinkedAgent:
        self.agents.setdefault(agent.identifier, agent)
        return LinkedAgent(agent.identifier, role)

    def on(self, document: CheckedDocument) -> LinkedObject:
        return LinkedObject(premis_identifier(self.object_id, document.path), ObjectRole.SOURCE)

    def identification(self) -> PremisEvent:
        documents = self.report.documents
        return PremisEvent(
            identifier=event_id(self.deposit_id, EventType.FORMAT_IDENTIFICATION, "documents"),
            event_type=EventType.FORMAT_IDENTIFICATION,
            date_time=self.report.checked_at,
            detail=f"Nhận diện định dạng theo nội dung (không theo phần mở rộng) của "
            f"{len(documents)} tệp tài liệu",
            outcome=Outcome.SUCCESS,
            outcome_detail="; ".join(_identified(d) for d in documents) or None,
            agents=(LinkedAgent(self.software.identifier, AgentRole.EXECUTING_PROGRAM),),
            objects=tuple(self.on(d) for d in documents),
        )

    def virus_check(self, check: VirusCheck, sip_object_id: str) -> PremisEvent:
        first = check.results[0]
        described = premis_event(first)
        engine = tool_agent(
            described.agent_name or "ClamAV",
            described.agent_version,
            f"Cơ sở dữ liệu chữ ký: {first.database}",
        )
        return PremisEvent(
            identifier=event_id(self.deposit_id, EventType.VIRUS_CHECK, "package"),
            event_type=EventType.VIRUS_CHECK,
            date_time=self.report.checked_at,
            detail=f"Quét virus {len(check.results)} tệp của gói SIP: {described.detail}",
            outcome=Outcome.SUCCESS,
            outcome_detail=_scan_summary(check.results),
            agents=(self.agent(engine, AgentRole.EXECUTING_PROGRAM),),
            objects=(LinkedObject(sip_object_id, ObjectRole.SOURCE),),
        )

    def validation(self, document: CheckedDocument, report: PdfaReport) -> PremisEvent:
        flavour = report.checked_flavour or "?"
        validators = [
            self.agent(tool_agent(o.validator, o.version), AgentRole.VALIDATOR)
            for o in report.opinions
        ]
        return PremisEvent(
            identifier=event_id(self.deposit_id, EventType.VALIDATION, f"pdfa:{document.path}"),
            event_type=EventType.VALIDATION,
            date_time=self.report.checked_at,
            detail=f"Kiểm tra PDF/A-{flavour} (ISO 19005) của tệp {document.file_name} "
            f"({report.validator})",
            outcome=_VERDICT_OUTCOMES[report.verdict],
            outcome_detail=_pdfa_detail(report),
            agents=tuple(dict.fromkeys(validators)),
            objects=(self.on(document),),
        )

    def signatures(self, document: CheckedDocument, trust_anchors: bool) -> PremisEvent:
        trust = (
            "chuỗi tin cậy kiểm tra theo chứng thư gốc đã cấu hình"
            if trust_anchors
            else "không kiểm tra chuỗi tin cậy (chưa cấu hình chứng thư gốc tin cậy): "
            "not trust-validated"
        )
        note = signature_note(document.signatures)
        return PremisEvent(
            identifier=event_id(
                self.deposit_id, EventType.DIGITAL_SIGNATURE_VALIDATION, document.path
            ),
            event_type=EventType.DIGITAL_SIGNATURE_VALIDATION,
            date_time=self.report.checked_at,
            detail=f"Kiểm tra chữ ký số PDF của tệp {document.file_name}: phạm vi byte được ký, "
            f"toàn vẹn và xác minh mật mã; {trust}; không kiểm tra thu hồi",
            outcome=_signature_outcome(document),
            outcome_detail=document.signature_problem or (note.note if note else None),
            agents=(self.agent(python_tool_agent("pyhanko"), AgentRole.VALIDATOR),),
            objects=(self.on(document),),
        )


def _identified(document: CheckedDocument) -> str:
    found = document.identification
    version = f" {found.format_version}" if found.format_version else ""
    registry = f"PRONOM {found.pronom_id}" if found.pronom_id else "không có mã PRONOM"
    return f"{document.file_name}: {found.format_name}{version} ({found.mime_type}, {registry})"


def _scan_summary(results: Iterable[ScanResult]) -> str:
    statuses = [str(result.status) for result in results]
    return ", ".join(f"{statuses.count(s)} tệp {s}" for s in dict.fromkeys(statuses))


def _pdfa_detail(report: PdfaReport) -> str:
    parts = [f"{report.verdict}: {report.summary_vi()}"]
    rules = report.failed_rules
    if rules:
        listed = "; ".join(f"{r.rule_id} {r.message}" for r in rules[:MAX_RULES_LISTED])
        more = len(rules) - MAX_RULES_LISTED
        parts.append(
            f"quy tắc không đạt: {listed}" + (f" (và {more} quy tắc khác)" if more > 0 else "")
        )
    if report.not_checked:
        parts.append(f"chưa kiểm tra: {'; '.join(report.not_checked)}")
    return " — ".join(parts)


def _signature_outcome(document: CheckedDocument) -> Outcome:
    signatures = document.signatures
    if document.signature_problem or any(s.error or not s.verifies for s in signatures):
        return Outcome.FAILURE
    if any(s.integrity is not Integrity.INTACT for s in signatures):
        return Outcome.WARNING
    return Outcome.SUCCESS
