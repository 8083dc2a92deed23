"""Streaming helpers: hash while copying, never hold a whole file in memory."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO

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


class HashingReader:
    """A read-only wrapper that computes SHA-256 and counts bytes of what is read through it."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        self._hash.update(data)
        self.size += len(data)
        return data

    def readable(self) -> bool:
        return True

    @property
    def sha256(self) -> str:
        """Lower-case hex digest of everything read so far."""
        return self._hash.hexdigest()


def sha256_of_stream(stream: BinaryIO) -> tuple[str, int]:
    """Return (lower-case hex SHA-256, size) of everything left in ``stream``."""
    digest = hashlib.sha256()
    size = 0
    for chunk in iter_chunks(stream):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def copy_with_sha256(src: BinaryIO, dst: BinaryIO) -> tuple[str, int]:
    """Copy ``src`` into ``dst``; return (lower-case hex SHA-256, size) of the bytes copied."""
    digest = hashlib.sha256()
    size = 0
    for chunk in iter_chunks(src):
        digest.update(chunk)
        dst.write(chunk)
        size += len(chunk)
    return digest.hexdigest(), size
