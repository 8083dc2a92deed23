"""TTHC.xml (extension, namespace ``urn:vn:archive:tthc:1``): the facts of the TTHC system.

Element and attribute names are those of ``TthcFacts`` aliases. Writing follows one fixed order
and converts every date-time to Vietnam time with its offset; reading is order-free and refuses
date-times without an offset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from lxml import etree
from pydantic import BaseModel, ValidationError

from archive_service.packages.mets import VN_TZ, FileRef, md_section, qname, xml_bytes
from archive_service.packages.models import TthcFacts

TTHC_NS = "urn:vn:archive:tthc:1"
TTHC_PATH = "metadata/descriptive/TTHC.xml"
#: ``OTHERMDTYPE`` of TTHC.xml's dmdSec.
TTHC_MDTYPE = "TTHC"
TTHC_MDTYPE_VERSION = "1"

#: Child elements of ``<tthc>`` in writing order, with how each is written.
_TEXT = ("dossierCode", "channel", "finalStatus")
_DATETIMES = ("received", "due", "finished", "returned")
_ATTRIBUTE_ELEMENTS = ("procedure", "receivingAgency", "competentAgency", "applicant")
_ORDER = (
    "dossierCode",
    "procedure",
    "receivingAgency",
    "competentAgency",
    "applicant",
    "channel",
    "received",
    "due",
    "finished",
    "returned",
    "finalStatus",
    "results",
    "history",
)

_FIELD_BY_ALIAS = {info.alias or name: name for name, info in TthcFacts.model_fields.items()}
_ITEM = {"results": "result", "history": "step"}

_DOSSIER_CODE = re.compile(
    r"^(?P<unit>[0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*)-(?P<day>\d{6})-(?P<seq>\d{4})$"
)


class TthcError(Exception):
    """TTHC.xml is missing content or holds a value that cannot be read."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class DossierCode:
    """Parts of a TTHC dossier code ``<unit>-<YYMMDD>-<NNNN>``: ``000.00.19.H56-240610-0001``."""

    unit: str
    day: str  # YYMMDD of receipt
    sequence: str  # NNNN

    @property
    def day_sequence(self) -> str:
        """``YYMMDD-NNNN``: the part that makes the code unique within the unit."""
        return f"{self.day}-{self.sequence}"


def parse_dossier_code(code: str) -> DossierCode | None:
    """Split a dossier code; ``None`` when it does not have the national shape."""
    match = _DOSSIER_CODE.match(code)
    if not match:
        return None
    return DossierCode(match.group("unit"), match.group("day"), match.group("seq"))


def tthc_datetime(value: datetime) -> str:
    """ISO 8601 date-time in Vietnam time with its offset (``2024-06-10T08:15:00+07:00``)."""
    if value.tzinfo is None:
        raise ValueError("TTHC date-times must be timezone-aware")
    return value.astimezone(VN_TZ).isoformat()


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return tthc_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _q(tag: str) -> str:
    return qname(tag, TTHC_NS)


def _with_attributes(
    parent: etree._Element, tag: str, model: BaseModel, skip: str = ""
) -> etree._Element:
    child = etree.SubElement(parent, _q(tag))
    for name, value in model.model_dump(by_alias=True, exclude_none=True).items():
        if name != skip:
            child.set(name, _text(value))
    return child


def write_tthc(facts: TthcFacts) -> bytes:
    """TTHC.xml of ``facts``: fixed element order, optional values omitted, UTF-8."""
    root = etree.Element(_q("tthc"), nsmap={None: TTHC_NS})  # type: ignore[dict-item]
    root.set("version", facts.version)
    for tag in _ORDER:
        value = getattr(facts, _FIELD_BY_ALIAS[tag])
        if tag in _ATTRIBUTE_ELEMENTS:
            _with_attributes(root, tag, value)
        elif tag == "results":
            results = etree.SubElement(root, _q(tag))
            for result in facts.results:
                _with_attributes(results, "result", result)
        elif tag == "history":
            history = etree.SubElement(root, _q(tag))
            for step in facts.history:
                _with_attributes(history, "step", step, skip="opinion").text = step.opinion or None
        elif value is not None:
            etree.SubElement(root, _q(tag)).text = _text(value)
    return xml_bytes(root)


