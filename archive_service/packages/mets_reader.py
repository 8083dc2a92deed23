"""Reading a METS file of a package into plain data: its header, file references and structure.

Only what the package checks need is read. Elements are found by namespace and local name, never
by prefix. ``xlink:href`` values are turned into package paths (relative to the package root):
URL-decoded, relative to the METS file's folder, without ``..``; an href that cannot be turned
into such a path is reported and its reference kept with ``path=None``.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from lxml import etree

from archive_service.packages.container import printable
from archive_service.packages.mets import XLINK_NS, csip_qname, qname
from archive_service.packages.problems import Problem, ProblemCode


def _m(tag: str) -> str:
    return qname(tag)


_HREF = qname("href", XLINK_NS)


@dataclass(frozen=True)
class FileReference:
    """A file a METS file declares: a ``<file>`` (with its ``FLocat``) or a dmdSec's ``mdRef``."""

    element_id: str  # ID of the <file>, or of the section holding the mdRef
    href: str
    path: str | None  # path inside the package; None when the href is unusable
    size: str | None
    checksum: str | None
    checksum_type: str | None
    mime_type: str | None
    mdtype: str | None = None  # mdRef only: MDTYPE, or OTHERMDTYPE when MDTYPE="OTHER"


@dataclass(frozen=True)
class Div:
    """A structMap ``div``: what it groups (DMDID, fptr FILEID, mptr) and its child divs."""

    label: str | None
    div_type: str | None
    dmd_ids: tuple[str, ...]
    file_ids: tuple[str, ...]
    children: tuple[Div, ...]

    def walk(self) -> list[Div]:
        """This div and every div below it, depth first."""
        found = [self]
        for child in self.children:
            found.extend(child.walk())
        return found


@dataclass
class MetsFile:
    """What one METS file says."""

    path: str
    objid: str | None
    label: str | None
    mets_type: str | None
    profile: str | None
    package_type: str | None
    record_status: str | None
    created: str | None
    creator_name: str | None
    creator_note: str | None
    submission_agreement: str | None
    metadata: dict[str, FileReference] = field(default_factory=dict)  # by section ID
    files: dict[str, FileReference] = field(default_factory=dict)  # by <file> ID
    pointers: list[str | None] = field(default_factory=list)  # mptr targets (package paths)
    structure: list[Div] = field(default_factory=list)  # root divs of the CSIP structMaps
    has_csip_struct_map: bool = False

    def references(self) -> list[FileReference]:
        """Every file reference: metadata first, then files."""
        return [*self.metadata.values(), *self.files.values()]

    def divs(self) -> list[Div]:
        """Every div of the CSIP structMaps."""
        return [div for root in self.structure for div in root.walk()]


def read_mets(root: etree._Element, path: str) -> tuple[MetsFile, list[Problem]]:
    """Read a parsed METS file found at ``path`` (inside the package); report unusable hrefs."""
    problems: list[Problem] = []
    folder = posixpath.dirname(path)
    header = root.find(_m("metsHdr"))
    agent = _creator(header)
    mets = MetsFile(
        path=path,
        objid=root.get("OBJID"),
        label=root.get("LABEL"),
        mets_type=root.get("TYPE"),
        profile=root.get("PROFILE"),
        package_type=header.get(csip_qname("OAISPACKAGETYPE")) if header is not None else None,
        record_status=header.get("RECORDSTATUS") if header is not None else None,
        created=header.get("CREATEDATE") if header is not None else None,
        creator_name=_text(agent.find(_m("name"))) if agent is not None else None,
        creator_note=_identification_note(agent),
        submission_agreement=_submission_agreement(header),
    )
    for md_ref in root.iter(_m("mdRef")):
        section = md_ref.getparent()
        section_id = (section.get("ID") if section is not None else None) or ""
        mdtype = md_ref.get("MDTYPE")
        if mdtype == "OTHER":
            mdtype = md_ref.get("OTHERMDTYPE")
        reference = _reference(md_ref, md_ref, section_id, folder, path, problems, mdtype)
        mets.metadata[section_id] = reference
    for entry in root.iter(_m("file")):
        locator = entry.find(_m("FLocat"))
        entry_id = entry.get("ID") or ""
        mets.files[entry_id] = _reference(entry, locator, entry_id, folder, path, problems)
    for struct_map in root.iter(_m("structMap")):
        if struct_map.get("LABEL") == "CSIP" and struct_map.get("TYPE") == "PHYSICAL":
            mets.has_csip_struct_map = True
            mets.structure.extend(_div(div) for div in struct_map.findall(_m("div")))
    for pointer in root.iter(_m("mptr")):
        mets.pointers.append(_package_path(pointer.get(_HREF), folder, path, problems))
    return mets, problems


