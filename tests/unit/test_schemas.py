"""The bundled XSDs: offline loading, agreement with the field tables, and validation messages."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from lxml import etree
from pydantic import BaseModel

from archive_service.packages import codes, fields, models
from archive_service.packages.fields import FieldSpec, Kind
from archive_service.packages.problems import Problem, ProblemCode
from archive_service.packages.schemas import (
    LocalOnlyResolver,
    SchemaLocationRefused,
    SchemaName,
    load_schema,
    schema_files,
    schemas_dir,
    validate,
)
from archive_service.packages.xmlsafe import parse_xml_bytes

XS = "{http://www.w3.org/2001/XMLSchema}"
TTHC_NS = "urn:vn:archive:tthc:1"


def check(
    schema: SchemaName, text: str, path: str = "metadata/descriptive/EAD.xml"
) -> list[Problem]:
    return validate(parse_xml_bytes(text.encode("utf-8"), path), schema, path)


def line_of(text: str, needle: str) -> int:
    """1-based line of the first occurrence of ``needle``."""
    return text[: text.index(needle)].count("\n") + 1


def line_of_element(text: str, tag: str) -> int:
    """1-based line of the first start tag ``<tag …>``."""
    found = re.search(rf"<{tag}[\s/>]", text)
    assert found, tag
    return text[: found.start()].count("\n") + 1


def problem_at(problems: list[Problem], field: str, line: int) -> Problem:
    """The first problem about ``field``: a schema problem whose message names the line."""
    matching = [p for p in problems if p.field == field]
    assert matching, problems
    problem = matching[0]
    assert problem.code is ProblemCode.XML_SCHEMA_INVALID
    assert f"dòng {line}" in problem.message, problem.message
    assert f"<{field}>" in problem.message
    return problem


# --- Descriptive metadata (simpledc) -----------------------------------------------------------

FILE_CODE = "000.00.19.H56.2024.HT01"
VALID_VALUES: dict[str, str] = {
    # dossier
    "fileCode": FILE_CODE,
    "arcFileCode": f"LTDT.{FILE_CODE}",
    "title": "Hồ sơ đăng ký kết hôn của ông Nguyễn Văn Ánh và bà Trần Thị Bích Ngọc",
    "maintenance": "07:15",
    "mode": "02",
    "language": "01, 02",
    "startDate": "10/06/2024",
    "endDate": "12/06/2024",
    "keyword": "hộ tịch; kết hôn",
    "totalDoc": "2",
    "numberOfPaper": "0",
    "numberOfPage": "5",
    "format": "01",
    "inforSign": "HT",
    "confidenceLevel": "01",
    "paperFileCode": "",
    "riskRecovery": "1",
    "riskRecoveryStatus": "02",
    "description": "Người lập hồ sơ: Lê Văn Đức, công chức tư pháp – hộ tịch",
    # documents
    "docId": f"{FILE_CODE}.1",
    "docCode": f"{FILE_CODE}0000001",
    "docOrdinal": "1",
    "typeName": "22",
    "codeNumber": "125",
    "codeNotation": "UBND-TP",
    "issuedDate": "11/06/2024",
    "organName": "Ủy ban nhân dân xã Tân Phú",
    "subject": "Về việc cấp Giấy chứng nhận kết hôn",
    "autograph": "Chữ ký của Chủ tịch UBND xã",
    "process": "1",
    # photographs and recordings
    "eventName": "Lễ trao Giấy chứng nhận kết hôn",
    "author": "Phạm Quốc Hưng",
    "place": "Trụ sở UBND xã Tân Phú",
    "photoDate": "12/06/2024",
    "colour": "01",
    "quality": "Tốt, rõ nét",
    "mediaType": "02",
    "recordDate": "12/06/2024",
    "duration": "00:12:30",
}

#: Each EAD schema and the field tables it must accept.
EAD_TABLES: dict[SchemaName, tuple[tuple[FieldSpec, ...], ...]] = {
    SchemaName.EAD: (fields.DOSSIER_FIELDS, fields.AIP_DOSSIER_FIELDS),
    SchemaName.EAD_DOC: (fields.DOCUMENT_FIELDS, fields.AIP_DOCUMENT_FIELDS),
    SchemaName.EAD_PIC: (fields.PICTURE_FIELDS,),
    SchemaName.EAD_MEDIA: (fields.MEDIA_FIELDS,),
}
TABLE_CASES = [
    pytest.param(schema, table, id=f"{schema.name}-{index}")
    for schema, tables in EAD_TABLES.items()
    for index, table in enumerate(tables)
]


def simpledc(values: Mapping[str, str], seed: int = 5) -> str:
    """A <simpledc> file, one element a line (element i on line i + 2), in a shuffled order."""
    tags = list(values)
    random.Random(seed).shuffle(tags)
    body = "".join(f"  <{tag}>{values[tag]}</{tag}>\n" for tag in tags)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<simpledc>\n{body}</simpledc>\n'


def full_values(table: Sequence[FieldSpec]) -> dict[str, str]:
    return {spec.tag: VALID_VALUES[spec.tag] for spec in table}


@pytest.mark.parametrize(("schema", "table"), TABLE_CASES)
def test_every_variant_with_every_field_in_shuffled_order_is_valid(
    schema: SchemaName, table: tuple[FieldSpec, ...]
) -> None:
    values = full_values(table)
    assert fields.check_fields({k: [v] for k, v in values.items()}, table, "x") == []
    for seed in (1, 2, 3):
        assert check(schema, simpledc(values, seed)) == []


@pytest.mark.parametrize(("schema", "table"), TABLE_CASES)
def test_only_required_fields_are_enough(schema: SchemaName, table: tuple[FieldSpec, ...]) -> None:
    values = {spec.tag: VALID_VALUES[spec.tag] for spec in table if spec.required}
    assert check(schema, simpledc(values)) == []


@pytest.mark.parametrize(("schema", "table"), TABLE_CASES)
def test_leaving_out_a_field_fails_exactly_when_the_table_requires_it(
    schema: SchemaName, table: tuple[FieldSpec, ...]
) -> None:
    values = full_values(table)
    for spec in table:
        without = {tag: text for tag, text in values.items() if tag != spec.tag}
        problems = check(schema, simpledc(without))
        assert bool(problems) == spec.required, (spec.tag, problems)
        assert all(p.code is ProblemCode.XML_SCHEMA_INVALID for p in problems)


@pytest.mark.parametrize(("schema", "table"), TABLE_CASES)
def test_empty_elements_fail_exactly_when_the_table_requires_a_value(
    schema: SchemaName, table: tuple[FieldSpec, ...]
) -> None:
    values = full_values(table)
    for spec in table:
        text = simpledc({**values, spec.tag: "  "})
        problems = check(schema, text)
        as_lists = {tag: [value] for tag, value in {**values, spec.tag: "  "}.items()}
        fields_problems = fields.check_fields(as_lists, table, "x")
        assert bool(problems) == spec.required == bool(fields_problems), (spec.tag, problems)
        if spec.required:
            problem = problem_at(problems, spec.tag, line_of(text, f"<{spec.tag}>"))
            assert "không được để trống" in problem.message


# --- The XSDs and fields.py agree (parsed, not only exercised) ---------------------------------


def xsd_document(schema: SchemaName) -> etree._ElementTree:
    return etree.parse(str(schemas_dir() / schema.value))


def declared_elements(document: etree._ElementTree) -> dict[str, etree._Element]:
    """Tag → declaration of every element <simpledc> may hold (substitution groups expanded)."""
    root = document.getroot()
    globals_ = {e.get("name"): e for e in root.findall(f"{XS}element")}
    members: dict[str, list[etree._Element]] = {}
    for declaration in globals_.values():
        if declaration.get("substitutionGroup"):
            members.setdefault(declaration.get("substitutionGroup", ""), []).append(declaration)
    declared: dict[str, etree._Element] = {}
    for particle in globals_["simpledc"].iterfind(f"{XS}complexType/{XS}all/{XS}element"):
        if particle.get("ref"):
            for member in members[particle.get("ref", "")]:
                declared[member.get("name", "")] = member
        else:
            declared[particle.get("name", "")] = particle
    return declared


def facets(document: etree._ElementTree, declaration: etree._Element) -> dict[str, set[str]]:
    """The facets of an element's simple type, gathered along its chain of restrictions."""
    simple_types = {t.get("name"): t for t in document.getroot().findall(f"{XS}simpleType")}
    type_name = declaration.get("type") or declaration.find(
        f"{XS}complexType/{XS}simpleContent/{XS}extension"
    ).get("base")  # type: ignore[union-attr]
    found: dict[str, set[str]] = {}
    while type_name in simple_types:
        restriction = simple_types[type_name].find(f"{XS}restriction")
        assert restriction is not None
        for facet in restriction:
            if isinstance(facet.tag, str) and facet.tag != f"{XS}annotation":
                found.setdefault(etree.QName(facet).localname, set()).add(facet.get("value", ""))
        type_name = restriction.get("base")
    assert type_name == "xs:token", type_name
    return found