def tthc_dmd_section(parent: etree._Element, section_id: str, ref: FileRef) -> etree._Element:
    """The METS ``dmdSec`` of TTHC.xml: ``MDTYPE="OTHER"`` ``OTHERMDTYPE="TTHC"``, version 1."""
    return md_section(
        parent,
        "dmdSec",
        section_id,
        ref,
        mdtype="OTHER",
        other_mdtype=TTHC_MDTYPE,
        mdtype_version=TTHC_MDTYPE_VERSION,
    )


def _attributes(element: etree._Element) -> dict[str, str]:
    """Un-namespaced attributes with a value (an empty attribute means 'not given')."""
    return {
        str(name): str(value)
        for name, value in element.attrib.items()
        if not str(name).startswith("{") and value != ""
    }


def read_tthc(root: etree._Element) -> TthcFacts:
    """``TthcFacts`` of a parsed TTHC.xml; raises ``TthcError`` with a Vietnamese message."""
    if root.tag != _q("tthc"):
        raise TthcError(
            f"TTHC.xml: phần tử gốc phải là <tthc> trong không gian tên {TTHC_NS}, "
            f"gặp <{etree.QName(root).localname}> ({etree.QName(root).namespace or 'không có'})"
        )
    data: dict[str, Any] = {}
    if root.get("version"):
        data["version"] = root.get("version")
    for child in root:
        if not isinstance(child.tag, str) or etree.QName(child).namespace != TTHC_NS:
            continue
        tag = etree.QName(child).localname
        if tag in _ATTRIBUTE_ELEMENTS:
            data[tag] = _attributes(child)
        elif tag == "results":
            data[tag] = [_attributes(item) for item in child if item.tag == _q("result")]
        elif tag == "history":
            data[tag] = [
                {**_attributes(item), "opinion": "".join(str(t) for t in item.itertext()).strip()}
                for item in child
                if item.tag == _q("step")
            ]
        elif tag in _TEXT or tag in _DATETIMES:
            text = (child.text or "").strip()
            if text:
                data[tag] = text
    try:
        facts = TthcFacts.model_validate(data)
    except ValidationError as exc:
        raise TthcError(_message(exc)) from exc
    _require_offsets(facts)
    return facts


def _require_offsets(facts: TthcFacts) -> None:
    naive = [tag for tag in _DATETIMES if _is_naive(getattr(facts, tag))]
    naive += [f"history/step[{i + 1}]/@at" for i, s in enumerate(facts.history) if _is_naive(s.at)]
    if naive:
        raise TthcError(
            "TTHC.xml: thời điểm phải ghi kèm múi giờ (ví dụ 2024-06-10T08:15:00+07:00): "
            + ", ".join(naive)
        )


def _is_naive(value: datetime | None) -> bool:
    return value is not None and value.tzinfo is None


def _message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = _location(error["loc"])
        if error["type"] == "missing":
            parts.append(f"thiếu {where}")
        elif error["type"] == "extra_forbidden":
            parts.append(f"không được có {where}")
        else:
            parts.append(f"{where} không hợp lệ ('{error.get('input')}': {error['msg']})")
    return "TTHC.xml: " + "; ".join(parts)


def _location(loc: tuple[int | str, ...]) -> str:
    """``('history', 0, 'at')`` → ``<history>/<step>[1]/@at``."""
    out: list[str] = []
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out.append(f"<{_ITEM[str(loc[i - 1])]}>[{part + 1}]")
        elif i == 0:
            out.append(f"<{part}>")
        else:
            out.append(f"@{part}")
    return "/".join(out)