def _text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    return "".join(str(text) for text in element.itertext()).strip() or None


def _creator(header: etree._Element | None) -> etree._Element | None:
    if header is None:
        return None
    for agent in header.findall(_m("agent")):
        if agent.get("ROLE") == "CREATOR":
            return agent
    return None


def _identification_note(agent: etree._Element | None) -> str | None:
    if agent is None:
        return None
    for note in agent.findall(_m("note")):
        if note.get(csip_qname("NOTETYPE")) == "IDENTIFICATIONCODE":
            return _text(note)
    return None


def _submission_agreement(header: etree._Element | None) -> str | None:
    if header is None:
        return None
    for alt in header.findall(_m("altRecordID")):
        if alt.get("TYPE") == "SUBMISSIONAGREEMENT":
            return _text(alt)
    return None


def _reference(
    described: etree._Element,
    locator: etree._Element | None,
    element_id: str,
    folder: str,
    mets_path: str,
    problems: list[Problem],
    mdtype: str | None = None,
) -> FileReference:
    href = locator.get(_HREF) if locator is not None else None
    return FileReference(
        element_id=element_id,
        href=href or "",
        path=_package_path(href, folder, mets_path, problems),
        size=described.get("SIZE"),
        checksum=described.get("CHECKSUM"),
        checksum_type=described.get("CHECKSUMTYPE"),
        mime_type=described.get("MIMETYPE"),
        mdtype=mdtype,
    )


def _div(element: etree._Element) -> Div:
    return Div(
        label=element.get("LABEL"),
        div_type=element.get("TYPE"),
        dmd_ids=tuple((element.get("DMDID") or "").split()),
        file_ids=tuple(f.get("FILEID") or "" for f in element.findall(_m("fptr"))),
        children=tuple(_div(child) for child in element.findall(_m("div"))),
    )


def _package_path(
    href: str | None, folder: str, mets_path: str, problems: list[Problem]
) -> str | None:
    """The package path an href names, or ``None`` (with a problem) when it is unusable."""
    reason = None
    parts: list[str] = []
    if not href:
        reason = "thiếu xlink:href"
    else:
        split = urlsplit(href)
        decoded = unquote(split.path)
        parts = [part for part in decoded.split("/") if part not in ("", ".")]
        if split.scheme or split.netloc or split.query or split.fragment:
            reason = "phải là đường dẫn tương đối trong gói, không phải URL"
        elif decoded.startswith("/") or "\\" in decoded:
            reason = "phải là đường dẫn tương đối, dùng dấu '/'"
        elif ".." in parts:
            reason = "không được chứa '..'"
        elif not parts or printable(decoded) != decoded:
            reason = "đường dẫn rỗng hoặc chứa ký tự điều khiển"
    if reason:
        shown = printable(href or "")
        problems.append(
            Problem(
                ProblemCode.METS_REFERENCE_INVALID,
                mets_path,
                f"{mets_path}: tham chiếu tệp '{shown}' không hợp lệ: {reason}",
                "xlink:href",
            )
        )
        return None
    return posixpath.join(folder, *parts) if folder else "/".join(parts)