@pytest.mark.parametrize("schema", list(EAD_TABLES))
def test_xsd_declares_exactly_the_tags_of_its_tables(schema: SchemaName) -> None:
    tags = {spec.tag for table in EAD_TABLES[schema] for spec in table}
    assert set(declared_elements(xsd_document(schema))) == tags


@pytest.mark.parametrize(("schema", "table"), TABLE_CASES)
def test_xsd_types_match_the_table_lengths_codes_and_requiredness(
    schema: SchemaName, table: tuple[FieldSpec, ...]
) -> None:
    document = xsd_document(schema)
    declared = declared_elements(document)
    for spec in table:
        found = facets(document, declared[spec.tag])
        assert found["maxLength"] == {str(spec.max_length)}, spec.tag
        assert (found.get("minLength") == {"1"}) == spec.required, spec.tag
        if spec.kind is Kind.CODE:
            assert spec.codes is not None
            assert found["enumeration"] - {""} == set(spec.codes), spec.tag
        if spec.kind is Kind.CODES:
            assert spec.codes is not None
            alternatives = "|".join(spec.codes)
            assert found["pattern"] == {f"(({alternatives})( ?[,;] ?({alternatives}))*)?"}


@pytest.mark.parametrize("schema", list(EAD_TABLES))
def test_an_element_is_optional_in_the_xsd_unless_every_table_requires_it(
    schema: SchemaName,
) -> None:
    tables = EAD_TABLES[schema]
    all_particles = xsd_document(schema).getroot().find(f"{XS}element/{XS}complexType/{XS}all")
    assert all_particles is not None
    for particle in all_particles:
        if not isinstance(particle.tag, str) or particle.get("ref"):
            continue
        tag = particle.get("name")
        required_everywhere = all(
            any(spec.tag == tag and spec.required for spec in table) for table in tables
        )
        assert (particle.get("minOccurs", "1") == "1") == required_everywhere, tag


