"""External tools the format checks and conversions can use: found or not, version, what each
enables and what is lost without it (the data behind ``archive doctor``).

Facts that shape the verdicts: Ghostscript older than 10.03 (Debian 12 ships 10.0.0) destroys
the Vietnamese text layer when it writes PDF/A, so it is reported unusable; tesseract without
its Vietnamese data cannot read Vietnamese scans.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from archive_service.formats.virus import parse_version_line

GHOSTSCRIPT_MINIMUM = (10, 3)
CLAMD_SOCKETS = (Path("/run/clamav/clamd.ctl"), Path("/var/run/clamav/clamd.ctl"))
RUN_TIMEOUT = 60.0
_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class ToolStatus:
    """One tool: found, usable (found and not known to be harmful), version, what it is for."""

    key: str
    name: str
    found: bool
    usable: bool
    version: str | None
    location: str | None
    enables: str
    when_missing: str
    install: str
    warnings: tuple[str, ...] = ()
    details: dict[str, str] = field(default_factory=dict)


def parse_version(text: str) -> tuple[int, ...] | None:
    """First ``major.minor[.patch]`` in ``text`` as integers (``10.00.0`` → ``(10, 0, 0)``)."""
    found = _VERSION.search(text)
    if found is None:
        return None
    return tuple(int(part) for part in found.groups() if part is not None)


def ghostscript_warnings(version: str | None) -> tuple[str, ...]:
    """Why a Ghostscript version must not make PDF/A renditions (empty when it may)."""
    parsed = parse_version(version or "")
    if parsed is None:
        return ("không xác định được phiên bản Ghostscript; không dùng để tạo PDF/A",)
    if parsed[:2] < GHOSTSCRIPT_MINIMUM:
        return (
            f"Ghostscript {version} cũ hơn 10.03: khi ghi PDF/A, bản này làm hỏng lớp chữ tiếng "
            "Việt (mất dấu, mất chữ) và bỏ siêu dữ liệu tiếng Việt — không dùng để tạo bản PDF/A",
        )
    return ()


def _run(arguments: list[str]) -> str:
    """stdout and stderr of a short command, or '' when it cannot run."""
    try:
        finished = subprocess.run(
            arguments,
            capture_output=True,
            timeout=RUN_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (finished.stdout + finished.stderr).decode("utf-8", "replace")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0].strip() if text.strip() else ""


def _python_package(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _ghostscript() -> ToolStatus:
    location = shutil.which("gs")
    version = _first_line(_run([location, "--version"])) if location else None
    warnings = ghostscript_warnings(version) if location else ()
    return ToolStatus(
        key="ghostscript",
        name="Ghostscript",
        found=location is not None,
        usable=location is not None and not warnings,
        version=version or None,
        location=location,
        enables="dựng lại PDF thành PDF/A-2b khi pikepdf không chuyển được (cần bản ≥ 10.03)",
        when_missing="PDF cần dựng lại trang được ghi nhận 'rendition failed'; bản gốc vẫn lưu",
        install="apt-get install ghostscript (cần ≥ 10.03: Debian 12 chỉ có 10.0.0)",
        warnings=warnings,
    )


def _tesseract() -> ToolStatus:
    location = shutil.which("tesseract")
    version, languages = None, ""
    warnings: tuple[str, ...] = ()
    if location:
        version = _first_line(_run([location, "--version"])).removeprefix("tesseract ").strip()
        listed = _run([location, "--list-langs"]).splitlines()[1:]
        languages = ", ".join(sorted(line.strip() for line in listed if line.strip()))
        if "vie" not in languages.split(", "):
            warnings = ("thiếu dữ liệu tiếng Việt (vie): cài tesseract-ocr-vie",)
    return ToolStatus(
        key="tesseract",
        name="Tesseract OCR",
        found=location is not None,
        usable=location is not None,
        version=version or None,
        location=location,
        enables="nhận dạng chữ cho bản quét; OCRmyPDF cần nó ngay cả khi không OCR",
        when_missing="bản quét không có lớp chữ; không dùng được OCRmyPDF",
        install="apt-get install tesseract-ocr tesseract-ocr-vie",
        warnings=warnings,
        details={"languages": languages} if location else {},
    )


def _libreoffice() -> ToolStatus:
    location = shutil.which("soffice") or shutil.which("libreoffice")
    version = None
    if location:
        line = _first_line(_run([location, "--headless", "--version"]))
        parsed = parse_version(line)
        version = ".".join(map(str, parsed)) if parsed else line or None
    return ToolStatus(
        key="libreoffice",
        name="LibreOffice",
        found=location is not None,
        usable=location is not None,
        version=version,
        location=location,
        enables="chuyển tài liệu văn phòng (DOC, DOCX, ODT, XLS, XLSX, ODS, PPT, PPTX, ODP, RTF) "
        "sang PDF/A-2b",
        when_missing="tài liệu văn phòng được lưu nguyên gốc, không có bản PDF/A",
        install="apt-get install libreoffice-writer-nogui libreoffice-calc-nogui "
        "libreoffice-impress-nogui",
    )


def _clamscan() -> ToolStatus:
    location = shutil.which("clamscan")
    version, details = None, {}
    warnings: tuple[str, ...] = ()
    if location:
        engine, signatures = parse_version_line(_first_line(_run([location, "--version"])))
        version = engine
        if signatures:
            details["signatures"] = signatures
        else:
            warnings = ("chưa có cơ sở dữ liệu chữ ký virus (chạy freshclam hoặc cấu hình)",)
    return ToolStatus(
        key="clamscan",
        name="ClamAV (clamscan)",
        found=location is not None,
        usable=location is not None,
        version=version,
        location=location,
        enables="quét virus từng tệp khi kiểm tra gói nộp",
        when_missing="sự kiện 'virus check' ghi 'không thực hiện'",
        install="apt-get install clamav",
        warnings=warnings,
        details=details,
    )


def _clamd(socket_path: Path | None) -> ToolStatus:
    candidates = [socket_path] if socket_path else list(CLAMD_SOCKETS)
    location, reply = None, ""
    for candidate in candidates:
        if candidate.is_socket():
            location, reply = str(candidate), _clamd_version(candidate)
            break
    engine, signatures = parse_version_line(reply)
    return ToolStatus(
        key="clamd",
        name="ClamAV (clamd)",
        found=location is not None,
        usable=engine is not None,
        version=engine,
        location=location,
        enables="quét virus nhanh qua socket của dịch vụ clamd",
        when_missing="dùng clamscan nếu có; không thì không quét virus",
        install="apt-get install clamav-daemon",
        warnings=() if engine or location is None else ("clamd không trả lời lệnh VERSION",),
        details={"signatures": signatures} if signatures else {},
    )


def _clamd_version(path: Path) -> str:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(5)
            connection.connect(str(path))
            connection.sendall(b"zVERSION\0")
            return connection.recv(4096).rstrip(b"\0\n").decode("utf-8", "replace")
    except OSError:
        return ""


def _verapdf() -> ToolStatus:
    location = shutil.which("verapdf")
    version = None
    if location:
        line = _first_line(_run([location, "--version"]))
        version = line.removeprefix("veraPDF").strip() or None
    return ToolStatus(
        key="verapdf",
        name="veraPDF",
        found=location is not None,
        usable=location is not None,
        version=version,
        location=location,
        enables="kiểm tra PDF/A đầy đủ theo ISO 19005 (trình kiểm tra tham chiếu, có thẩm quyền)",
        when_missing="kiểm tra PDF/A bằng pikepdf.pdfa và các kiểm tra cấu trúc của hệ thống; "
        "cú pháp chi tiết của tệp và mức A/U không được kiểm tra",
        install="không có gói Debian: cài bản phát hành của veraPDF (Java) và đặt verapdf vào PATH",
    )


def _python_tool(
    key: str, name: str, package: str, enables: str, when_missing: str
) -> Callable[[], ToolStatus]:
    def detect() -> ToolStatus:
        version = _python_package(package)
        return ToolStatus(
            key=key,
            name=name,
            found=version is not None,
            usable=version is not None,
            version=version,
            location="Python" if version else None,
            enables=enables,
            when_missing=when_missing,
            install=f"pip install {package}",
        )

    return detect


def _pikepdf_pdfa() -> ToolStatus:
    version = _python_package("pikepdf")
    try:
        import pikepdf.pdfa  # noqa: F401

        available = True
    except ImportError:
        available = False
    return ToolStatus(
        key="pikepdf-pdfa",
        name="pikepdf.pdfa",
        found=available,
        usable=available,
        version=version if available else None,
        location="Python" if available else None,
        enables="kiểm tra PDF/A-1b/2b/3b và lưu PDF/A không dựng lại trang",
        when_missing="chỉ còn kiểm tra cấu trúc: không tệp nào được công nhận PDF/A hợp lệ",
        install="pip install 'pikepdf[pdfa]>=10.18'",
    )


_PYTHON_TOOLS = (
    _python_tool(
        "img2pdf",
        "img2pdf",
        "img2pdf",
        "chuyển ảnh JPEG/PNG/TIFF sang PDF không mất chất lượng",
        "ảnh được lưu nguyên gốc, không có bản PDF/A",
    ),
    _python_tool(
        "ocrmypdf",
        "OCRmyPDF",
        "ocrmypdf",
        "thêm lớp chữ OCR và chuyển PDF/A (cần Ghostscript ≥ 10.03 và tesseract)",
        "không thêm lớp chữ cho bản quét",
    ),
    _python_tool(
        "pyhanko",
        "pyHanko",
        "pyhanko",
        "đọc chữ ký số PDF (PAdES/CMS): người ký, thời điểm, phạm vi byte",
        "chữ ký số không được kiểm tra",
    ),
)


def detect_tools(clamd_socket: Path | None = None) -> list[ToolStatus]:
    """Every external tool, in a fixed order; ``clamd_socket`` overrides the Debian defaults."""
    detected = [
        _ghostscript(),
        _tesseract(),
        _libreoffice(),
        _clamscan(),
        _clamd(clamd_socket),
        _verapdf(),
        _pikepdf_pdfa(),
    ]
    return detected + [detect() for detect in _PYTHON_TOOLS]
