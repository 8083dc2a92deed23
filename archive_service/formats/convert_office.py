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

import os
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

#: Export filter → (library of the LibreOffice module that opens such documents, module, package).
_MODULES = {
    "writer_pdf_Export": ("libswlo.so", "LibreOffice Writer", "libreoffice-writer-nogui"),
    "calc_pdf_Export": ("libsclo.so", "LibreOffice Calc", "libreoffice-calc-nogui"),
    "impress_pdf_Export": ("libsdlo.so", "LibreOffice Impress", "libreoffice-impress-nogui"),
}


def missing_module(executable: str, export_filter: str) -> str | None:
    """Why LibreOffice cannot open such documents (its module is not installed), else None.

    Debian installs Writer, Calc and Impress as separate packages; without the module,
    ``soffice`` only says "source file could not be loaded".
    """
    library, module, package = _MODULES[export_filter]
    program = Path(os.path.realpath(executable)).parent
    if not program.is_dir() or not any(program.glob("lib*lo.so")):
        return None  # not a layout we know: let LibreOffice itself say what is wrong
    if (program / library).exists():
        return None
    return f"{module} chưa được cài đặt (gói Debian {package})"


def convert_office(
    source: Path, format_key: str, scratch: Path, executable: str, timeout: float = DEFAULT_TIMEOUT
) -> Path:
    """Convert ``source`` (of ``format_key``) to PDF in ``scratch``; the PDF's path."""
    export_filter = EXPORT_FILTERS.get(format_key)
    if export_filter is None:
        raise RenditionError(f"LibreOffice không được dùng cho định dạng {format_key}")
    missing = missing_module(executable, export_filter)
    if missing:
        raise RenditionError(missing)
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
