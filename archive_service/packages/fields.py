"""Field tables of the Circular-05 descriptive metadata files and the checks they imply.

One table per file kind (dossier EAD, document EAD_DOC, photo EAD_PIC, audio/video EAD_MEDIA,
in their SIP and AIP variants). The XSDs in ``schemas/`` are written from these tables; the SIP
checks and the writers use them directly, so a field rule lives in one place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from archive_service.packages import codes
from archive_service.packages.problems import Problem, ProblemCode, Severity


class Kind(StrEnum):
    """How a field's text is read."""

    STRING = "string"
    DATE = "date"  # DD/MM/YYYY
    NUMBER = "number"  # non-negative integer
    CODE = "code"  # one value of ``codes``
    CODES = "codes"  # one or more values of ``codes``, comma separated
    RETENTION = "retention"  # 01-06, or 07:<years>


@dataclass(frozen=True)
class FieldSpec:
    """One metadata element: its tag, how it is read, and whether it must be there."""

    tag: str
    kind: Kind = Kind.STRING
    max_length: int | None = None
    required: bool = False
    codes: Mapping[str, str] | None = None


def _s(tag: str, max_length: int, required: bool = False) -> FieldSpec:
    return FieldSpec(tag, Kind.STRING, max_length, required)


def _code(tag: str, values: Mapping[str, str], required: bool = False) -> FieldSpec:
    return FieldSpec(tag, Kind.CODE, 30, required, values)


def _date(tag: str, required: bool = False) -> FieldSpec:
    return FieldSpec(tag, Kind.DATE, 10, required)


def _num(tag: str, required: bool = False) -> FieldSpec:
    return FieldSpec(tag, Kind.NUMBER, 10, required)


_LANGUAGE = FieldSpec("language", Kind.CODES, 100, True, codes.LANGUAGE)
_MAINTENANCE = FieldSpec("maintenance", Kind.RETENTION, 100, True, codes.MAINTENANCE)
_MODE = _code("mode", codes.MODE, required=True)

#: EAD.xml of a SIP_hoso (18 fields). In an AIP, ``fileCode`` becomes ``arcFileCode``.
DOSSIER_FIELDS: tuple[FieldSpec, ...] = (
    _s("fileCode", 100, True),
    _s("title", 1000, True),
    _MAINTENANCE,
    _MODE,
    _LANGUAGE,
    _date("startDate", True),
    _date("endDate", True),
    _s("keyword", 100),
    _num("totalDoc", True),
    _num("numberOfPaper"),
    _num("numberOfPage", True),
    _code("format", codes.PHYSICAL_FORMAT),
    _s("inforSign", 30),
    _code("confidenceLevel", codes.CONFIDENCE_LEVEL),
    _s("paperFileCode", 100),  # required when digitised: see check_conditionals
    _code("riskRecovery", codes.RISK_RECOVERY, required=True),
    _code("riskRecoveryStatus", codes.RISK_RECOVERY_STATUS),  # required when riskRecovery=1
    _s("description", 2000),
)
AIP_DOSSIER_FIELDS: tuple[FieldSpec, ...] = (
    _s("arcFileCode", 100, True),
    *DOSSIER_FIELDS[1:],
)

#: EAD_DOC_<docId>.xml of a SIP (21 fields).
DOCUMENT_FIELDS: tuple[FieldSpec, ...] = (
    _s("docId", 25, True),
    _s("docCode", 120, True),
    FieldSpec("maintenance", Kind.RETENTION, 100, False, codes.MAINTENANCE),
    _code("typeName", codes.TYPE_NAME, required=True),
    _s("codeNumber", 11),
    _s("codeNotation", 30),
    _date("issuedDate", True),
    _s("organName", 200, True),
    _s("subject", 500, True),
    _LANGUAGE,
    _num("numberOfPage", True),
    _s("inforSign", 30),
    _s("keyword", 100),
    _MODE,
    _code("confidenceLevel", codes.CONFIDENCE_LEVEL),
    _s("autograph", 2000),
    _code("format", codes.PHYSICAL_FORMAT),
    _code("riskRecovery", codes.RISK_RECOVERY),
    _code("riskRecoveryStatus", codes.RISK_RECOVERY_STATUS),
    _code("process", codes.PROCESS),
    _s("description", 500),
)

