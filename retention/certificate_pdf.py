"""The destruction certificate of an executed disposal list as a PDF/A-2b document ("Biên bản
hủy tài liệu"), in Vietnamese: the archive, the council decision, who proposed, approved and
executed the list and when, the dossiers destroyed with their retention basis, and the SHA-256
of every stored object version destroyed (a table that continues over as many pages as needed).

The text is real text in DejaVu Sans (Debian package ``fonts-dejavu-core``), embedded as
subsets, so it can be searched and extracted with its diacritics. reportlab lays the pages out;
the PDF/A-2b step of the renditions (``make_pdfa_2b``: XMP ``pdfaid`` 2/B, sRGB output intent,
trailer ID) makes the file PDF/A. Every date inside is taken from the disposal list, so the same
list always gives the same bytes (with the same library versions).
"""

from __future__ import annotations

import io
import tempfile
import threading
import unicodedata
from collections.abc import Sequence
from datetime import UTC, date, datetime
from functools import cache, partial
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pikepdf
import pikepdf.pdfa
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from archive_service.formats.convert_pdf import RENDITION_FLAVOUR, make_pdfa_2b
from archive_service.packages.fields import format_date
from archive_service.packages.mets import VN_TZ
from retention.disposal_views import DestructionRecordView, DisposalView
from retention.errors import DisposalNotExecuted

FONT_DIRECTORY = Path("/usr/share/fonts/truetype/dejavu")
_FONTS = {
    "DejaVuSans": "DejaVuSans.ttf",
    "DejaVuSans-Bold": "DejaVuSans-Bold.ttf",
}
_REGISTERED: set[Path] = set()
_REGISTER_LOCK = threading.Lock()
_WIDTH = A4[0] - 36 * mm  # the text block between the margins
_HEADER_GREY = colors.Color(0.88, 0.88, 0.88)
# a table selects its font (Helvetica, not embedded, by default) even when every cell is a paragraph
_NO_HELVETICA = [("FONTNAME", (0, 0), (-1, -1), "DejaVuSans")]
_REPLACEMENT = "\ufffd"
_ITEM_STATUS = {"skipped": "bỏ qua", "proposed": "chưa xử lý", "destroying": "đang hủy"}
_SOURCES = {
    "declared": "khai báo của hồ sơ",
    "schedule": "bảng thời hạn bảo quản",
    "document": "tài liệu trong hồ sơ",
}


class CertificateFontMissing(RuntimeError):
    """The DejaVu fonts the certificate embeds are not installed."""


def destruction_certificate_pdf(
    proposal: DisposalView,
    records: Sequence[DestructionRecordView],
    *,
    archive_code: str,
    archive_name: str,
) -> bytes:
    """The PDF/A-2b certificate of the executed ``proposal`` and its destruction ``records``.

    ``DisposalNotExecuted`` when the list is not executed: there is nothing to certify yet.
    """
    if proposal.status != "executed" or proposal.executed_at is None:
        raise DisposalNotExecuted(
            f"Danh sách hủy số {proposal.id} chưa được thực hiện: chưa có biên bản hủy."
        )
    _register_fonts(FONT_DIRECTORY)
    title = f"Biên bản hủy tài liệu — danh sách hủy số {proposal.id}"
    layout = io.BytesIO()
    document = SimpleDocTemplate(
        layout,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=18 * mm,
        title=title,
        author=archive_name,
        subject=f"Biên bản hủy tài liệu hết giá trị của {archive_name} ({archive_code})",
        creator=archive_name,
        invariant=True,
        initialFontName="DejaVuSans",  # no unembedded Helvetica selected at the top of each page
    )
    footer = partial(_footer, title)
    document.build(
        _story(proposal, records, archive_code, archive_name),
        onFirstPage=footer,
        onLaterPages=footer,
    )
    return _as_pdfa(layout.getvalue(), proposal.executed_at)


# --- Fonts --------------------------------------------------------------------------------------


