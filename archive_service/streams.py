"""Streaming helpers: hash while copying, never hold a whole file in memory."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, cast

CHUNK_SIZE = 1024 * 1024

Opener = Callable[[], AbstractContextManager[BinaryIO]]


@dataclass(frozen=True)
class FileSource:
    """A file that can be opened for reading as often as needed.

    ``size`` and ``sha256`` (lower-case hex) are given when already known, so that a
    writer can verify what it copies or skip content it already holds.
    """

    open: Opener
    size: int | None = None
    sha256: str | None = None


def iter_chunks(stream: BinaryIO, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield a stream's content in chunks until it is exhausted."""
    while chunk := stream.read(chunk_size):
        yield chunk


class _Sha256Tally:
    """SHA-256 and byte count of the data that passes through a stream wrapper."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0

    def _tally(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)

    @property
    def sha256(self) -> str:
        """Lower-case hex digest of everything that passed so far."""
        return self._hash.hexdigest()


class HashingReader(_Sha256Tally):
    """A read-only wrapper that computes SHA-256 and counts bytes of what is read through it."""

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__()
        self._stream = stream

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        self._tally(data)
        return data

    def readable(self) -> bool:
        return True


class HashingWriter(_Sha256Tally):
    """A write-only, non-seekable stream that hashes and counts what passes to ``target``.

    Being non-seekable makes ``zipfile`` stream every entry (data descriptors) instead of seeking
    back, so a ZIP written through it has the same bytes for a file, a socket or a pipe.
    """

    def __init__(self, target: BinaryIO) -> None:
        super().__init__()
        self._target: BinaryIO | None = target

    def detach(self) -> None:
        """Pass nothing more to the target (what is written afterwards is dropped)."""
        self._target = None

    def write(self, data: bytes) -> int:
        if self._target is not None:
            self._target.write(data)
            self._tally(data)
        return len(data)

    def tell(self) -> int:
        return self.size

    def seek(self, *args: object) -> int:
        raise OSError("not seekable")

    def close(self) -> None:
        """Nothing to release: the caller owns the target."""

    def flush(self) -> None:
        if self._target is not None:
            self._target.flush()


def bytes_source(data: bytes) -> FileSource:
    """A ``FileSource`` over bytes held in memory, with their size and SHA-256."""
    return FileSource(
        open=lambda: io.BytesIO(data), size=len(data), sha256=hashlib.sha256(data).hexdigest()
    )


def path_opener(path: Path) -> Opener:
    """An ``Opener`` that opens the file at ``path`` for binary reading."""

    def open_file() -> BinaryIO:
        return path.open("rb")

    return open_file


def sha256_of_stream(stream: BinaryIO) -> tuple[str, int]:
    """Return (lower-case hex SHA-256, size) of everything left in ``stream``."""
    reader = HashingReader(stream)
    for _ in iter_chunks(cast(BinaryIO, reader)):
        pass
    return reader.sha256, reader.size


def measured_source(source: FileSource) -> FileSource:
    """``source`` with its size and SHA-256 (lower-case), streamed once when either is missing."""
    if source.size is not None and source.sha256 is not None:
        return replace(source, sha256=source.sha256.lower())
    with source.open() as stream:
        sha256, size = sha256_of_stream(stream)
    return replace(source, size=size, sha256=sha256)


def copy_with_sha256(src: BinaryIO, dst: BinaryIO) -> tuple[str, int]:
    """Copy ``src`` into ``dst``; return (lower-case hex SHA-256, size) of the bytes copied."""
    writer = HashingWriter(dst)
    for chunk in iter_chunks(src):
        writer.write(chunk)
    return writer.sha256, writer.size
