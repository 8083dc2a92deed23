"""Realistic test packages: a settled marriage-registration dossier (Đăng ký kết hôn) as a plain
deposit, a SIP ZIP or an unpacked SIP folder, with small real PDF documents, and a big streaming
document that never sits in memory.

Everything is deterministic: the same arguments give the same metadata, the same PDF bytes and,
through ``make_sip_zip``/``make_sip_folder``, the same package bytes (the package UUID is derived
from the arguments unless one is passed).

Overrides (keyword arguments of ``sample_metadata`` and everything built on it):

- ``dossier={...}``: EAD fields merged into the dossier (a ``None`` value removes the field);
- ``tthc={...}``: TTHC keys merged into the TTHC facts (``None`` removes);
- ``document={...}``: keys merged into every document entry, fields or ``name``/``fileName``/
  ``sha256`` (``None`` removes). The PDF of a document depends on its ``subject`` only.
"""

from __future__ import annotations

import hashlib
import io
import random
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO
from uuid import NAMESPACE_URL, UUID, uuid5

import pikepdf

from archive_service.packages.mets import VN_TZ, uuid_id
from archive_service.packages.plain import PlainDeposit, parse_plain_metadata
from archive_service.packages.sip_builder import SipManifest, build_sip, write_sip_folder
from archive_service.packages.tthc import parse_dossier_code
from archive_service.streams import FileSource, bytes_source

DOSSIER_CODE = "000.00.19.H56-240610-0001"
FONDS_CODE = "G09"
#: ``created`` of packages made here unless one is passed.
CREATED = datetime(2024, 6, 12, 15, 0, 0, tzinfo=VN_TZ)
AGENCY_NAME = "UBND xã Quảng Tâm, thành phố Thanh Hóa"
RESULT_DOCUMENT = 3  # ordinal of the document that carries result KQ1 (the certificate)

_DOCUMENTS: tuple[dict[str, str], ...] = (
    {
        "typeName": "32",
        "organName": "Công dân Nguyễn Văn A",
        "subject": "Tờ khai đăng ký kết hôn của ông Nguyễn Văn A và bà Trần Thị B",
        "confidenceLevel": "02",
        "autograph": "Nguyễn Văn A; Trần Thị B",
        "keyword": "tờ khai, kết hôn",
    },
    {
        "typeName": "32",
        "codeNumber": "125",
        "codeNotation": "XNTTHN",
        "organName": "UBND phường Đông Thọ, thành phố Thanh Hóa",
        "subject": "Giấy xác nhận tình trạng hôn nhân của bà Trần Thị B",
        "confidenceLevel": "02",
        "autograph": "Phó Chủ tịch Lê Văn E",
    },
    {
        "typeName": "32",
        "codeNumber": "45",
        "codeNotation": "GCNKH",
        "organName": AGENCY_NAME,
        "subject": "Giấy chứng nhận kết hôn giữa ông Nguyễn Văn A và bà Trần Thị B",
        "confidenceLevel": "01",
        "autograph": "Chủ tịch Phạm Văn D",
        "process": "1",
        "keyword": "giấy chứng nhận kết hôn",
    },
    {
        "typeName": "20",
        "organName": AGENCY_NAME,
        "subject": "Phiếu kiểm soát quá trình giải quyết hồ sơ đăng ký kết hôn",
        "confidenceLevel": "01",
        "process": "1",
    },
)


def _receipt_day(dossier_code: str) -> date:
    code = parse_dossier_code(dossier_code)
    if code is None:
        return date(2024, 6, 10)
    day = code.day
    return date(2000 + int(day[:2]), int(day[2:4]), int(day[4:]))


def _doc_id(dossier_code: str, ordinal: int) -> str:
    code = parse_dossier_code(dossier_code)
    return f"{code.day_sequence if code else 'DOC'}.{ordinal}"


def _at(day: date, hour: int, minute: int) -> str:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=VN_TZ).isoformat()