def _register_fonts(directory: Path) -> None:
    """Register the DejaVu faces with reportlab once per process."""
    with _REGISTER_LOCK:
        if directory in _REGISTERED:
            return
        missing = [name for name in _FONTS.values() if not (directory / name).is_file()]
        if missing:
            raise CertificateFontMissing(
                f"thiếu phông chữ {', '.join(missing)} trong {directory} "
                "(gói Debian fonts-dejavu-core)"
            )
        for face, file_name in _FONTS.items():
            pdfmetrics.registerFont(TTFont(face, str(directory / file_name)))
        pdfmetrics.registerFontFamily(
            "DejaVuSans",
            normal="DejaVuSans",
            bold="DejaVuSans-Bold",
            italic="DejaVuSans",  # never used; Debian 13's fonts-dejavu-core has no Oblique
            boldItalic="DejaVuSans-Bold",
        )
        _REGISTERED.add(directory)


def _style(name: str, **options: Any) -> ParagraphStyle:
    base: dict[str, Any] = {"fontName": "DejaVuSans", "fontSize": 10, "leading": 13}
    return ParagraphStyle(name, **{**base, **options})


_BODY = _style("body", spaceAfter=3)
_SMALL = _style("small", fontSize=8, leading=10)
_CELL = _style("cell", fontSize=8.5, leading=11)
_CELL_BOLD = _style("cell-bold", fontName="DejaVuSans-Bold", fontSize=8.5, leading=11)
_HASH = _style("hash", fontSize=7.2, leading=9.5)
_KEY = _style("key", fontSize=7.2, leading=9.5, splitLongWords=True)
_CENTER = _style("center", alignment=TA_CENTER)
_CENTER_BOLD = _style("center-bold", fontName="DejaVuSans-Bold", alignment=TA_CENTER)
_TITLE = _style("title", fontName="DejaVuSans-Bold", fontSize=14, leading=18, alignment=TA_CENTER)
_HEADING = _style("heading", fontName="DejaVuSans-Bold", fontSize=11, leading=15, spaceBefore=8)
_SUBHEADING = _style("subheading", fontName="DejaVuSans-Bold", spaceBefore=6, spaceAfter=3)


def _p(text: str, style: ParagraphStyle = _BODY) -> Paragraph:
    """A paragraph of plain text (escaped: names and titles may hold ``<`` or ``&``)."""
    return Paragraph(escape(_drawable(text)).replace("\n", "<br/>"), style)


def _drawable(text: str) -> str:
    """NFC (precomposed letters: no mark placement needed), other whitespace as spaces, and U+FFFD
    for each character the faces cannot draw — PDF/A forbids showing the ``.notdef`` glyph."""
    glyphs = _drawable_characters()
    return "".join(
        char if char == "\n" or ord(char) in glyphs else " " if char.isspace() else _REPLACEMENT
        for char in unicodedata.normalize("NFC", text)
    )


@cache
def _drawable_characters() -> frozenset[int]:
    """Code points both the regular and the bold face have a glyph for."""
    faces = [pdfmetrics.getFont(name).face for name in ("DejaVuSans", "DejaVuSans-Bold")]
    return frozenset.intersection(*(frozenset(face.charToGlyph) for face in faces))


# --- The story ----------------------------------------------------------------------------------


