"""Look inside container formats, safely: OOXML and ODF packages (ZIP), and OLE2 compound files.

Only the few small parts that name the format are read, each within a byte limit; the ZIP
central directory is read only after its entry count has been checked in the end record.
"""

from __future__ import annotations

import contextlib
import struct
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

import olefile

from archive_service.formats.catalogue import ODF_PRONOM
from archive_service.packages.xmlsafe import UnsafeXml, parse_xml_bytes

MAX_ZIP_ENTRIES = 10_000
MAX_PART_BYTES = 1024 * 1024
_EOCD = b"PK\x05\x06"
_CT_NS = "{http://schemas.openxmlformats.org/package/2006/content-types}"
_MANIFEST_VERSION = "{urn:oasis:names:tc:opendocument:xmlns:manifest:1.0}version"
_OOXML = "application/vnd.openxmlformats-officedocument"

#: Content type of an OOXML package's main part → format key.
OOXML_MAIN_PARTS = {
    f"{_OOXML}.wordprocessingml.document.main+xml": "docx",
    f"{_OOXML}.wordprocessingml.template.main+xml": "dotx",
    "application/vnd.ms-word.document.macroEnabled.main+xml": "docm",
    f"{_OOXML}.spreadsheetml.sheet.main+xml": "xlsx",
    f"{_OOXML}.spreadsheetml.template.main+xml": "xltx",
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml": "xlsm",
    "application/vnd.ms-excel.sheet.binary.macroEnabled.main": "xlsb",
    f"{_OOXML}.presentationml.presentation.main+xml": "pptx",
    f"{_OOXML}.presentationml.slideshow.main+xml": "ppsx",
    f"{_OOXML}.presentationml.template.main+xml": "potx",
    "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml": "pptm",
}
_ODF_MIMETYPES = {
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
    "application/vnd.oasis.opendocument.presentation": "odp",
}


@dataclass(frozen=True)
class ContainerMatch:
    """What a container holds: a format key, and a version and PUID when they are known."""

    key: str
    version: str | None = None
    pronom_id: str | None = None


def zip_entry_count(tail: bytes) -> int | None:
    """Entry count from the ZIP end record found in the file's last bytes (None: no end record).

    A ZIP64 archive (count 0xFFFF) reports that value, which is above any limit used here.
    """
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) < at + 22:
        return None
    return int(struct.unpack_from("<H", tail, at + 10)[0])


def inspect_zip(stream: BinaryIO, tail: bytes) -> ContainerMatch:
    """Tell an OOXML or ODF package from any other ZIP archive."""
    count = zip_entry_count(tail)
    if count is None or count > MAX_ZIP_ENTRIES:
        return ContainerMatch("zip")
    try:
        with zipfile.ZipFile(stream) as archive:
            entries = {info.filename: info for info in archive.infolist()}
            if "mimetype" in entries:
                return _odf(archive, entries)
            if "[Content_Types].xml" in entries:
                return _ooxml(archive, entries["[Content_Types].xml"])
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
        pass
    return ContainerMatch("zip")


def _read_part(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes | None:
    """A part's bytes, or None when it is larger than the limit (declared or actual)."""
    if info.file_size > MAX_PART_BYTES or info.flag_bits & 0x1:
        return None
    with archive.open(info) as part:
        data = part.read(MAX_PART_BYTES + 1)
    return data if len(data) <= MAX_PART_BYTES else None


def _ooxml(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> ContainerMatch:
    data = _read_part(archive, info)
    if data is None:
        return ContainerMatch("zip")
    try:
        root = parse_xml_bytes(data, info.filename).getroot()
    except UnsafeXml:
        return ContainerMatch("zip")
    for override in root.iter(f"{_CT_NS}Override"):
        key = OOXML_MAIN_PARTS.get(override.get("ContentType", "").strip())
        if key:
            return ContainerMatch(key)
    return ContainerMatch("zip")


def _odf(archive: zipfile.ZipFile, entries: dict[str, zipfile.ZipInfo]) -> ContainerMatch:
    data = _read_part(archive, entries["mimetype"])
    mimetype = (data or b"").decode("ascii", "replace").strip()
    key = _ODF_MIMETYPES.get(mimetype)
    if key is None:
        return ContainerMatch(
            "odf-other" if mimetype.startswith("application/vnd.oasis") else "zip"
        )
    version = _odf_version(archive, entries.get("META-INF/manifest.xml"))
    pronom = ODF_PRONOM[key].get(version) if version else None
    return ContainerMatch(key, version, pronom)


def _odf_version(archive: zipfile.ZipFile, info: zipfile.ZipInfo | None) -> str | None:
    """ODF version from the manifest (written from ODF 1.2 on; absent in 1.0 and 1.1)."""
    data = _read_part(archive, info) if info else None
    if data is None:
        return None
    try:
        root = parse_xml_bytes(data, "META-INF/manifest.xml").getroot()
    except UnsafeXml:
        return None
    return root.get(_MANIFEST_VERSION)


def inspect_ole(stream: BinaryIO) -> ContainerMatch:
    """Tell Word, Excel and PowerPoint 97-2003 files (and encrypted OOXML) from other OLE2 files."""
    try:
        ole = olefile.OleFileIO(stream)
    except (OSError, ValueError, IndexError, struct.error):
        return ContainerMatch("ole2")
    try:
        streams = {kid.name.lower(): kid for kid in ole.root.kids}
        if "encryptedpackage" in streams:
            return ContainerMatch("office-encrypted")
        if "worddocument" in streams:
            return _word(ole, stream, streams["worddocument"])
        if "workbook" in streams:
            return ContainerMatch("xls", "97-2003 (BIFF8)")
        if "book" in streams:
            return ContainerMatch("xls", "5.0/95 (BIFF5)", "fmt/59")
        if "powerpoint document" in streams:
            return ContainerMatch("ppt", "97-2003", "fmt/126")
        return ContainerMatch("ole2")
    finally:
        with contextlib.suppress(Exception):
            ole.close()


def _word(ole: olefile.OleFileIO, stream: BinaryIO, entry: object) -> ContainerMatch:
    """Word version and encryption flag from the File Information Block's first bytes."""
    fib = _stream_head(ole, stream, entry, 12)
    if len(fib) < 12:
        return ContainerMatch("doc")
    n_fib, flags = struct.unpack_from("<H", fib, 2)[0], struct.unpack_from("<H", fib, 10)[0]
    if flags & 0x0100:  # fEncrypted
        return ContainerMatch("doc-encrypted", "97-2003", "fmt/754")
    if n_fib < 0x00C1:
        return ContainerMatch("doc", "6.0/95", "fmt/39")
    return ContainerMatch("doc", "97-2003", "fmt/40")


def _stream_head(ole: olefile.OleFileIO, stream: BinaryIO, entry: object, size: int) -> bytes:
    """First bytes of an OLE stream without loading the whole stream."""
    length = int(getattr(entry, "size", 0))
    if length >= ole.minisectorcutoff:
        start = int(getattr(entry, "isectStart", 0))
        stream.seek((start + 1) * ole.sectorsize)
        return stream.read(min(size, length))
    try:
        name = str(getattr(entry, "name", ""))
        return bytes(ole.openstream(name).read(size))
    except OSError:
        return b""
