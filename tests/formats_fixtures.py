"""Documents of every kind the format checks meet, generated at test time (no binary blobs).

PDFs carry Vietnamese text in DejaVu Sans (Debian package ``fonts-dejavu-core``), embedded as a
subset CID TrueType font with a ToUnicode map, so their text can be extracted and compared.
PDF/A files get an XMP packet with ``pdfaid`` and an output intent whose sRGB ICC profile (v2,
usable by PDF/A-1 and PDF/A-2) is written here byte by byte.

``FIXTURES`` lists every document with what identification and PDF/A validation must say about
it; ``build_fixture`` writes one into a directory.
"""

from __future__ import annotations

import hashlib
import io
import random
import re
import struct
import unicodedata
import uuid
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import pikepdf
from fontTools import subset
from fontTools.ttLib import TTFont
from pikepdf import Array, Dictionary, Name, String
from PIL import Image, ImageDraw, ImageFont

from archive_service.formats.rendition import RenditionTools

FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
VIETNAMESE_LINES = (
    "Hồ sơ thủ tục hành chính",
    "Đăng ký kết hôn — Ủy ban nhân dân xã Quảng Tâm",
    "Giấy chứng nhận kết hôn số 125/2024",
)
ASCII_LINES = ("Ho so thu tuc hanh chinh", "Dang ky ket hon")
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
USER_PASSWORD = "mo-tep"
OWNER_PASSWORD = "chu-so-huu"
_CREATED = datetime(2024, 6, 12, 10, 2, 0).strftime("%Y-%m-%dT%H:%M:%S+07:00")


def fonts_get_embedded() -> bool:
    """Whether this machine has a Ghostscript the archive uses (10.03 or newer): then a PDF
    whose fonts are not embedded gets a rendition; without one, its rendition fails."""
    return RenditionTools.detect().ghostscript is not None


# --- sRGB ICC profile (version 2.1, display class), written from the sRGB definition -------------


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz_tag(x: float, y: float, z: float) -> bytes:
    return b"XYZ \0\0\0\0" + _s15(x) + _s15(y) + _s15(z)


def _srgb_curve(points: int = 1024) -> bytes:
    values = []
    for index in range(points):
        c = index / (points - 1)
        linear = c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
        values.append(round(linear * 65535))
    return b"curv\0\0\0\0" + struct.pack(">I", points) + struct.pack(f">{points}H", *values)