# --- Variants, codes, dates, numbers ------------------------------------------------------------


def values_with(table: tuple[FieldSpec, ...], **changes: str | None) -> dict[str, str]:
    values = full_values(table)
    for tag, text in changes.items():
        if text is None:
            values.pop(tag, None)
        else:
            values[tag] = text
    return values


@pytest.mark.parametrize(
    ("table", "changes", "field"),
    [
        pytest.param(
            fields.DOCUMENT_FIELDS, {"docOrdinal": "3"}, "docOrdinal", id="sip+docOrdinal"
        ),
        pytest.param(
            fields.AIP_DOCUMENT_FIELDS, {"maintenance": "01"}, "maintenance", id="aip+maintenance"
        ),
        pytest.param(
            fields.AIP_DOCUMENT_FIELDS, {"riskRecovery": "0"}, "riskRecovery", id="aip+risk"
        ),
        pytest.param(
            fields.AIP_DOCUMENT_FIELDS,
            {"riskRecoveryStatus": "01"},
            "riskRecoveryStatus",
            id="aip+riskStatus",
        ),
        pytest.param(
            fields.AIP_DOCUMENT_FIELDS, {"docOrdinal": None}, "arcFileCode", id="aip-docOrdinal"
        ),
        pytest.param(
            fields.DOCUMENT_FIELDS, {"arcFileCode": "LTDT.X"}, "arcFileCode", id="docId+arcFileCode"
        ),
        pytest.param(fields.DOCUMENT_FIELDS, {"docId": None}, "simpledc", id="no-identifier"),
        pytest.param(fields.DOCUMENT_FIELDS, {"arcDocCode": "X"}, "arcDocCode", id="arcDocCode"),
    ],
)
def test_document_variants_cannot_be_mixed(
    table: tuple[FieldSpec, ...], changes: dict[str, str | None], field: str
) -> None:
    text = simpledc(values_with(table, **changes))
    problems = check(SchemaName.EAD_DOC, text)
    line = line_of(text, f"<{field}>") if f"<{field}>" in text else 2
    problem_at(problems, field, line)
    for fields_table in (fields.DOCUMENT_FIELDS, fields.AIP_DOCUMENT_FIELDS):
        values = {tag: [value] for tag, value in values_with(table, **changes).items()}
        assert fields.check_fields(values, fields_table, "x"), "fields.py must refuse it too"


def test_mixing_message_names_the_field_that_is_needed() -> None:
    text = simpledc(values_with(fields.AIP_DOCUMENT_FIELDS, maintenance="01"))
    problem = problem_at(
        check(SchemaName.EAD_DOC, text), "maintenance", line_of(text, "<maintenance>")
    )
    assert "<docId>" in problem.message


def test_dossier_needs_exactly_one_of_file_code_and_arc_file_code() -> None:
    both = simpledc({**full_values(fields.DOSSIER_FIELDS), "arcFileCode": "LTDT.X"})
    neither = simpledc(values_with(fields.DOSSIER_FIELDS, fileCode=None))
    assert check(SchemaName.EAD, both)
    problem = problem_at(check(SchemaName.EAD, neither), "simpledc", 2)
    assert "fileIdentifier" not in problem.message  # abstract names never reach a clerk
    assert "fileCode" in problem.message


