"""PDF/A validation of one PDF: claim, verdict, failed rules with ISO 19005 clauses, and an
honest account of what was and was not checked.

Three checkers can take part:

- veraPDF, when installed: the authority; its verdict is the verdict.
- ``pikepdf.pdfa`` (pikepdf ≥ 10.18 with its ``pdfa`` extra): an allow-list validator of the
  B level of parts 1–3; it reports what it does not support instead of approving it, and it
  trusts file syntax (it was made for files qpdf has just written).
- the archive's own structural checks (``pdf_structure``): file syntax from the raw bytes, and
  encryption, trailer ID, XMP ``pdfaid``, output intent, embedded fonts, device colour, actions.

Without veraPDF a file is ``valid`` only when pikepdf approves it and our checks find nothing;
any failed rule makes it ``invalid``; anything else is ``not-checked``. Nothing is ever
``valid`` because a checker could not look.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field, replace
from enum import StrEnum
from importlib import metadata
from pathlib import Path

import pikepdf

from archive_service import __version__
from archive_service.formats import verapdf
from archive_service.formats.local_paths import hide_local_paths
from archive_service.formats.pdf_structure import VALIDATOR as OWN_VALIDATOR
from archive_service.formats.pdf_structure import (
    StructureFindings,
    check_document,
    check_file_syntax,
)
from archive_service.formats.pdfa_claim import PdfaClaim, XmpFacts, read_xmp
from archive_service.formats.pdfa_memo import install_schema_memo
from archive_service.formats.pdfa_rules import (
    DOCUMENT_TOPICS,
    FILE_SYNTAX_NOT_CHECKED,
    FILE_TOPICS,
    LEVEL_AU_NOT_CHECKED,
    UNCLAIMED_RULES_NOT_CHECKED,
    FailedRule,
    Rule,
    parse_rule_id,
)

PIKEPDF_VALIDATOR = "pikepdf.pdfa"
TARGET_FLAVOUR = "2b"


class PdfaVerdict(StrEnum):
    """``valid`` only when a full validator approved the file and nothing failed."""

    VALID = "valid"
    INVALID = "invalid"
    NOT_CHECKED = "not-checked"


@dataclass(frozen=True)
class ValidatorOpinion:
    """One checker's own verdict, for the record (PREMIS event detail, agreement figures)."""

    validator: str
    version: str
    verdict: PdfaVerdict
    failed: int


@dataclass(frozen=True)
class PdfaReport:
    """The PDF/A validation of one file."""

    file_name: str
    claimed_part: int | None
    claimed_conformance: str | None
    checked_flavour: str | None
    verdict: PdfaVerdict
    failed_rules: tuple[FailedRule, ...]
    checked: tuple[str, ...]
    not_checked: tuple[str, ...]
    validator: str
    opinions: tuple[ValidatorOpinion, ...] = ()
    overruled: tuple[FailedRule, ...] = field(default=())

    @property
    def is_valid_pdfa_2b(self) -> bool:
        """Valid, checked against PDF/A-2b and claiming it (what a rendition must be)."""
        return (
            self.verdict is PdfaVerdict.VALID
            and self.checked_flavour == "2b"
            and (self.claimed_part, self.claimed_conformance) == (2, "B")
        )

    def summary_vi(self) -> str:
        """One Vietnamese sentence for people: verdict and failed clauses."""
        claim = (
            f"khai báo PDF/A-{self.claimed_part}{(self.claimed_conformance or '').lower()}"
            if self.claimed_part
            else "không khai báo PDF/A"
        )
        if self.verdict is PdfaVerdict.VALID:
            return f"Tệp {self.file_name}: {claim}, hợp lệ ({self.validator})"
        if self.verdict is PdfaVerdict.INVALID:
            clauses = ", ".join(dict.fromkeys(rule.clause for rule in self.failed_rules))
            return f"Tệp {self.file_name}: {claim}, không hợp lệ theo ISO 19005 điều {clauses}"
        reason = self.not_checked[0] if self.not_checked else "không có trình kiểm tra đầy đủ"
        return f"Tệp {self.file_name}: {claim}, chưa kiểm tra được ({reason})"


