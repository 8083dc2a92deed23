"""Office documents → PDF with LibreOffice headless, then the pikepdf PDF/A-2b step.

LibreOffice runs with a profile of its own in a temporary folder (so that runs never share or
lock a user profile), on a copy of the document (LibreOffice writes lock files next to what it
opens; the original is never touched), under a timeout after which its whole process group is
killed. It is asked for PDF/A-2 output with the JSON filter options of LibreOffice ≥ 7.4
(``SelectPdfVersion`` 2: fonts embedded, no transparency groups it cannot express); the result
then goes through ``convert_pdf.make_pdfa_2b`` like any PDF, and is verified against the
LibreOffice PDF (page count, text).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from archive_service.formats.convert_pdf import RenditionError, run_converter

NOT_INSTALLED = "LibreOffice chưa được cài đặt"
DEFAULT_TIMEOUT = 180.0
_PDFA2 = '{"SelectPdfVersion":{"type":"long","value":"2"}}'
#: Format key → LibreOffice PDF export filter (by the module that opens the document).
EXPORT_FILTERS = {
    "doc": "writer_pdf_Export",
    "docx": "writer_pdf_Export",
    "odt": "writer_pdf_Export",
    "rtf": "writer_pdf_Export",
    "xls": "calc_pdf_Export",
    "xlsx": "calc_pdf_Export",
    "ods": "calc_pdf_Export",
    "ppt": "impress_pdf_Export",
    "pptx": "impress_pdf_Export",
    "odp": "impress_pdf_Export",
}


def convert_office(
    source: Path, format_key: str, scratch: Path, executable: str, timeout: float = DEFAULT_TIMEOUT
) -> Path:
    """Convert ``source`` (of ``format_key``) to PDF in ``scratch``; the PDF's path."""
    export_filter = EXPORT_FILTERS.get(format_key)
    if export_filter is None:
        raise RenditionError(f"LibreOffice không được dùng cho định dạng {format_key}")
    inbox, outbox, profile = scratch / "office-in", scratch / "office-out", scratch / "profile"
    for folder in (inbox, outbox, profile):
        folder.mkdir()
    document = inbox / f"document.{format_key}"
    shutil.copyfile(source, document)
    log = run_converter(
        [
            executable,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--invisible",
            "--norestore",
            "--nolockcheck",
            "--convert-to",
            f"pdf:{export_filter}:{_PDFA2}",
            "--outdir",
            str(outbox),
            str(document),
        ],
        timeout,
        "LibreOffice",
    )
    produced = outbox / "document.pdf"
    if not produced.is_file():
        detail = log.splitlines()[-1] if log else "không có thông báo"
        raise RenditionError(f"LibreOffice không tạo ra tệp PDF ({detail})")
    return produced