def _story(
    proposal: DisposalView,
    records: Sequence[DestructionRecordView],
    archive_code: str,
    archive_name: str,
) -> list[Flowable]:
    by_code = {record.dossier_code: record for record in records}
    destroyed = [
        by_code[item.dossier_code] for item in proposal.items if item.dossier_code in by_code
    ]
    skipped = [item for item in proposal.items if item.dossier_code not in by_code]
    story: list[Flowable] = [
        _letterhead(archive_code, archive_name),
        Spacer(1, 6 * mm),
        _p("BIÊN BẢN HỦY TÀI LIỆU HẾT GIÁ TRỊ", _TITLE),
        _p(f"Danh sách hủy số {proposal.id}", _CENTER),
        Spacer(1, 5 * mm),
        _p("I. Căn cứ", _HEADING),
        _p(
            f"Quyết định số {proposal.decision_number or '—'} ngày "
            f"{_day(proposal.decision_date)} của Hội đồng xác định giá trị tài liệu, "
            f"người ký: {proposal.signer or '—'}."
        ),
        _p(f"Lý do hủy: {proposal.reason}"),
        _p("II. Đề nghị, phê duyệt và thực hiện", _HEADING),
        _steps(proposal),
        _p("III. Danh mục hồ sơ đã hủy", _HEADING),
        _p(
            f"Số hồ sơ đã hủy: {len(destroyed)}; số đối tượng lưu trữ đã hủy: "
            f"{sum(record.object_count for record in destroyed)}; tổng dung lượng: "
            f"{_number(sum(record.total_bytes for record in destroyed))} byte."
        ),
    ]
    if destroyed:
        story.append(_dossier_table(destroyed))
    story.append(_p("IV. Mã SHA-256 của các đối tượng lưu trữ đã hủy", _HEADING))
    story.append(
        _p(
            "Mỗi phiên bản đối tượng đã xóa khỏi kho lưu trữ được ghi lại bằng khóa, phiên bản, "
            "kích thước và mã băm SHA-256 của nội dung.",
            _SMALL,
        )
    )
    for number, record in enumerate(destroyed, start=1):
        story += _objects(number, record)
    if skipped:
        story.append(_p("V. Hồ sơ trong danh sách nhưng không hủy", _HEADING))
        story.append(_skipped_table(skipped))
    story += [
        Spacer(1, 6 * mm),
        _p(
            "Biên bản này do kho lưu trữ lập từ hồ sơ hủy của danh sách; nội dung tương ứng ở "
            f"dạng XML: /api/v1/disposals/{proposal.id}/certificate.xml.",
            _SMALL,
        ),
    ]
    return story