def _desc_tag(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    return (
        b"desc\0\0\0\0"
        + struct.pack(">I", len(ascii_text))
        + ascii_text
        + struct.pack(">II", 0, 0)  # no Unicode description
        + struct.pack(">HB", 0, 0)
        + bytes(67)  # no ScriptCode description
    )


@lru_cache(maxsize=1)
def srgb_icc_profile() -> bytes:
    """A minimal sRGB IEC 61966-2.1 ICC profile, version 2.1 (D50-adapted primaries)."""
    curve = _srgb_curve()
    tags: list[tuple[bytes, bytes]] = [
        (b"desc", _desc_tag("sRGB IEC61966-2.1")),
        (b"cprt", b"text\0\0\0\0No copyright, use freely\0"),
        (b"wtpt", _xyz_tag(0.9642, 1.0, 0.8249)),
        (b"rXYZ", _xyz_tag(0.4361, 0.2225, 0.0139)),
        (b"gXYZ", _xyz_tag(0.3851, 0.7169, 0.0971)),
        (b"bXYZ", _xyz_tag(0.1431, 0.0606, 0.7141)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    entries, data, placed = [], b"", {}
    for signature, body in tags:
        if body not in placed:
            placed[body] = offset + len(data)
            data += body + bytes(-len(body) % 4)
        entries.append(struct.pack(">4sII", signature, placed[body], len(body)))
    size = offset + len(data)
    header = (
        struct.pack(">I", size)
        + b"\0\0\0\0"
        + bytes([2, 0x10, 0, 0])
        + b"mntrRGB XYZ "
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0)
        + b"acsp"
        + bytes(4 + 4 + 4 + 4 + 8 + 4)
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
        + bytes(4 + 16 + 28)
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + b"".join(entries) + data


# --- PDFs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _EmbeddedFont:
    program: bytes
    gids: dict[str, int]
    widths: dict[int, int]
    bbox: tuple[int, int, int, int]
    ascent: int
    descent: int
    glyph_count: int


@lru_cache(maxsize=8)
def _subset_font(text: str) -> _EmbeddedFont:
    """DejaVu Sans cut down to the glyphs of ``text``; glyph ids are the CIDs."""
    font = TTFont(FONT_PATH)
    options = subset.Options()
    options.layout_features = []
    options.notdef_outline = True
    options.hinting = False
    options.drop_tables += ["FFTM"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes={ord(char) for char in text})
    subsetter.subset(font)
    buffer = io.BytesIO()
    font.save(buffer)
    cmap = font.getBestCmap()
    scale = 1000 / font["head"].unitsPerEm
    gids = {char: font.getGlyphID(cmap[ord(char)]) for char in set(text)}
    widths = {
        font.getGlyphID(name): round(font["hmtx"][name][0] * scale) for name in font.getGlyphOrder()
    }
    head = font["head"]
    x_min, y_min, x_max, y_max = (
        round(v * scale) for v in (head.xMin, head.yMin, head.xMax, head.yMax)
    )
    bbox = (x_min, y_min, x_max, y_max)
    return _EmbeddedFont(
        program=buffer.getvalue(),
        gids=gids,
        widths=widths,
        bbox=bbox,
        ascent=round(font["hhea"].ascent * scale),
        descent=round(font["hhea"].descent * scale),
        glyph_count=len(font.getGlyphOrder()),
    )


def _to_unicode_cmap(gids: dict[str, int]) -> bytes:
    pairs = sorted((gid, char) for char, gid in gids.items())
    lines = [
        "/CIDInit /ProcSet findresource begin",
        "12 dict begin",
        "begincmap",
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        "/CMapName /Adobe-Identity-UCS def",
        "/CMapType 2 def",
        "1 begincodespacerange",
        "<0000> <FFFF>",
        "endcodespacerange",
    ]
    for start in range(0, len(pairs), 100):
        chunk = pairs[start : start + 100]
        lines.append(f"{len(chunk)} beginbfchar")
        lines += [f"<{gid:04X}> <{char.encode('utf-16-be').hex().upper()}>" for gid, char in chunk]
        lines.append("endbfchar")
    lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return "\n".join(lines).encode("ascii")


def _type0_font(
    pdf: pikepdf.Pdf, text: str, *, with_cidset: bool, embedded: bool = True
) -> pikepdf.Object:
    """A Type0 font over a subset of DejaVu Sans, Identity-H, with ToUnicode; the subset is
    embedded, or (``embedded=False``) only named, as a viewer's own font to use."""
    font = _subset_font(text)
    base_name = Name("/VNARCH+DejaVuSans" if embedded else "/DejaVuSans")
    descriptor = Dictionary(
        Type=Name.FontDescriptor,
        FontName=base_name,
        Flags=32,
        FontBBox=Array(font.bbox),
        ItalicAngle=0,
        Ascent=font.ascent,
        Descent=font.descent,
        CapHeight=font.ascent,
        StemV=80,
    )
    if embedded:
        descriptor.FontFile2 = pdf.make_stream(font.program, Length1=len(font.program))
    if with_cidset:  # PDF/A-1 requires it for subset CID fonts; PDF/A-2 only if correct
        bits = bytearray((font.glyph_count + 7) // 8)
        for cid in range(font.glyph_count):
            bits[cid // 8] |= 0x80 >> (cid % 8)
        descriptor.CIDSet = pdf.make_stream(bytes(bits))
    widths = Array([x for gid in sorted(font.widths) for x in (gid, Array([font.widths[gid]]))])
    cid_font = Dictionary(
        Type=Name.Font,
        Subtype=Name.CIDFontType2,
        BaseFont=base_name,
        CIDSystemInfo=Dictionary(
            Registry=String("Adobe"), Ordering=String("Identity"), Supplement=0
        ),
        FontDescriptor=pdf.make_indirect(descriptor),
        W=widths,
        DW=1000,
        CIDToGIDMap=Name.Identity,
    )
    return pdf.make_indirect(
        Dictionary(
            Type=Name.Font,
            Subtype=Name.Type0,
            BaseFont=base_name,
            Encoding=Name("/Identity-H"),
            DescendantFonts=Array([pdf.make_indirect(cid_font)]),
            ToUnicode=pdf.make_stream(_to_unicode_cmap(font.gids)),
        )
    )


def _helvetica(pdf: pikepdf.Pdf) -> pikepdf.Object:
    """The base-14 Helvetica, referenced and not embedded."""
    return pdf.make_indirect(
        Dictionary(
            Type=Name.Font,
            Subtype=Name.Type1,
            BaseFont=Name.Helvetica,
            Encoding=Name.WinAnsiEncoding,
        )
    )


def _text_pdf(
    pages: list[tuple[str, ...]], *, embedded: bool = True, with_cidset: bool = False
) -> pikepdf.Pdf:
    """One page per entry, each line of text drawn in 14 pt."""
    pdf = pikepdf.new()
    all_text = "".join(line for page in pages for line in page)
    font = _type0_font(pdf, all_text, with_cidset=with_cidset) if embedded else _helvetica(pdf)
    gids = _subset_font(all_text).gids if embedded else {}
    for lines in pages:
        shown = []
        for line in lines:
            if embedded:
                shown.append("<" + "".join(f"{gids[char]:04X}" for char in line) + "> Tj T*")
            else:
                shown.append("(" + line.replace("\\", "\\\\").replace("(", "\\(") + ") Tj T*")
        content = "BT /F1 14 Tf 18 TL 1 0 0 1 56 780 Tm " + " ".join(shown) + " ET"
        page = pikepdf.Page(
            Dictionary(
                Type=Name.Page,
                MediaBox=Array([0, 0, 595, 842]),
                Resources=Dictionary(Font=Dictionary(F1=font)),
                Contents=pdf.make_stream(content.encode("ascii")),
            )
        )
        pdf.pages.append(page)
    return pdf


def _xmp(part: int, conformance: str, title: str) -> bytes:
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
   <pdfaid:part>{part}</pdfaid:part>
   <pdfaid:conformance>{conformance}</pdfaid:conformance>
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li></rdf:Alt></dc:title>
   <xmp:CreateDate>{_CREATED}</xmp:CreateDate>
   <xmp:ModifyDate>{_CREATED}</xmp:ModifyDate>
   <pdf:Producer>archive-service test fixtures</pdf:Producer>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode()


def _declare_pdfa(pdf: pikepdf.Pdf, part: int, conformance: str = "B") -> None:
    """Add the XMP claim and an sRGB output intent."""
    metadata = pdf.make_stream(_xmp(part, conformance, VIETNAMESE_LINES[0]))
    metadata.Type, metadata.Subtype = Name.Metadata, Name.XML
    pdf.Root.Metadata = metadata
    icc = pdf.make_stream(srgb_icc_profile(), N=3)
    pdf.Root.OutputIntents = Array(
        [
            Dictionary(
                Type=Name.OutputIntent,
                S=Name.GTS_PDFA1,
                OutputConditionIdentifier=String("sRGB IEC61966-2.1"),
                Info=String("sRGB IEC61966-2.1"),
                DestOutputProfile=icc,
            )
        ]
    )


def _save(pdf: pikepdf.Pdf, path: Path, version: str, **options: object) -> Path:
    pdf.save(
        path,
        force_version=version,
        deterministic_id="encryption" not in options,
        fix_metadata_version=False,
        object_stream_mode=pikepdf.ObjectStreamMode.disable,
        **options,  # type: ignore[arg-type]
    )
    return path


def vietnamese_pdf(path: Path, pages: int = 1) -> Path:
    """A plain PDF 1.7 (not PDF/A) with Vietnamese text in an embedded font."""
    return _save(_text_pdf([VIETNAMESE_LINES] * pages), path, "1.7")


def vietnamese_unembedded_pdf(path: Path) -> Path:
    """A plain PDF 1.7 with Vietnamese text in a Type0 font (Identity-H, ToUnicode) that is
    named but not embedded: the text layer a re-rendering must keep."""
    pdf = _text_pdf([VIETNAMESE_LINES])
    font = _type0_font(pdf, "".join(VIETNAMESE_LINES), with_cidset=False, embedded=False)
    for page in pdf.pages:
        page.Resources.Font.F1 = font
    return _save(pdf, path, "1.7")


def helvetica_pdf(path: Path) -> Path:
    """A plain PDF whose text uses the non-embedded base-14 Helvetica."""
    return _save(_text_pdf([ASCII_LINES], embedded=False), path, "1.7")


def pdfa_2b(path: Path, pages: int = 2) -> Path:
    """A PDF/A-2b: embedded Vietnamese font, XMP pdfaid 2/B, sRGB output intent."""
    pdf = _text_pdf([VIETNAMESE_LINES] * pages)
    _declare_pdfa(pdf, 2)
    return _save(pdf, path, "1.7")


def pdfa_1b(path: Path) -> Path:
    """A PDF/A-1b: PDF 1.4, xref table, CIDSet, uncompressed XMP, sRGB v2 output intent."""
    pdf = _text_pdf([VIETNAMESE_LINES], with_cidset=True)
    _declare_pdfa(pdf, 1)
    return _save(pdf, path, "1.4")


def pdfa_claim(path: Path, part: int, conformance: str) -> Path:
    """The PDF/A-2b document, declaring another part or conformance in its XMP."""
    pdf = _text_pdf([VIETNAMESE_LINES])
    _declare_pdfa(pdf, part, conformance)
    return _save(pdf, path, "1.7")


def pdfa_claim_unembedded_font(path: Path) -> Path:
    """Claims PDF/A-2b, but its Helvetica text font is not embedded."""
    pdf = _text_pdf([ASCII_LINES], embedded=False)
    _declare_pdfa(pdf, 2)
    return _save(pdf, path, "1.7")


def pdfa_with_javascript(path: Path) -> Path:
    """Claims PDF/A-2b and runs JavaScript when opened."""
    pdf = _text_pdf([VIETNAMESE_LINES])
    _declare_pdfa(pdf, 2)
    pdf.Root.OpenAction = Dictionary(S=Name.JavaScript, JS=String("app.alert('Xin chào');"))
    return _save(pdf, path, "1.7")


def pdfa_without_trailer_id(path: Path) -> Path:
    """A PDF/A-2b whose trailer ID was blanked out (same length, so offsets stay right)."""
    pdfa_2b(path, pages=1)
    data = path.read_bytes()
    found = list(re.finditer(rb"/ID\s*\[\s*<[0-9a-fA-F]*>\s*<[0-9a-fA-F]*>\s*\]", data))
    assert found, "the saved PDF has no trailer ID to remove"
    last = found[-1]
    path.write_bytes(data[: last.start()] + b" " * (last.end() - last.start()) + data[last.end() :])
    return path


def _scan_pdf(dpi: int = 200) -> pikepdf.Pdf:
    """One page holding an RGB scan image (Flate), placed at ``dpi``."""
    image = _scan_image("RGB", (413, 584))
    pdf = pikepdf.new()
    xobject = pdf.make_stream(
        zlib.compress(image.tobytes()),
        Type=Name.XObject,
        Subtype=Name.Image,
        Width=image.width,
        Height=image.height,
        ColorSpace=Name.DeviceRGB,
        BitsPerComponent=8,
        Filter=Name.FlateDecode,
    )
    width, height = image.width * 72 / dpi, image.height * 72 / dpi
    content = f"q {width:.2f} 0 0 {height:.2f} 0 0 cm /Im0 Do Q".encode("ascii")
    page = Dictionary(
        Type=Name.Page,
        MediaBox=Array([0, 0, round(width, 2), round(height, 2)]),
        Resources=Dictionary(XObject=Dictionary(Im0=xobject)),
        Contents=pdf.make_stream(content),
    )
    pdf.pages.append(pikepdf.Page(page))
    return pdf


def pdfa_scan(path: Path) -> Path:
    """A PDF/A-2b holding a scanned page (DeviceRGB image, sRGB output intent)."""
    pdf = _scan_pdf()
    _declare_pdfa(pdf, 2)
    return _save(pdf, path, "1.7")


def pdfa_scan_without_intent(path: Path) -> Path:
    """Claims PDF/A-2b, draws a DeviceRGB image, and has no output intent."""
    pdf = _scan_pdf()
    _declare_pdfa(pdf, 2)
    del pdf.Root.OutputIntents
    return _save(pdf, path, "1.7")


def encrypted_pdf(path: Path) -> Path:
    """A PDF/A-2b claim encrypted with AES-256 and a password needed to open it."""
    pdf = _text_pdf([VIETNAMESE_LINES])
    _declare_pdfa(pdf, 2)
    encryption = pikepdf.Encryption(owner=OWNER_PASSWORD, user=USER_PASSWORD, R=4)
    return _save(pdf, path, "1.7", encryption=encryption)


def owner_password_pdf(path: Path) -> Path:
    """A PDF/A-2b claim encrypted with an owner password only (opens without a password)."""
    pdf = _text_pdf([VIETNAMESE_LINES])
    _declare_pdfa(pdf, 2)
    encryption = pikepdf.Encryption(owner=OWNER_PASSWORD, user="", R=4)
    return _save(pdf, path, "1.7", encryption=encryption)


def truncated_pdf(path: Path) -> Path:
    """The first half of a PDF/A-2b file."""
    pdfa_2b(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def garbage(path: Path, size: int = 8192) -> Path:
    """Random bytes (fixed seed)."""
    path.write_bytes(random.Random(20240612).randbytes(size))
    return path


def garbage_with_pdf_header(path: Path) -> Path:
    """A PDF header followed by random bytes."""
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + random.Random(5).randbytes(4096))
    return path


# --- Images ------------------------------------------------------------------------------------


def _scan_image(mode: str, size: tuple[int, int] = (620, 877)) -> Image.Image:
    """A page-like image with Vietnamese text drawn in DejaVu Sans."""
    background = {"RGB": (255, 255, 255), "RGBA": (255, 255, 255, 0), "L": 255, "1": 1}[mode]
    ink = {"RGB": (0, 0, 0), "RGBA": (0, 0, 0, 255), "L": 0, "1": 0}[mode]
    image = Image.new(mode, size, background)  # type: ignore[arg-type]
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(FONT_PATH), 28)
    for index, line in enumerate(VIETNAMESE_LINES):
        draw.text((40, 60 + 48 * index), line, fill=ink, font=font)  # type: ignore[arg-type]
    return image


def jpeg(path: Path, dpi: int = 300) -> Path:
    """An RGB JFIF JPEG at ``dpi``."""
    _scan_image("RGB").save(path, "JPEG", quality=85, dpi=(dpi, dpi))
    return path


def exif_jpeg(path: Path) -> Path:
    """A JPEG whose first segment is Exif (ExifVersion 0232), as cameras and phones write."""
    image = _scan_image("RGB", (200, 120))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9000] = b"0232"
    image.save(path, "JPEG", exif=exif.tobytes())
    data = path.read_bytes()
    if data[3] == 0xE0:  # drop Pillow's JFIF APP0 so that Exif comes first
        length = struct.unpack(">H", data[4:6])[0]
        path.write_bytes(data[:2] + data[4 + length :])
    return path


def png_with_alpha(path: Path, dpi: int = 300) -> Path:
    """An RGBA PNG (transparent background) at ``dpi``."""
    _scan_image("RGBA").save(path, "PNG", dpi=(dpi, dpi))
    return path


def multipage_tiff(path: Path, pages: int = 3, dpi: int = 300) -> Path:
    """A bilevel multi-page TIFF (CCITT Group 4), as scanners write."""
    images = [_scan_image("1") for _ in range(pages)]
    images[0].save(
        path, "TIFF", save_all=True, append_images=images[1:], compression="group4", dpi=(dpi, dpi)
    )
    return path


def gif(path: Path) -> Path:
    """A GIF 89a."""
    _scan_image("L", (120, 80)).save(path, "GIF")
    return path


def bmp(path: Path) -> Path:
    """A Windows bitmap (not accepted)."""
    _scan_image("RGB", (64, 48)).save(path, "BMP")
    return path


# --- Office documents --------------------------------------------------------------------------

_CT = "http://schemas.openxmlformats.org/package/2006/content-types"
_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_OFFICE_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
_OOXML = "application/vnd.openxmlformats-officedocument"


def _zip(path: Path, parts: list[tuple[str, bytes]], *, stored_first: bool = False) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, (name, data) in enumerate(parts):
            compress = zipfile.ZIP_STORED if stored_first and index == 0 else zipfile.ZIP_DEFLATED
            info = zipfile.ZipInfo(name, date_time=(2024, 6, 12, 10, 2, 0))
            archive.writestr(info, data, compress_type=compress)
    return path


def _ooxml(path: Path, main_part: str, content_type: str, body: bytes) -> Path:
    types = (
        f'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="{_CT}">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/{main_part}" ContentType="{content_type}"/></Types>'
    )
    rels = (
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_REL}">'
        f'<Relationship Id="rId1" Type="{_OFFICE_DOC}" Target="{main_part}"/></Relationships>'
    )
    parts = [("[Content_Types].xml", types.encode()), ("_rels/.rels", rels.encode())]
    return _zip(path, [*parts, (main_part, body)])


def docx(path: Path, *, macro: bool = False) -> Path:
    """A minimal Word document (OOXML) with Vietnamese paragraphs; ``macro`` makes it a DOCM."""
    paragraphs = "".join(f"<w:p><w:r><w:t>{line}</w:t></w:r></w:p>" for line in VIETNAMESE_LINES)
    body = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w='
        '"http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body>{paragraphs}</w:body></w:document>"
    )
    content_type = (
        "application/vnd.ms-word.document.macroEnabled.main+xml"
        if macro
        else f"{_OOXML}.wordprocessingml.document.main+xml"
    )
    return _ooxml(path, "word/document.xml", content_type, body.encode())


def xlsx(path: Path) -> Path:
    """A minimal Excel workbook (OOXML); only the package structure matters here."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns='
        '"http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheets/></workbook>'
    )
    return _ooxml(path, "xl/workbook.xml", f"{_OOXML}.spreadsheetml.sheet.main+xml", body.encode())


def pptx(path: Path) -> Path:
    """A minimal PowerPoint package (OOXML); only the package structure matters here."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><p:presentation xmlns:p='
        '"http://schemas.openxmlformats.org/presentationml/2006/main"/>'
    )
    content_type = f"{_OOXML}.presentationml.presentation.main+xml"
    return _ooxml(path, "ppt/presentation.xml", content_type, body.encode())