@functools.cache
def pikepdf_validator_version() -> str | None:
    """Version of pikepdf when its ``pdfa`` validator can be imported, else None (looked up
    once per process: reading package metadata costs more than validating a small page)."""
    try:
        import pikepdf.pdfa  # noqa: F401
    except ImportError:
        return None
    return metadata.version("pikepdf")


def validate_pdfa(
    path: str | os.PathLike[str],
    flavour: str | None = None,
    *,
    file_name: str | None = None,
    use_verapdf: bool = True,
    verapdf_executable: str | None = None,
    full_rules_if_unclaimed: bool = True,
    opened: pikepdf.Pdf | None = None,
) -> PdfaReport:
    """Validate a PDF against ``flavour`` (``2b``…); by default against the part and level it
    claims, or PDF/A-2b when it claims none. veraPDF is used when found on PATH (or given).

    With ``full_rules_if_unclaimed=False``, a file that claims no PDF/A gets only our own
    checks (its verdict is ``invalid`` all the same: it lacks the identification ISO 19005
    requires); the report lists the full rule set as not checked. The deposit check step does
    this: such a file is never kept as PDF/A, and its rendition is validated in full.

    ``opened`` is the file at ``path`` as its caller opened it, for our checks to read instead
    of opening it again; the caller closes it. Only a file whose objects qpdf has all read
    (``pdf.objects``) without a single warning may be given: it then reads as a file opened
    anew would, and our checks see every warning qpdf gives while they run."""
    path = Path(path)
    run = _Run(file_name or path.name, path)
    pdf = run.open() if opened is None else run.adopt(opened)
    target = _target(flavour, run.claim)
    run.part = int(target[0]) if target[0] in "123" else 0
    if run.part:
        run.structure(pdf, close=opened is None)
    elif pdf is not None and opened is None:
        pdf.close()
    if not full_rules_if_unclaimed and run.opened and run.claim is None and flavour is None:
        return run.own_checks_only(target)
    executable = (verapdf_executable or verapdf.find_verapdf()) if use_verapdf else None
    if executable:
        return run.with_verapdf(target, executable)
    return run.without_verapdf(target)


def _target(flavour: str | None, claim: PdfaClaim | None) -> str:
    """The flavour to check: asked for, else claimed (parts 1-3 levels A/B/U, part 4), else 2b."""
    if flavour:
        return flavour.lower()
    if claim is not None and claim.part == 4:
        return "4" + (claim.conformance or "").lower()
    if claim is not None and claim.part in (1, 2, 3) and claim.conformance in ("A", "B", "U"):
        return claim.flavour or TARGET_FLAVOUR
    return TARGET_FLAVOUR


