"""The retention policy: a dossier's effective term, its disposal date, and term changes.

Pure functions, no database and no clock (the caller passes "today"):

- ``decide_retention(facts, schedule)``: the effective term is the **longest** of the term the
  depositor declared (``EAD.xml`` ``maintenance``), the schedule's term for the dossier's
  procedure (else its sector, else ``*``; a ``declared`` row adds nothing) and the longest term
  declared by its documents. Permanent (``01``) beats any number of years; between equally long
  terms the first source in that order is named.
- ``disposal_date(end_date, term)``: 31 December of (year of the end date + years), the last day
  the record must be kept; ``None`` for permanent. The record is due for review ("Xem xét hủy")
  from the next day (``due_from``, ``is_due``).
- ``may_shorten(old, new, …)``: lengthening is automatic; shortening needs an archivist with a
  reason and is refused while a hold exists or when the new date falls before the storage lock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from archive_service.packages.fields import format_date
from archive_service.packages.models import SipPackage
from retention.schedule import DECLARED, Schedule, ScheduleRow
from retention.terms import InvalidTerm, Term, parse_term


class Source(StrEnum):
    """Where a candidate term comes from, in the order ties are settled."""

    DECLARED = "declared"
    SCHEDULE = "schedule"
    DOCUMENT = "document"
    ARCHIVIST = "archivist"  # a shortening decided by an archivist (``retention.shorten``)


@dataclass(frozen=True)
class DossierRetentionFacts:
    """What the policy needs to know of a dossier.

    ``document_terms`` holds ``(docId, maintenance)`` of the documents that declare a term.
    """

    maintenance: str
    end_date: date
    procedure_code: str | None = None
    sector_code: str | None = None
    document_terms: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_sip(cls, package: SipPackage) -> DossierRetentionFacts:
        """The facts of a validated SIP: ``EAD.xml``, ``TTHC.xml`` and the documents' EAD."""
        return cls(
            maintenance=package.dossier.maintenance,
            end_date=package.dossier.end_date,
            procedure_code=package.tthc.procedure.code,
            sector_code=package.tthc.procedure.sector_code,
            document_terms=_declared_document_terms(
                (document.doc_id, document.metadata.maintenance) for document in package.documents
            ),
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, as stored with the dossier (``dossiers.retention_facts``)."""
        return {
            "maintenance": self.maintenance,
            "end_date": self.end_date.isoformat(),
            "procedure_code": self.procedure_code,
            "sector_code": self.sector_code,
            "document_terms": [list(pair) for pair in self.document_terms],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DossierRetentionFacts:
        """The facts ``as_dict`` stored."""
        return cls(
            maintenance=str(data["maintenance"]),
            end_date=date.fromisoformat(str(data["end_date"])),
            procedure_code=data.get("procedure_code"),
            sector_code=data.get("sector_code"),
            document_terms=tuple(
                (str(doc_id), str(text)) for doc_id, text in data.get("document_terms", [])
            ),
        )


@dataclass(frozen=True)
class BasisEntry:
    """What one source says about the term, and whether it is the one applied."""

    source: Source
    term: Term | None
    reference: str
    explanation: str
    won: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source.value,
            "retention": self.term.text if self.term else None,
            "reference": self.reference,
            "explanation": self.explanation,
            "won": self.won,
        }


@dataclass(frozen=True)
class RetentionDecision:
    """The effective term of a dossier, its disposal date and why."""

    term: Term
    disposal_date: date | None
    basis: tuple[BasisEntry, ...]
    schedule_row: ScheduleRow | None = None
    schedule_version: str | None = None

    @property
    def code(self) -> str:
        return self.term.code

    @property
    def years(self) -> int | None:
        return self.term.years

    @property
    def permanent(self) -> bool:
        return self.term.permanent

    @property
    def winner(self) -> BasisEntry:
        """The source whose term is applied."""
        return next(entry for entry in self.basis if entry.won)

    @property
    def due_from(self) -> date | None:
        """The first day the dossier is due for review; ``None`` when permanent."""
        return due_from(self.disposal_date)

    def summary(self) -> str:
        """One sentence for people (audit entries, PREMIS event details)."""
        until = (
            "không có ngày hủy"
            if self.disposal_date is None
            else f"bảo quản đến hết ngày {format_date(self.disposal_date)}"
        )
        return f"Thời hạn {self.term} theo {self.winner.reference}; {until}."

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready record of the decision, for storing with the dossier."""
        row = self.schedule_row
        return {
            "retention": self.term.text,
            "code": self.code,
            "years": self.years,
            "disposal_date": self.disposal_date.isoformat() if self.disposal_date else None,
            "basis": [entry.as_dict() for entry in self.basis],
            "schedule_version": self.schedule_version,
            "schedule_row": None if row is None else {"line": row.line, "key": row.key},
        }


def decide_retention(facts: DossierRetentionFacts, schedule: Schedule | None) -> RetentionDecision:
    """The effective term of the dossier described by ``facts`` under ``schedule``.

    ``InvalidTerm`` when the declared term or a document's term is not a retention value.
    """
    row = schedule.row_for(facts.procedure_code, facts.sector_code) if schedule else None
    declared = _parse(facts.maintenance, "Hồ sơ (EAD.xml <maintenance>)")
    entries = [
        BasisEntry(Source.DECLARED, declared, "khai báo của hồ sơ (EAD.xml <maintenance>)", ""),
        _schedule_entry(schedule, row, facts),
    ]
    document = _longest_document(facts.document_terms)
    if document is not None:
        entries.append(document)
    winner = _longest(entries)
    basis = tuple(_judged(entry, winner) for entry in entries)
    assert winner.term is not None
    return RetentionDecision(
        term=winner.term,
        disposal_date=disposal_date(facts.end_date, winner.term),
        basis=basis,
        schedule_row=row,
        schedule_version=schedule.version if schedule else None,
    )


def disposal_date(end_date: date, term: Term) -> date | None:
    """The last day of the term: 31 December of (year of ``end_date`` + years)."""
    if term.years is None:
        return None
    return date(end_date.year + term.years, 12, 31)


def due_from(disposal: date | None) -> date | None:
    """The first day a record with this disposal date is due for review."""
    return None if disposal is None else disposal + timedelta(days=1)


def is_due(disposal: date | None, today: date) -> bool:
    """Whether a record with this disposal date is due for review on ``today``."""
    return disposal is not None and today > disposal


class ChangeKind(StrEnum):
    """How a new decision moves the disposal date."""

    UNCHANGED = "unchanged"
    LENGTHEN = "lengthen"
    SHORTEN = "shorten"


@dataclass(frozen=True)
class ChangeVerdict:
    """Whether a change of retention may be made, and on what condition.

    ``needs_archivist``: allowed only when an archivist confirms it with a written reason.
    """

    kind: ChangeKind
    allowed: bool
    needs_archivist: bool
    reason: str


def change_kind(old: RetentionDecision, new: RetentionDecision) -> ChangeKind:
    """Whether ``new`` keeps the dossier longer, shorter or exactly as long as ``old``."""
    old_end, new_end = _horizon(old.disposal_date), _horizon(new.disposal_date)
    if new_end > old_end:
        return ChangeKind.LENGTHEN
    if new_end < old_end:
        return ChangeKind.SHORTEN
    return ChangeKind.UNCHANGED


def may_shorten(
    old: RetentionDecision,
    new: RetentionDecision,
    *,
    storage_lock_until: date | None,
    has_hold: bool,
) -> ChangeVerdict:
    """Whether the dossier's retention may go from ``old`` to ``new``.

    A longer or equal term is applied automatically. A shorter one is refused while the dossier
    has a hold, or when its new disposal date is before ``storage_lock_until`` (the date the
    stored objects are locked until); otherwise it needs an archivist with a reason.
    """
    kind = change_kind(old, new)
    if kind is ChangeKind.LENGTHEN:
        return ChangeVerdict(kind, True, False, "Kéo dài thời hạn: áp dụng tự động.")
    if kind is ChangeKind.UNCHANGED:
        return ChangeVerdict(kind, True, False, "Ngày hết hạn không đổi.")
    if has_hold:
        reason = "Hồ sơ đang bị phong tỏa (lệnh giữ): không được rút ngắn thời hạn."
        return ChangeVerdict(kind, False, False, reason)
    assert new.disposal_date is not None  # a shorter term is never permanent
    if storage_lock_until is not None and new.disposal_date < storage_lock_until:
        reason = (
            f"Ngày hết hạn mới {format_date(new.disposal_date)} trước ngày khóa lưu trữ "
            f"{format_date(storage_lock_until)}: không được rút ngắn."
        )
        return ChangeVerdict(kind, False, False, reason)
    reason = (
        f"Rút ngắn thời hạn từ {old.term} xuống {new.term}: cần người làm lưu trữ xác nhận "
        "và ghi lý do."
    )
    return ChangeVerdict(kind, True, True, reason)


def _declared_document_terms(
    pairs: Iterable[tuple[str, str | None]],
) -> tuple[tuple[str, str], ...]:
    return tuple((doc_id, text) for doc_id, text in pairs if text)


def _schedule_entry(
    schedule: Schedule | None, row: ScheduleRow | None, facts: DossierRetentionFacts
) -> BasisEntry:
    if schedule is None:
        return BasisEntry(Source.SCHEDULE, None, "danh mục thời hạn", "Không dùng danh mục.")
    reference = f"danh mục thời hạn {schedule.version}"
    if row is None:
        explanation = (
            f"Danh mục không có dòng cho thủ tục {facts.procedure_code or '?'}, "
            f"lĩnh vực {facts.sector_code or '?'} hay '*'."
        )
        return BasisEntry(Source.SCHEDULE, None, reference, explanation)
    reference = f"{reference}, {row.describe()}"
    if row.term is None:
        explanation = f"Dòng '{DECLARED}': {row.legal_basis}."
        return BasisEntry(Source.SCHEDULE, None, reference, explanation)
    return BasisEntry(Source.SCHEDULE, row.term, reference, f"Căn cứ: {row.legal_basis}.")


def _longest_document(document_terms: Iterable[tuple[str, str]]) -> BasisEntry | None:
    entries = [
        BasisEntry(
            Source.DOCUMENT,
            _parse(text, f"Tài liệu {doc_id} (EAD <maintenance>)"),
            f"tài liệu {doc_id} (EAD <maintenance>)",
            "Dài nhất trong các tài liệu.",
        )
        for doc_id, text in document_terms
    ]
    return _longest(entries) if entries else None


def _parse(text: str, where: str) -> Term:
    try:
        return parse_term(text)
    except InvalidTerm as exc:
        raise InvalidTerm(f"{where}: {exc}") from exc


def _longest(entries: Iterable[BasisEntry]) -> BasisEntry:
    best: BasisEntry | None = None
    for entry in entries:
        if entry.term is None:
            continue
        if best is None or best.term is None or entry.term.longer_than(best.term):
            best = entry
    assert best is not None  # the declared term is always there
    return best


def _judged(entry: BasisEntry, winner: BasisEntry) -> BasisEntry:
    """``entry`` with its verdict: applied, or why not."""
    if entry.term is None:
        return entry
    if entry is not winner:
        verdict = "Không dài hơn thời hạn được áp dụng."
    elif entry.term.permanent:
        verdict = "Vĩnh viễn, dài hơn mọi thời hạn có số năm: được áp dụng."
    else:
        verdict = "Dài nhất trong các nguồn: được áp dụng."
    explanation = " ".join(part for part in (f"{entry.term}.", entry.explanation, verdict) if part)
    return replace(entry, explanation=explanation, won=entry is winner)


def _horizon(disposal: date | None) -> date:
    return date.max if disposal is None else disposal