def odf(path: Path, kind: str = "text", version: str = "1.2") -> Path:
    """A minimal OpenDocument package (``text``, ``spreadsheet`` or ``presentation``)."""
    mimetype = f"application/vnd.oasis.opendocument.{kind}"
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
        f'"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="{version}">'
        f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{mimetype}"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office='
        f'"urn:oasis:names:tc:opendocument:xmlns:office:1.0" office:version="{version}">'
        "<office:body/></office:document-content>"
    )
    parts = [
        ("mimetype", mimetype.encode()),
        ("META-INF/manifest.xml", manifest.encode()),
        ("content.xml", content.encode()),
    ]
    return _zip(path, parts, stored_first=True)


_ODF_NS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "draw": "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0",
    "fo": "urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0",
    "svg": "urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0",
    "presentation": "urn:oasis:names:tc:opendocument:xmlns:presentation:1.0",
}
#: The rows of the generated spreadsheet: Vietnamese labels and numbers.
SHEET_ROWS = (
    ("Mã thủ tục", "Tên thủ tục", "Số hồ sơ"),
    ("1.001193", "Đăng ký khai sinh", "125"),
    ("1.000894", "Đăng ký kết hôn — xã Quảng Tâm", "48"),
)
#: The slides of the generated presentation, one line of text each.
SLIDE_LINES = VIETNAMESE_LINES[:2]


