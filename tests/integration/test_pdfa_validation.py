"""PDF/A validation of generated PDFs: the expected verdict and failed ISO 19005 clauses, an
honest account of what was not checked, and never ``valid`` for a file nobody could check.

The veraPDF tests at the end are PARSER tests: veraPDF is not installable here, so its report
reader is tested on hand-written samples in veraPDF's XML report format.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import pikepdf
import pytest
from pikepdf import Name

from archive_service.formats.pdfa import PdfaVerdict, validate_pdfa
from archive_service.formats.pdfa_claim import MAX_XMP_BYTES, claim_from_xmp
from archive_service.formats.verapdf import parse_report
from tests import formats_fixtures as fx

_CLAUSE = re.compile(r"^\d+(\.\d+)+$")


@pytest.fixture(scope="module")
def pdf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pdfs")
    for fixture in fx.PDF_FIXTURES:
        fx.build_fixture(directory, fixture.key)
    return directory


@pytest.mark.parametrize("fixture", fx.PDF_FIXTURES, ids=lambda fixture: fixture.key)
def test_verdict_and_failed_clauses(pdf_dir: Path, fixture: fx.FormatFixture) -> None:
    report = validate_pdfa(pdf_dir / fixture.file_name, use_verapdf=False)

    assert report.verdict.value == fixture.pdfa_verdict
    claimed = (
        f"{report.claimed_part}{report.claimed_conformance.lower()}"
        if report.claimed_part and report.claimed_conformance
        else None
    )
    assert claimed == fixture.pdfa_claim
    found = {rule.clause for rule in report.failed_rules}
    assert set(fixture.pdfa_rules) <= found, report.failed_rules
    for rule in report.failed_rules:
        assert _CLAUSE.match(rule.clause) and rule.message
        assert rule.specification == f"ISO 19005-{(report.checked_flavour or '?')[0]}"
    if report.verdict is PdfaVerdict.VALID:
        assert not report.failed_rules
        assert {opinion.verdict for opinion in report.opinions} <= {
            PdfaVerdict.VALID,
            PdfaVerdict.NOT_CHECKED,
        }


def test_valid_report_says_what_was_and_was_not_checked(pdf_dir: Path) -> None:
    report = validate_pdfa(pdf_dir / "quyet-dinh.pdf", use_verapdf=False)

    assert report.is_valid_pdfa_2b
    assert report.validator.startswith("archive-service ")
    assert "pikepdf.pdfa" in report.validator
    assert any("6.2.11.4.1" in topic for topic in report.checked)
    assert any("6.1.9-1" in topic for topic in report.not_checked)
    assert [opinion.validator for opinion in report.opinions] == ["archive-service", "pikepdf.pdfa"]
    assert report.summary_vi().startswith("Tệp quyet-dinh.pdf: khai báo PDF/A-2b, hợp lệ")


def test_our_checks_catch_what_pikepdf_only_reports_as_unsupported(pdf_dir: Path) -> None:
    report = validate_pdfa(pdf_dir / "bieu-mau.pdf", use_verapdf=False)

    own = [rule for rule in report.failed_rules if rule.validator == "archive-service"]
    assert [(rule.clause, rule.test) for rule in own] == [("6.5.1", "1")]
    assert "JavaScript" in own[0].message
    opinions = {opinion.validator: opinion.verdict for opinion in report.opinions}
    assert opinions == {
        "archive-service": PdfaVerdict.INVALID,
        "pikepdf.pdfa": PdfaVerdict.NOT_CHECKED,
    }


def test_a_file_that_cannot_be_opened_is_never_valid(pdf_dir: Path) -> None:
    report = validate_pdfa(pdf_dir / "mat-khau.pdf", use_verapdf=False)

    assert report.verdict is PdfaVerdict.INVALID
    assert [(rule.clause, rule.test) for rule in report.failed_rules] == [("6.1.3", "2")]
    assert any("mật khẩu" in note for note in report.not_checked)
    assert report.summary_vi() == (
        "Tệp mat-khau.pdf: không khai báo PDF/A, không hợp lệ theo ISO 19005 điều 6.1.3"
    )


def test_pdfa_1b_checked_against_part_2_fails_the_identification_rule(pdf_dir: Path) -> None:
    report = validate_pdfa(pdf_dir / "to-khai.pdf", "2b", use_verapdf=False)

    assert report.verdict is PdfaVerdict.INVALID
    assert (report.claimed_part, report.checked_flavour) == (1, "2b")
    assert ("6.6.4", "2") in {(rule.clause, rule.test) for rule in report.failed_rules}


@pytest.mark.parametrize(("part", "conformance"), [(2, "U"), (4, "F")])
def test_levels_and_parts_nobody_here_can_fully_check_are_not_checked(
    tmp_path: Path, part: int, conformance: str
) -> None:
    path = fx.pdfa_claim(tmp_path / "khac.pdf", part, conformance)

    report = validate_pdfa(path, use_verapdf=False)

    assert report.verdict is PdfaVerdict.NOT_CHECKED
    assert report.checked_flavour == f"{part}{conformance.lower()}"
    assert any("veraPDF" in note for note in report.not_checked)


def test_authority_that_cannot_run_makes_a_good_file_not_checked(pdf_dir: Path) -> None:
    report = validate_pdfa(pdf_dir / "quyet-dinh.pdf", verapdf_executable="/nonexistent/verapdf")

    assert report.verdict is PdfaVerdict.NOT_CHECKED
    assert report.validator == "veraPDF ?"
    assert any("veraPDF" in note for note in report.not_checked)


def test_authority_that_cannot_run_keeps_our_failures(pdf_dir: Path) -> None:
    report = validate_pdfa(pdf_dir / "thong-bao.pdf", verapdf_executable="/nonexistent/verapdf")

    assert report.verdict is PdfaVerdict.INVALID
    assert {rule.clause for rule in report.failed_rules} == {"6.2.11.4.1"}


def test_pdfaid_as_attributes_is_read() -> None:
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        b'22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/'
        b'pdfa/ns/id/" pdfaid:part="3" pdfaid:conformance="u"/></rdf:RDF></x:xmpmeta>'
    )

    facts = claim_from_xmp(xmp)

    assert facts.claim is not None
    assert (facts.claim.part, facts.claim.conformance, facts.claim.flavour) == (3, "U", "3u")


def test_xmp_with_a_dtd_is_unreadable_not_parsed() -> None:
    facts = claim_from_xmp(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')

    assert (facts.present, facts.readable, facts.claim) == (True, False, None)


def test_xmp_that_inflates_past_the_limit_is_unreadable_not_loaded(tmp_path: Path) -> None:
    path = fx.pdfa_2b(tmp_path / "bom.pdf", pages=1)
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        bomb = pdf.make_stream(b"", Type=Name.Metadata, Subtype=Name.XML)
        bomb.write(zlib.compress(b" " * (MAX_XMP_BYTES + 1)), filter=Name.FlateDecode)
        pdf.Root.Metadata = bomb
        pdf.save(path, fix_metadata_version=False)

    report = validate_pdfa(path, "2b", use_verapdf=False)

    assert report.verdict is PdfaVerdict.INVALID
    assert ("6.6.2.1", "4") in {(rule.clause, rule.test) for rule in report.failed_rules}


# --- veraPDF report PARSER tests (hand-written samples in veraPDF's XML report format) ----------

_NON_COMPLIANT = b"""<?xml version="1.0" encoding="utf-8"?>
<report>
  <buildInformation>
    <releaseDetails id="core" version="1.26.2" buildDate="2024-05-14T10:12:00+02:00"/>
    <releaseDetails id="validation-model" version="1.26.2" buildDate="2024-05-14T10:20:00+02:00"/>
  </buildInformation>
  <jobs>
    <job>
      <item size="20931"><name>/srv/staging/thong-bao.pdf</name></item>
      <validationReport jobEndStatus="normal" profileName="PDF/A-2B validation profile"
          statement="PDF file is not compliant with Validation Profile requirements."
          isCompliant="false">
        <details passedRules="143" failedRules="2" passedChecks="1530" failedChecks="2">
          <rule specification="ISO 19005-2:2011" clause="6.2.11.4.1" testNumber="1"
              status="failed" failedChecks="1">
            <description>The font programs for all fonts used for rendering within a conforming
              file shall be embedded within that file, as defined in ISO 32000-1:2008, 9.9
            </description>
            <object>PDFont</object>
            <test>Subtype == "Type3" || Subtype == "Type0" || renderingMode == 3
              || containsFontFile == true</test>
            <check status="failed">
              <context>root/document[0]/pages[0](3 0 obj PDPage)/contentStream[0]/operators[2]/<!--
              -->font[0](Helvetica)</context>
              <errorMessage>The font program is not embedded</errorMessage>
            </check>
          </rule>
          <rule specification="ISO 19005-2:2011" clause="6.5.1" testNumber="1" status="failed"
              failedChecks="1">
            <description>The Launch, Sound, Movie, ResetForm, ImportData, Hide, SetOCGState,
              Rendition, Trans, GoTo3DView and JavaScript actions shall not be permitted.
            </description>
            <object>PDAction</object>
            <test>S == "GoTo" || S == "GoToR" || S == "GoToE" || S == "Thread" || S == "URI"</test>
            <check status="failed">
              <context>root/document[0]/OpenAction[0](5 0 obj PDAction)</context>
            </check>
          </rule>
        </details>
      </validationReport>
      <duration start="1718161320000" finish="1718161320412">00:00:00.412</duration>
    </job>
  </jobs>
  <batchSummary totalJobs="1" failedToParse="0" encrypted="0" outOfMemory="0" veraExceptions="0">
    <validationReports compliant="0" nonCompliant="1" failedJobs="0">1</validationReports>
    <featureReports failedJobs="0">0</featureReports>
    <repairReports failedJobs="0">0</repairReports>
    <duration start="1718161319990" finish="1718161320430">00:00:00.440</duration>
  </batchSummary>
