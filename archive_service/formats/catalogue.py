"""The formats the archive recognises, which of them it accepts, and their registry facts.

The accepted list is that of the Circular (text, spreadsheets, presentations, images, video,
audio); everything else that can be recognised is listed too, so that a refusal can say what the
file really is. PRONOM identifiers are the registry's own (PUIDs); where one format has several
versions with their own PUIDs, ``identify`` picks the version-specific one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FormatKind(StrEnum):
    """What a document is, as the accepted list groups formats."""

    TEXT = "text"
    SPREADSHEET = "spreadsheet"
    PRESENTATION = "presentation"
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    OTHER = "other"


@dataclass(frozen=True)
class FormatSpec:
    """One format: MIME type, a name people know, usual extensions, and whether it is accepted."""

    key: str
    mime_type: str
    name: str
    extensions: tuple[str, ...]
    accepted: bool
    kind: FormatKind
    pronom_id: str | None = None


def _spec(
    key: str,
    mime_type: str,
    name: str,
    extensions: tuple[str, ...],
    kind: FormatKind,
    pronom_id: str | None = None,
    *,
    accepted: bool = True,
) -> FormatSpec:
    return FormatSpec(key, mime_type, name, extensions, accepted, kind, pronom_id)


_T, _S, _P = FormatKind.TEXT, FormatKind.SPREADSHEET, FormatKind.PRESENTATION
_I, _V, _A, _O = FormatKind.IMAGE, FormatKind.VIDEO, FormatKind.AUDIO, FormatKind.OTHER
_OOXML = "application/vnd.openxmlformats-officedocument"
_ODF = "application/vnd.oasis.opendocument"

_ALL: tuple[FormatSpec, ...] = (
    # Accepted: text
    _spec("pdf", "application/pdf", "PDF", ("pdf",), _T),
    _spec("txt", "text/plain", "Văn bản thuần (TXT)", ("txt",), _T, "x-fmt/111"),
    _spec("rtf", "application/rtf", "Rich Text Format (RTF)", ("rtf",), _T),
    _spec("doc", "application/msword", "Microsoft Word 97-2003 (DOC)", ("doc",), _T, "fmt/40"),
    _spec(
        "docx",
        f"{_OOXML}.wordprocessingml.document",
        "Microsoft Word (DOCX)",
        ("docx",),
        _T,
        "fmt/412",
    ),
    _spec("odt", f"{_ODF}.text", "OpenDocument Text (ODT)", ("odt",), _T),
    # Accepted: spreadsheets
    _spec("csv", "text/csv", "Giá trị phân cách bằng dấu phẩy (CSV)", ("csv",), _S, "x-fmt/18"),
    _spec(
        "xlsx", f"{_OOXML}.spreadsheetml.sheet", "Microsoft Excel (XLSX)", ("xlsx",), _S, "fmt/214"
    ),
    _spec("xls", "application/vnd.ms-excel", "Microsoft Excel 97-2003 (XLS)", ("xls",), _S),
    _spec("ods", f"{_ODF}.spreadsheet", "OpenDocument Spreadsheet (ODS)", ("ods",), _S),
    # Accepted: presentations (HTML is listed with them by the Circular)
    _spec("html", "text/html", "HTML", ("htm", "html"), _P, "fmt/96"),
    _spec(
        "pptx",
        f"{_OOXML}.presentationml.presentation",
        "Microsoft PowerPoint (PPTX)",
        ("pptx",),
        _P,
        "fmt/215",
    ),
    _spec(
        "ppt",
        "application/vnd.ms-powerpoint",
        "Microsoft PowerPoint 97-2003 (PPT)",
        ("ppt",),
        _P,
        "fmt/126",
    ),
    _spec("odp", f"{_ODF}.presentation", "OpenDocument Presentation (ODP)", ("odp",), _P),
    # Accepted: images
    _spec("jpeg", "image/jpeg", "JPEG", ("jpg", "jpeg"), _I, "fmt/41"),
    _spec("gif", "image/gif", "GIF", ("gif",), _I),
    _spec("tiff", "image/tiff", "TIFF", ("tif", "tiff"), _I, "fmt/353"),
    _spec("png", "image/png", "PNG", ("png",), _I),
    # Accepted: video
    _spec("mpeg", "video/mpeg", "MPEG", ("mpg", "mpeg"), _V),
    _spec("mpeg-ts", "video/mp2t", "MPEG-2 Transport Stream", ("ts", "mpg", "mpeg"), _V, "fmt/585"),
    _spec("avi", "video/x-msvideo", "AVI", ("avi",), _V, "fmt/5"),
    _spec("wmv", "video/x-ms-wmv", "Windows Media Video (WMV)", ("wmv",), _V, "fmt/133"),
    _spec("mov", "video/quicktime", "QuickTime (MOV)", ("mov", "qt"), _V, "x-fmt/384"),
    # Accepted: audio
    _spec("mp3", "audio/mpeg", "MP3", ("mp3",), _A, "fmt/134"),
    _spec("wma", "audio/x-ms-wma", "Windows Media Audio (WMA)", ("wma",), _A, "fmt/132"),
    _spec("aac", "audio/aac", "AAC (ADTS)", ("aac",), _A),
    _spec("m4a", "audio/mp4", "AAC trong MPEG-4 (M4A)", ("m4a", "aac"), _A, "fmt/199"),
    # Recognised, not accepted
    _spec("empty", "application/x-empty", "tệp rỗng", (), _O, accepted=False),
    _spec("zip", "application/zip", "tệp nén ZIP", ("zip",), _O, "x-fmt/263", accepted=False),
    _spec(
        "ole2",
        "application/x-ole-storage",
        "tệp OLE2 (không phải Word/Excel/PowerPoint)",
        (),
        _O,
        accepted=False,
    ),
    _spec(
        "office-encrypted",
        "application/x-ole-storage",
        "tài liệu Office được mã hoá bằng mật khẩu",
        ("docx", "xlsx", "pptx"),
        _O,
        accepted=False,
    ),
    _spec(
        "doc-encrypted",
        "application/msword",
        "Microsoft Word 97-2003 được bảo vệ bằng mật khẩu",
        ("doc",),
        _T,
        "fmt/754",
        accepted=False,
    ),
    _spec(
        "pdf-encrypted",
        "application/pdf",
        "PDF được bảo vệ bằng mật khẩu mở tệp",
        ("pdf",),
        _T,
        accepted=False,
    ),
    _spec(
        "docm",
        "application/vnd.ms-word.document.macroEnabled.12",
        "Word có macro (DOCM)",
        ("docm",),
        _T,
        "fmt/523",
        accepted=False,
    ),
    _spec(
        "dotx",
        f"{_OOXML}.wordprocessingml.template",
        "mẫu Word (DOTX)",
        ("dotx",),
        _T,
        "fmt/597",
        accepted=False,
    ),
    _spec(
        "xlsm",
        "application/vnd.ms-excel.sheet.macroEnabled.12",
        "Excel có macro (XLSM)",
        ("xlsm",),
        _S,
        "fmt/445",
        accepted=False,
    ),
    _spec(
        "xltx",
        f"{_OOXML}.spreadsheetml.template",
        "mẫu Excel (XLTX)",
        ("xltx",),
        _S,
        "fmt/598",
        accepted=False,
    ),
    _spec(
        "xlsb",
        "application/vnd.ms-excel.sheet.binary.macroEnabled.12",
        "Excel nhị phân (XLSB)",
        ("xlsb",),
        _S,
        "fmt/595",
        accepted=False,
    ),
    _spec(
        "pptm",
        "application/vnd.ms-powerpoint.presentation.macroEnabled.12",
        "PowerPoint có macro (PPTM)",
        ("pptm",),
        _P,
        "fmt/487",
        accepted=False,
    ),
    _spec(
        "ppsx",
        f"{_OOXML}.presentationml.slideshow",
        "trình chiếu PowerPoint (PPSX)",
        ("ppsx",),
        _P,
        "fmt/629",
        accepted=False,
    ),
    _spec(
        "potx",
        f"{_OOXML}.presentationml.template",
        "mẫu PowerPoint (POTX)",
        ("potx",),
        _P,
        "fmt/631",
        accepted=False,
    ),
    _spec(
        "odf-other",
        "application/vnd.oasis.opendocument",
        "OpenDocument khác",
        (),
        _O,
        accepted=False,
    ),
    _spec("xml", "application/xml", "XML", ("xml",), _O, accepted=False),
    _spec("bmp", "image/bmp", "BMP", ("bmp",), _I, accepted=False),
    _spec("webp", "image/webp", "WebP", ("webp",), _I, accepted=False),
    _spec("heif", "image/heif", "HEIF/HEIC", ("heic", "heif"), _I, accepted=False),
    _spec("mp4", "video/mp4", "MPEG-4 (MP4)", ("mp4", "m4v"), _V, "fmt/199", accepted=False),
    _spec(
        "asf",
        "application/vnd.ms-asf",
        "Advanced Systems Format (ASF)",
        ("asf",),
        _V,
        "fmt/131",
        accepted=False,
    ),
    _spec("matroska", "video/x-matroska", "Matroska/WebM", ("mkv", "webm"), _V, accepted=False),
    _spec("wav", "audio/x-wav", "WAVE", ("wav",), _A, accepted=False),
    _spec("flac", "audio/flac", "FLAC", ("flac",), _A, accepted=False),
    _spec("ogg", "audio/ogg", "Ogg", ("ogg", "oga", "ogv"), _A, accepted=False),
    _spec(
        "exe",
        "application/vnd.microsoft.portable-executable",
        "chương trình Windows",
        ("exe", "dll", "com"),
        _O,
        accepted=False,
    ),
    _spec("elf", "application/x-executable", "chương trình ELF", (), _O, accepted=False),
    _spec("7z", "application/x-7z-compressed", "tệp nén 7-Zip", ("7z",), _O, accepted=False),
    _spec("rar", "application/vnd.rar", "tệp nén RAR", ("rar",), _O, accepted=False),
    _spec("gzip", "application/gzip", "tệp nén gzip", ("gz", "tgz"), _O, accepted=False),
    _spec(
        "unknown",
        "application/octet-stream",
        "định dạng không nhận diện được",
        (),
        _O,
        accepted=False,
    ),
)

FORMATS: dict[str, FormatSpec] = {spec.key: spec for spec in _ALL}

#: Extensions of the accepted list, for messages ("được chấp nhận: …").
ACCEPTED_EXTENSIONS: tuple[str, ...] = tuple(
    dict.fromkeys(ext for spec in _ALL if spec.accepted for ext in spec.extensions)
)

#: Text formats whose contents cannot be told apart reliably: the declared extension decides.
TEXT_FAMILY = ("txt", "csv", "html")

PDF_PRONOM = {
    "1.0": "fmt/14",
    "1.1": "fmt/15",
    "1.2": "fmt/16",
    "1.3": "fmt/17",
    "1.4": "fmt/18",
    "1.5": "fmt/19",
    "1.6": "fmt/20",
    "1.7": "fmt/276",
    "2.0": "fmt/1129",
}
PDFA_PRONOM = {
    "1a": "fmt/95",
    "1b": "fmt/354",
    "2a": "fmt/476",
    "2b": "fmt/477",
    "2u": "fmt/478",
    "3a": "fmt/479",
    "3b": "fmt/480",
    "3u": "fmt/481",
}
ODF_PRONOM = {
    "odt": {"1.0": "fmt/136", "1.1": "fmt/290", "1.2": "fmt/291", "1.3": "fmt/1756"},
    "ods": {"1.0": "fmt/137", "1.1": "fmt/294", "1.2": "fmt/295", "1.3": "fmt/1755"},
    "odp": {"1.0": "fmt/138", "1.1": "fmt/292", "1.2": "fmt/293", "1.3": "fmt/1754"},
}
JFIF_PRONOM = {"1.00": "fmt/42", "1.01": "fmt/43", "1.02": "fmt/44"}
EXIF_PRONOM = {
    "0200": "x-fmt/398",
    "0210": "x-fmt/390",
    "0220": "x-fmt/391",
    "0221": "fmt/645",
    "0230": "fmt/1507",
    "0231": "fmt/1507",
    "0232": "fmt/1507",
}
GIF_PRONOM = {"87a": "fmt/3", "89a": "fmt/4"}


def extension_of(name: str) -> str:
    """Lower-case extension of a file name, without the dot ('' when there is none)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if "." not in base.strip("."):
        return ""
    return base.rsplit(".", 1)[-1].lower()


