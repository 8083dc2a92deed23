"""The descriptive metadata of a SIP (``<simpledc>`` files) and the dossier's EAD.xml.

A simpledc file is schema-validated and its fields checked against the field table; a schema
complaint that a field problem already explains is not reported a second time.
"""

from __future__ import annotations

from lxml import etree

from archive_service.packages.ead import EAD_PATH, first_value, read_simpledc
from archive_service.packages.fields import (
    DOSSIER_FIELDS,
    check_conditionals,
    check_fields,
    parse_date,
)
from archive_service.packages.problems import Problem, ProblemCode
from archive_service.packages.schemas import SchemaName, validate
from archive_service.packages.sip_contents import SipCheck

#: Problems of the field checks that explain a schema complaint about the ``<simpledc>`` element.
_STRUCTURAL = {ProblemCode.FIELD_MISSING, ProblemCode.FIELD_UNKNOWN, ProblemCode.FIELD_DUPLICATE}


class SimpledcCheck(SipCheck):
    """A check that reads simpledc files (EAD.xml, EAD_DOC / EAD_PIC / EAD_MEDIA)."""

    def simpledc(self, path: str, schema: SchemaName) -> etree._Element | None:
        """Parse a simpledc file; ``docCode`` may be written ``arcDocCode`` (official sample)."""
        root = self.contents.xml(path, schema)
        if root is not None and schema is not SchemaName.EAD and root.find("docCode") is None:
            synonym = root.find("arcDocCode")
            if synonym is not None:
                synonym.tag = "docCode"
        return root

    def report_simpledc(
        self, root: etree._Element, schema: SchemaName, path: str, field_problems: list[Problem]
    ) -> None:
        """Field problems, plus schema problems the field checks do not already explain."""
        self.problems.extend(field_problems)
        covered = {p.field for p in field_problems}
        if any(p.code in _STRUCTURAL for p in field_problems):
            covered.add("simpledc")
        self.problems.extend(p for p in validate(root, schema, path) if p.field not in covered)


class DossierChecks(SimpledcCheck):
    """Checks EAD.xml, the dossier's descriptive metadata."""

    def dossier_values(self) -> dict[str, list[str]] | None:
        """The values of EAD.xml, checked; ``None`` when it is missing or unreadable."""
        path = self.contents.find(EAD_PATH)
        if path is None:
            self.add(
                ProblemCode.EAD_MISSING,
                EAD_PATH,
                f"Thiếu tệp {EAD_PATH} (thông tin hồ sơ)",
            )
            return None
        root = self.simpledc(path, SchemaName.EAD)
        if root is None:
            return None
        values = read_simpledc(root)
        found = check_fields(values, DOSSIER_FIELDS, path) + check_conditionals(values, path)
        self.report_simpledc(root, SchemaName.EAD, path, found)
        start_text, end_text = first_value(values, "startDate"), first_value(values, "endDate")
        start, end = parse_date(start_text), parse_date(end_text)
        if start and end and start > end:
            self.add(
                ProblemCode.DATE_RANGE,
                path,
                f"{path}: startDate {start_text} sau endDate {end_text}",
                "startDate",
            )
        return values