class _Run:
    """One validation: the file, what was found, and the report built from it."""

    def __init__(self, name: str, path: Path) -> None:
        self.name, self.path = name, path
        self.findings = StructureFindings()
        self.xmp: XmpFacts | None = None
        self.opened = False
        self.part = 0

    @property
    def claim(self) -> PdfaClaim | None:
        return self.xmp.claim if self.xmp else None

    def open(self) -> pikepdf.Pdf | None:
        """Open with qpdf and read the XMP; a file needing a password fails 6.1.3 unopened."""
        try:
            pdf = pikepdf.open(self.path)
        except pikepdf.PasswordError:
            self.findings.fail(Rule.ENCRYPT, 2, "tệp được mã hoá và cần mật khẩu để mở")
            self.findings.not_checked.append("nội dung tệp: không mở được khi không có mật khẩu")
            return None
        except (pikepdf.PdfError, OSError, ValueError, RuntimeError) as exc:
            self.findings.not_checked.append(f"nội dung tệp: qpdf không đọc được tệp ({exc})")
            return None
        return self.adopt(pdf)

    def adopt(self, pdf: pikepdf.Pdf) -> pikepdf.Pdf:
        """Take the opened file and read its XMP."""
        self.opened = True
        try:
            self.xmp = read_xmp(pdf)
        except Exception as exc:  # a damaged file must not stop the report
            self.xmp = XmpFacts(True, False, problem=str(exc))
        return pdf

    def structure(self, pdf: pikepdf.Pdf | None, *, close: bool = True) -> None:
        """Our file syntax checks, and document checks when the file opened."""
        check_file_syntax(self.path, self.part, self.findings)
        if pdf is None:
            return
        try:
            check_document(pdf, self.xmp or XmpFacts(False, False), self.part, self.findings)
        except Exception as exc:  # a damaged file must not stop the report
            self.findings.not_checked.append(f"kiểm tra cấu trúc dừng giữa chừng: {exc}")
        finally:
            if close:
                pdf.close()

    def own_failures(self) -> list[FailedRule]:
        """Our failures, the specification named after the part checked."""
        spec = f"ISO 19005-{self.part or 2}"
        return [rule._replace(specification=spec) for rule in self.findings.failures]

    def own_checked(self) -> list[str]:
        if not self.part:
            return []
        topics = FILE_TOPICS + (DOCUMENT_TOPICS if self.opened else ())
        return [f"{OWN_VALIDATOR} {__version__}: {topic}" for topic in topics]

    def without_verapdf(self, target: str) -> PdfaReport:
        own = self.own_failures()
        failures, checked = list(own), self.own_checked()
        not_checked = [*self.findings.not_checked, *FILE_SYNTAX_NOT_CHECKED]
        opinions = [_opinion(OWN_VALIDATOR, __version__, own, complete=False)]
        pike_version = pikepdf_validator_version()
        level = f"{self.part}b"
        complete = False
        if not self.part:
            not_checked.append(f"PDF/A-{target}: chỉ veraPDF kiểm tra được phần này của ISO 19005")
        elif pike_version is None:
            not_checked.append("phần lớn quy tắc PDF/A: chưa cài pikepdf[pdfa] hay veraPDF")
        else:
            pike_failures, unsupported = _pikepdf_findings(self.path, level)
            if target[1:] in ("a", "u"):  # checked at level B: the A/U claim itself is right
                pike_failures = [rule for rule in pike_failures if not _conformance_rule(rule)]
            failures += [rule for rule in pike_failures if not _same(rule, failures)]
            not_checked += unsupported
            checked.append(f"{PIKEPDF_VALIDATOR} {pike_version}: các quy tắc của PDF/A-{level}")
            complete = not unsupported
            opinions.append(_opinion(PIKEPDF_VALIDATOR, pike_version, pike_failures, complete))
        if target[1:] in ("a", "u"):
            not_checked.append(LEVEL_AU_NOT_CHECKED)
            complete = False
        validators = f"{OWN_VALIDATOR} {__version__}"
        if pike_version:
            validators += f" + {PIKEPDF_VALIDATOR} {pike_version}"
        return self.report(
            target,
            _verdict(failures, complete),
            failures,
            checked,
            not_checked,
            validators,
            opinions,
        )

    def own_checks_only(self, target: str) -> PdfaReport:
        """The report of a file claiming no PDF/A when the full rule set is not run on it."""
        own = self.own_failures()
        not_checked = [*self.findings.not_checked, UNCLAIMED_RULES_NOT_CHECKED]
        return self.report(
            target,
            PdfaVerdict.INVALID if own else PdfaVerdict.NOT_CHECKED,
            own,
            self.own_checked(),
            not_checked,
            f"{OWN_VALIDATOR} {__version__}",
            [_opinion(OWN_VALIDATOR, __version__, own, complete=False)],
        )

    def with_verapdf(self, target: str, executable: str) -> PdfaReport:
        result = verapdf.run_verapdf(executable, self.path, target)
        label = f"{verapdf.VALIDATOR} {result.version or '?'}"
        own = self.own_failures()
        opinions = [_opinion(OWN_VALIDATOR, __version__, own, complete=False)]
        if result.compliant is None:
            verdict = PdfaVerdict.INVALID if own else PdfaVerdict.NOT_CHECKED
            not_checked = [*self.findings.not_checked, result.problem or "veraPDF không chạy"]
            return self.report(
                target, verdict, own, self.own_checked(), not_checked, label, opinions
            )
        failures = list(result.failed_rules)
        opinions.append(_opinion(verapdf.VALIDATOR, result.version or "?", failures, True))
        checked = [f"{label}: hồ sơ kiểm tra {result.profile or target}"]
        verdict = PdfaVerdict.VALID if result.compliant else PdfaVerdict.INVALID
        report = self.report(
            target, verdict, failures, checked, self.findings.not_checked, label, opinions
        )
        overruled = tuple(rule for rule in own if not _same(rule, failures))
        return replace(report, overruled=overruled)

    def report(
        self,
        target: str,
        verdict: PdfaVerdict,
        failures: list[FailedRule],
        checked: list[str],
        not_checked: list[str],
        validator: str,
        opinions: list[ValidatorOpinion],
    ) -> PdfaReport:
        claim = self.claim
        failures = [
            rule._replace(message=hide_local_paths(rule.message, self.path, self.name))
            for rule in failures
        ]
        not_checked = [hide_local_paths(note, self.path, self.name) for note in not_checked]
        return PdfaReport(
            file_name=self.name,
            claimed_part=claim.part if claim else None,
            claimed_conformance=claim.conformance if claim else None,
            checked_flavour=target,
            verdict=verdict,
            failed_rules=tuple(failures),
            checked=tuple(checked),
            not_checked=tuple(not_checked),
            validator=validator,
            opinions=tuple(opinions),
        )


