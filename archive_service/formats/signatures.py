"""Content signatures of binary formats: what the first bytes of a file say it is.

Each sniffer looks at the head of the file (and, for ZIP, at its tail) and returns a match or
None. Versions are read where the head holds them (PDF header, JFIF/Exif, GIF, MPEG systems).
"""

from __future__ import annotations

import re
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from archive_service.formats.catalogue import EXIF_PRONOM, GIF_PRONOM, JFIF_PRONOM


@dataclass(frozen=True)
class Match:
    """A recognised format: catalogue key; version, PUID and name when the head tells them."""

    key: str
    version: str | None = None
    pronom_id: str | None = None
    name: str | None = None


Sniffer = Callable[[bytes], Match | None]

_PDF_HEADER = re.compile(rb"%PDF-(\d\.\d)")
_ASF_HEADER = uuid.UUID("75B22630-668E-11CF-A6D9-00AA0062CE6C").bytes_le
_ASF_VIDEO = uuid.UUID("BC19EFC0-5B4D-11CF-A8FD-00805F5C442B").bytes_le
_ASF_AUDIO = uuid.UUID("F8699E40-5B4D-11CF-A8FD-00805F5C442B").bytes_le
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
_HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1", b"msf1", b"avif")
_M4A_BRANDS = (b"M4A ", b"M4B ", b"M4P ")
_SIMPLE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x7fELF", "elf"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"\x1f\x8b", "gzip"),
    (b"fLaC", "flac"),
    (b"OggS", "ogg"),
    (b"\x1a\x45\xdf\xa3", "matroska"),
    (b"{\\rtf", "rtf"),
)
# MPEG audio: bitrates (kbit/s) of MPEG-1 Layer III and MPEG-2/2.5 Layer III; sample rates.
_MP3_BITRATES = {
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def pdf(head: bytes) -> Match | None:
    """A PDF header anywhere in the first 1024 bytes (ISO 32000 allows leading bytes)."""
    found = _PDF_HEADER.search(head[:1024])
    if found is None:
        return None
    version = found.group(1).decode("ascii")
    return Match("pdf", version)


def is_zip(head: bytes) -> bool:
    """Local file header or empty-archive end record at the start."""
    return head.startswith((b"PK\x03\x04", b"PK\x05\x06"))


def is_ole2(head: bytes) -> bool:
    """OLE2 compound file (Word/Excel/PowerPoint 97-2003, encrypted OOXML, …)."""
    return head.startswith(_OLE2)


def jpeg(head: bytes) -> Match | None:
    """JPEG, with its JFIF or Exif version when the first segment carries one."""
    if not head.startswith(b"\xff\xd8\xff"):
        return None
    marker = head[3]
    if marker == 0xE0 and head[6:11] == b"JFIF\x00":
        version = f"{head[11]}.{head[12]:02d}"
        return Match("jpeg", version, JFIF_PRONOM.get(version), "JPEG (JFIF)")
    if marker == 0xE1 and head[6:12] == b"Exif\x00\x00":
        exif = _exif_version(head[12:])
        if exif:
            version = f"{exif[:2].lstrip('0') or '0'}.{exif[2:]}"
            return Match("jpeg", version, EXIF_PRONOM.get(exif), "JPEG (Exif)")
        return Match("jpeg", None, None, "JPEG (Exif)")
    return Match("jpeg")


def _exif_version(tiff: bytes) -> str | None:
    """``ExifVersion`` (e.g. ``"0231"``) from the TIFF structure inside an Exif segment."""
    try:
        order = "<" if tiff[:2] == b"II" else ">"
        ifd = _ifd_entries(tiff, struct.unpack_from(f"{order}I", tiff, 4)[0], order)
        if 0x8769 not in ifd:
            return None
        exif_ifd = _ifd_entries(tiff, struct.unpack_from(f"{order}I", ifd[0x8769], 0)[0], order)
        value = exif_ifd.get(0x9000)
        return value[:4].decode("ascii") if value and value[:4].isdigit() else None
    except (struct.error, UnicodeDecodeError):
        return None


def _ifd_entries(tiff: bytes, offset: int, order: str) -> dict[int, bytes]:
    """Tag → raw 4-byte value field of one IFD (bounded to 512 entries)."""
    count = min(struct.unpack_from(f"{order}H", tiff, offset)[0], 512)
    entries = {}
    for index in range(count):
        at = offset + 2 + index * 12
        tag = struct.unpack_from(f"{order}H", tiff, at)[0]
        entries[tag] = tiff[at + 8 : at + 12]
    return entries


def png(head: bytes) -> Match | None:
    """PNG signature (the PNG version cannot be told from the signature)."""
    return Match("png") if head.startswith(b"\x89PNG\r\n\x1a\n") else None


def gif(head: bytes) -> Match | None:
    """GIF 87a or 89a."""
    if head[:6] not in (b"GIF87a", b"GIF89a"):
        return None
    version = head[3:6].decode("ascii")
    return Match("gif", version, GIF_PRONOM[version])


def tiff(head: bytes) -> Match | None:
    """TIFF, and BigTIFF (no PUID of its own here)."""
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return Match("tiff")
    if head[:4] in (b"II+\x00", b"MM\x00+"):
        return Match("tiff", "BigTIFF", None, "BigTIFF")
    return None


def bmp(head: bytes) -> Match | None:
    """Windows bitmap: ``BM`` and a known DIB header size."""
    if head[:2] != b"BM" or len(head) < 18:
        return None
    dib_size = struct.unpack_from("<I", head, 14)[0]
    return Match("bmp") if dib_size in (12, 40, 52, 56, 64, 108, 124) else None


def riff(head: bytes) -> Match | None:
    """RIFF containers: AVI, WAVE, WebP."""
    if head[:4] != b"RIFF":
        return None
    return {b"AVI ": Match("avi"), b"WAVE": Match("wav"), b"WEBP": Match("webp")}.get(head[8:12])


def asf(head: bytes) -> Match | None:
    """ASF: WMV when a video stream is declared in the header, WMA when only audio."""
    if not head.startswith(_ASF_HEADER):
        return None
    if _ASF_VIDEO in head:
        return Match("wmv")
    if _ASF_AUDIO in head:
        return Match("wma")
    return Match("asf")


def iso_media(head: bytes) -> Match | None:
    """ISO base media files by brand: QuickTime, M4A audio, MP4 video, HEIF; old QuickTime."""
    if head[4:8] == b"ftyp":
        size = struct.unpack_from(">I", head, 0)[0]
        brand, compatible = head[8:12], head[16 : min(size, 256)]
        if brand == b"qt  ":
            return Match("mov")
        if brand in _M4A_BRANDS:
            return Match("m4a")
        if brand in _HEIF_BRANDS:
            return Match("heif")
        return Match("mov") if b"qt  " in compatible else Match("mp4")
    if head[4:8] in _QUICKTIME_ATOMS and len(head) >= 8:
        return Match("mov")
    return None


def mpeg_video(head: bytes) -> Match | None:
    """MPEG program streams (1 or 2), video elementary streams, transport streams."""
    if head.startswith(b"\x00\x00\x01\xba") and len(head) > 4:
        if head[4] & 0xC0 == 0x40:
            return Match("mpeg", "2", "x-fmt/386", "MPEG-2 Program Stream")
        if head[4] & 0xF0 == 0x20:
            return Match("mpeg", "1", "x-fmt/385", "MPEG-1 Program Stream")
    if head.startswith(b"\x00\x00\x01\xb3"):
        if b"\x00\x00\x01\xb5" in head[:4096]:
            return Match("mpeg", "2", "fmt/640", "MPEG-2 Elementary Stream")
        return Match("mpeg", "1", "fmt/649", "MPEG-1 Elementary Stream")
    packets = min(len(head) // 188, 8)
    if packets >= 4 and all(head[index * 188] == 0x47 for index in range(packets)):
        return Match("mpeg-ts")
    return None


def mpeg_audio(head: bytes) -> Match | None:
    """MP3 (after an optional ID3v2 tag) or AAC in ADTS frames; two frames in a row required."""
    start = 0
    if head.startswith(b"ID3") and len(head) >= 10:
        size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
        start = 10 + size + (10 if head[5] & 0x10 else 0)
        if start + 4 > len(head):
            return Match("mp3")  # a long tag: the frames are past the head
    if _adts_frames(head, start):
        return Match("aac")
    if _mp3_frames(head, start):
        return Match("mp3")
    return None


def _mp3_frames(head: bytes, at: int) -> bool:
    first = _mp3_frame_length(head, at)
    if first is None:
        return False
    following = at + first
    return following + 4 > len(head) or _mp3_frame_length(head, following) is not None


def _mp3_frame_length(head: bytes, at: int) -> int | None:
    """Length of the Layer III frame starting at ``at``, or None when no valid header is there."""
    if at + 4 > len(head) or head[at] != 0xFF or head[at + 1] & 0xE0 != 0xE0:
        return None
    version, layer = (head[at + 1] >> 3) & 0x3, (head[at + 1] >> 1) & 0x3
    bitrate_index, rate_index = head[at + 2] >> 4, (head[at + 2] >> 2) & 0x3
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    table = 1 if version == 3 else 2
    bitrate = _MP3_BITRATES[table][bitrate_index] * 1000
    rate = _MP3_RATES[version][rate_index]
    padding = (head[at + 2] >> 1) & 0x1
    return (144 if version == 3 else 72) * bitrate // rate + padding


def _adts_frames(head: bytes, at: int) -> bool:
    first = _adts_frame_length(head, at)
    if not first:
        return False
    following = at + first
    return following + 7 > len(head) or bool(_adts_frame_length(head, following))


def _adts_frame_length(head: bytes, at: int) -> int | None:
    if at + 7 > len(head) or head[at] != 0xFF or head[at + 1] & 0xF6 != 0xF0:
        return None
    length = ((head[at + 3] & 0x03) << 11) | (head[at + 4] << 3) | (head[at + 5] >> 5)
    return length if length >= 7 else None


def simple_magic(head: bytes) -> Match | None:
    """Formats recognised by a fixed prefix (mostly ones that are not accepted), and RTF."""
    for prefix, key in _SIMPLE_MAGIC:
        if head.startswith(prefix):
            return Match(key)
    if head.startswith(b"MZ") and b"\x00" in head[:64]:
        return Match("exe")
    return None


#: Sniffers tried in order after PDF, ZIP and OLE2.
BINARY_SNIFFERS: tuple[Sniffer, ...] = (
    jpeg,
    png,
    gif,
    tiff,
    bmp,
    riff,
    asf,
    iso_media,
    mpeg_video,
    simple_magic,
    mpeg_audio,
)