</report>
"""

_COMPLIANT = b"""<?xml version="1.0" encoding="utf-8"?>
<report>
  <buildInformation>
    <releaseDetails id="core" version="1.24.1" buildDate="2023-09-05T10:41:00+02:00"/>
  </buildInformation>
  <jobs><job>
    <item size="10230"><name>quyet-dinh.pdf</name></item>
    <validationReport jobEndStatus="normal" profileName="PDF/A-2B validation profile"
        statement="PDF file is compliant with Validation Profile requirements." isCompliant="true">
      <details passedRules="145" failedRules="0" passedChecks="1602" failedChecks="0"/>
    </validationReport>
  </job></jobs>
  <batchSummary totalJobs="1" failedToParse="0" encrypted="0" outOfMemory="0" veraExceptions="0"/>
</report>
"""

_PARSE_FAILURE = b"""<?xml version="1.0" encoding="utf-8"?>
<report>
  <buildInformation>
    <releaseDetails id="core" version="1.26.2" buildDate="2024-05-14T10:12:00+02:00"/>
  </buildInformation>
  <jobs><job>
    <item size="4102"><name>hong.pdf</name></item>
    <taskException type="PARSE" isExecuted="true" isSuccess="false">
      <exceptionMessage>Couldn't parse stream caused by exception: PDF file is corrupted
      </exceptionMessage>
    </taskException>
  </job></jobs>
  <batchSummary totalJobs="1" failedToParse="1" encrypted="0" outOfMemory="0" veraExceptions="0"/>
