"""METS writing: namespaces, identifiers, date-times and the element builders of SIP and AIP METS.

The SIP builder and the AIP writer assemble their METS files from the functions here, so that the
conventions of the packages live in one place:

- date-times ``YYYY-MM-DDThh:mm:ss.sss+07:00`` (always converted to Vietnam time, never ``Z``);
- section ids ``uuid-<UUID upper-case>``, ``<file>`` ids ``ID-<UUID upper-case>`` (the case used by
  the E-ARK reference tooling the official sample was made with);
- checksums SHA-256, upper-case hex, with ``CHECKSUMTYPE`` and ``SIZE`` on every file and mdRef;
- references ``LOCTYPE="URL"``, ``xlink:type="simple"``, ``xlink:href`` relative to the METS file.

Ids are derived, never random: ``IdSource`` makes each id a UUID-5 of the package UUID and a key
(usually a path), so the same inputs always give byte-identical XML.

Elements must be appended in METS order (metsHdr, dmdSec, amdSec, fileSec, structMap); every
builder appends to the parent it is given and returns the new element.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import quote
from uuid import UUID, uuid5

from lxml import etree

from archive_service.packages.xmlstream import XML_DECLARATION

METS_NS = "http://www.loc.gov/METS/"
XLINK_NS = "http://www.w3.org/1999/xlink"
CSIP_NS = "https://DILCIS.eu/XML/METS/CSIPExtensionMETS"
SIP_NS = "https://DILCIS.eu/XML/METS/SIPExtensionMETS"
PREMIS_NS = "http://www.loc.gov/premis/v3"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

#: Prefixes written in METS files. Readers must not depend on them (outside files use others).
NSMAP: dict[str | None, str] = {
    "mets": METS_NS,
    "csip": CSIP_NS,
    "sip": SIP_NS,
    "xlink": XLINK_NS,
    "xsi": XSI_NS,
}

#: E-ARK SIP 2.x profile (CSIP 2.0.4 generation): what ``mets/@PROFILE`` of a SIP must say.
SIP_PROFILE = "https://earksip.dilcis.eu/profile/E-ARK-SIP.xml"
#: E-ARK CSIP profile: representation METS of an AIP.
CSIP_PROFILE = "https://earkcsip.dilcis.eu/profile/E-ARK-CSIP.xml"
#: Root METS of an AIP (Circular 05, Appendix I).
AIP_PROFILE = "http://www.ra.ee/METS/v01/IP.xml"
DIP_PROFILE = "https://earkdip.dilcis.eu/profile/E-ARK-DIP.xml"

#: Vietnam time: every METS date-time is written with this offset.
VN_TZ = timezone(timedelta(hours=7))

# Package layout shared by SIP, AIP and DIP.
METS_FILE = "METS.xml"
REPRESENTATIONS_DIR = "representations"
REP1 = f"{REPRESENTATIONS_DIR}/rep1"
SCHEMAS_DIR = "schemas"
DESCRIPTIVE_DIR = "metadata/descriptive"
PRESERVATION_DIR = "metadata/preservation"
DATA_DIR = "data"

# Labels and values of the CSIP structure.
PACKAGE_TYPE_MIXED = "Mixed"
CONTENT_MIXED = "MIXED"
STRUCTMAP_LABEL = "CSIP"
STRUCTMAP_TYPE = "PHYSICAL"
DIV_METADATA = "Metadata"
DIV_SCHEMAS = "Schemas"
DIV_DATA = "Data"
DIV_METADATA_LINK = "MetadataLink"
DIV_FILE = "File"
GROUP_SCHEMAS = "Schemas"
GROUP_DATA = "Data"
GROUP_HOLEYFILE = "Holeyfile"
DIV_ORIGINAL = "ORIGINAL"
DIV_NORMALIZED = "NORMALIZED"
XSD_MIME = "application/octet-stream"
XML_MIME = "application/xml"


def representation_label(name: str = "rep1") -> str:
    """``Representations/<name>``: label of a representation's fileGrp and div."""
    return f"Representations/{name}"


def mets_datetime(dt: datetime) -> str:
    """``YYYY-MM-DDThh:mm:ss.sss+07:00`` of a timezone-aware date-time (converted, never ``Z``)."""
    if dt.tzinfo is None:
        raise ValueError("METS date-times must be timezone-aware")
    local = dt.astimezone(VN_TZ)
    return f"{local:%Y-%m-%dT%H:%M:%S}.{local.microsecond // 1000:03d}+07:00"