@pytest.mark.parametrize(
    ("tag", "text", "valid"),
    [
        ("maintenance", "01", True),
        ("maintenance", "06", True),
        ("maintenance", "07:2", True),
        ("maintenance", "07:05", True),
        ("maintenance", "07:70", True),
        ("maintenance", "07", False),
        ("maintenance", "07:1", False),
        ("maintenance", "07:71", False),
        ("maintenance", "08", False),
        ("language", "01", True),
        ("language", "01,06;11", True),
        ("language", "01 , 02", True),
        ("language", "12", False),
        ("language", "01,", False),
        ("mode", "04", False),
        ("mode", " 03 ", True),
        ("riskRecovery", "2", False),
        ("totalDoc", "-1", False),
        ("totalDoc", "1.5", False),
        ("totalDoc", "１", False),  # a full-width digit is no ASCII number
        ("totalDoc", "12345678901", False),
        ("startDate", "2024-06-10", False),
        ("startDate", "1/6/2024", False),
        ("startDate", "10/13/2024", False),
        ("startDate", "06/2024", True),  # an AIP may give month and year only
        ("startDate", "2024", True),
        ("description", "đ" * 2000, True),
        ("description", "đ" * 2001, False),
    ],
)
def test_dossier_value_rules(tag: str, text: str, valid: bool) -> None:
    xml = simpledc({**full_values(fields.DOSSIER_FIELDS), tag: text})
    problems = check(SchemaName.EAD, xml)
    if valid:
        assert problems == []
    else:
        problem_at(problems, tag, line_of(xml, f"<{tag}>"))


def test_photo_and_recording_dates_must_be_full_dates() -> None:
    for schema, table, tag in (
        (SchemaName.EAD_PIC, fields.PICTURE_FIELDS, "photoDate"),
        (SchemaName.EAD_MEDIA, fields.MEDIA_FIELDS, "recordDate"),
    ):
        xml = simpledc({**full_values(table), tag: "06/2024"})
        problem = problem_at(check(schema, xml), tag, line_of(xml, f"<{tag}>"))
        assert "DD/MM/YYYY" in problem.message


@pytest.mark.parametrize(
    ("tag", "text", "expected"),
    [
        ("title", "Hồ sơ " + "ấ" * 995, "dài 1001 ký tự, tối đa 1000"),
        ("mode", "09", "'09' không thuộc danh mục"),
        ("startDate", "31-12-2024", "ngày dạng DD/MM/YYYY"),
        ("totalDoc", "hai", "số nguyên không âm"),
    ],
)
def test_broken_dossier_gives_a_vietnamese_message_with_line_and_element(
    tag: str, text: str, expected: str
) -> None:
    xml = simpledc({**full_values(fields.DOSSIER_FIELDS), tag: text})
    problem = problem_at(check(SchemaName.EAD, xml), tag, line_of(xml, f"<{tag}>"))
    assert expected in problem.message
    assert problem.path == "metadata/descriptive/EAD.xml"
    assert problem.message.startswith("metadata/descriptive/EAD.xml, dòng ")
    assert "(lược đồ ead.xsd)" in problem.message


def test_missing_required_field_is_reported_on_the_root() -> None:
    xml = simpledc(values_with(fields.DOSSIER_FIELDS, title=None))
    problem = problem_at(check(SchemaName.EAD, xml), "simpledc", 2)
    assert "thiếu phần tử con bắt buộc" in problem.message


def test_unknown_and_repeated_elements_are_refused() -> None:
    values = full_values(fields.DOSSIER_FIELDS)
    unknown = simpledc({**values, "fileNotes": "x"})
    problem_at(check(SchemaName.EAD, unknown), "fileNotes", line_of(unknown, "<fileN"))
    repeated = simpledc(values).replace("</simpledc>", "  <keyword>lặp</keyword>\n</simpledc>")
    problem_at(check(SchemaName.EAD, repeated), "keyword", line_of(repeated, "lặp"))


def test_simpledc_in_a_namespace_is_refused() -> None:
    xml = simpledc(full_values(fields.DOSSIER_FIELDS)).replace(
        "<simpledc>", '<simpledc xmlns="http://purl.org/dc/elements/1.1/">'
    )
    problem = problem_at(check(SchemaName.EAD, xml), "simpledc", 2)
    assert "sai namespace" in problem.message


def test_validation_leaves_the_tree_unchanged() -> None:
    text = simpledc(full_values(fields.DOCUMENT_FIELDS))
    tree = parse_xml_bytes(text.encode(), "x.xml")
    before = etree.tostring(tree)
    assert validate(tree, SchemaName.EAD_DOC, "x.xml") == []
    assert etree.tostring(tree) == before  # the defaulted `variant` attribute is not added


def test_an_element_can_be_validated_without_its_tree() -> None:
    element = parse_xml_bytes(simpledc(full_values(fields.PICTURE_FIELDS)).encode(), "p").getroot()
    assert validate(element, SchemaName.EAD_PIC, "p") == []


# --- TTHC extension -----------------------------------------------------------------------------

