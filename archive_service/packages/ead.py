"""The descriptive metadata files of Circular 05: ``<simpledc>`` documents (EAD.xml, EAD_DOC_…).

``<simpledc>`` has no namespace; its children are single text elements whose tags are listed in
``fields.py``. The XSDs use ``xs:all``, so the order of children is free: reading never depends on
it, writing always follows the field table so the bytes are deterministic.

**Decision — file names of document metadata.** A document's metadata file is named after its
``docId`` and the kind of document: ``EAD_DOC_<docId>.xml`` for text documents
(``DOCUMENT_FIELDS``), ``EAD_PIC_<docId>.xml`` for photographs (``PICTURE_FIELDS``) and
``EAD_MEDIA_<docId>.xml`` for audio and video (``MEDIA_FIELDS``). The prefix is read
case-insensitively (``EAD_doc_…`` occurs in the field). Photographs and recordings have a single
field table, used in SIPs and AIPs alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from lxml import etree

from archive_service.packages import codes, fields
from archive_service.packages.fields import FieldSpec
from archive_service.packages.mets import xml_bytes
from archive_service.packages.models import DocumentKind, DocumentMetadata, Dossier
from archive_service.packages.problems import Problem

EAD_PATH = "metadata/descriptive/EAD.xml"
SIMPLEDC = "simpledc"

_DOCUMENT_PREFIX = {DocumentKind.DOC: "DOC", DocumentKind.PIC: "PIC", DocumentKind.MEDIA: "MEDIA"}
_DOCUMENT_NAME = re.compile(r"^EAD_(DOC|PIC|MEDIA)_(.+)\.xml$", re.IGNORECASE)
_KIND_BY_PREFIX = {prefix: kind for kind, prefix in _DOCUMENT_PREFIX.items()}

_SIP_SPECS: dict[DocumentKind, tuple[FieldSpec, ...]] = {
    DocumentKind.DOC: fields.DOCUMENT_FIELDS,
    DocumentKind.PIC: fields.PICTURE_FIELDS,
    DocumentKind.MEDIA: fields.MEDIA_FIELDS,
}
_AIP_SPECS: dict[DocumentKind, tuple[FieldSpec, ...]] = {
    **_SIP_SPECS,
    DocumentKind.DOC: fields.AIP_DOCUMENT_FIELDS,
}


def read_simpledc(root: etree._Element) -> dict[str, list[str]]:
    """Every child element's local name → its texts (stripped), in document order per tag.

    Comments and processing instructions are skipped; namespaces are ignored.
    """
    values: dict[str, list[str]] = {}
    for child in root:
        if not isinstance(child.tag, str):
            continue
        tag = etree.QName(child).localname
        values.setdefault(tag, []).append("".join(str(t) for t in child.itertext()).strip())
    return values


def write_simpledc(values: Mapping[str, str | None], specs: Sequence[FieldSpec]) -> bytes:
    """A ``<simpledc>`` document: children in table order, empty values omitted, UTF-8.

    Raises ``ValueError`` for a tag the table does not know (a programming error).
    """
    known = {spec.tag for spec in specs}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"tags not in the field table: {', '.join(unknown)}")
    root = etree.Element(SIMPLEDC)
    for spec in specs:
        text = (values.get(spec.tag) or "").strip()
        if text:
            etree.SubElement(root, spec.tag).text = text
    return xml_bytes(root)


def first_values(values: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Tag → its first non-empty text; empty elements are dropped."""
    return {tag: texts[0] for tag, texts in values.items() if texts and texts[0]}


def first_value(values: Mapping[str, Sequence[str]] | None, tag: str) -> str:
    """The first text of ``tag`` (stripped), or ``""`` when the tag is absent."""
    found = (values or {}).get(tag)
    return found[0].strip() if found else ""


def dossier_from_fields(values: Mapping[str, Sequence[str]]) -> Dossier:
    """The dossier of EAD.xml values (``fileCode`` in a SIP, ``arcFileCode`` in an AIP).

    Call after ``fields.check_fields``: raises ``ValueError`` (pydantic's ``ValidationError``
    included) when a value cannot be read.
    """
    first = first_values(values)
    data: dict[str, object] = {
        tag: value for tag, value in first.items() if tag not in {"fileCode", "arcFileCode"}
    }
    data["fileCode"] = first.get("fileCode") or first.get("arcFileCode")
    for tag in ("startDate", "endDate"):
        if tag in first:
            parsed = fields.parse_date(first[tag])
            if parsed is None:
                raise ValueError(f"<{tag}> '{first[tag]}' is not DD/MM/YYYY")
            data[tag] = parsed
    if "riskRecovery" in first:
        flag = first["riskRecovery"]
        if flag not in codes.RISK_RECOVERY:
            raise ValueError(f"<riskRecovery> '{flag}' is not 1 or 0")
        data["riskRecovery"] = flag == "1"
    return Dossier.model_validate(data)


def dossier_fields(dossier: Dossier, *, arc_file_code: str | None = None) -> dict[str, str]:
    """EAD.xml values of a dossier: SIP variant (``fileCode``) or, with ``arc_file_code``, AIP."""
    values: dict[str, str] = {}
    if arc_file_code is None:
        values["fileCode"] = dossier.file_code
    else:
        values["arcFileCode"] = arc_file_code
    dumped = dossier.model_dump(by_alias=True, exclude={"file_code"}, exclude_none=True)
    for tag, value in dumped.items():
        if tag in {"startDate", "endDate"}:
            values[tag] = fields.format_date(value)
        elif tag == "riskRecovery":
            values[tag] = "1" if value else "0"
        else:
            values[tag] = str(value)
    return values


def parse_document_metadata_name(filename: str) -> tuple[DocumentKind, str] | None:
    """``EAD_DOC_<docId>.xml`` → (kind, docId); ``None`` for any other name."""
    match = _DOCUMENT_NAME.match(filename)
    if not match:
        return None
    return _KIND_BY_PREFIX[match.group(1).upper()], match.group(2)


def document_kind(filename: str) -> DocumentKind | None:
    """Kind of a document metadata file from its name prefix (EAD_DOC_, EAD_PIC_, EAD_MEDIA_)."""
    parsed = parse_document_metadata_name(filename)
    return parsed[0] if parsed else None


def document_metadata_name(kind: DocumentKind, doc_id: str) -> str:
    """File name of a document's metadata: ``EAD_<DOC|PIC|MEDIA>_<docId>.xml``."""
    return f"EAD_{_DOCUMENT_PREFIX[kind]}_{doc_id}.xml"


def document_specs(kind: DocumentKind, *, aip: bool) -> tuple[FieldSpec, ...]:
    """Field table of a document metadata file of this kind, in a SIP or in an AIP."""
    return (_AIP_SPECS if aip else _SIP_SPECS)[kind]


def document_metadata(kind: DocumentKind, values: Mapping[str, Sequence[str]]) -> DocumentMetadata:
    """A document's metadata from the values read from its file (first text of each tag)."""
    return DocumentMetadata(kind=kind, values=first_values(values))


def document_code(file_code: str, ordinal: int) -> str:
    """``docCode`` of a dossier's ``ordinal``-th document (1-based): ``<fileCode>.<7 digits>``."""
    return f"{file_code}.{ordinal:07d}"


def check_document_conditionals(values: Mapping[str, Sequence[str]], path: str) -> list[Problem]:
    """Rules between a document's fields: only riskRecovery (documents have no paperFileCode)."""
    risk = {tag: values[tag] for tag in ("riskRecovery", "riskRecoveryStatus") if tag in values}
    return fields.check_conditionals(risk, path)
