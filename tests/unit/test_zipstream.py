"""The streaming ZIP writer: readable archives, bounded chunks, ZIP64, refusal of wrong bytes."""

from __future__ import annotations

import hashlib
import io
import zipfile
from contextlib import nullcontext
from datetime import UTC, datetime

import pytest

from archive_service.dossiers.zipstream import ZipMember, ZipMemberMismatch, stream_zip
from tests.factories import big_document_source

MODIFIED = datetime(2024, 7, 1, 9, 30, 15, tzinfo=UTC)


def member(
    name: str, data: bytes, *, sha256: str | None = "auto", size: int | None = None
) -> ZipMember:
    digest = hashlib.sha256(data).hexdigest() if sha256 == "auto" else sha256
    return ZipMember(
        name=name,
        open=lambda: nullcontext(io.BytesIO(data)),
        size=len(data) if size is None else size,
        modified=MODIFIED,
        sha256=digest,
    )


def test_the_archive_holds_every_member_byte_for_byte() -> None:
    contents = {
        "urn_G09_uuid-1/METS.xml": "<mets>Hồ sơ</mets>".encode() * 500,
        "urn_G09_uuid-1/representations/rep1/data/a.pdf": bytes(range(256)) * 999,
        "urn_G09_uuid-1/empty.txt": b"",
    }
    data = b"".join(stream_zip([member(n, d) for n, d in contents.items()]))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == list(contents)
        for name, expected in contents.items():
            assert archive.read(name) == expected
        xml_info = archive.getinfo("urn_G09_uuid-1/METS.xml")
        pdf_info = archive.getinfo("urn_G09_uuid-1/representations/rep1/data/a.pdf")
    assert xml_info.compress_type == zipfile.ZIP_DEFLATED
    assert pdf_info.compress_type == zipfile.ZIP_STORED
    assert pdf_info.flag_bits & 0x08  # sizes and CRC follow the data: written without seeking
    assert pdf_info.date_time == (2024, 7, 1, 9, 30, 14)  # DOS time has two-second steps


def test_a_big_member_is_streamed_in_bounded_chunks() -> None:
    source = big_document_source(24 * 1024 * 1024, seed=7)
    big = ZipMember("aip/big.pdf", source.open, source.size or 0, MODIFIED, source.sha256)
    digest = hashlib.sha256()
    total = largest = 0
    out = io.BytesIO()
    for chunk in stream_zip([big], chunk_size=256 * 1024):
        largest = max(largest, len(chunk))
        total += len(chunk)
        out.write(chunk)
    assert largest <= 256 * 1024 + 1024  # one chunk of data and at most a header with it
    with zipfile.ZipFile(out) as archive, archive.open("aip/big.pdf") as stream:
        while block := stream.read(1024 * 1024):
            digest.update(block)
    assert digest.hexdigest() == source.sha256
    assert total == len(out.getvalue())


def test_zip64_records_are_written_for_members_from_the_threshold_on() -> None:
    members = [member("aip/small.xml", b"<a/>"), member("aip/large.pdf", b"%PDF" * 4096)]
    data = b"".join(stream_zip(members, zip64_from=1000))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.read("aip/large.pdf") == b"%PDF" * 4096
        large = archive.getinfo("aip/large.pdf")
        small = archive.getinfo("aip/small.xml")
    assert local_extra_ids(data, large) == [ZIP64_EXTRA]
    assert local_extra_ids(data, small) == []


ZIP64_EXTRA = 0x0001


def local_extra_ids(data: bytes, info: zipfile.ZipInfo) -> list[int]:
    """Ids of the extra fields in the local header of ``info`` (read from the raw bytes)."""
    header = data[info.header_offset : info.header_offset + 30]
    assert header[:4] == b"PK\x03\x04"
    name_length = int.from_bytes(header[26:28], "little")
    extra_length = int.from_bytes(header[28:30], "little")
    start = info.header_offset + 30 + name_length
    extra = data[start : start + extra_length]
    ids = []
    while extra:
        ids.append(int.from_bytes(extra[:2], "little"))
        extra = extra[4 + int.from_bytes(extra[2:4], "little") :]
    return ids


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (member("aip/x.pdf", b"abc", sha256=hashlib.sha256(b"abd").hexdigest()), "SHA-256"),
        (member("aip/x.pdf", b"abc", size=4), "3 bytes, expected 4"),
        (member("aip/x.pdf", b"abcde", size=4), "more than 4 bytes"),
    ],
)
def test_bytes_that_differ_from_what_was_declared_break_the_stream(
    bad: ZipMember, reason: str
) -> None:
    chunks = []
    with pytest.raises(ZipMemberMismatch, match=reason):
        for chunk in stream_zip([member("aip/ok.xml", b"<ok/>"), bad]):
            chunks.append(chunk)
    with pytest.raises(zipfile.BadZipFile):  # what was sent so far is not a usable archive
        zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