def uuid_id(u: UUID) -> str:
    """Section id / package id: ``uuid-<UUID upper-case>``."""
    return f"uuid-{str(u).upper()}"


def file_id(u: UUID) -> str:
    """``<file>`` id: ``ID-<UUID upper-case>``."""
    return f"ID-{str(u).upper()}"


class IdSource:
    """Deterministic METS ids of one package: UUID-5 of the package UUID and a key.

    Use a key that names what the id stands for (``"dmdSec:metadata/descriptive/EAD.xml"``,
    a file path …); the same key always gives the same id.
    """

    def __init__(self, package_uuid: UUID) -> None:
        self.package_uuid = package_uuid

    def uuid(self, key: str) -> UUID:
        return uuid5(self.package_uuid, key)

    def section(self, key: str) -> str:
        """``uuid-…`` id for a section, group, div or the like."""
        return uuid_id(self.uuid(key))

    def file(self, key: str) -> str:
        """``ID-…`` id for a ``<file>`` element."""
        return file_id(self.uuid(key))


@dataclass(frozen=True)
class FileRef:
    """A file as METS declares it: href (relative to the METS file), size, SHA-256, MIME, date."""

    href: str
    size: int
    sha256: str  # lower-case hex; written upper-case
    mime_type: str
    created: datetime


def qname(tag: str, ns: str = METS_NS) -> str:
    """Clark name ``{ns}tag``."""
    return f"{{{ns}}}{tag}"


def _xlink(name: str) -> str:
    return qname(name, XLINK_NS)


def csip_qname(name: str) -> str:
    """Clark name of a CSIP extension attribute (``csip:NOTETYPE`` …)."""
    return qname(name, CSIP_NS)


def href(path: str) -> str:
    """A package-relative path as an ``xlink:href`` (percent-encoded where needed)."""
    return quote(path, safe="/")


def element(
    parent: etree._Element, tag: str, attrs: Iterable[tuple[str, str]] = ()
) -> etree._Element:
    """Append a METS element with attributes in the given order (order is part of the bytes)."""
    child = etree.SubElement(parent, qname(tag))
    for name, value in attrs:
        child.set(name, value)
    return child


def mets_root(
    *,
    objid: str,
    profile: str,
    label: str | None = None,
    mets_type: str = PACKAGE_TYPE_MIXED,
    content_information_type: str | None = None,
) -> etree._Element:
    """The ``<mets>`` element with its identifying attributes."""
    root = etree.Element(qname("mets"), nsmap=NSMAP)  # type: ignore[arg-type]
    root.set("OBJID", objid)
    if label:
        root.set("LABEL", label)
    root.set("TYPE", mets_type)
    if content_information_type:
        root.set(csip_qname("CONTENTINFORMATIONTYPE"), content_information_type)
    root.set("PROFILE", profile)
    return root


def mets_header(
    root: etree._Element,
    *,
    created: datetime,
    package_type: str,
    record_status: str | None = "NEW",
    creator_name: str,
    creator_note: str | None = None,
    submission_agreement: str | None = None,
    last_modified: datetime | None = None,
) -> etree._Element:
    """``metsHdr`` with the CREATOR software agent (note IDENTIFICATIONCODE) and altRecordID."""
    attrs = [("CREATEDATE", mets_datetime(created))]
    if last_modified is not None:
        attrs.append(("LASTMODDATE", mets_datetime(last_modified)))
    if record_status:
        attrs.append(("RECORDSTATUS", record_status))
    attrs.append((csip_qname("OAISPACKAGETYPE"), package_type))
    header = element(root, "metsHdr", attrs)
    agent = element(
        header, "agent", [("ROLE", "CREATOR"), ("TYPE", "OTHER"), ("OTHERTYPE", "SOFTWARE")]
    )
    element(agent, "name").text = creator_name
    if creator_note:
        note = element(agent, "note", [(csip_qname("NOTETYPE"), "IDENTIFICATIONCODE")])
        note.text = creator_note
    if submission_agreement:
        alt = element(header, "altRecordID", [("TYPE", "SUBMISSIONAGREEMENT")])
        alt.text = submission_agreement
    return header


def _file_attrs(ref: FileRef) -> list[tuple[str, str]]:
    return [
        ("MIMETYPE", ref.mime_type),
        ("SIZE", str(ref.size)),
        ("CREATED", mets_datetime(ref.created)),
        ("CHECKSUM", ref.sha256.upper()),
        ("CHECKSUMTYPE", "SHA-256"),
    ]