def _odf_document(path: Path, kind: str, body: str, styles: str = "", automatic: str = "") -> Path:
    """An OpenDocument package whose ``content.xml`` body is ``body`` (Vietnamese in DejaVu
    Sans, so that LibreOffice has the glyphs whatever fonts are installed)."""
    mimetype = f"application/vnd.oasis.opendocument.{kind}"
    namespaces = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in _ODF_NS.items())
    font = (
        '<office:font-face-decls><style:font-face style:name="DejaVu Sans" '
        "svg:font-family=\"'DejaVu Sans'\"/></office:font-face-decls>"
    )
    default = (
        '<style:default-style style:family="{family}"><style:text-properties '
        'style:font-name="DejaVu Sans" fo:font-size="12pt"/></style:default-style>'
    )
    families = ("table-cell", "paragraph", "graphic")
    common = "".join(default.format(family=family) for family in families)
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {namespaces} '
        f'office:version="1.2">{font}{automatic}<office:body>{body}</office:body>'
        "</office:document-content>"
    )
    styles_xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-styles {namespaces} '
        f'office:version="1.2">{font}<office:styles>{common}</office:styles>{styles}'
        "</office:document-styles>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
        '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{mimetype}"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        '<manifest:file-entry manifest:full-path="styles.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    parts = [
        ("mimetype", mimetype.encode()),
        ("META-INF/manifest.xml", manifest.encode()),
        ("content.xml", content.encode()),
        ("styles.xml", styles_xml.encode()),
    ]
    return _zip(path, parts, stored_first=True)


