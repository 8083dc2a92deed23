"""Receive a ``multipart/form-data`` body as it streams in: files to disk, small fields in memory.

Each file part is written to its own file in a fresh folder under the staging directory,
hashed (SHA-256) and counted on the way; the parts named as fields (the ``metadata`` JSON) are
kept in memory up to a limit. Nothing is ever held whole in memory. On any failure — a malformed
body, a body over the limit, a client that goes away — the folder is removed before the error
propagates, so a refused upload leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import anyio
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from archive_service.streams import FileSource

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

FORM_FOLDER_PREFIX = "form-"


class MalformedForm(Exception):
    """The body is not a well-formed ``multipart/form-data`` message of the expected shape."""


class FormTooLarge(Exception):
    """The body is larger than allowed (or a field part is larger than its limit)."""


@dataclass(frozen=True)
class ReceivedFile:
    """A file part as written to disk: form part name, client file name, size and SHA-256."""

    name: str
    filename: str | None
    path: Path
    size: int
    sha256: str

    def source(self) -> FileSource:
        """The stored bytes, openable as often as needed."""
        return FileSource(open=lambda: self.path.open("rb"), size=self.size, sha256=self.sha256)


@dataclass
class ReceivedForm:
    """What a form held: its text fields (bytes) and its files (on disk, in ``folder``)."""

    folder: Path
    fields: dict[str, bytes] = field(default_factory=dict)
    files: dict[str, ReceivedFile] = field(default_factory=dict)

    def discard(self) -> None:
        """Remove the received files (safe to call more than once)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def form_boundary(content_type: str) -> bytes:
    """The boundary of a ``multipart/form-data`` content type; ``MalformedForm`` without one."""
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise MalformedForm("Tiêu đề Content-Type multipart/form-data thiếu tham số boundary.")
    return boundary


async def receive_form(
    chunks: AsyncIterator[bytes],
    content_type: str,
    staging_dir: Path,
    *,
    max_bytes: int,
    field_names: Collection[str],
    max_field_bytes: int,
) -> ReceivedForm:
    """Read the whole form from ``chunks``; parts named in ``field_names`` stay in memory.

    Raises ``MalformedForm`` (no boundary, bad syntax, truncated body, a part without a name,
    two parts with one name) and ``FormTooLarge`` (more than ``max_bytes`` in all, or a field over
    ``max_field_bytes``); any exception removes what was written.
    """
    boundary = form_boundary(content_type)
    folder = staging_dir / f"{FORM_FOLDER_PREFIX}{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    form = ReceivedForm(folder)
    builder = _FormBuilder(form, set(field_names), max_field_bytes)
    parser = MultipartParser(boundary, builder.callbacks())
    received = 0
    try:
        async for chunk in chunks:
            received += len(chunk)
            if received > max_bytes:
                raise FormTooLarge(f"Dữ liệu gửi lên vượt quá {max_bytes} byte.")
            await anyio.to_thread.run_sync(_feed, parser, chunk)
        if not builder.ended:
            raise MalformedForm("Thân yêu cầu multipart bị cắt cụt: thiếu ranh giới kết thúc.")
    except BaseException:
        builder.abort()
        form.discard()
        raise
    return form


def _feed(parser: MultipartParser, chunk: bytes) -> None:
    try:
        parser.write(chunk)
    except FormParserError as exc:
        raise MalformedForm(f"Thân yêu cầu multipart không đúng cú pháp: {exc}") from exc


class _FormBuilder:
    """Callbacks of the streaming parser: collect headers, route part data to memory or disk."""

    def __init__(self, form: ReceivedForm, field_names: set[str], max_field_bytes: int) -> None:
        self._form = form
        self._field_names = field_names
        self._max_field_bytes = max_field_bytes
        self._headers: dict[str, str] = {}
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._name = ""
        self._filename: str | None = None
        self._buffer: bytearray | None = None
        self._file: BinaryIO | None = None
        self._path: Path | None = None
        self._hash = hashlib.sha256()
        self._size = 0
        self.ended = False

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._on_part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
            "on_end": self._on_end,
        }

    def _on_part_begin(self) -> None:
        self._headers = {}

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        name = self._header_name.decode("latin-1").strip().lower()
        self._headers[name] = self._header_value.decode("utf-8", errors="replace").strip()
        self._header_name.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        self._name, self._filename = _disposition(self._headers.get("content-disposition"))
        if self._name in self._form.fields or self._name in self._form.files:
            raise MalformedForm(f"Phần '{self._name}' xuất hiện hai lần trong biểu mẫu.")
        self._size = 0
        if self._name in self._field_names:
            self._buffer = bytearray()
            return
        self._hash = hashlib.sha256()
        self._path = self._form.folder / f"part-{len(self._form.files) + 1:05d}"
        self._file = self._path.open("xb")

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        piece = data[start:end]
        self._size += len(piece)
        if self._buffer is not None:
            if self._size > self._max_field_bytes:
                raise FormTooLarge(
                    f"Phần '{self._name}' vượt quá {self._max_field_bytes} byte cho phép."
                )
            self._buffer += piece
        elif self._file is not None:
            self._hash.update(piece)
            self._file.write(piece)

    def _on_part_end(self) -> None:
        if self._buffer is not None:
            self._form.fields[self._name] = bytes(self._buffer)
            self._buffer = None
        elif self._file is not None and self._path is not None:
            self._file.close()
            self._file = None
            self._form.files[self._name] = ReceivedFile(
                self._name, self._filename, self._path, self._size, self._hash.hexdigest()
            )

    def _on_end(self) -> None:
        self.ended = True

    def abort(self) -> None:
        """Close a file left open by an interrupted part."""
        if self._file is not None:
            self._file.close()
            self._file = None


def _disposition(header: str | None) -> tuple[str, str | None]:
    """The ``name`` and ``filename`` of a part's ``Content-Disposition: form-data`` header."""
    if not header:
        raise MalformedForm("Một phần của biểu mẫu thiếu tiêu đề Content-Disposition.")
    message = Message()
    message["content-disposition"] = header
    if message.get_content_disposition() != "form-data":
        raise MalformedForm(f"Content-Disposition '{header}' không phải form-data.")
    name = message.get_param("name", header="content-disposition")
    if not isinstance(name, str) or not name:
        raise MalformedForm("Một phần của biểu mẫu không có tên (name) trong Content-Disposition.")
    return name, message.get_filename()
