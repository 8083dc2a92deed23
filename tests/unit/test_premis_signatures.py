"""PREMIS ``signatureInformation`` of inspected signatures, and formats read back from PREMIS."""

from __future__ import annotations

import io

from lxml import etree

from archive_service.packages.mets import PREMIS_NS
from archive_service.packages.premis import (
    SIGNATURE_NS,
    FileFormat,
    PremisObject,
    PremisSignature,
    SignatureNote,
    read_file_formats,
    write_premis,
)
from archive_service.packages.schemas import SchemaName, validate
from archive_service.packages.xmlsafe import parse_xml_bytes

P = {"p": PREMIS_NS}
AIP = "urn:G09:uuid-6C1B0E5A-92D4-4F0B-8C37-2E9A5D1F4B68"


def signature(
    n: int, signer: str | None = "CN=Nguyễn Văn An,O=UBND xã Quảng Tâm"
) -> PremisSignature:
    return PremisSignature(
        encoding="SHA-256 (hex) of the CMS SignedData in /Contents",
        signer=signer,
        method="RSA-SHA256",
        value=f"{n:064x}",
        validation_rules="ETSI.CAdES.detached: ISO 32000-1 §12.8, ETSI EN 319 142-1",
        properties=(f"field: ChuKy{n}", "integrity: intact", "trust: not trust-validated"),
    )


def a_file(name: str, **changes: object) -> PremisObject:
    values: dict[str, object] = {
        "identifier": f"{AIP}/representations/rep1/data/{name}",
        "sha256": "ab" * 32,
        "size": 1234,
        "format": FileFormat("PDF", "1.7", "fmt/276"),
        "content_location": f"representations/rep1/data/{name}",
    }
    values.update(changes)
    return PremisObject(**values)  # type: ignore[arg-type]


def premis(*objects: PremisObject) -> etree._Element:
    out = io.BytesIO()
    write_premis(out, objects=objects)
    return parse_xml_bytes(out.getvalue(), "PREMIS_rep1.xml").getroot()


def test_each_inspected_signature_is_one_signature_information_that_validates() -> None:
    note = SignatureNote(
        signer="Nguyễn Văn An",
        note="hai chữ ký",
        signatures=(signature(1), signature(2, signer=None)),
    )
    root = premis(a_file("1.pdf", signature=note), a_file("2.pdf"))

    assert validate(root, SchemaName.PREMIS, "PREMIS_rep1.xml") == []
    signed, unsigned = root.findall("p:object", P)
    information = signed.findall("p:signatureInformation", P)
    assert len(information) == 2
    first, second = (element.find("p:signature", P) for element in information)
    assert first is not None and second is not None
    assert [child.tag.split("}")[1] for child in first] == [
        "signatureEncoding",
        "signer",
        "signatureMethod",
        "signatureValue",
        "signatureValidationRules",
        "signatureProperties",
        "signatureProperties",
        "signatureProperties",
    ]
    assert first.findtext("p:signer", namespaces=P) == "CN=Nguyễn Văn An,O=UBND xã Quảng Tâm"
    assert second.find("p:signer", P) is None
    assert second.findtext("p:signatureValue", namespaces=P) == f"{2:064x}"
    assert root.find(f".//{{{SIGNATURE_NS}}}signed") is None  # no placeholder once inspected
    assert unsigned.find("p:signatureInformation", P) is None


def test_a_signed_file_without_inspection_keeps_the_placeholder() -> None:
    root = premis(a_file("1.pdf", signature=SignatureNote(signer="Nguyễn Văn An")))

    assert validate(root, SchemaName.PREMIS, "PREMIS_rep1.xml") == []
    placeholder = root.find(f".//{{{SIGNATURE_NS}}}signed")
    assert placeholder is not None and placeholder.get("inspected") == "false"
    assert root.find(".//p:signature", P) is None


def test_formats_are_read_back_by_content_location() -> None:
    root = premis(
        a_file("1.pdf", format=FileFormat("PDF/A", "2b", "fmt/477")),
        a_file("2.docx", format=FileFormat("Microsoft Word (DOCX)")),
    )

    assert read_file_formats(root) == {
        "representations/rep1/data/1.pdf": FileFormat("PDF/A", "2b", "fmt/477"),
        "representations/rep1/data/2.docx": FileFormat("Microsoft Word (DOCX)", None, None),
    }
