"""Problems found in a package: a stable code, where, and a message a clerk understands."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ProblemCode(StrEnum):
    """Stable codes for everything the package checks can find.

    Codes are part of the API: depositors' systems match on them. Add codes; never rename.
    """

    # The container (ZIP or folder)
    SIP_UNREADABLE = "SIP_UNREADABLE"
    SIP_NOT_ZIP = "SIP_NOT_ZIP"
    SIP_ABSOLUTE_PATH = "SIP_ABSOLUTE_PATH"
    SIP_PATH_TRAVERSAL = "SIP_PATH_TRAVERSAL"
    SIP_LINK = "SIP_LINK"
    SIP_DUPLICATE_ENTRY = "SIP_DUPLICATE_ENTRY"
    SIP_TOO_MANY_ENTRIES = "SIP_TOO_MANY_ENTRIES"
    SIP_TOO_LARGE = "SIP_TOO_LARGE"
    SIP_COMPRESSION_RATIO = "SIP_COMPRESSION_RATIO"
    SIP_ENCRYPTED_ENTRY = "SIP_ENCRYPTED_ENTRY"
    SIP_BAD_PATH = "SIP_BAD_PATH"
    SIP_ROOT_FOLDER = "SIP_ROOT_FOLDER"
    # XML
    XML_MALFORMED = "XML_MALFORMED"
    XML_FORBIDDEN_DTD = "XML_FORBIDDEN_DTD"
    XML_TOO_LARGE = "XML_TOO_LARGE"
    XML_SCHEMA_INVALID = "XML_SCHEMA_INVALID"
    XML_WRONG_NAMESPACE = "XML_WRONG_NAMESPACE"
    XML_WRONG_ROOT = "XML_WRONG_ROOT"
    # METS structure and files
    METS_MISSING = "METS_MISSING"
    METS_OBJID_MISMATCH = "METS_OBJID_MISMATCH"
    METS_PROFILE = "METS_PROFILE"
    METS_PACKAGE_TYPE = "METS_PACKAGE_TYPE"
    METS_RECORD_STATUS = "METS_RECORD_STATUS"
    METS_HEADER = "METS_HEADER"
    METS_STRUCTMAP = "METS_STRUCTMAP"
    METS_REFERENCE_INVALID = "METS_REFERENCE_INVALID"
    SIP_FILE_MISSING = "SIP_FILE_MISSING"
    SIP_FILE_UNREFERENCED = "SIP_FILE_UNREFERENCED"
    SIP_CHECKSUM_MISMATCH = "SIP_CHECKSUM_MISMATCH"
    SIP_CHECKSUM_TYPE = "SIP_CHECKSUM_TYPE"
    SIP_SIZE_MISMATCH = "SIP_SIZE_MISMATCH"
    # Descriptive metadata
    EAD_MISSING = "EAD_MISSING"
    EAD_DOC_MISSING = "EAD_DOC_MISSING"
    FIELD_MISSING = "FIELD_MISSING"
    FIELD_TOO_LONG = "FIELD_TOO_LONG"
    FIELD_BAD_CODE = "FIELD_BAD_CODE"
    FIELD_BAD_DATE = "FIELD_BAD_DATE"
    FIELD_BAD_NUMBER = "FIELD_BAD_NUMBER"
    FIELD_BAD_BOOLEAN = "FIELD_BAD_BOOLEAN"
    FIELD_DUPLICATE = "FIELD_DUPLICATE"
    FIELD_UNKNOWN = "FIELD_UNKNOWN"
    DATE_RANGE = "DATE_RANGE"
    TOTAL_DOC_MISMATCH = "TOTAL_DOC_MISMATCH"
    DOC_ID_DUPLICATE = "DOC_ID_DUPLICATE"
    DOC_ID_FILE_MISMATCH = "DOC_ID_FILE_MISMATCH"
    DOC_CODE_MISMATCH = "DOC_CODE_MISMATCH"
    FETCH_REFERENCE_INVALID = "FETCH_REFERENCE_INVALID"
    # TTHC extension
    TTHC_MISSING = "TTHC_MISSING"
    TTHC_INVALID = "TTHC_INVALID"
    TTHC_DOSSIER_CODE = "TTHC_DOSSIER_CODE"
    TTHC_RESULT_DOC_MISSING = "TTHC_RESULT_DOC_MISSING"
    TTHC_RESULT_CODE = "TTHC_RESULT_CODE"
    TTHC_DATES = "TTHC_DATES"
    # Plain deposit (metadata JSON + files)
    PLAIN_METADATA_INVALID = "PLAIN_METADATA_INVALID"
    PLAIN_FILE_MISSING = "PLAIN_FILE_MISSING"
    PLAIN_FILE_UNDECLARED = "PLAIN_FILE_UNDECLARED"
    PLAIN_CHECKSUM_MISMATCH = "PLAIN_CHECKSUM_MISMATCH"
    # Content formats (identification by content)
    FORMAT_MISMATCH = "FORMAT_MISMATCH"
    FORMAT_NOT_ACCEPTED = "FORMAT_NOT_ACCEPTED"
    FORMAT_DECLARED_TYPE = "FORMAT_DECLARED_TYPE"  # warning: a media type the archive does not list
    # Virus check of the package's files
    VIRUS_FOUND = "VIRUS_FOUND"
    VIRUS_SCAN_FAILED = "VIRUS_SCAN_FAILED"
    # Deposit rules checked by the archive (beyond the package itself)
    AGENCY_MISMATCH = "AGENCY_MISMATCH"
    DUPLICATE_DOSSIER = "DUPLICATE_DOSSIER"


class Severity(StrEnum):
    """An ``error`` refuses the package; a ``warning`` is reported and the package goes on."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a package."""

    code: ProblemCode
    path: str
    message: str
    field: str | None = None
    severity: Severity = Severity.ERROR

    def as_dict(self) -> dict[str, str | None]:
        """Plain form for JSON output and the API."""
        return {
            "code": self.code.value,
            "path": self.path,
            "field": self.field,
            "severity": self.severity.value,
            "message": self.message,
        }


class PackageInvalid(Exception):
    """Raised when a package has at least one error; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        first = problems[0].message if problems else "no problems"
        super().__init__(f"{len(problems)} problem(s); first: {first}")


def errors(problems: list[Problem]) -> list[Problem]:
    """Only the problems that refuse a package."""
    return [p for p in problems if p.severity is Severity.ERROR]