def ods_spreadsheet(path: Path) -> Path:
    """A one-sheet OpenDocument spreadsheet of ``SHEET_ROWS`` (the last column numbers)."""

    def cell(value: str) -> str:
        if value.isdigit():
            return (
                f'<table:table-cell office:value-type="float" office:value="{value}">'
                f"<text:p>{value}</text:p></table:table-cell>"
            )
        return (
            f'<table:table-cell office:value-type="string"><text:p>{value}</text:p>'
            "</table:table-cell>"
        )

    rows = "".join(
        f"<table:table-row>{''.join(cell(value) for value in row)}</table:table-row>"
        for row in SHEET_ROWS
    )
    widths = ("3.5cm", "8.5cm", "3cm")  # all on one portrait A4 page
    column_styles = "".join(
        f'<style:style style:name="co{number}" style:family="table-column">'
        f'<style:table-column-properties style:column-width="{width}"/></style:style>'
        for number, width in enumerate(widths, start=1)
    )
    automatic = f"<office:automatic-styles>{column_styles}</office:automatic-styles>"
    columns = "".join(
        f'<table:table-column table:style-name="co{number}"/>'
        for number in range(1, len(widths) + 1)
    )
    body = (
        '<office:spreadsheet><table:table table:name="Thống kê">'
        f"{columns}{rows}</table:table></office:spreadsheet>"
    )
    return _odf_document(path, "spreadsheet", body, automatic=automatic)


def odp_presentation(path: Path) -> Path:
    """An OpenDocument presentation of one slide per line of ``SLIDE_LINES``."""
    master = (
        '<office:master-styles><style:master-page style:name="Chuan" '
        'style:page-layout-name="PM1"/></office:master-styles>'
    )
    layout = (
        '<office:automatic-styles><style:page-layout style:name="PM1">'
        '<style:page-layout-properties fo:page-width="28cm" fo:page-height="15.75cm" '
        'style:print-orientation="landscape"/></style:page-layout></office:automatic-styles>'
    )
    slides = "".join(
        f'<draw:page draw:name="Trang {number}" draw:master-page-name="Chuan">'
        '<draw:frame svg:x="2cm" svg:y="3cm" svg:width="24cm" svg:height="4cm">'
        f"<draw:text-box><text:p>{line}</text:p></draw:text-box></draw:frame></draw:page>"
        for number, line in enumerate(SLIDE_LINES, start=1)
    )
    body = f"<office:presentation>{slides}</office:presentation>"
    return _odf_document(path, "presentation", body, layout + master)


