"""The memo in front of ``pikepdf.pdfa``'s schema checks changes no report (D-49).

Every PDF of the format fixtures, valid and not, and renditions of scanned pages are validated
as PDF/A-1b, -2b and -3b by pikepdf's own check, then with the memo twice (the second time
mostly from memory): the findings must be the same, in the same order, to the letter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pikepdf
import pikepdf.pdfa
import pytest
from pikepdf import Dictionary, Name

from archive_service.formats import pdfa_memo
from archive_service.formats.convert_pdf import make_pdfa_2b
from archive_service.formats.pdfa_memo import (
    SchemaCheckMemo,
    install_schema_memo,
    uninstall_schema_memo,
)
from bench.deposit_throughput import scanned_pdf
from tests.formats_fixtures import PDF_FIXTURES, build_fixture

FLAVOURS = ("1b", "2b", "3b")
Findings = list[tuple[str, str, str, str]]


def findings(path: Path, flavour: str) -> Findings:
    report = pikepdf.pdfa.validate_written(path, flavour)
    return [(f.rule, f.where, f.message, f.kind) for f in report.findings]


def schema_violations(directory: Path) -> Path:
    """A PDF/A-2b file spoilt in ways the role schemas refuse (additional actions in the
    catalogue, a document information value PDF does not allow)."""
    with pikepdf.open(build_fixture(directory, "pdfa-2b")) as pdf:
        pdf.Root.AA = Dictionary()
        pdf.docinfo[Name("/Trapped")] = Name("/Maybe")
        pdf.save(directory / "spoilt.pdf")
    return directory / "spoilt.pdf"


def corpus(directory: Path) -> list[Path]:
    """The PDF fixtures, one spoilt, and PDF/A-2b renditions of three scanned pages."""
    paths = [build_fixture(directory, fixture.key) for fixture in PDF_FIXTURES]
    paths.append(schema_violations(directory))
    for seed in range(3):
        source = directory / f"scan-{seed}.pdf"
        source.write_bytes(scanned_pdf(seed, 20_000))
        with pikepdf.open(source) as pdf:
            make_pdfa_2b(pdf, directory / f"rendition-{seed}.pdf")
        paths.append(directory / f"rendition-{seed}.pdf")
    return paths


def test_reports_with_the_memo_are_pikepdfs_own_finding_for_finding(tmp_path: Path) -> None:
    uninstall_schema_memo()
    paths = corpus(tmp_path)
    own = {(path, flavour): findings(path, flavour) for path in paths for flavour in FLAVOURS}
    # the corpus has schema violations and unsupported keys, at places inside objects
    every = [finding for found in own.values() for finding in found]
    assert ("pikepdf:schema-Info", "obj 2 0 (Info) /Trapped") in {f[:2] for f in every}
    assert "pikepdf:schema-Catalog" in {rule for rule, *_ in every}
    assert {kind for *_, kind in every} == {"violation", "unsupported"}
    memo = install_schema_memo()
    assert memo is not None
    for _ in range(2):  # filling the memo, then answering from it
        for (path, flavour), expected in own.items():
            assert findings(path, flavour) == expected, (path.name, flavour)
    assert memo.hits > memo.misses > 0


def test_install_is_once_and_uninstall_restores_pikepdfs_check() -> None:
    from pikepdf.pdfa._schemas import SchemaSet

    uninstall_schema_memo()
    own = SchemaSet.check
    memo = install_schema_memo()
    assert memo is not None and install_schema_memo() is memo
    assert SchemaSet.check is not own
    uninstall_schema_memo()
    assert SchemaSet.check is own
    install_schema_memo()


class _Schemas:
    flavour = "2b"


class _Context:
    def __init__(self) -> None:
        self.denied: list[tuple[str, str, str, str]] = []

    def deny(self, rule_id: str, where: str, message: str, kind: str = "violation") -> None:
        self.denied.append((rule_id, where, message, kind))


def _counting_check(calls: list[Any]) -> Any:
    def check(schemas: Any, role: str, shallow: Any, ctx: Any, where: str) -> bool:
        calls.append(shallow)
        if shallow.get("bad"):
            ctx.deny("rule", f"{where} [/Bad]", "not allowed", "violation")
            return False
        return True

    return check


def test_findings_are_replayed_at_each_objects_own_location() -> None:
    calls: list[Any] = []
    memo = SchemaCheckMemo(_counting_check(calls))
    first, second = _Context(), _Context()
    assert memo(_Schemas(), "Page", {"bad": True}, first, "page 1") is False
    assert memo(_Schemas(), "Page", {"bad": True}, second, "page 2") is False
    assert len(calls) == 1 and (memo.hits, memo.misses) == (1, 1)
    assert first.denied == [("rule", "page 1 [/Bad]", "not allowed", "violation")]
    assert second.denied == [("rule", "page 2 [/Bad]", "not allowed", "violation")]
    assert memo(_Schemas(), "Pages", {"bad": True}, _Context(), "x") is False  # another role
    assert len(calls) == 2


def test_objects_not_kept_are_checked_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    memo = SchemaCheckMemo(_counting_check(calls))
    unserialisable = {"bad": False, "odd": {1, 2}}
    monkeypatch.setattr(pdfa_memo, "MAX_KEY_CHARS", 30)
    long = {"bad": False, "text": "x" * 40}
    for shallow in (unserialisable, unserialisable, long, long):
        assert memo(_Schemas(), "Page", shallow, _Context(), "p") is True
    assert len(calls) == 4 and memo.hits == 0


def test_a_check_that_raises_is_not_kept() -> None:
    calls: list[Any] = []

    def failing(schemas: Any, role: str, shallow: Any, ctx: Any, where: str) -> bool:
        calls.append(shallow)
        raise ValueError("broken schema")

    memo = SchemaCheckMemo(failing)
    for _ in range(2):
        with pytest.raises(ValueError, match="broken schema"):
            memo(_Schemas(), "Page", {}, _Context(), "p")
    assert len(calls) == 2 and memo.hits == 0


def test_the_memo_forgets_the_oldest_beyond_its_size(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    memo = SchemaCheckMemo(_counting_check(calls))
    monkeypatch.setattr(pdfa_memo, "MAX_ENTRIES", 2)
    for shallow in ({"n": 1}, {"n": 2}, {"n": 3}, {"n": 3}, {"n": 1}):
        memo(_Schemas(), "Page", shallow, _Context(), "p")
    assert [c["n"] for c in calls] == [1, 2, 3, 1]  # 3 from memory; 1 forgotten