</report>
"""


def test_verapdf_parser_reads_failed_rules_and_version() -> None:
    result = parse_report(_NON_COMPLIANT)

    assert (result.version, result.compliant) == ("1.26.2", False)
    assert result.profile == "PDF/A-2B validation profile"
    assert [rule.rule_id for rule in result.failed_rules] == [
        "ISO 19005-2:6.2.11.4.1-1",
        "ISO 19005-2:6.5.1-1",
    ]
    assert result.failed_rules[0].message == "The font program is not embedded"
    assert result.failed_rules[1].message.startswith("The Launch, Sound, Movie")
    assert {rule.validator for rule in result.failed_rules} == {"veraPDF"}


def test_verapdf_parser_reads_a_compliant_report() -> None:
    result = parse_report(_COMPLIANT)

    assert (result.version, result.compliant, result.failed_rules) == ("1.24.1", True, ())


def test_verapdf_parser_reports_a_file_it_could_not_validate() -> None:
    result = parse_report(_PARSE_FAILURE)

    assert result.compliant is None
    assert result.problem is not None and "PDF file is corrupted" in result.problem


def test_verapdf_parser_refuses_a_report_with_a_dtd() -> None:
    result = parse_report(
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "b">]><report>&a;</report>'
    )

    assert result.compliant is None and result.problem
