"""simpledc files (EAD.xml, EAD_DOC/EAD_PIC/EAD_MEDIA): writing, reading, names and tables."""

from __future__ import annotations

from datetime import date

import pytest
from lxml import etree

from archive_service.packages import fields
from archive_service.packages.ead import (
    document_kind,
    document_metadata,
    document_metadata_name,
    document_specs,
    dossier_fields,
    dossier_from_fields,
    parse_document_metadata_name,
    read_simpledc,
    write_simpledc,
)
from archive_service.packages.models import DocumentKind, Dossier
from archive_service.packages.schemas import SchemaName, validate

DOSSIER_VALUES = {
    "fileCode": "000.00.19.H56.2024.240610-0001",
    "title": "Hồ sơ đăng ký kết hôn của ông Nguyễn Văn A & bà Trần Thị B <bản điện tử>",
    "maintenance": "07:15",
    "mode": "02",
    "language": "01,02",
    "startDate": "10/06/2024",
    "endDate": "12/06/2024",
    "keyword": "hộ tịch; kết hôn",
    "totalDoc": "3",
    "numberOfPage": "4",
    "confidenceLevel": "02",
    "paperFileCode": "HS-GIẤY-2024/015",
    "riskRecovery": "1",
    "riskRecoveryStatus": "02",
    "description": "Người lập: Lê Thị C — công chức tư pháp – hộ tịch",
}


def _parse(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def test_vietnamese_values_survive_a_round_trip() -> None:
    written = write_simpledc(DOSSIER_VALUES, fields.DOSSIER_FIELDS)
    assert read_simpledc(_parse(written)) == {tag: [v] for tag, v in DOSSIER_VALUES.items()}


def test_children_follow_the_table_order_and_empty_values_are_left_out() -> None:
    values: dict[str, str | None] = dict(reversed(DOSSIER_VALUES.items()))
    values["keyword"] = None
    values["inforSign"] = ""
    root = _parse(write_simpledc(values, fields.DOSSIER_FIELDS))
    table_order = [spec.tag for spec in fields.DOSSIER_FIELDS if spec.tag in DOSSIER_VALUES]
    table_order.remove("keyword")
    assert [child.tag for child in root] == table_order
    assert root.tag == "simpledc" and root.nsmap == {}


def test_writing_is_deterministic_utf8_with_a_declaration() -> None:
    first = write_simpledc(DOSSIER_VALUES, fields.DOSSIER_FIELDS)
    second = write_simpledc(dict(reversed(DOSSIER_VALUES.items())), fields.DOSSIER_FIELDS)
    assert first == second
    assert first.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<simpledc>\n  <fileCode>')
    assert "Nguyễn Văn A &amp; bà".encode() in first


def test_a_tag_outside_the_table_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="arcFileCode"):
        write_simpledc({"arcFileCode": "X"}, fields.DOSSIER_FIELDS)


def test_written_files_validate_against_their_schemas() -> None:
    dossier = etree.ElementTree(_parse(write_simpledc(DOSSIER_VALUES, fields.DOSSIER_FIELDS)))
    assert validate(dossier, SchemaName.EAD, "EAD.xml") == []
    aip_values = dossier_fields(
        dossier_from_fields(read_simpledc(dossier.getroot())), arc_file_code="LTDT.X"
    )
    aip = _parse(write_simpledc(aip_values, fields.AIP_DOSSIER_FIELDS))
    assert validate(aip, SchemaName.EAD, "EAD.xml") == []


def test_reading_ignores_order_namespaces_comments_and_surrounding_space() -> None:
    root = _parse(
        "<simpledc xmlns:x='urn:x'><!-- ghi chu --><x:title>\n  Tiêu đề </x:title>".encode()
        + b"<keyword>a</keyword><keyword>b</keyword><fileCode>F</fileCode>"
        + b"<paperFileCode/></simpledc>"
    )
    assert read_simpledc(root) == {
        "title": ["Tiêu đề"],
        "keyword": ["a", "b"],
        "fileCode": ["F"],
        "paperFileCode": [""],
    }


def test_dossier_model_round_trip_in_sip_and_aip_variants() -> None:
    dossier = dossier_from_fields({tag: [v] for tag, v in DOSSIER_VALUES.items()})
    assert dossier.file_code == DOSSIER_VALUES["fileCode"]
    assert dossier.start_date == date(2024, 6, 10)
    assert dossier.risk_recovery is True
    assert dossier.total_doc == 3
    assert dossier_fields(dossier) == DOSSIER_VALUES
    aip = dossier_fields(dossier, arc_file_code="LTDT.000.00.19.H56.2024.240610-0001")
    assert "fileCode" not in aip
    assert aip["arcFileCode"] == "LTDT.000.00.19.H56.2024.240610-0001"
    assert dossier_from_fields({tag: [v] for tag, v in aip.items()}) == Dossier.model_validate(
        {**dossier.model_dump(), "file_code": aip["arcFileCode"]}
    )


def test_an_unreadable_dossier_value_raises() -> None:
    with pytest.raises(ValueError, match="startDate"):
        dossier_from_fields(
            {**{t: [v] for t, v in DOSSIER_VALUES.items()}, "startDate": ["2024-06-10"]}
        )


def test_document_metadata_file_names() -> None:
    assert document_metadata_name(DocumentKind.DOC, "240610-0001.1") == "EAD_DOC_240610-0001.1.xml"
    assert document_metadata_name(DocumentKind.PIC, "A.2") == "EAD_PIC_A.2.xml"
    assert document_metadata_name(DocumentKind.MEDIA, "A.3") == "EAD_MEDIA_A.3.xml"
    assert parse_document_metadata_name("EAD_DOC_240610-0001.1.xml") == (
        DocumentKind.DOC,
        "240610-0001.1",
    )
    assert document_kind("EAD_doc_H49.64.33.2001.160.1.xml") is DocumentKind.DOC
    assert document_kind("EAD_MEDIA_x.xml") is DocumentKind.MEDIA
    for other in ("EAD.xml", "EAD_DOC_.xml", "EAD_DOC_x.pdf", "PREMIS_rep1.xml", "EAD_FOO_x.xml"):
        assert document_kind(other) is None, other


def test_document_tables_by_kind_and_package() -> None:
    assert document_specs(DocumentKind.DOC, aip=False) == fields.DOCUMENT_FIELDS
    assert document_specs(DocumentKind.DOC, aip=True) == fields.AIP_DOCUMENT_FIELDS
    assert document_specs(DocumentKind.PIC, aip=True) == fields.PICTURE_FIELDS
    assert document_specs(DocumentKind.MEDIA, aip=False) == fields.MEDIA_FIELDS


def test_document_metadata_keeps_first_non_empty_values() -> None:
    metadata = document_metadata(
        DocumentKind.PIC, {"docId": ["A.1"], "title": ["Ảnh cưới"], "place": [""]}
    )
    assert metadata.values == {"docId": "A.1", "title": "Ảnh cưới"}
    assert metadata.title == "Ảnh cưới"