TTHC_XML = """<?xml version="1.0" encoding="UTF-8"?>
<tthc xmlns="urn:vn:archive:tthc:1" version="1">
  <dossierCode>000.00.19.H56-240610-0001</dossierCode>
  <procedure code="1.000894" name="Đăng ký kết hôn" sectorCode="HT" sectorName="Hộ tịch"/>
  <receivingAgency id="000.00.19.H56" name="UBND xã Tân Phú"/>
  <competentAgency id="000.00.19.H56" name="UBND xã Tân Phú"/>
  <applicant kind="citizen" name="Nguyễn Văn Ánh" idType="CCCD" idNumber="038090001234" address="Số 12, thôn Đông, xã Tân Phú, tỉnh Đồng Nai"/>
  <channel>online</channel>
  <received>2024-06-10T08:15:00+07:00</received>
  <due>2024-06-13T17:00:00+07:00</due>
  <finished>2024-06-12T10:02:00+07:00</finished>
  <returned>2024-06-12T14:30:00+07:00</returned>
  <finalStatus>returned</finalStatus>
  <results>
    <result code="000.00.19.H56-240610-0001-KQ1" docId="000.00.19.H56.2024.HT01.2" issued="2024-06-12" validUntil="" scope="" invalidated=""/>
  </results>
  <history>
    <step at="2024-06-10T08:15:00+07:00" actor="Lê Văn Đức" unit="Bộ phận một cửa" action="received">Tiếp nhận hồ sơ trực tuyến, hồ sơ đầy đủ</step>
    <step at="2024-06-12T10:02:00.000+07:00" actor="Trần Minh Quân" unit="Lãnh đạo UBND xã" action="approved"></step>
  </history>
</tthc>
"""  # noqa: E501


def tthc(old: str, new: str) -> str:
    assert old in TTHC_XML
    return TTHC_XML.replace(old, new, 1)


def test_tthc_example_is_valid() -> None:
    assert check(SchemaName.TTHC, TTHC_XML, "metadata/descriptive/TTHC.xml") == []


def test_tthc_optional_parts_may_be_left_out() -> None:
    text = re.sub(r"\s*<(due|returned)>[^<]*</\1>", "", TTHC_XML)
    text = re.sub(r"\s*<results>.*</history>", "", text, flags=re.DOTALL)
    text = text.replace(' idType="CCCD" idNumber="038090001234"', "")
    assert "<due>" not in text and "<history>" not in text
    assert check(SchemaName.TTHC, text) == []


def test_tthc_children_may_come_in_any_order() -> None:
    channel = "  <channel>online</channel>\n"
    text = tthc(channel, "").replace("</tthc>", channel + "</tthc>")
    assert check(SchemaName.TTHC, text) == []


@pytest.mark.parametrize(
    ("old", "new", "field", "expected"),
    [
        (
            "<received>2024-06-10T08:15:00+07:00",
            "<received>2024-06-10T08:15:00",
            "received",
            "có múi giờ",
        ),
        ('at="2024-06-10T08:15:00+07:00"', 'at="2024-06-10T08:15:00"', "step", "có múi giờ"),
        ("<due>2024-06-13T17:00:00+07:00", "<due>13/06/2024", "due", "có múi giờ"),
        ("<channel>online", "<channel>email", "channel", "'email' không thuộc danh mục"),
        ("<finalStatus>returned", "<finalStatus>done", "finalStatus", "không thuộc danh mục"),
        ('kind="citizen"', 'kind="company"', "applicant", "thuộc tính kind"),
        ('idType="CCCD"', 'idType="CMND"', "applicant", "thuộc tính idType"),
        ('issued="2024-06-12"', 'issued="12/06/2024"', "result", "YYYY-MM-DD"),
        (' docId="000.00.19.H56.2024.HT01.2"', " ", "result", "thiếu thuộc tính bắt buộc 'docId'"),
        (
            '<tthc xmlns="urn:vn:archive:tthc:1" version="1"',
            '<tthc xmlns="urn:vn:archive:tthc:1" version="2"',
            "tthc",
            "phải là '1'",
        ),
        ("<dossierCode>000.00.19.H56-240610-0001", "<dossierCode> ", "dossierCode", "để trống"),
        (
            "<finalStatus>returned</finalStatus>",
            "<!-- no status -->",
            "tthc",
            "thiếu phần tử con bắt buộc",
        ),
    ],
)
def test_broken_tthc_is_reported_with_line_and_element(
    old: str, new: str, field: str, expected: str
) -> None:
    text = tthc(old, new)
    line = line_of_element(text, field)
    problem = problem_at(check(SchemaName.TTHC, text), field, line)
    assert expected in problem.message, problem.message


def test_tthc_in_another_namespace_is_refused() -> None:
    text = TTHC_XML.replace(TTHC_NS, "urn:vn:archive:tthc:2")
    problem = problem_at(check(SchemaName.TTHC, text), "tthc", 2)
    assert "sai namespace" in problem.message


def tthc_xsd() -> etree._Element:
    return xsd_document(SchemaName.TTHC).getroot()


