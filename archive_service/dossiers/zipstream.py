"""Write a ZIP archive as a stream of byte chunks, reading each member chunk by chunk.

Nothing is held whole, in memory or on disk: ``zipfile`` writes into a sink that cannot seek,
so every entry gets a data descriptor (sizes and CRC after the data) and the central directory
comes last. Members of 4 GiB or more get ZIP64 records (the size is known beforehand). Each
member's bytes are checked against the size and SHA-256 it declares while they are sent: a
mismatch stops the stream with ``ZipMemberMismatch``, so that the receiver gets a broken
download, never a well-formed ZIP with wrong content.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from archive_service.streams import CHUNK_SIZE, Opener, iter_chunks

#: Extensions worth compressing; everything else (PDF, images, media) is stored as it is.
COMPRESSIBLE_SUFFIXES = (".xml", ".xsd", ".txt", ".json", ".csv")
#: Members from this size on get ZIP64 records (``zipfile``'s own 5 % margin below 4 GiB).
ZIP64_THRESHOLD = int(zipfile.ZIP64_LIMIT / 1.05)
_EARLIEST_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class ZipMemberMismatch(Exception):
    """A member's bytes differ from the size or SHA-256 it was declared with."""


@dataclass(frozen=True)
class ZipMember:
    """One file of the archive: its name inside the ZIP and how to read it."""

    name: str
    open: Opener
    size: int
    modified: datetime
    sha256: str | None = None


class _Sink:
    """A write-only, non-seekable target that hands back what was written since last time."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing to flush: the chunks are taken by the generator."""

    def take(self) -> Iterator[bytes]:
        if self._chunks:
            data = b"".join(self._chunks)
            self._chunks.clear()
            yield data


def stream_zip(
    members: Iterable[ZipMember],
    *,
    chunk_size: int = CHUNK_SIZE,
    zip64_from: int = ZIP64_THRESHOLD,
) -> Iterator[bytes]:
    """Yield the bytes of a ZIP holding ``members``, in order, about ``chunk_size`` at a time.

    Members of ``zip64_from`` bytes or more get ZIP64 size records.
    """
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", allowZip64=True) as archive:  # type: ignore[call-overload]
        for member in members:
            yield from _write_member(archive, sink, member, chunk_size, member.size >= zip64_from)
    yield from sink.take()


def _write_member(
    archive: zipfile.ZipFile, sink: _Sink, member: ZipMember, chunk_size: int, zip64: bool
) -> Iterator[bytes]:
    info = zip_info(member)
    digest = hashlib.sha256()
    size = 0
    with member.open() as source, archive.open(info, "w", force_zip64=zip64) as target:
        for chunk in iter_chunks(source, chunk_size):
            size += len(chunk)
            if size > member.size:
                raise ZipMemberMismatch(f"{member.name}: more than {member.size} bytes")
            digest.update(chunk)
            target.write(chunk)
            yield from sink.take()
    if size != member.size:
        raise ZipMemberMismatch(f"{member.name}: {size} bytes, expected {member.size}")
    if member.sha256 is not None and digest.hexdigest() != member.sha256.lower():
        raise ZipMemberMismatch(f"{member.name}: SHA-256 {digest.hexdigest()} ≠ {member.sha256}")
    yield from sink.take()


def zip_info(member: ZipMember) -> zipfile.ZipInfo:
    """The entry header of ``member``: name, time, size, compression and file mode."""
    stamp = max(member.modified.timetuple()[:6], _EARLIEST_ZIP_TIME)
    info = zipfile.ZipInfo(member.name, date_time=stamp)
    info.file_size = member.size
    info.compress_type = (
        zipfile.ZIP_DEFLATED
        if member.name.lower().endswith(COMPRESSIBLE_SUFFIXES)
        else zipfile.ZIP_STORED
    )
    info.external_attr = 0o644 << 16
    return info
