"""Receiving multipart forms: files streamed to disk with their digests, nothing left on refusal."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from archive_service.ingest.multipart import (
    FormTooLarge,
    MalformedForm,
    ReceivedForm,
    receive_form,
)

BOUNDARY = "hs-boundary-7f3a"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def part(name: str, data: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
    return head + data + b"\r\n"


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


async def chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def receive(
    data: bytes | Iterable[bytes],
    staging: Path,
    *,
    max_bytes: int = 10_000_000,
    max_field_bytes: int = 1000,
    chunk: int = 7,
) -> ReceivedForm:
    chunks = chunked(data, chunk) if isinstance(data, bytes) else _iterate(data)
    return asyncio.run(
        receive_form(
            chunks,
            CONTENT_TYPE,
            staging,
            max_bytes=max_bytes,
            field_names={"metadata"},
            max_field_bytes=max_field_bytes,
        )
    )


async def _iterate(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for item in chunks:
        yield item


def test_fields_stay_in_memory_and_files_go_to_disk_with_their_digest(tmp_path: Path) -> None:
    pdf = b"%PDF-1.7\r\n--not-a-boundary\r\n" + bytes(range(256)) * 40
    form = receive(
        body(
            part("metadata", '{"dossier": "Hồ sơ"}'.encode(), filename="metadata.json"),
            part("240610-0001.1", pdf, filename="Giấy đề nghị.pdf"),
        ),
        tmp_path,
    )
    assert form.fields == {"metadata": '{"dossier": "Hồ sơ"}'.encode()}
    received = form.files["240610-0001.1"]
    assert received.filename == "Giấy đề nghị.pdf"
    assert received.path.read_bytes() == pdf
    assert (received.size, received.sha256) == (len(pdf), hashlib.sha256(pdf).hexdigest())
    assert received.path.parent == form.folder and form.folder.parent == tmp_path
    form.discard()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (body(part("a", b"x"))[:-10], "cắt cụt"),
        (b"this is not a multipart body at all", "cú pháp|cắt cụt"),
        (body(part("a", b"1", "a.pdf"), part("a", b"2", "a.pdf")), "hai lần"),
        (
            body(f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nx\r\n".encode()),
            "không có tên",
        ),
    ],
)
def test_a_malformed_body_is_refused_and_nothing_is_left(
    tmp_path: Path, data: bytes, reason: str
) -> None:
    with pytest.raises(MalformedForm, match=reason):
        receive(data, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_body_over_the_limit_is_refused_while_streaming(tmp_path: Path) -> None:
    data = body(part("doc", b"x" * 5000, "doc.pdf"))
    with pytest.raises(FormTooLarge):
        receive(data, tmp_path, max_bytes=4000, chunk=1000)
    assert list(tmp_path.iterdir()) == []


def test_a_field_over_its_limit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FormTooLarge, match="metadata"):
        receive(body(part("metadata", b"{" * 2000)), tmp_path, max_field_bytes=1000)
    assert list(tmp_path.iterdir()) == []


def test_a_client_that_goes_away_leaves_nothing(tmp_path: Path) -> None:
    def broken() -> Iterable[bytes]:
        yield body(part("doc", b"y" * 3000, "doc.pdf"))[:2000]
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        receive(broken(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_content_type_without_boundary_is_malformed(tmp_path: Path) -> None:
    with pytest.raises(MalformedForm, match="boundary"):
        asyncio.run(
            receive_form(
                chunked(b"", 1),
                "multipart/form-data",
                tmp_path,
                max_bytes=10,
                field_names=(),
                max_field_bytes=10,
            )
        )