def test_tthc_code_lists_are_those_of_codes_py() -> None:
    enumerations = {
        t.get("name"): [e.get("value") for e in t.iter(f"{XS}enumeration") if e.get("value")]
        for t in tthc_xsd().findall(f"{XS}simpleType")
    }
    assert enumerations["Channel"] == list(codes.CHANNEL)
    assert enumerations["FinalStatus"] == list(codes.FINAL_STATUS)
    assert enumerations["ApplicantKind"] == list(codes.APPLICANT_KIND)
    assert enumerations["IdTypeOrEmpty"] == list(codes.ID_TYPE)


def aliases(model: type[BaseModel]) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items()}


def test_tthc_names_are_those_of_the_model() -> None:
    root = tthc_xsd()
    children = {e.get("name") for e in root.find(f"{XS}element/{XS}complexType/{XS}all")}  # type: ignore[union-attr]
    assert children | {"version"} == aliases(models.TthcFacts)
    attributes = {
        t.get("name"): {a.get("name") for a in t.iter(f"{XS}attribute")}
        for t in root.findall(f"{XS}complexType")
    }
    assert attributes["Procedure"] == aliases(models.Procedure)
    assert attributes["Agency"] == aliases(models.Agency)
    assert attributes["Applicant"] == aliases(models.Applicant)
    assert attributes["Result"] == aliases(models.Result)
    assert attributes["Step"] | {"opinion"} == aliases(models.HistoryStep)


# --- METS and PREMIS ----------------------------------------------------------------------------

METS_XML = """<?xml version="1.0" encoding="UTF-8"?>
<mets xmlns="http://www.loc.gov/METS/" xmlns:xlink="http://www.w3.org/1999/xlink"
      xmlns:csip="https://DILCIS.eu/XML/METS/CSIPExtensionMETS"
      xmlns:sip="https://DILCIS.eu/XML/METS/SIPExtensionMETS"
      OBJID="uuid-5B1E7C2A-0D4F-4E8B-9C1A-2F3E4D5C6B7A" TYPE="Mixed" LABEL="Hồ sơ đăng ký kết hôn"
      PROFILE="https://earksip.dilcis.eu/profile/E-ARK-SIP.xml"
      csip:CONTENTINFORMATIONTYPE="MIXED">
  <metsHdr CREATEDATE="2024-06-20T09:00:00.000+07:00" RECORDSTATUS="NEW" csip:OAISPACKAGETYPE="SIP">
    <agent ROLE="CREATOR" TYPE="OTHER" OTHERTYPE="SOFTWARE">
      <name>Hệ thống thông tin giải quyết TTHC tỉnh</name>
      <note csip:NOTETYPE="IDENTIFICATIONCODE">G09</note>
    </agent>
    <altRecordID TYPE="SUBMISSIONAGREEMENT">000.00.19.H56.2024.HT01</altRecordID>
  </metsHdr>
  <dmdSec ID="uuid-0A1B2C3D-4E5F-4061-8293-A4B5C6D7E8F9" CREATED="2024-06-20T09:00:00.000+07:00">
    <mdRef LOCTYPE="URL" xlink:type="simple" xlink:href="metadata/descriptive/EAD.xml" MDTYPE="DC"
           MDTYPEVERSION="1.0.0" MIMETYPE="application/xml" SIZE="1234"
           CREATED="2024-06-20T09:00:00.000+07:00" CHECKSUMTYPE="SHA-256"
           CHECKSUM="9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"/>
  </dmdSec>
  <amdSec ID="uuid-1B2C3D4E-5F60-4172-93A4-B5C6D7E8F90A"/>
  <fileSec ID="uuid-2C3D4E5F-6071-4283-A4B5-C6D7E8F90A1B">
    <fileGrp ID="uuid-3D4E5F60-7182-4394-B5C6-D7E8F90A1B2C" USE="Schemas">
      <file ID="ID-4E5F6071-8293-44A5-86D7-E8F90A1B2C3D" MIMETYPE="application/octet-stream"
            SIZE="2038" CREATED="2024-06-20T09:00:00.000+07:00" CHECKSUMTYPE="SHA-256"
            CHECKSUM="B4A13747DDE7644122DC14DC7F7333FC51B12DE43039A73BA111A6E0E8204FCC"
            sip:FILEFORMATNAME="XML Schema Definition">
        <FLocat LOCTYPE="URL" xlink:type="simple" xlink:href="schemas/DILCISExtensionMETS.xsd"/>
      </file>
    </fileGrp>
  </fileSec>
  <structMap ID="uuid-5F607182-93A4-45B6-87E8-F90A1B2C3D4E" TYPE="PHYSICAL" LABEL="CSIP">
    <div ID="uuid-60718293-A4B5-46C7-98F9-0A1B2C3D4E5F" LABEL="uuid-5B1E7C2A-0D4F-4E8B-9C1A-2F3E4D5C6B7A">
      <div ID="uuid-718293A4-B5C6-47D8-A90A-1B2C3D4E5F60" LABEL="Schemas">
        <fptr FILEID="ID-4E5F6071-8293-44A5-86D7-E8F90A1B2C3D"/>
      </div>
      <div ID="uuid-8293A4B5-C6D7-48E9-BA1B-2C3D4E5F6071" LABEL="Representations/rep1">
        <mptr LOCTYPE="URL" xlink:type="simple" xlink:href="representations/rep1/METS.xml"/>
      </div>
    </div>
  </structMap>
</mets>
"""  # noqa: E501