def _merge(base: dict[str, Any], changes: Mapping[str, Any] | None) -> dict[str, Any]:
    merged = dict(base)
    for key, value in (changes or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _document_fields(ordinal: int, received: date) -> dict[str, str]:
    if ordinal <= len(_DOCUMENTS):
        template = _DOCUMENTS[ordinal - 1]
    else:
        template = {
            "typeName": "32",
            "organName": "Công dân Nguyễn Văn A",
            "subject": f"Tài liệu kèm theo số {ordinal} của hồ sơ đăng ký kết hôn",
            "confidenceLevel": "02",
        }
    finished = received + timedelta(days=2)
    issued = finished if template.get("confidenceLevel") == "01" else received
    return {
        **template,
        "issuedDate": issued.strftime("%d/%m/%Y"),
        "language": "01",
        "numberOfPage": "1" if ordinal != RESULT_DOCUMENT else "2",
        "mode": "02",
        "format": "01",
        "riskRecovery": "0",
    }


def sample_metadata(
    *,
    documents: int = 3,
    dossier_code: str = DOSSIER_CODE,
    dossier: Mapping[str, Any] | None = None,
    tthc: Mapping[str, Any] | None = None,
    document: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The metadata JSON (as a dict) of a plain deposit of a settled marriage registration."""
    if documents < 1:
        raise ValueError("a dossier has at least one document")
    received = _receipt_day(dossier_code)
    finished = received + timedelta(days=2)
    unit = dossier_code.split("-")[0]
    result_ordinal = min(RESULT_DOCUMENT, documents)
    dossier_values = {
        "title": "Hồ sơ đăng ký kết hôn của ông Nguyễn Văn A và bà Trần Thị B",
        "maintenance": "01",
        "mode": "02",
        "language": "01",
        "startDate": received.strftime("%d/%m/%Y"),
        "endDate": finished.strftime("%d/%m/%Y"),
        "keyword": "đăng ký kết hôn; hộ tịch",
        "format": "01",
        "confidenceLevel": "03",
        "riskRecovery": "0",
        "description": (
            "Hồ sơ tiếp nhận trực tuyến; người lập hồ sơ: Lê Thị C, công chức tư pháp - hộ tịch"
        ),
    }
    facts = {
        "version": "1",
        "dossierCode": dossier_code,
        "procedure": {
            "code": "1.000894",
            "name": "Đăng ký kết hôn",
            "sectorCode": "HT",
            "sectorName": "Hộ tịch",
        },
        "receivingAgency": {"id": unit, "name": AGENCY_NAME},
        "competentAgency": {"id": unit, "name": AGENCY_NAME},
        "applicant": {
            "kind": "citizen",
            "name": "Nguyễn Văn A",
            "idType": "CCCD",
            "idNumber": "038090001234",
            "address": "Thôn 3, xã Quảng Tâm, thành phố Thanh Hóa, tỉnh Thanh Hóa",
        },
        "channel": "online",
        "received": _at(received, 8, 15),
        "due": _at(received + timedelta(days=3), 17, 0),
        "finished": _at(finished, 10, 2),
        "returned": _at(finished, 14, 30),
        "finalStatus": "returned",
        "results": [
            {
                "code": f"{dossier_code}-KQ1",
                "docId": _doc_id(dossier_code, result_ordinal),
                "issued": finished.isoformat(),
            }
        ],
        "history": [
            {
                "at": _at(received, 8, 15),
                "actor": "Lê Thị C",
                "unit": "Bộ phận Một cửa UBND xã Quảng Tâm",
                "action": "received",
                "opinion": "Hồ sơ đầy đủ, hợp lệ; chuyển công chức tư pháp - hộ tịch xử lý.",
            },
            {
                "at": _at(received + timedelta(days=1), 9, 40),
                "actor": "Hoàng Văn F",
                "unit": "Công chức Tư pháp - Hộ tịch",
                "action": "processed",
                "opinion": (
                    "Đã xác minh: hai bên đủ điều kiện kết hôn theo Luật Hôn nhân và gia đình; "
                    "trình lãnh đạo ký."
                ),
            },
            {
                "at": _at(finished, 10, 2),
                "actor": "Phạm Văn D",
                "unit": "Lãnh đạo UBND xã Quảng Tâm",
                "action": "approved",
                "opinion": "Đồng ý.",
            },
            {
                "at": _at(finished, 14, 30),
                "actor": "Lê Thị C",
                "unit": "Bộ phận Một cửa UBND xã Quảng Tâm",
                "action": "returned",
                "opinion": "",
            },
        ],
    }
    documents_json = []
    for ordinal in range(1, documents + 1):
        fields = _document_fields(ordinal, received)
        entry: dict[str, Any] = {"name": f"file{ordinal}"}
        if ordinal == 1:
            entry["fileName"] = "to-khai-dang-ky-ket-hon.pdf"
        entry["sha256"] = hashlib.sha256(_document_pdf(ordinal, fields["subject"])).hexdigest()
        documents_json.append(_merge({**entry, **fields}, document))
    return {
        "dossier": _merge(dossier_values, dossier),
        "tthc": _merge(facts, tthc),
        "documents": documents_json,
    }


def sample_deposit(
    *, documents: int = 3, dossier_code: str = DOSSIER_CODE, **overrides: Any
) -> tuple[PlainDeposit, dict[str, FileSource]]:
    """A plain deposit (metadata and one small real PDF per document, keyed by form part)."""
    metadata = sample_metadata(documents=documents, dossier_code=dossier_code, **overrides)
    deposit = parse_plain_metadata(metadata)
    files = {
        doc.name: bytes_source(_document_pdf(ordinal, doc.fields.get("subject", "")))
        for ordinal, doc in enumerate(deposit.documents, start=1)
    }
    return deposit, files


def _package_uuid(documents: int, overrides: Mapping[str, Any]) -> UUID:
    return uuid5(NAMESPACE_URL, f"test-sip:{documents}:{sorted(overrides.items())!r}")


def make_sip_zip(
    directory: Path,
    *,
    documents: int = 3,
    object_uuid: UUID | None = None,
    created: datetime | None = None,
    **overrides: Any,
) -> Path:
    """Write ``directory/uuid-<UUID>.zip`` (a SIP_hoso) and return its path."""
    return _make(directory, documents, object_uuid, created, overrides, folder=False)


def make_sip_folder(
    directory: Path,
    *,
    documents: int = 3,
    object_uuid: UUID | None = None,
    created: datetime | None = None,
    **overrides: Any,
) -> Path:
    """Write the SIP unpacked and return its root folder ``directory/uuid-<UUID>``."""
    return _make(directory, documents, object_uuid, created, overrides, folder=True)


def _make(
    directory: Path,
    documents: int,
    object_uuid: UUID | None,
    created: datetime | None,
    overrides: dict[str, Any],
    *,
    folder: bool,
) -> Path:
    deposit, files = sample_deposit(documents=documents, **overrides)
    package_uuid = object_uuid or _package_uuid(documents, overrides)
    when = created or CREATED
    manifest: SipManifest
    if folder:
        manifest = write_sip_folder(
            deposit, files, directory, object_uuid=package_uuid, created=when, fonds_code=FONDS_CODE
        )
    else:
        target = directory / f"{uuid_id(package_uuid)}.zip"
        manifest = build_sip(
            deposit, files, target, object_uuid=package_uuid, created=when, fonds_code=FONDS_CODE
        )
    assert manifest.location is not None
    return manifest.location


# --- documents -------------------------------------------------------------------------------


def ascii_text(text: str) -> str:
    """Vietnamese without diacritics (the standard PDF fonts have no glyphs for them)."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _pdf_string(text: str) -> bytes:
    escaped = ascii_text(text).replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return f"({escaped})".encode("ascii", "replace")


def _document_pdf(ordinal: int, subject: str) -> bytes:
    return pdf_document(
        subject or f"Tai lieu {ordinal}", pages=2 if ordinal == RESULT_DOCUMENT else 1
    )


@lru_cache(maxsize=256)
def pdf_document(title: str, *, pages: int = 1) -> bytes:
    """A small real PDF (about 5–20 KB): an official-letter layout with ``title`` and body text.

    Uses the standard Helvetica font (no font file). The Vietnamese title is kept in the
    document information; the page text is written without diacritics.
    """
    pdf = pikepdf.new()
    font = pikepdf.Dictionary(
        Type=pikepdf.Name.Font,
        Subtype=pikepdf.Name.Type1,
        BaseFont=pikepdf.Name.Helvetica,
        Encoding=pikepdf.Name.WinAnsiEncoding,
    )
    for number in range(1, pages + 1):
        page = pdf.add_blank_page(page_size=(595, 842))
        page.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
        page.Contents = pdf.make_stream(_page_content(title, number, pages))
    pdf.docinfo[pikepdf.Name.Title] = title
    pdf.docinfo[pikepdf.Name.Producer] = "archive-service tests"
    buffer = io.BytesIO()
    pdf.save(buffer, deterministic_id=True, compress_streams=False)
    return buffer.getvalue()


def _page_content(title: str, number: int, pages: int) -> bytes:
    lines: list[tuple[int, int, int, str]] = [
        (12, 330, 800, "CONG HOA XA HOI CHU NGHIA VIET NAM"),
        (11, 370, 785, "Doc lap - Tu do - Hanh phuc"),
        (11, 60, 800, AGENCY_NAME),
        (14, 60, 740, title),
    ]
    body = (
        "Can cu Luat Ho tich ngay 20 thang 11 nam 2014 va cac van ban huong dan thi hanh; "
        "xet to khai va giay to kem theo cua cong dan; ho so da duoc kiem tra day du, hop le. "
    )
    y = 710
    for index in range(44):
        lines.append((10, 60, y, f"{index + 1:02d}. {body[(index * 7) % 60 :][:88]}"))
        y -= 14
    lines.append((9, 60, 60, f"Trang {number}/{pages} - {title[:60]}"))
    parts = [b"0.2 w 50 50 495 742 re S", b"380 90 150 60 re S"]
    for size, x, y_pos, text in lines:
        parts.append(b"BT /F1 %d Tf %d %d Td " % (size, x, y_pos) + _pdf_string(text) + b" Tj ET")
    return b"\n".join(parts) + b"\n"


# --- big documents ---------------------------------------------------------------------------

_BIG_HEADER = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
_BIG_TRAILER = b"\n%%EOF\n"
_BLOCK = 1024 * 1024


class _PseudoRandomPdf(io.RawIOBase):
    """``size`` bytes: a PDF header, deterministic pseudo-random body, ``%%EOF``; made on demand.

    The body is produced in fixed 1 MiB blocks, so the bytes do not depend on read sizes.
    """

    def __init__(self, size: int, seed: int) -> None:
        super().__init__()
        self._size = size
        self._seed = seed
        self._position = 0
        self._block_index = -1
        self._block = b""

    def readable(self) -> bool:
        return True

    def _byte_range(self, start: int, end: int) -> bytes:
        body_end = self._size - len(_BIG_TRAILER)
        out = bytearray()
        while start < end:
            if start < len(_BIG_HEADER):
                piece = _BIG_HEADER[start : min(end, len(_BIG_HEADER))]
            elif start >= body_end:
                piece = _BIG_TRAILER[start - body_end : end - body_end]
            else:
                offset = start - len(_BIG_HEADER)
                index, within = divmod(offset, _BLOCK)
                if index != self._block_index:
                    self._block = random.Random(f"{self._seed}:{index}").randbytes(_BLOCK)
                    self._block_index = index
                piece = self._block[within : within + min(end, body_end) - start]
            out += piece
            start += len(piece)
        return bytes(out)

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self._size - self._position)
        if count <= 0:
            return 0
        buffer[:count] = self._byte_range(self._position, self._position + count)
        self._position += count
        return count


@lru_cache(maxsize=32)
def _big_sha256(size: int, seed: int) -> str:
    digest = hashlib.sha256()
    with _open_big(size, seed) as stream:
        while chunk := stream.read(_BLOCK):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def _open_big(size: int, seed: int) -> Iterator[BinaryIO]:
    stream = io.BufferedReader(_PseudoRandomPdf(size, seed), buffer_size=_BLOCK)
    try:
        yield stream
    finally:
        stream.close()


def big_document_source(size: int, *, seed: int = 0, with_sha256: bool = True) -> FileSource:
    """A deterministic PDF-like document of ``size`` bytes, generated while it is read.

    Its SHA-256 is computed once per (size, seed) by streaming it (skip with
    ``with_sha256=False`` for a source whose checksum is not known in advance).
    """
    if size < len(_BIG_HEADER) + len(_BIG_TRAILER):
        raise ValueError(
            f"a big document has at least {len(_BIG_HEADER) + len(_BIG_TRAILER)} bytes"
        )
    return FileSource(
        open=lambda: _open_big(size, seed),
        size=size,
        sha256=_big_sha256(size, seed) if with_sha256 else None,
    )