def _link_attrs(path: str) -> list[tuple[str, str]]:
    return [("LOCTYPE", "URL"), (_xlink("type"), "simple"), (_xlink("href"), href(path))]


def md_ref(
    parent: etree._Element,
    ref: FileRef,
    *,
    mdtype: str,
    other_mdtype: str | None = None,
    mdtype_version: str | None = None,
) -> etree._Element:
    """``mdRef`` to a metadata file, with size, created and checksum."""
    attrs = _link_attrs(ref.href)
    attrs.append(("MDTYPE", mdtype))
    if other_mdtype:
        attrs.append(("OTHERMDTYPE", other_mdtype))
    if mdtype_version:
        attrs.append(("MDTYPEVERSION", mdtype_version))
    attrs.extend(_file_attrs(ref))
    return element(parent, "mdRef", attrs)


def md_section(
    root: etree._Element,
    tag: str,
    section_id: str,
    ref: FileRef,
    *,
    mdtype: str,
    other_mdtype: str | None = None,
    mdtype_version: str | None = None,
) -> etree._Element:
    """A ``dmdSec`` (or ``digiprovMD`` …) holding one mdRef; ``STATUS="CURRENT"``."""
    section = element(
        root,
        tag,
        [("ID", section_id), ("CREATED", mets_datetime(ref.created)), ("STATUS", "CURRENT")],
    )
    md_ref(section, ref, mdtype=mdtype, other_mdtype=other_mdtype, mdtype_version=mdtype_version)
    return section


def dc_dmd_section(root: etree._Element, section_id: str, ref: FileRef) -> etree._Element:
    """``dmdSec`` of a simpledc file (EAD.xml, EAD_DOC_…): ``MDTYPE="DC"`` version 1.0.0."""
    return md_section(root, "dmdSec", section_id, ref, mdtype="DC", mdtype_version="1.0.0")


def amd_section(root: etree._Element, section_id: str) -> etree._Element:
    """``amdSec`` with an ID; SIPs leave it empty (as the official sample does)."""
    return element(root, "amdSec", [("ID", section_id)])


def file_section(root: etree._Element, section_id: str) -> etree._Element:
    return element(root, "fileSec", [("ID", section_id)])


def file_group(file_sec: etree._Element, group_id: str, use: str) -> etree._Element:
    return element(file_sec, "fileGrp", [("ID", group_id), ("USE", use)])


def file_entry(group: etree._Element, entry_id: str, ref: FileRef) -> etree._Element:
    """``<file>`` with size, created, checksum and its ``FLocat``."""
    entry = element(group, "file", [("ID", entry_id), *_file_attrs(ref)])
    element(entry, "FLocat", _link_attrs(ref.href))
    return entry


def struct_map(root: etree._Element, map_id: str) -> etree._Element:
    """The CSIP ``structMap`` (``TYPE="PHYSICAL"``, ``LABEL="CSIP"``)."""
    return element(
        root, "structMap", [("ID", map_id), ("TYPE", STRUCTMAP_TYPE), ("LABEL", STRUCTMAP_LABEL)]
    )


def div(
    parent: etree._Element,
    div_id: str,
    *,
    label: str | None = None,
    div_type: str | None = None,
    dmdids: Iterable[str] = (),
    admids: Iterable[str] = (),
) -> etree._Element:
    """A structMap ``div``; ``DMDID``/``ADMID`` are space-separated id lists."""
    attrs = [("ID", div_id)]
    if div_type:
        attrs.append(("TYPE", div_type))
    if label:
        attrs.append(("LABEL", label))
    if dmd := " ".join(dmdids):
        attrs.append(("DMDID", dmd))
    if adm := " ".join(admids):
        attrs.append(("ADMID", adm))
    return element(parent, "div", attrs)


def fptr(parent_div: etree._Element, file_or_group_id: str) -> etree._Element:
    return element(parent_div, "fptr", [("FILEID", file_or_group_id)])


def mptr(parent_div: etree._Element, path: str, title: str) -> etree._Element:
    """Pointer to a representation METS; ``xlink:title`` names its fileGrp (CSIP convention)."""
    return element(parent_div, "mptr", [*_link_attrs(path), (_xlink("title"), title)])


def xml_bytes(root: etree._Element) -> bytes:
    """Serialise a tree the way every package XML is written: UTF-8, declaration, indented."""
    etree.indent(root, space="  ")
    body = etree.tostring(root, encoding="UTF-8", xml_declaration=False, pretty_print=True)
    return XML_DECLARATION + body
