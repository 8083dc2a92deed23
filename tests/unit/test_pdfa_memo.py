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
    pikepdf_source_sha256,
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


def test_the_memo_is_for_this_pikepdf_and_no_other(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A new pikepdf changes what the memo stands in front of: this fails until it is reviewed.
    assert (pikepdf.__version__, pikepdf_source_sha256()) == (
        pdfa_memo.PIKEPDF_VERSION,
        pdfa_memo.PIKEPDF_SOURCE_SHA256,
    )
    from pikepdf.pdfa._schemas import SchemaSet

    uninstall_schema_memo()
    own = SchemaSet.check
    monkeypatch.setattr(pdfa_memo, "PIKEPDF_SOURCE_SHA256", "0" * 64)  # another pikepdf
    monkeypatch.setattr(pdfa_memo, "_refused", False)
    assert install_schema_memo() is None
    assert SchemaSet.check is own
    assert "validating without it" in caplog.text
    monkeypatch.undo()
    assert install_schema_memo() is not None


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


SCHEMAS = _Schemas()  # one schema set, as pikepdf keeps one per flavour


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
    assert memo(SCHEMAS, "Page", {"bad": True}, first, "page 1") is False
    assert memo(SCHEMAS, "Page", {"bad": True}, second, "page 2") is False
    assert len(calls) == 1 and (memo.hits, memo.misses) == (1, 1)
    assert first.denied == [("rule", "page 1 [/Bad]", "not allowed", "violation")]
    assert second.denied == [("rule", "page 2 [/Bad]", "not allowed", "violation")]
    assert memo(SCHEMAS, "Pages", {"bad": True}, _Context(), "x") is False  # another role
    assert len(calls) == 2


def test_objects_not_kept_are_checked_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    memo = SchemaCheckMemo(_counting_check(calls))
    unserialisable = {"bad": False, "odd": {1, 2}}
    monkeypatch.setattr(pdfa_memo, "MAX_KEY_CHARS", 30)
    long = {"bad": False, "text": "x" * 40}
    for shallow in (unserialisable, unserialisable, long, long):
        assert memo(SCHEMAS, "Page", shallow, _Context(), "p") is True
    assert len(calls) == 4 and memo.hits == 0


def test_a_check_that_raises_is_not_kept_and_passes_on_what_it_found() -> None:
    calls: list[Any] = []

    def failing(schemas: Any, role: str, shallow: Any, ctx: Any, where: str) -> bool:
        calls.append(shallow)
        ctx.deny("rule", f"{where} [/A]", "first", "violation")
        raise ValueError("broken schema")

    memo = SchemaCheckMemo(failing)
    for _ in range(2):
        context = _Context()
        with pytest.raises(ValueError, match="broken schema"):
            memo(SCHEMAS, "Page", {}, context, "p")
        assert context.denied == [("rule", "p [/A]", "first", "violation")]  # as pikepdf would
    assert len(calls) == 2 and memo.hits == 0


def test_key_order_is_part_of_the_key() -> None:
    # jsonschema's messages show the object as it is, keys in their order.
    def check(schemas: Any, role: str, shallow: Any, ctx: Any, where: str) -> bool:
        ctx.deny("rule", where, f"{shallow!r} is not valid", "violation")
        return False

    memo = SchemaCheckMemo(check)
    for shallow in ({"/A": 1, "/B": 2}, {"/B": 2, "/A": 1}, {"/A": 1, "/B": 2}):
        context = _Context()
        memo(SCHEMAS, "Page", shallow, context, "p")
        assert context.denied == [("rule", "p", f"{shallow!r} is not valid", "violation")]
    assert (memo.hits, memo.misses) == (1, 2)


def test_an_object_with_many_findings_is_not_kept() -> None:
    calls: list[Any] = []

    def check(schemas: Any, role: str, shallow: Any, ctx: Any, where: str) -> bool:
        calls.append(shallow)
        for n in range(pdfa_memo.MAX_FINDINGS + 1):
            ctx.deny("rule", f"{where} [{n}]", "bad", "violation")
        return False

    memo = SchemaCheckMemo(check)
    for _ in range(2):
        context = _Context()
        assert memo(SCHEMAS, "Pages", {"/Kids": [1, 2]}, context, "p") is False
        assert len(context.denied) == pdfa_memo.MAX_FINDINGS + 1
    assert len(calls) == 2 and memo.hits == 0


def test_the_memo_forgets_the_least_recently_used(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    memo = SchemaCheckMemo(_counting_check(calls))
    monkeypatch.setattr(pdfa_memo, "MAX_ENTRIES", 2)
    for n in (1, 2, 1, 3, 1, 2):
        memo(SCHEMAS, "Page", {"n": n}, _Context(), "p")
    # 1 was used again before 3 came, so 2 was forgotten, not 1
    assert [c["n"] for c in calls] == [1, 2, 3, 2]