def office_converted(source: Path, target: Path, executable: str, timeout: float = 120) -> Path:
    """``source`` saved by LibreOffice in the format of ``target``'s extension (XLSX, PPTX …)
    — how the tests get real Microsoft Office files without shipping any."""
    import subprocess
    import tempfile

    extension = target.suffix.lstrip(".")
    with tempfile.TemporaryDirectory() as scratch:
        profile = Path(scratch) / "profile"
        subprocess.run(
            [
                executable,
                f"-env:UserInstallation={profile.as_uri()}",
                "--headless",
                "--norestore",
                "--convert-to",
                extension,
                "--outdir",
                scratch,
                str(source),
            ],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
        produced = Path(scratch) / f"{source.stem}.{extension}"
        target.write_bytes(produced.read_bytes())
    return target


def plain_zip(path: Path) -> Path:
    """An ordinary ZIP archive holding a text file (not accepted)."""
    return _zip(path, [("ghi-chu.txt", VIETNAMESE_LINES[0].encode())])


def ole_compound(path: Path, streams: dict[str, bytes]) -> Path:
    """An OLE2 compound file (version 3, 512-byte sectors) holding ``streams`` at its root.

    Streams are padded to at least 4096 bytes so that no mini stream is needed.
    """
    sector = 512
    padded = {
        name: data.ljust(max(4096, -(-len(data) // sector) * sector), b"\0")
        for name, data in streams.items()
    }
    names = sorted(padded, key=lambda name: (len(name), name.upper()))
    entries_per_sector = sector // 128
    directory_sectors = -(-(len(names) + 1) // entries_per_sector)
    fat = [0xFFFFFFFD]  # sector 0 holds the FAT
    directory_start = len(fat)
    for index in range(directory_sectors):
        last = index == directory_sectors - 1
        fat.append(0xFFFFFFFE if last else directory_start + index + 1)
    starts = {}
    for name in names:
        count = len(padded[name]) // sector
        starts[name] = len(fat)
        fat.extend(len(fat) + 1 + step for step in range(count - 1))
        fat.append(0xFFFFFFFE)
    if len(fat) > sector // 4:
        raise ValueError("streams too large for a one-sector FAT")
    fat += [0xFFFFFFFF] * (sector // 4 - len(fat))

    def entry(name: str, kind: int, right: int, child: int, start: int, size: int) -> bytes:
        encoded = (name + "\0").encode("utf-16-le")
        return (
            encoded.ljust(64, b"\0")
            + struct.pack("<HBB", len(encoded), kind, 1)
            + struct.pack("<III", 0xFFFFFFFF, right, child)
            + bytes(16 + 4 + 16)
            + struct.pack("<IQ", start, size)
        )

    directory = entry("Root Entry", 5, 0xFFFFFFFF, 1 if names else 0xFFFFFFFF, 0xFFFFFFFE, 0)
    for index, name in enumerate(names, start=1):
        right = index + 1 if index < len(names) else 0xFFFFFFFF
        directory += entry(name, 2, right, 0xFFFFFFFF, starts[name], len(padded[name]))
    directory = directory.ljust(directory_sectors * sector, b"\0")
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + bytes(16)
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + bytes(6)
        + struct.pack("<IIIIIIIII", 0, 1, directory_start, 0, 4096, 0xFFFFFFFE, 0, 0xFFFFFFFE, 0)
        + struct.pack("<I", 0)
        + struct.pack("<108I", *([0xFFFFFFFF] * 108))
    )
    assert len(header) == sector
    fat_sector = struct.pack(f"<{sector // 4}I", *fat)
    path.write_bytes(header + fat_sector + directory + b"".join(padded[name] for name in names))
    return path


def word97(path: Path, *, encrypted: bool = False) -> Path:
    """A Word 97-2003 file: a WordDocument stream starting with a FIB (nFib 0x00C1)."""
    flags = 0x0100 if encrypted else 0
    fib = struct.pack("<HHHHHH", 0xA5EC, 0x00C1, 0, 0x0409, 0, flags)
    return ole_compound(path, {"WordDocument": fib, "1Table": b"\0" * 16})


def excel97(path: Path) -> Path:
    """An Excel 97-2003 file: a Workbook stream starting with a BIFF8 BOF record."""
    return ole_compound(path, {"Workbook": struct.pack("<HHHH", 0x0809, 8, 0x0600, 0x0005)})


def powerpoint97(path: Path) -> Path:
    """A PowerPoint 97-2003 file: PowerPoint Document and Current User streams."""
    return ole_compound(path, {"PowerPoint Document": b"\0" * 8, "Current User": b"\0" * 8})


def encrypted_ooxml(path: Path) -> Path:
    """What Office writes for a password-protected DOCX: an OLE2 file with EncryptedPackage."""
    return ole_compound(path, {"EncryptionInfo": b"\x04\x00\x04\x00", "EncryptedPackage": b"\1"})


# --- Text --------------------------------------------------------------------------------------


def text_file(path: Path, encoding: str = "utf-8") -> Path:
    """Vietnamese plain text."""
    path.write_bytes("\n".join(VIETNAMESE_LINES).encode(encoding) + b"\n")
    return path


def csv_file(path: Path) -> Path:
    """A CSV table with a Vietnamese header."""
    path.write_text(
        "Mã hồ sơ,Thủ tục,Ngày nhận\n000.00.19.H56-240610-0001,Đăng ký kết hôn,10/06/2024\n"
    )
    return path


def html_file(path: Path) -> Path:
    """An HTML5 page."""
    body = "".join(f"<p>{line}</p>" for line in VIETNAMESE_LINES)
    head = '<head><meta charset="utf-8"></head>'
    path.write_text(f'<!DOCTYPE html>\n<html lang="vi">{head}<body>{body}</body></html>\n')
    return path


def rtf_file(path: Path) -> Path:
    """An RTF document (Vietnamese as Unicode escapes)."""
    escaped = "".join(
        char if ord(char) < 128 else f"\\u{ord(char)}?" for char in VIETNAMESE_LINES[0]
    )
    path.write_text("{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0 Arial;}}\\f0 " + escaped + "\\par}\n")
    return path


def xml_file(path: Path) -> Path:
    """An XML file (not accepted as a document)."""
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<hoso><ma>1</ma></hoso>\n')
    return path


def eicar(path: Path) -> Path:
    """The EICAR anti-virus test string (harmless; every scanner reports it)."""
    path.write_bytes(EICAR)
    return path


def empty(path: Path) -> Path:
    """A file with no bytes."""
    path.write_bytes(b"")
    return path


def windows_exe(path: Path) -> Path:
    """The start of a Windows executable: MZ header pointing at a PE header."""
    header = bytearray(256)
    header[0:2] = b"MZ"
    header[0x3C:0x40] = struct.pack("<I", 0x80)
    header[0x80:0x84] = b"PE\0\0"
    path.write_bytes(bytes(header))
    return path


# --- Audio and video (container headers: enough for content signatures) ------------------------


def _guid(text: str) -> bytes:
    return uuid.UUID(text).bytes_le


def asf_media(path: Path, *, video: bool) -> Path:
    """An ASF header declaring one stream: video (WMV) or audio (WMA)."""
    stream_type = _guid(
        "BC19EFC0-5B4D-11CF-A8FD-00805F5C442B" if video else "F8699E40-5B4D-11CF-A8FD-00805F5C442B"
    )
    properties = _guid("B7DC0791-A9B7-11CF-8EE6-00C00C205365") + struct.pack("<Q", 78) + stream_type
    body = properties + bytes(78 - len(properties))
    header = _guid("75B22630-668E-11CF-A6D9-00AA0062CE6C") + struct.pack(
        "<QIBB", 30 + len(body), 1, 1, 2
    )
    path.write_bytes(header + body + bytes(512))
    return path


def riff_media(path: Path, form: bytes) -> Path:
    """A RIFF file of the given form (``AVI `` or ``WAVE``)."""
    body = form + b"LIST" + struct.pack("<I", 4) + b"hdrl"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body + bytes(256))
    return path


def iso_media(path: Path, brand: bytes) -> Path:
    """An ISO base media file starting with ``ftyp`` of the given major brand."""
    ftyp = struct.pack(">I", 24) + b"ftyp" + brand + struct.pack(">I", 0) + brand + b"isom"
    path.write_bytes(ftyp + struct.pack(">I", 8) + b"mdat" + bytes(256))
    return path


def mpeg_program_stream(path: Path, version: int) -> Path:
    """An MPEG-1 or MPEG-2 program stream pack header."""
    pack = b"\x00\x00\x01\xba" + (
        b"\x21\x00\x01\x00\x01\x80\x00\x01"
        if version == 1
        else b"\x44\x00\x04\x00\x04\x01\x01\x89\xc3\xf8"
    )
    path.write_bytes((pack + b"\x00\x00\x01\xe0\x00\x10" + bytes(16)) * 8)
    return path


def mp3(path: Path, frames: int = 4) -> Path:
    """An ID3v2 tag and MPEG-1 Layer III frames (128 kbit/s, 44.1 kHz: 417 bytes each)."""
    tag = b"ID3\x04\x00\x00" + bytes([0, 0, 0, 10]) + bytes(10)
    frame = b"\xff\xfb\x90\x00" + bytes(413)
    path.write_bytes(tag + frame * frames)
    return path


def aac_adts(path: Path, frames: int = 4) -> Path:
    """AAC-LC frames in ADTS (44.1 kHz, stereo), 64 bytes each."""
    length = 64
    header = bytes(
        [
            0xFF,
            0xF1,
            0x50,
            0x80 | (length >> 11),
            (length >> 3) & 0xFF,
            ((length & 0x7) << 5) | 0x1F,
            0xFC,
        ]
    )
    path.write_bytes((header + bytes(length - 7)) * frames)
    return path


# --- The catalogue -----------------------------------------------------------------------------

Builder = Callable[[Path], Path]


@dataclass(frozen=True)
class FormatFixture:
    """A generated document and what the format checks must say about it.

    ``pdfa_verdict`` is the expected PDF/A verdict (None for non-PDFs); ``pdfa_rules`` are
    clauses that must be among the failed rules.
    """

    key: str
    file_name: str
    build: Builder
    format_key: str
    mime_type: str
    pronom_id: str | None
    accepted: bool
    problems: tuple[str, ...] = ()
    version: str | None = None
    pdfa_verdict: str | None = None
    pdfa_claim: str | None = None
    pdfa_rules: tuple[str, ...] = ()


def _f(
    key: str,
    file_name: str,
    build: Builder,
    format_key: str,
    mime: str,
    pronom: str | None,
    version: str | None = None,
    *problems: str,
) -> FormatFixture:
    accepted = "FORMAT_NOT_ACCEPTED" not in problems
    return FormatFixture(
        key, file_name, build, format_key, mime, pronom, accepted, problems, version
    )


def _pdf(
    key: str,
    file_name: str,
    build: Builder,
    pronom: str,
    version: str,
    verdict: str,
    claim: str | None = None,
    rules: tuple[str, ...] = (),
) -> FormatFixture:
    return FormatFixture(
        key,
        file_name,
        build,
        "pdf",
        "application/pdf",
        pronom,
        True,
        (),
        version,
        verdict,
        claim,
        rules,
    )


_MISMATCH, _REFUSED = "FORMAT_MISMATCH", "FORMAT_NOT_ACCEPTED"
_DOCX = f"{_OOXML}.wordprocessingml.document"
_ODF = "application/vnd.oasis.opendocument"
_EXE = "application/vnd.microsoft.portable-executable"

# fmt: off
FIXTURES: tuple[FormatFixture, ...] = (
    # PDFs: identification, PDF/A verdict, clauses that must be among the failed rules
    _pdf("pdfa-2b", "quyet-dinh.pdf", pdfa_2b, "fmt/477", "2b", "valid", "2b"),
    _pdf("pdfa-1b", "to-khai.pdf", pdfa_1b, "fmt/354", "1b", "valid", "1b"),
    _pdf("pdf-vietnamese", "giay-xac-nhan.pdf", vietnamese_pdf, "fmt/276", "1.7", "invalid",
         None, ("6.6.4",)),
    _pdf("pdf-helvetica", "ban-sao.pdf", helvetica_pdf, "fmt/276", "1.7", "invalid",
         None, ("6.2.11.4.1", "6.6.4")),
    _pdf("pdf-vietnamese-unembedded", "giay-bien-nhan.pdf", vietnamese_unembedded_pdf,
         "fmt/276", "1.7", "invalid", None, ("6.2.11.4.1", "6.6.4")),
    _pdf("pdfa-unembedded-font", "thong-bao.pdf", pdfa_claim_unembedded_font, "fmt/477", "2b",
         "invalid", "2b", ("6.2.11.4.1",)),
    _pdf("pdfa-javascript", "bieu-mau.pdf", pdfa_with_javascript, "fmt/477", "2b", "invalid",
         "2b", ("6.5.1",)),
    _pdf("pdfa-no-trailer-id", "phu-luc.pdf", pdfa_without_trailer_id, "fmt/477", "2b",
         "invalid", "2b", ("6.1.3",)),
    _pdf("pdfa-scan", "ban-chup.pdf", pdfa_scan, "fmt/477", "2b", "valid", "2b"),
    _pdf("pdfa-scan-no-intent", "ban-chup-2.pdf", pdfa_scan_without_intent, "fmt/477", "2b",
         "invalid", "2b", ("6.2.4.3",)),
    _pdf("pdf-owner-password", "han-che.pdf", owner_password_pdf, "fmt/477", "2b", "invalid",
         "2b", ("6.1.3",)),
    _pdf("pdf-truncated", "bi-cat.pdf", truncated_pdf, "fmt/276", "1.7", "invalid", "2b",
         ("6.1.3", "6.1.4")),
    _pdf("pdf-header-garbage", "hong.pdf", garbage_with_pdf_header, "fmt/276", "1.7", "invalid"),
    FormatFixture("pdf-encrypted", "mat-khau.pdf", encrypted_pdf, "pdf-encrypted",
                  "application/pdf", "fmt/276", False, (_REFUSED,), "1.7", "invalid", None,
                  ("6.1.3",)),
    FormatFixture("pdf-garbage", "rac.pdf", garbage, "unknown", "application/octet-stream", None,
                  False, (_MISMATCH,), None, "invalid", None, ("6.1.2",)),
    # Images
    _f("jpeg", "anh-chup.jpg", jpeg, "jpeg", "image/jpeg", "fmt/43", "1.01"),
    _f("jpeg-exif", "dien-thoai.jpeg", exif_jpeg, "jpeg", "image/jpeg", "fmt/1507", "2.32"),
    _f("png-alpha", "so-do.png", png_with_alpha, "png", "image/png", None),
    _f("tiff-multipage", "ban-quet.tif", multipage_tiff, "tiff", "image/tiff", "fmt/353"),
    _f("gif", "bieu-do.gif", gif, "gif", "image/gif", "fmt/3", "87a"),
    _f("bmp", "hinh.bmp", bmp, "bmp", "image/bmp", None, None, _REFUSED),
    _f("png-named-jpg", "anh.jpg", png_with_alpha, "png", "image/png", None, None, _MISMATCH),
    # Office documents
    _f("docx", "don-de-nghi.docx", docx, "docx", _DOCX, "fmt/412"),
    _f("docx-named-pdf", "don.pdf", docx, "docx", _DOCX, "fmt/412", None, _MISMATCH),
    _f("docm", "co-macro.docm", lambda p: docx(p, macro=True), "docm",
       "application/vnd.ms-word.document.macroEnabled.12", "fmt/523", None, _REFUSED),
    _f("xlsx", "thong-ke.xlsx", xlsx, "xlsx", f"{_OOXML}.spreadsheetml.sheet", "fmt/214"),
    _f("pptx", "trinh-bay.pptx", pptx, "pptx", f"{_OOXML}.presentationml.presentation",
       "fmt/215"),
    _f("odt", "van-ban.odt", odf, "odt", f"{_ODF}.text", "fmt/291", "1.2"),
    _f("ods", "bang-tinh.ods", lambda p: odf(p, "spreadsheet", "1.3"), "ods",
       f"{_ODF}.spreadsheet", "fmt/1755", "1.3"),
    _f("odp", "trinh-chieu.odp", lambda p: odf(p, "presentation"), "odp",
       f"{_ODF}.presentation", "fmt/293", "1.2"),
    _f("doc", "cong-van.doc", word97, "doc", "application/msword", "fmt/40", "97-2003"),
    _f("doc-encrypted", "bi-mat.doc", lambda p: word97(p, encrypted=True), "doc-encrypted",
       "application/msword", "fmt/754", "97-2003", _REFUSED),
    _f("xls", "so-lieu.xls", excel97, "xls", "application/vnd.ms-excel", None,
       "97-2003 (BIFF8)"),
    _f("ppt", "bao-cao.ppt", powerpoint97, "ppt", "application/vnd.ms-powerpoint", "fmt/126",
       "97-2003"),
    _f("docx-encrypted", "khoa.docx", encrypted_ooxml, "office-encrypted",
       "application/x-ole-storage", None, None, _REFUSED),
    _f("zip", "tai-lieu.zip", plain_zip, "zip", "application/zip", "x-fmt/263", None, _REFUSED),
    # Text
    _f("txt", "ghi-chu.txt", text_file, "txt", "text/plain", "x-fmt/111"),
    _f("txt-utf16", "ghi-chu-utf16.txt", lambda p: text_file(p, "utf-16"), "txt", "text/plain",
       "x-fmt/111"),
    _f("csv", "danh-sach.csv", csv_file, "csv", "text/csv", "x-fmt/18"),
    _f("html", "trang.html", html_file, "html", "text/html", "fmt/471", "5"),
    _f("rtf", "thu.rtf", rtf_file, "rtf", "application/rtf", None),
    _f("xml", "du-lieu.xml", xml_file, "xml", "application/xml", None, None, _REFUSED),
    _f("eicar", "eicar.txt", eicar, "txt", "text/plain", "x-fmt/111"),
    _f("eicar-com", "eicar.com", eicar, "txt", "text/plain", "x-fmt/111", None, _MISMATCH),
    _f("empty", "trong.pdf", empty, "empty", "application/x-empty", None, None, _REFUSED),
    _f("exe-named-pdf", "hoa-don.pdf", windows_exe, "exe", _EXE, None, None, _MISMATCH,
       _REFUSED),
    # Audio and video (content signatures of container headers)
    _f("avi", "phong-van.avi", lambda p: riff_media(p, b"AVI "), "avi", "video/x-msvideo",
       "fmt/5"),
    _f("wav", "ghi-am.wav", lambda p: riff_media(p, b"WAVE"), "wav", "audio/x-wav", None, None,
       _REFUSED),
    _f("wmv", "hop.wmv", lambda p: asf_media(p, video=True), "wmv", "video/x-ms-wmv", "fmt/133"),
    _f("wma", "loi-noi.wma", lambda p: asf_media(p, video=False), "wma", "audio/x-ms-wma",
       "fmt/132"),
    _f("wma-named-wmv", "am-thanh.wmv", lambda p: asf_media(p, video=False), "wma",
       "audio/x-ms-wma", "fmt/132", None, _MISMATCH),
    _f("mov", "quay-phim.mov", lambda p: iso_media(p, b"qt  "), "mov", "video/quicktime",
       "x-fmt/384"),
    _f("mp4", "video.mp4", lambda p: iso_media(p, b"isom"), "mp4", "video/mp4", "fmt/199", None,
       _REFUSED),
    _f("m4a", "bai-phat-bieu.m4a", lambda p: iso_media(p, b"M4A "), "m4a", "audio/mp4",
       "fmt/199"),
    _f("mpeg1", "tu-lieu.mpg", lambda p: mpeg_program_stream(p, 1), "mpeg", "video/mpeg",
       "x-fmt/385", "1"),
    _f("mpeg2", "tu-lieu-2.mpeg", lambda p: mpeg_program_stream(p, 2), "mpeg", "video/mpeg",
       "x-fmt/386", "2"),
    _f("mp3", "ban-tin.mp3", mp3, "mp3", "audio/mpeg", "fmt/134"),
    _f("aac", "ban-tin.aac", aac_adts, "aac", "audio/aac", None),
)
# fmt: on

FIXTURES_BY_KEY = {fixture.key: fixture for fixture in FIXTURES}
PDF_FIXTURES = tuple(fixture for fixture in FIXTURES if fixture.pdfa_verdict is not None)


def build_fixture(directory: Path, key: str) -> Path:
    """Write the fixture ``key`` into ``directory`` under its file name; return its path."""
    fixture = FIXTURES_BY_KEY[key]
    return fixture.build(directory / fixture.file_name)


def sha256_of(path: Path) -> str:
    """Lower-case hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def nfc(text: str) -> str:
    """NFC form, for comparing extracted text with ``VIETNAMESE_LINES``."""
    return unicodedata.normalize("NFC", text)