def test_mets_with_csip_and_sip_extensions_is_valid() -> None:
    assert check(SchemaName.METS, METS_XML, "METS.xml") == []


@pytest.mark.parametrize(
    ("old", "new", "field", "expected"),
    [
        ('csip:OAISPACKAGETYPE="SIP"', 'csip:OAISPACKAGETYPE="PACKAGE"', "metsHdr", "SIP"),
        (' csip:OAISPACKAGETYPE="SIP"', "", "metsHdr", "OAISPACKAGETYPE"),
        ('csip:NOTETYPE="IDENTIFICATIONCODE"', 'csip:NOTETYPE="FONDS"', "note", "FONDS"),
        (
            'xlink:type="simple" xlink:href="metadata',
            'xlink:type="extended" xlink:href="metadata',
            "mdRef",
            "'extended'",
        ),
        (
            'LOCTYPE="URL" xlink:type="simple" xlink:href="metadata',
            'xlink:type="simple" xlink:href="metadata',
            "mdRef",
            "LOCTYPE",
        ),
    ],
)
def test_broken_mets_is_reported(old: str, new: str, field: str, expected: str) -> None:
    assert old in METS_XML
    text = METS_XML.replace(old, new, 1)
    problems = check(SchemaName.METS, text, "METS.xml")
    problem = next(p for p in problems if p.field == field)
    assert problem.code is ProblemCode.XML_SCHEMA_INVALID
    assert re.search(r"METS\.xml, dòng \d+, phần tử <", problem.message)
    assert expected in problem.message, problem.message


PREMIS_XML = """<?xml version="1.0" encoding="UTF-8"?>
<premis xmlns="http://www.loc.gov/premis/v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
        version="3.0">
  <object xsi:type="file">
    <objectIdentifier>
      <objectIdentifierType>UUID</objectIdentifierType>
      <objectIdentifierValue>uuid-9A8B7C6D-5E4F-4321-8765-43210FEDCBA9</objectIdentifierValue>
    </objectIdentifier>
    <objectCharacteristics>
      <compositionLevel>0</compositionLevel>
      <fixity>
        <messageDigestAlgorithm>SHA-256</messageDigestAlgorithm>
        <messageDigest>9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08</messageDigest>
      </fixity>
      <size>48213</size>
      <format>
        <formatDesignation><formatName>Acrobat PDF/A - Portable Document Format</formatName>
          <formatVersion>2b</formatVersion></formatDesignation>
        <formatRegistry><formatRegistryName>PRONOM</formatRegistryName>
          <formatRegistryKey>fmt/477</formatRegistryKey></formatRegistry>
      </format>
    </objectCharacteristics>
    <originalName>Giấy chứng nhận kết hôn.pdf</originalName>
    <storage>
      <contentLocation>
        <contentLocationType>path</contentLocationType>
        <contentLocationValue>representations/rep1/data/000.00.19.H56.2024.HT01.1.pdf</contentLocationValue>
      </contentLocation>
    </storage>
  </object>
  <event>
    <eventIdentifier>
      <eventIdentifierType>UUID</eventIdentifierType>
      <eventIdentifierValue>uuid-1F2E3D4C-5B6A-4798-8877-665544332211</eventIdentifierValue>
    </eventIdentifier>
    <eventType>fixity check</eventType>
    <eventDateTime>2024-06-20T09:00:00.000+07:00</eventDateTime>
    <eventOutcomeInformation><eventOutcome>success</eventOutcome></eventOutcomeInformation>
    <linkingAgentIdentifier>
      <linkingAgentIdentifierType>local</linkingAgentIdentifierType>
      <linkingAgentIdentifierValue>archive-service-0.1.0</linkingAgentIdentifierValue>
      <linkingAgentRole>executing program</linkingAgentRole>
    </linkingAgentIdentifier>
    <linkingObjectIdentifier>
      <linkingObjectIdentifierType>UUID</linkingObjectIdentifierType>
      <linkingObjectIdentifierValue>uuid-9A8B7C6D-5E4F-4321-8765-43210FEDCBA9</linkingObjectIdentifierValue>
      <linkingObjectRole>source</linkingObjectRole>
    </linkingObjectIdentifier>
  </event>
  <agent>
    <agentIdentifier>
      <agentIdentifierType>local</agentIdentifierType>
      <agentIdentifierValue>archive-service-0.1.0</agentIdentifierValue>
    </agentIdentifier>
    <agentName>Lưu trữ điện tử</agentName>
    <agentType>software</agentType>
    <agentVersion>0.1.0</agentVersion>
  </agent>
</premis>
"""