def _pikepdf_findings(path: Path, flavour: str) -> tuple[list[FailedRule], list[str]]:
    """pikepdf's violations as failed rules; what it does not support as not-checked notes."""
    import pikepdf.pdfa

    install_schema_memo()  # the same findings, most objects' schema checks remembered (D-49)
    report = pikepdf.pdfa.validate_written(path, flavour)
    failures, unsupported = [], []
    for finding in report.findings:
        if finding.rule == "pikepdf:internal":
            unsupported.append(f"pikepdf.pdfa không đọc được tệp: {finding.message}")
            continue
        clause, test, spec = parse_rule_id(finding.rule)
        text = f"{finding.message} ({finding.where})"
        if finding.kind == "violation":
            failures.append(FailedRule(clause, text, test, spec, PIKEPDF_VALIDATOR))
        else:
            unsupported.append(f"{finding.rule}: pikepdf.pdfa không hỗ trợ kiểm tra — {text}")
    return failures, unsupported


def _conformance_rule(rule: FailedRule) -> bool:
    """``pdfaid:conformance`` must be B — the rule a B-level check applies to A/U claims."""
    return (rule.clause, rule.test) in {("6.6.4", "3"), ("6.7.11", "3")}


def _same(rule: FailedRule, others: list[FailedRule]) -> bool:
    return any((o.clause, o.test) == (rule.clause, rule.test) for o in others)


def _verdict(failures: list[FailedRule], complete: bool) -> PdfaVerdict:
    if failures:
        return PdfaVerdict.INVALID
    return PdfaVerdict.VALID if complete else PdfaVerdict.NOT_CHECKED


def _opinion(
    validator: str, version: str, failures: list[FailedRule], complete: bool
) -> ValidatorOpinion:
    return ValidatorOpinion(validator, version, _verdict(failures, complete), len(failures))
