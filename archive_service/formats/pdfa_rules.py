"""Rules of ISO 19005 (PDF/A) that the archive's own checks use, with their clause per part.

A failed rule is reported as its clause and test number (as veraPDF numbers them) with a
Vietnamese message naming what is wrong. Parts 2 and 3 share their numbering.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Rule(StrEnum):
    """A requirement our structural checks test."""

    HEADER = "header"
    BINARY_COMMENT = "binary-comment"
    TRAILER_ID = "trailer-id"
    ENCRYPT = "encrypt"
    EOF = "eof"
    XREF = "xref"
    STREAM_LENGTH = "stream-length"
    PDF_VERSION = "pdf-version"
    FONT_EMBEDDED = "font-embedded"
    OUTPUT_INTENT_PROFILE = "output-intent-profile"
    DEVICE_COLOUR = "device-colour"
    METADATA = "metadata"
    XMP_WELL_FORMED = "xmp-well-formed"
    PDFAID = "pdfaid"
    PDFAID_PART = "pdfaid-part"
    PDFAID_CONFORMANCE = "pdfaid-conformance"
    ACTION = "action"
    NAMED_ACTION = "named-action"
    CATALOG_AA = "catalog-aa"
    PAGE_AA = "page-aa"
    XFA = "xfa"
    NEEDS_RENDERING = "needs-rendering"
    OPTIONAL_CONTENT = "optional-content"
    OPTIONAL_CONTENT_AS = "optional-content-as"
    TRANSPARENCY = "transparency"
    EMBEDDED_FILES = "embedded-files"


#: Rule → (clause-test in ISO 19005-1, clause-test in ISO 19005-2 and -3); None: no such rule.
_CLAUSES: dict[Rule, tuple[str | None, str | None]] = {
    Rule.HEADER: ("6.1.2-1", "6.1.2-1"),
    Rule.BINARY_COMMENT: ("6.1.2-2", "6.1.2-2"),
    Rule.TRAILER_ID: ("6.1.3-1", "6.1.3-1"),
    Rule.ENCRYPT: ("6.1.3-2", "6.1.3-2"),
    Rule.EOF: ("6.1.3-3", "6.1.3-3"),
    Rule.XREF: ("6.1.4", "6.1.4"),
    Rule.STREAM_LENGTH: ("6.1.7-1", "6.1.7.1-1"),
    Rule.PDF_VERSION: (None, "6.1.2-1"),
    Rule.FONT_EMBEDDED: ("6.3.4-1", "6.2.11.4.1-1"),
    Rule.OUTPUT_INTENT_PROFILE: ("6.2.2-1", "6.2.3-1"),
    Rule.DEVICE_COLOUR: ("6.2.3.3-1", "6.2.4.3-2"),
    Rule.METADATA: ("6.7.2-1", "6.6.2.1-1"),
    Rule.XMP_WELL_FORMED: ("6.7.9-1", "6.6.2.1-4"),
    Rule.PDFAID: ("6.7.11-1", "6.6.4-1"),
    Rule.PDFAID_PART: ("6.7.11-2", "6.6.4-2"),
    Rule.PDFAID_CONFORMANCE: ("6.7.11-3", "6.6.4-3"),
    Rule.ACTION: ("6.6.1-1", "6.5.1-1"),
    Rule.NAMED_ACTION: ("6.6.1-2", "6.5.1-2"),
    Rule.CATALOG_AA: ("6.6.2-3", "6.5.2-1"),
    Rule.PAGE_AA: (None, "6.5.2-2"),
    Rule.XFA: (None, "6.4.2-1"),
    Rule.NEEDS_RENDERING: (None, "6.4.2-2"),
    Rule.OPTIONAL_CONTENT: ("6.1.13-1", "6.9-1"),
    Rule.OPTIONAL_CONTENT_AS: (None, "6.9-4"),
    Rule.TRANSPARENCY: ("6.4-3", None),
    Rule.EMBEDDED_FILES: ("6.1.11-2", None),
}

#: What the file syntax checks cover, for the report's ``checked`` list.
FILE_TOPICS = (
    "6.1.2 tiêu đề tệp (%PDF-1.n ở byte 0, dòng chú thích nhị phân), phiên bản PDF",
    "6.1.3 không có dữ liệu sau %%EOF",
)
#: What the document checks cover (when the file could be opened).
DOCUMENT_TOPICS = (
    "6.1.3 trailer: có ID, không mã hoá",
    "6.1.4/6.1.7 bảng xref và độ dài luồng (qua cảnh báo sửa lỗi của qpdf)",
    "6.2.11.4.1 (PDF/A-1: 6.3.4) phông chữ dùng để hiển thị đều được nhúng",
    "6.2.3 (PDF/A-1: 6.2.2) output intent GTS_PDFA1 có hồ sơ màu ICC hợp lệ",
    "6.2.4.3 (PDF/A-1: 6.2.3.3) màu phụ thuộc thiết bị chỉ dùng khi có output intent",
    "6.6.2.1/6.6.4 (PDF/A-1: 6.7.2/6.7.11) có XMP, pdfaid có và khớp với phần/mức được kiểm tra",
    "6.5.1/6.5.2 (PDF/A-1: 6.6.1/6.6.2) không có JavaScript, Launch, hành động bị cấm, AA",
    "6.4.2 không có XFA, NeedsRendering; 6.9 (PDF/A-1: 6.1.13) nội dung tuỳ chọn",
    "PDF/A-1: 6.4 không có độ trong suốt; 6.1.11 không có tệp nhúng",
)

#: What neither our checks nor pikepdf check in a deposited file (it trusts freshly written files).
FILE_SYNTAX_NOT_CHECKED = (
    "6.1.4-2, 6.1.7.1-2, 6.1.9-1: định dạng chi tiết của cú pháp tệp (dấu xuống dòng quanh "
    "xref, stream/endstream, obj/endobj) — chỉ veraPDF kiểm tra",
)
UNCLAIMED_RULES_NOT_CHECKED = (
    "các quy tắc PDF/A khác (pikepdf, veraPDF): không chạy vì tệp không khai báo PDF/A — tệp "
    "không được lưu như PDF/A, bản chuyển đổi PDF/A của nó được kiểm tra đầy đủ"
)
LEVEL_AU_NOT_CHECKED = (
    "quy tắc riêng của mức A và U (cấu trúc thẻ, ánh xạ Unicode của mọi ký tự) — chỉ veraPDF "
    "kiểm tra"
)


class FailedRule(NamedTuple):
    """One failed requirement: clause (``6.2.11.4.1``), message, test number, who found it."""

    clause: str
    message: str
    test: str | None = None
    specification: str = ""
    validator: str = ""

    @property
    def rule_id(self) -> str:
        """``ISO 19005-2:6.2.11.4.1-1`` style identifier."""
        test = f"-{self.test}" if self.test else ""
        return f"{self.specification}:{self.clause}{test}"


def specification(part: int) -> str:
    """``ISO 19005-2`` for part 2."""
    return f"ISO 19005-{part}"


def failed(rule: Rule, part: int, message: str, validator: str) -> FailedRule | None:
    """A failure of ``rule`` numbered for ``part``; None when the part has no such rule."""
    part1, part23 = _CLAUSES[rule]
    clause_test = part1 if part == 1 else part23
    if clause_test is None:
        return None
    clause, _, test = clause_test.partition("-")
    return FailedRule(clause, message, test or None, specification(part), validator)


def parse_rule_id(rule_id: str) -> tuple[str, str | None, str]:
    """``ISO_19005_2:6.2.8-3`` → (clause ``6.2.8``, test ``3``, ``ISO 19005-2``)."""
    spec, _, clause_test = rule_id.partition(":")
    clause, _, test = clause_test.partition("-")
    spec_name = spec.replace("ISO_19005_", "ISO 19005-") if spec.startswith("ISO_19005_") else spec
    return clause, test or None, spec_name