#: EAD_DOC_*.xml of an AIP (19 fields: no docId, maintenance, riskRecovery*).
AIP_DOCUMENT_FIELDS: tuple[FieldSpec, ...] = (
    _s("arcFileCode", 100, True),
    _MODE,
    _LANGUAGE,
    _s("keyword", 100),
    _num("numberOfPage", True),
    _code("format", codes.PHYSICAL_FORMAT),
    _s("inforSign", 30),
    _code("confidenceLevel", codes.CONFIDENCE_LEVEL),
    _s("description", 500),
    _s("docCode", 120, True),
    _num("docOrdinal", True),
    _code("typeName", codes.TYPE_NAME, required=True),
    _s("codeNumber", 11),
    _s("codeNotation", 30),
    _date("issuedDate", True),
    _s("organName", 200, True),
    _s("subject", 500, True),
    _s("autograph", 2000),
    _code("process", codes.PROCESS),
)

#: EAD_PIC_<docId>.xml: photographs.
PICTURE_FIELDS: tuple[FieldSpec, ...] = (
    _s("docId", 25, True),
    _s("docCode", 120, True),
    FieldSpec("maintenance", Kind.RETENTION, 100, False, codes.MAINTENANCE),
    _s("eventName", 500),
    _s("title", 500, True),
    _s("author", 200),
    _s("place", 300),
    _date("photoDate"),
    _code("colour", codes.PIC_COLOUR),
    _s("quality", 100),
    _MODE,
    _LANGUAGE,
    _s("keyword", 100),
    _code("format", codes.PHYSICAL_FORMAT),
    _s("description", 500),
)

#: EAD_MEDIA_<docId>.xml: audio and video recordings.
MEDIA_FIELDS: tuple[FieldSpec, ...] = (
    _s("docId", 25, True),
    _s("docCode", 120, True),
    FieldSpec("maintenance", Kind.RETENTION, 100, False, codes.MAINTENANCE),
    _code("mediaType", codes.MEDIA_TYPE, required=True),
    _s("eventName", 500),
    _s("title", 500, True),
    _s("author", 200),
    _s("place", 300),
    _date("recordDate"),
    _s("duration", 20),
    _s("quality", 100),
    _MODE,
    _LANGUAGE,
    _s("keyword", 100),
    _code("format", codes.PHYSICAL_FORMAT),
    _s("description", 500),
)

DATE_FORMAT = "%d/%m/%Y"
_DATE_RE = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")
_RETENTION_RE = re.compile(r"^(0[1-6])$|^07:(\d{1,2})$")
_CODES_SPLIT = re.compile(r"\s*[,;]\s*")


