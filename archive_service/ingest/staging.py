"""The staging area: where a deposit's bytes wait between the upload and the archive.

An upload is streamed into ``upload-<random>.part`` while it is hashed and counted, then made
durable (``fsync``). Registering a deposit renames it to ``<deposit id>.zip`` (same directory,
hence same file system: the rename is atomic); the pipeline builds the AIP's XML files in
``<deposit id>.work/``. Both are removed once the deposit has reached its end.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from archive_service.streams import HashingWriter, iter_chunks

UPLOAD_PREFIX = "upload-"
UPLOAD_SUFFIX = ".part"
DEPOSIT_SUFFIX = ".zip"
WORK_SUFFIX = ".work"
#: The folder of a work folder that holds the copies of the package files the checks read.
COPIES_DIR = "copies"
#: How much of an upload is gathered before a worker thread hashes and writes it: a few thread
#: hops per upload instead of one per network read (the server hands over 64 KiB or less at a
#: time), while an upload of more than this is never held whole in memory.
WRITE_BATCH_BYTES = 256 * 1024


class UploadTooLarge(Exception):
    """The upload is larger than the service accepts; nothing of it was kept."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        super().__init__(f"Gói nộp lưu lớn hơn giới hạn {max_bytes} byte")


@dataclass(frozen=True)
class StagedFile:
    """A received file in the staging area, with the SHA-256 (lower-case hex) and size of it."""

    path: Path
    sha256: str
    size: int


def deposit_path(staging_dir: Path, deposit_id: str) -> Path:
    """Where the SIP of a registered deposit is kept until the deposit ends."""
    return staging_dir / f"{deposit_id}{DEPOSIT_SUFFIX}"


def work_path(staging_dir: Path, deposit_id: str) -> Path:
    """The folder in which the pipeline keeps a deposit's working files: the copies its checks
    read (``COPIES_DIR``), renditions, and the AIP's larger XML files."""
    return staging_dir / f"{deposit_id}{WORK_SUFFIX}"


def empty_work_folder(work: Path, keep: str) -> None:
    """Remove everything in ``work`` but its entry ``keep`` (``work`` is created if missing)."""
    work.mkdir(parents=True, exist_ok=True)
    for entry in work.iterdir():
        if entry.name == keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def new_upload_path(staging_dir: Path) -> Path:
    """A fresh, unused name for an upload in progress."""
    staging_dir.mkdir(parents=True, exist_ok=True)
    return staging_dir / f"{UPLOAD_PREFIX}{uuid.uuid4().hex}{UPLOAD_SUFFIX}"


class _Receiver:
    """Writes chunks into a new staging file, hashing and counting; removes it on failure."""

    def __init__(self, staging_dir: Path, max_bytes: int) -> None:
        self.path = new_upload_path(staging_dir)
        self.max_bytes = max_bytes
        self._file: BinaryIO = self.path.open("xb")
        self._writer = HashingWriter(self._file)

    def write(self, chunk: bytes) -> None:
        if self._writer.size + len(chunk) > self.max_bytes:
            raise UploadTooLarge(self.max_bytes)
        self._writer.write(chunk)

    def write_all(self, chunks: Sequence[bytes]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def finish(self, last: Sequence[bytes] = ()) -> StagedFile:
        """Write the ``last`` chunks, flush to disk and describe the file."""
        self.write_all(last)
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return StagedFile(self.path, self._writer.sha256, self._writer.size)

    def abort(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


async def stage_upload(
    chunks: AsyncIterator[bytes], staging_dir: Path, max_bytes: int
) -> StagedFile:
    """Stream an upload into the staging area, never more than about ``WRITE_BATCH_BYTES`` of
    it in memory: a worker thread hashes and writes each batch, the last one with the ``fsync``.

    Raises ``UploadTooLarge`` as soon as more than ``max_bytes`` arrived. On that or any other
    exception (the client went away) the partial file is removed before the error propagates.
    """
    receiver = await asyncio.to_thread(_Receiver, staging_dir, max_bytes)
    batch: list[bytes] = []
    batched = received = 0
    try:
        async for chunk in chunks:
            if not chunk:
                continue
            received += len(chunk)
            if received > max_bytes:
                raise UploadTooLarge(max_bytes)
            batch.append(chunk)
            batched += len(chunk)
            if batched >= WRITE_BATCH_BYTES:
                await asyncio.to_thread(receiver.write_all, batch)
                batch, batched = [], 0
        return await asyncio.to_thread(receiver.finish, batch)
    except BaseException:
        receiver.abort()
        raise


def stage_stream(stream: BinaryIO, staging_dir: Path, max_bytes: int) -> StagedFile:
    """``stage_upload`` for a synchronous stream (a local file, the command line)."""
    return stage_chunks(iter_chunks(stream), staging_dir, max_bytes)


def stage_chunks(chunks: Iterable[bytes], staging_dir: Path, max_bytes: int) -> StagedFile:
    """Write ``chunks`` into the staging area; same guarantees as ``stage_upload``."""
    receiver = _Receiver(staging_dir, max_bytes)
    try:
        for chunk in chunks:
            receiver.write(chunk)
        return receiver.finish()
    except BaseException:
        receiver.abort()
        raise


def discard(staged: StagedFile) -> None:
    """Remove a staged file (safe to call more than once)."""
    staged.path.unlink(missing_ok=True)


def remove_deposit_files(staging_dir: Path, deposit_id: str) -> None:
    """Remove the staged SIP and the work folder of a deposit (safe to call more than once)."""
    shutil.rmtree(work_path(staging_dir, deposit_id), ignore_errors=True)
    deposit_path(staging_dir, deposit_id).unlink(missing_ok=True)


def staged_deposit_ids(staging_dir: Path) -> set[str]:
    """Ids of the deposits that have a SIP or a work folder in the staging area."""
    if not staging_dir.is_dir():
        return set()
    found = set()
    for entry in staging_dir.iterdir():
        for suffix in (DEPOSIT_SUFFIX, WORK_SUFFIX):
            if entry.name.endswith(suffix) and not entry.name.startswith(UPLOAD_PREFIX):
                found.add(entry.name[: -len(suffix)])
    return found


def stale_uploads(staging_dir: Path, older_than: float) -> list[Path]:
    """Uploads (complete or not) last written before the time ``older_than`` (epoch seconds)."""
    if not staging_dir.is_dir():
        return []
    return [
        entry
        for entry in staging_dir.iterdir()
        if entry.name.startswith(UPLOAD_PREFIX) and entry.stat().st_mtime < older_than
    ]