def _letterhead(archive_code: str, archive_name: str) -> Table:
    left = [_p(archive_name.upper(), _CENTER_BOLD), _p(f"Mã kho lưu trữ: {archive_code}", _CENTER)]
    right = [
        _p("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", _CENTER_BOLD),
        _p("Độc lập - Tự do - Hạnh phúc", _CENTER),
    ]
    table = Table([[left, right]], colWidths=[_WIDTH * 0.42, _WIDTH * 0.58])
    table.setStyle(TableStyle([*_NO_HELVETICA, ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return table


def _steps(proposal: DisposalView) -> Table:
    rows = [
        ["Bước", "Người thực hiện", "Thời điểm (giờ Việt Nam)"],
        ["Đề nghị hủy", proposal.proposed_by, _moment(proposal.proposed_at)],
        ["Phê duyệt", proposal.approved_by or "—", _moment(proposal.approved_at)],
        ["Bắt đầu thực hiện", proposal.executed_by or "—", _moment(proposal.execution_started_at)],
        ["Hoàn thành hủy", proposal.executed_by or "—", _moment(proposal.executed_at)],
    ]
    return _table(rows, [0.25, 0.4, 0.35])


def _dossier_table(records: Sequence[DestructionRecordView]) -> Table:
    rows: list[list[Any]] = [
        ["STT", "Mã hồ sơ", "Tiêu đề hồ sơ", "Thời hạn bảo quản và căn cứ", "Hủy lúc"]
    ]
    for number, record in enumerate(records, start=1):
        rows.append(
            [
                str(number),
                record.dossier_code,
                record.title,
                _basis(record),
                _moment(record.destroyed_at),
            ]
        )
    return _table(rows, [0.06, 0.27, 0.25, 0.28, 0.14])


def _objects(number: int, record: DestructionRecordView) -> list[Flowable]:
    heading = _p(
        f"{number}. Hồ sơ {record.dossier_code} — {record.object_count} đối tượng, "
        f"{_number(record.total_bytes)} byte",
        _SUBHEADING,
    )
    rows: list[list[Any]] = [["STT", "Khóa đối tượng (phiên bản) và SHA-256", "Kích thước (byte)"]]
    for index, entry in enumerate(record.objects, start=1):
        version = f" (phiên bản {entry.version_id})" if entry.version_id else ""
        rows.append(
            [
                str(index),
                [_p(f"{entry.key}{version}", _KEY), Paragraph(entry.sha256, _HASH)],
                _number(entry.size),
            ]
        )
    if len(rows) == 1:
        return [heading, _p("Không có đối tượng lưu trữ nào.", _SMALL)]
    table = _table(rows, [0.07, 0.75, 0.18])
    # the heading stays with the first rows; the table itself continues over pages
    return [KeepTogether([heading, Spacer(1, 1)]), table]


def _skipped_table(items: Sequence[Any]) -> Table:
    rows: list[list[Any]] = [["STT", "Mã hồ sơ", "Tiêu đề hồ sơ", "Trạng thái", "Lý do"]]
    for number, item in enumerate(items, start=1):
        rows.append(
            [
                str(number),
                item.dossier_code,
                item.title,
                _ITEM_STATUS.get(item.status, item.status),
                item.skip_reason or "—",
            ]
        )
    return _table(rows, [0.06, 0.22, 0.3, 0.12, 0.3])


def _table(rows: list[list[Any]], fractions: Sequence[float]) -> Table:
    """A ruled table, header row repeated on every page, text cells wrapped."""
    cells = [
        [
            _p(cell, _CELL_BOLD if row == 0 else _CELL) if isinstance(cell, str) else cell
            for cell in line
        ]
        for row, line in enumerate(rows)
    ]
    table = Table(cells, colWidths=[_WIDTH * part for part in fractions], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                *_NO_HELVETICA,
                ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                ("BACKGROUND", (0, 0), (-1, 0), _HEADER_GREY),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ("RIGHTPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def _footer(text: str, canvas: Canvas, document: SimpleDocTemplate) -> None:
    canvas.saveState()
    canvas.setFont("DejaVuSans", 7.5)
    canvas.drawString(document.leftMargin, 10 * mm, text)
    canvas.drawRightString(A4[0] - document.rightMargin, 10 * mm, f"Trang {canvas.getPageNumber()}")
    canvas.restoreState()


# --- Wording ------------------------------------------------------------------------------------


def _basis(record: DestructionRecordView) -> str:
    """The term applied, the source it came from and why, and the disposal date."""
    term = record.retention_basis.get("retention") or record.retention_code
    years = f"{record.retention_years} năm" if record.retention_years else "không xác định"
    lines = [f"Thời hạn {term} ({years}); hết hạn ngày {format_date(record.disposal_date)}."]
    for entry in record.retention_basis.get("basis", []):
        if isinstance(entry, dict) and entry.get("won"):
            source = _SOURCES.get(str(entry.get("source")), str(entry.get("source") or ""))
            lines.append(f"Theo {source}: {entry.get('reference') or '—'}.")
            if entry.get("explanation"):
                lines.append(str(entry["explanation"]))
    return "\n".join(lines)


def _day(value: date | None) -> str:
    return format_date(value) if value is not None else "—"


def _moment(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M:%S")


def _number(value: int) -> str:
    """``1.234.567``: Vietnamese thousands separators."""
    return f"{value:,}".replace(",", ".")


# --- PDF/A --------------------------------------------------------------------------------------


def _as_pdfa(layout: bytes, moment: datetime) -> bytes:
    """Make the laid-out PDF a PDF/A-2b file dated ``moment`` (every date in it is that one)."""
    stamp = _pdf_date(moment)
    with tempfile.TemporaryDirectory(prefix="certificate-") as work:
        first, final = Path(work) / "prepared.pdf", Path(work) / "certificate.pdf"
        with pikepdf.open(io.BytesIO(layout)) as pdf:
            pdf.docinfo["/CreationDate"] = stamp
            pdf.docinfo["/ModDate"] = stamp
            _drop_empty_transitions(pdf)
            make_pdfa_2b(pdf, first)
        with pikepdf.open(first) as pdf:
            _pin_metadata_date(pdf, moment)
            pdf.save(
                final, **pikepdf.pdfa.resolve_save_kwargs(RENDITION_FLAVOUR, deterministic_id=True)
            )
        return final.read_bytes()


def _drop_empty_transitions(pdf: pikepdf.Pdf) -> None:
    """reportlab gives each page an empty ``/Trans`` (no transition): it says nothing."""
    for page in pdf.pages:
        transition = page.obj.get("/Trans")
        if isinstance(transition, pikepdf.Dictionary) and not transition.keys():
            del page.obj["/Trans"]


def _pin_metadata_date(pdf: pikepdf.Pdf, moment: datetime) -> None:
    """The XMP metadata date is the time of writing; the certificate's is its execution."""
    with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as xmp:
        xmp["xmp:MetadataDate"] = moment.astimezone(UTC).isoformat()


def _pdf_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("D:%Y%m%d%H%M%S+00'00'")