_ZIP_TYPES = ("application/zip", "application/x-zip-compressed")
#: Media types that agencies' systems commonly declare for a format besides its registered one
#: (older or unofficial names, and the generic type of its container), by format key.
OTHER_DECLARED_TYPES: dict[str, tuple[str, ...]] = {
    "pdf": ("application/x-pdf",),
    "rtf": ("text/rtf",),
    "doc": ("application/x-ole-storage",),
    "xls": ("application/x-msexcel", "application/x-excel", "application/x-ole-storage"),
    "ppt": ("application/x-ole-storage",),
    "csv": (
        "text/plain",
        "text/comma-separated-values",
        "text/x-csv",
        "application/csv",
        "application/x-csv",
        "application/vnd.ms-excel",
    ),
    "html": ("application/xhtml+xml", "application/xml", "text/xml"),
    "jpeg": ("image/jpg", "image/pjpeg"),
    "png": ("image/x-png",),
    "tiff": ("image/x-tiff",),
    "mpeg-ts": ("video/mpeg",),
    "avi": ("video/avi", "video/msvideo"),
    "wmv": ("video/x-ms-asf",),
    "wma": ("video/x-ms-asf", "audio/x-ms-asf"),
    "mp3": ("audio/mp3", "audio/x-mp3", "audio/mpeg3", "audio/x-mpeg"),
    "aac": ("audio/x-aac", "audio/aacp", "audio/x-hx-aac-adts", "audio/vnd.dlna.adts"),
    "m4a": ("audio/aac", "audio/m4a", "audio/x-m4a"),
    **dict.fromkeys(
        ("docx", "xlsx", "pptx", "odt", "ods", "odp"),
        ("application/zip", "application/x-zip-compressed"),
    ),
}
#: Declared types that say nothing about the format.
UNSPECIFIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})


def media_type_of(declared: str) -> str:
    """A declared media type without parameters, in lower case (``Text/CSV; charset=utf-8`` →
    ``text/csv``)."""
    return declared.split(";", 1)[0].strip().lower()


def _types_of(spec: FormatSpec) -> set[str]:
    return {spec.mime_type, *OTHER_DECLARED_TYPES.get(spec.key, ())}


def declared_type_fits(spec: FormatSpec, declared: str | None) -> bool:
    """Whether a declared media type names the format ``spec`` (an unspecific or missing
    declaration names none and so fits any)."""
    media_type = media_type_of(declared or "")
    return media_type in UNSPECIFIC_TYPES or media_type in _types_of(spec)


def declared_type_names_another_format(spec: FormatSpec, declared: str | None) -> bool:
    """Whether a declared media type is the type of a format other than ``spec`` — a real
    contradiction, unlike a type the catalogue does not know at all."""
    media_type = media_type_of(declared or "")
    if declared_type_fits(spec, media_type):
        return False
    return any(media_type in _types_of(other) for other in _ALL if other.key != spec.key)


def formats_with_extension(extension: str) -> list[FormatSpec]:
    """The formats a file with this extension claims to be."""
    return [spec for spec in _ALL if extension in spec.extensions]
