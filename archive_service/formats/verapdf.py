"""veraPDF, the reference PDF/A validator, when it is installed: run it and read its report.

veraPDF's machine-readable report (``--format xml``, formerly ``mrr``) names the release in
``buildInformation/releaseDetails[@id='core']``, the verdict in
``jobs/job/validationReport/@isCompliant`` and each failed rule as
``details/rule[@status='failed']`` with ``clause``, ``testNumber`` and ``specification``;
a file it could not read has a ``taskException`` instead of a validation report.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from archive_service.formats.pdfa_rules import FailedRule
from archive_service.packages.xmlsafe import UnsafeXml, parse_xml_bytes

VALIDATOR = "veraPDF"
MAX_REPORT_BYTES = 64 * 1024 * 1024
DEFAULT_TIMEOUT = 300.0


@dataclass(frozen=True)
class VeraPdfResult:
    """What veraPDF said: compliant or not (None: it could not validate, see ``problem``)."""

    version: str | None
    compliant: bool | None
    profile: str | None
    failed_rules: tuple[FailedRule, ...]
    problem: str | None = None


def find_verapdf() -> str | None:
    """Path of the ``verapdf`` executable on PATH, if any."""
    return shutil.which("verapdf")


def run_verapdf(
    executable: str, path: Path, flavour: str, timeout: float = DEFAULT_TIMEOUT
) -> VeraPdfResult:
    """Validate ``path`` against ``flavour`` (``2b``, ``1b``, ``2u``, ``4`` …)."""
    command = [executable, "--format", "xml", "--maxfailuresdisplayed", "3", "--flavour"]
    try:
        finished = subprocess.run(
            [*command, flavour, str(path)], capture_output=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return VeraPdfResult(None, None, None, (), f"không chạy được veraPDF: {exc}")
    if not finished.stdout.strip():
        error = finished.stderr.decode("utf-8", "replace").strip()[:500]
        return VeraPdfResult(None, None, None, (), f"veraPDF không trả báo cáo: {error}")
    return parse_report(finished.stdout)


def parse_report(report: bytes) -> VeraPdfResult:
    """Read veraPDF's XML report on one file."""
    if len(report) > MAX_REPORT_BYTES:
        return VeraPdfResult(None, None, None, (), "báo cáo veraPDF quá lớn")
    try:
        root = parse_xml_bytes(report, "veraPDF report").getroot()
    except UnsafeXml as exc:
        return VeraPdfResult(None, None, None, (), f"báo cáo veraPDF không đọc được: {exc}")
    version = _release_version(root)
    validation = root.find("jobs/job/validationReport")
    if validation is None:
        return VeraPdfResult(version, None, None, (), _job_problem(root))
    compliant = validation.get("isCompliant") == "true"
    failures = tuple(
        _failed_rule(rule) for rule in validation.iterfind("details/rule[@status='failed']")
    )
    return VeraPdfResult(version, compliant, validation.get("profileName"), failures)


def _release_version(root: etree._Element) -> str | None:
    for release in root.iterfind("buildInformation/releaseDetails"):
        if release.get("id") == "core":
            return release.get("version")
    return None


def _job_problem(root: etree._Element) -> str:
    message = root.findtext("jobs/job/taskException/exceptionMessage")
    if message:
        return f"veraPDF không kiểm tra được tệp: {message.strip()}"
    summary = root.find("batchSummary")
    if summary is not None and summary.get("encrypted", "0") != "0":
        return "veraPDF không kiểm tra được tệp: tệp được mã hoá"
    return "báo cáo veraPDF không có kết quả kiểm tra"


def _failed_rule(rule: etree._Element) -> FailedRule:
    detail = rule.findtext("check/errorMessage") or rule.findtext("description") or ""
    specification = (rule.get("specification") or "").split(":")[0]
    return FailedRule(
        clause=rule.get("clause", "?"),
        message=" ".join(detail.split()),
        test=rule.get("testNumber"),
        specification=specification,
        validator=VALIDATOR,
    )