def parse_date(text: str) -> date | None:
    """Read a ``DD/MM/YYYY`` date; ``None`` when it is not one."""
    match = _DATE_RE.match(text)
    if not match:
        return None
    day, month, year = (int(g) for g in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None


def format_date(value: date) -> str:
    """Write a date as ``DD/MM/YYYY``."""
    return value.strftime(DATE_FORMAT)


def parse_retention(text: str) -> tuple[str, int | None] | None:
    """Read a retention value: ``("01", None)`` permanent, ``("06", 10)``, ``("07", 15)``."""
    match = _RETENTION_RE.match(text)
    if not match:
        return None
    if match.group(1):
        code = match.group(1)
        return code, codes.MAINTENANCE_YEARS[code]
    years = int(match.group(2))
    if not codes.OTHER_TERM_MIN_YEARS <= years <= codes.OTHER_TERM_MAX_YEARS:
        return None
    return "07", years


def split_codes(text: str) -> list[str]:
    """Split a multi-valued code field (``"01,02"``)."""
    return [part for part in _CODES_SPLIT.split(text.strip()) if part]


def check_fields(
    values: Mapping[str, Sequence[str]], specs: Sequence[FieldSpec], path: str
) -> list[Problem]:
    """Check element values (tag → every text found for it) against a field table.

    Reports missing required fields, repeated or unknown elements, over-long text, values outside
    code lists and malformed dates, numbers and retention codes. Element order is never checked.
    """
    problems: list[Problem] = []
    known = {spec.tag for spec in specs}
    for tag in values:
        if tag not in known:
            problems.append(
                Problem(ProblemCode.FIELD_UNKNOWN, path, f"Trường không có trong mẫu: <{tag}>", tag)
            )
    for spec in specs:
        found = values.get(spec.tag, [])
        if len(found) > 1:
            problems.append(
                Problem(ProblemCode.FIELD_DUPLICATE, path, f"Trường <{spec.tag}> lặp lại", spec.tag)
            )
        text = found[0].strip() if found else ""
        if not text:
            if spec.required:
                problems.append(
                    Problem(
                        ProblemCode.FIELD_MISSING,
                        path,
                        f"Thiếu trường bắt buộc <{spec.tag}>",
                        spec.tag,
                    )
                )
            continue
        problems.extend(_check_value(spec, text, path))
    return problems


def _check_value(spec: FieldSpec, text: str, path: str) -> list[Problem]:
    tag = spec.tag

    def problem(code: ProblemCode, message: str) -> list[Problem]:
        return [Problem(code, path, message, tag)]

    if spec.max_length is not None and len(text) > spec.max_length:
        return problem(
            ProblemCode.FIELD_TOO_LONG,
            f"Trường <{tag}> dài {len(text)} ký tự, tối đa {spec.max_length}",
        )
    if spec.kind is Kind.DATE and parse_date(text) is None:
        return problem(ProblemCode.FIELD_BAD_DATE, f"<{tag}> '{text}' không phải ngày DD/MM/YYYY")
    if spec.kind is Kind.NUMBER and not (text.isascii() and text.isdigit()):
        return problem(ProblemCode.FIELD_BAD_NUMBER, f"<{tag}> '{text}' không phải số nguyên")
    if spec.kind is Kind.RETENTION and parse_retention(text) is None:
        return problem(
            ProblemCode.FIELD_BAD_CODE,
            f"<{tag}> '{text}' không phải mã thời hạn bảo quản (01–06, hoặc 07:<số năm 2–70>)",
        )
    if spec.kind is Kind.CODE and spec.codes is not None and text not in spec.codes:
        return problem(
            ProblemCode.FIELD_BAD_CODE,
            f"<{tag}> '{text}' không thuộc danh mục ({', '.join(spec.codes)})",
        )
    if spec.kind is Kind.CODES and spec.codes is not None:
        bad = [c for c in split_codes(text) if c not in spec.codes]
        if bad or not split_codes(text):
            return problem(
                ProblemCode.FIELD_BAD_CODE,
                f"<{tag}> '{text}' có mã không thuộc danh mục ({', '.join(spec.codes)})",
            )
    return []


def check_conditionals(values: Mapping[str, Sequence[str]], path: str) -> list[Problem]:
    """Rules between fields: paperFileCode when digitised, riskRecoveryStatus when riskRecovery=1.

    An element present but empty on a digitised dossier is the official sample's known quirk: it is
    reported as a warning, not an error. A missing element is an error.
    """

    def first(tag: str) -> str | None:
        found = values.get(tag)
        return found[0].strip() if found else None

    problems: list[Problem] = []
    paper = first("paperFileCode")
    if first("confidenceLevel") == codes.DIGITISED:
        if paper is None:
            problems.append(
                Problem(
                    ProblemCode.FIELD_MISSING,
                    path,
                    "Hồ sơ số hóa phải có <paperFileCode> (mã hồ sơ giấy gốc)",
                    "paperFileCode",
                )
            )
        elif paper == "":
            problems.append(
                Problem(
                    ProblemCode.FIELD_MISSING,
                    path,
                    "Hồ sơ số hóa có <paperFileCode> rỗng (chấp nhận như gói mẫu, cần bổ sung)",
                    "paperFileCode",
                    Severity.WARNING,
                )
            )
    if first("riskRecovery") == "1" and not first("riskRecoveryStatus"):
        problems.append(
            Problem(
                ProblemCode.FIELD_MISSING,
                path,
                "Tài liệu thuộc diện bảo hiểm (riskRecovery=1) phải có <riskRecoveryStatus>",
                "riskRecoveryStatus",
            )
        )
    return problems