def test_premis_with_object_event_and_agent_is_valid() -> None:
    assert check(SchemaName.PREMIS, PREMIS_XML, "metadata/preservation/PREMIS.xml") == []


def test_premis_event_without_type_is_reported() -> None:
    text = PREMIS_XML.replace("    <eventType>fixity check</eventType>\n", "")
    line = line_of(text, "<eventDateTime>")
    problem = problem_at(check(SchemaName.PREMIS, text), "eventDateTime", line)
    assert "eventType" in problem.message


def test_a_lone_premis_object_is_not_a_premis_file() -> None:
    start = PREMIS_XML.index("<object")
    end = PREMIS_XML.index("</object>") + len("</object>")
    text = PREMIS_XML[start:end].replace(
        "<object ",
        '<object xmlns="http://www.loc.gov/premis/v3" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ',
    )
    problem = problem_at(check(SchemaName.PREMIS, text), "object", 1)
    assert "phần tử gốc phải là <premis>" in problem.message


# --- Offline loading and the bundled files -------------------------------------------------------


def test_package_schema_files_are_all_bundled() -> None:
    names = [path.name for path in schema_files()]
    assert names == [
        "mets1_12.xsd",
        "xlink.xsd",
        "DILCISExtensionMETS.xsd",
        "DILCISExtensionSIPMETS.xsd",
        "ead.xsd",
        "ead_doc.xsd",
        "ead_pic.xsd",
        "ead_media.xsd",
        "tthc.xsd",
        "premis.xsd",
    ]
    assert "premis.xsd" not in [path.name for path in schema_files(with_premis=False)]
    assert all(path.is_file() and path.parent == schemas_dir() for path in schema_files())
    assert all((schemas_dir() / name.value).is_file() for name in SchemaName)


@pytest.mark.parametrize("path", sorted(Path(schemas_dir()).glob("*.xsd")), ids=lambda p: p.name)
def test_every_bundled_schema_refers_only_to_bundled_files(path: Path) -> None:
    document = etree.parse(str(path), etree.XMLParser(load_dtd=False, no_network=True))
    for tag in ("import", "include", "redefine"):
        for reference in document.iter(f"{XS}{tag}"):
            location = reference.get("schemaLocation", "")
            assert "://" not in location and (schemas_dir() / location).is_file(), location
    load_schema(path)  # compiles from local files only


@pytest.mark.parametrize(
    "location",
    [
        "http://www.w3.org/2001/xml.xsd",
        "https://www.loc.gov/standards/premis/v3/premis.xsd",
        "ftp://example.org/schema.xsd",
        "file://example.org/share/schema.xsd",
    ],
)
def test_the_resolver_refuses_network_locations(location: str, tmp_path: Path) -> None:
    with pytest.raises(SchemaLocationRefused):
        LocalOnlyResolver(tmp_path).local_path(location)


def test_the_resolver_allows_only_files_inside_its_folder(tmp_path: Path) -> None:
    inside = tmp_path / "a.xsd"
    inside.write_text("<x/>")
    outside = tmp_path.parent / "b.xsd"
    resolver = LocalOnlyResolver(tmp_path)
    assert resolver.local_path(str(inside)) == inside.resolve()
    assert resolver.local_path(inside.resolve().as_uri()) == inside.resolve()
    with pytest.raises(SchemaLocationRefused):
        resolver.local_path(str(outside))
    with pytest.raises(SchemaLocationRefused):
        resolver.local_path(str(tmp_path / ".." / tmp_path.name / ".." / "b.xsd"))


def write_schema(folder: Path, name: str, reference: str) -> Path:
    """An XSD in namespace urn:t declaring one element named after the file."""
    path = folder / name
    path.write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:t">'
        f'{reference}<xs:element name="{path.stem}" type="xs:string"/></xs:schema>'
    )
    return path


@pytest.mark.parametrize(
    "reference",
    [
        '<xs:import namespace="http://www.w3.org/XML/1998/namespace" '
        'schemaLocation="http://www.w3.org/2001/xml.xsd"/>',
        '<xs:include schemaLocation="https://example.org/more.xsd"/>',
        '<xs:include schemaLocation="../elsewhere.xsd"/>',
    ],
)
def test_loading_a_schema_that_reaches_outside_fails_loudly(reference: str, tmp_path: Path) -> None:
    folder = tmp_path / "schemas"
    folder.mkdir()
    write_schema(tmp_path, "elsewhere.xsd", "")
    with pytest.raises(SchemaLocationRefused) as refused:
        load_schema(write_schema(folder, "main.xsd", reference))
    assert re.search(r"(://|elsewhere)", refused.value.location)


def test_loading_a_schema_with_local_includes_works(tmp_path: Path) -> None:
    write_schema(tmp_path, "part.xsd", "")
    main = write_schema(tmp_path, "main.xsd", '<xs:include schemaLocation="part.xsd"/>')
    schema = load_schema(main)
    assert schema.validate(etree.fromstring('<part xmlns="urn:t">x</part>'))
