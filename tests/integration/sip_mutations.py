"""Build broken SIPs from good ones: change one thing, keep everything else consistent.

``SipEditor`` holds the members of a SIP ZIP in memory (test packages are small). Changing a file
with ``refresh=True`` rewrites the SIZE and CHECKSUM that the METS files declare for it (and then
the declaration of the changed representation METS in the root METS), so that only the intended
fault remains in the package.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, unquote

from lxml import etree

from archive_service.packages.mets import CSIP_NS, METS_NS, XLINK_NS

ROOT_METS = "METS.xml"
REP = "representations/rep1"
REP_METS = f"{REP}/METS.xml"
EAD = "metadata/descriptive/EAD.xml"
TTHC = "metadata/descriptive/TTHC.xml"
TTHC_NS = "urn:vn:archive:tthc:1"
_HREF = f"{{{XLINK_NS}}}href"


def data_path(doc_id: str, extension: str = "pdf") -> str:
    return f"{REP}/data/{doc_id}.{extension}"


def doc_metadata_path(doc_id: str) -> str:
    return f"{REP}/metadata/descriptive/EAD_DOC_{doc_id}.xml"


def m(tag: str) -> str:
    """Clark name of a METS element."""
    return f"{{{METS_NS}}}{tag}"


def csip(name: str) -> str:
    return f"{{{CSIP_NS}}}{name}"


def tree_snapshot(path: Path) -> dict[str, int]:
    """Every file, folder and link below ``path`` with its size: proves nothing was written."""
    return {str(p.relative_to(path)): p.lstat().st_size for p in sorted(path.rglob("*"))}


def symlink_info(name: str) -> zipfile.ZipInfo:
    """A ZIP entry that declares itself a symbolic link (Unix mode S_IFLNK)."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


class SipEditor:
    """The members of one SIP ZIP, editable, written back as a new ZIP."""

    def __init__(self, zip_bytes: bytes) -> None:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
            self.root = infos[0].filename.split("/", 1)[0]
            self.members = {i.filename.split("/", 1)[1]: archive.read(i) for i in infos}
        self.extra: list[tuple[str | zipfile.ZipInfo, bytes]] = []

    # --- content ------------------------------------------------------------------------------

    def get(self, path: str) -> bytes:
        return self.members[path]

    def set(self, path: str, data: bytes, *, refresh: bool = True) -> None:
        """Replace (or add) a file; with ``refresh`` the METS declarations follow it."""
        self.members[path] = data
        if refresh:
            self._refresh(path)

    def remove(self, path: str) -> None:
        del self.members[path]

    def xml(self, path: str) -> etree._Element:
        return etree.fromstring(self.members[path])

    def edit_xml(
        self, path: str, change: Callable[[etree._Element], object], *, refresh: bool = True
    ) -> None:
        """Apply ``change`` to the parsed file and store it again."""
        root = self.xml(path)
        change(root)
        self.set(path, serialise(root), refresh=refresh)

    def set_field(self, path: str, tag: str, value: str | None) -> None:
        """Set (``None``: remove) a simpledc element, checksums refreshed."""

        def change(root: etree._Element) -> None:
            element = root.find(tag)
            if value is None:
                if element is not None:
                    root.remove(element)
                return
            if element is None:
                element = etree.SubElement(root, tag)
            element.text = value

        self.edit_xml(path, change)

    def drop_metadata(self, path: str) -> None:
        """Remove a metadata file, its dmdSec and every DMDID that names that dmdSec."""
        mets_path = ROOT_METS if not path.startswith(f"{REP}/") else REP_METS
        relative = path if mets_path == ROOT_METS else path[len(REP) + 1 :]

        def change(root: etree._Element) -> None:
            for md_ref in list(root.iter(m("mdRef"))):
                if unquote(md_ref.get(_HREF, "")) == relative:
                    section = md_ref.getparent()
                    assert section is not None
                    section_id = section.get("ID")
                    section.getparent().remove(section)  # type: ignore[union-attr]
                    for div in root.iter(m("div")):
                        ids = (div.get("DMDID") or "").split()
                        if section_id in ids:
                            ids.remove(section_id)
                            if ids:
                                div.set("DMDID", " ".join(ids))
                            else:
                                del div.attrib["DMDID"]

        self.remove(path)
        self.edit_xml(mets_path, change)

    def rename(self, old: str, new: str, *, mime_type: str | None = None) -> None:
        """Move a file and every reference to it (both in the same METS folder)."""
        mets_path = REP_METS if old.startswith(f"{REP}/") else ROOT_METS
        base = posixpath.dirname(mets_path)
        old_href = old[len(base) + 1 :] if base else old
        new_href = new[len(base) + 1 :] if base else new

        def change(root: etree._Element) -> None:
            for element in root.iter(m("FLocat"), m("mdRef")):
                if unquote(element.get(_HREF, "")) == old_href:
                    element.set(_HREF, quote(new_href))
                    holder = element if element.tag == m("mdRef") else element.getparent()
                    if mime_type and holder is not None:
                        holder.set("MIMETYPE", mime_type)

        self.members[new] = self.members.pop(old)
        self.edit_xml(mets_path, change)

    def set_file_attribute(self, path: str, name: str, value: str) -> None:
        """Change an attribute (SIZE, CHECKSUMTYPE …) of the METS declaration of ``path``."""
        mets_path = REP_METS if path.startswith(f"{REP}/") else ROOT_METS
        base = posixpath.dirname(mets_path)
        href = path[len(base) + 1 :] if base else path

        def change(root: etree._Element) -> None:
            for holder in _declarations(root, href):
                holder.set(name, value)

        self.edit_xml(mets_path, change)

    # --- output -------------------------------------------------------------------------------

    def add_entry(self, name: str | zipfile.ZipInfo, data: bytes) -> None:
        """An extra raw ZIP entry (its name is used as is, root folder not added)."""
        self.extra.append((name, data))

    def write(self, path: Path, tweak: Callable[[zipfile.ZipFile], None] | None = None) -> Path:
        """Write the ZIP; ``tweak`` may alter central-directory records before they are written."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in self.members.items():
                archive.writestr(f"{self.root}/{name}", data)
            for entry, data in self.extra:
                archive.writestr(entry, data)
            if tweak:
                tweak(archive)
        return path

    def _refresh(self, path: str) -> None:
        for mets_path in (REP_METS, ROOT_METS):
            base = posixpath.dirname(mets_path)
            if mets_path == path or mets_path not in self.members:
                continue
            if base and not path.startswith(base + "/"):
                continue
            href = path[len(base) + 1 :] if base else path
            root = self.xml(mets_path)
            holders = _declarations(root, href)
            if not holders:
                continue
            data = self.members[path]
            for holder in holders:
                holder.set("SIZE", str(len(data)))
                holder.set("CHECKSUM", hashlib.sha256(data).hexdigest().upper())
            self.members[mets_path] = serialise(root)
            self._refresh(mets_path)


def _declarations(root: etree._Element, href: str) -> list[etree._Element]:
    """The ``<file>`` and ``mdRef`` elements that declare ``href``."""
    found = []
    for element in root.iter(m("FLocat"), m("mdRef")):
        if unquote(element.get(_HREF, "")) == href:
            holder = element if element.tag == m("mdRef") else element.getparent()
            if holder is not None:
                found.append(holder)
    return found


def serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
