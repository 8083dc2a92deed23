"""The staging area: uploads are hashed on the way in, made durable, and never left half."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from archive_service.ingest.staging import (
    StagedFile,
    UploadTooLarge,
    deposit_path,
    discard,
    remove_deposit_files,
    stage_stream,
    stage_upload,
    staged_deposit_ids,
    stale_uploads,
    work_path,
)


async def chunks_of(parts: Iterable[bytes], fail_after: int | None = None) -> AsyncIterator[bytes]:
    for index, part in enumerate(parts):
        if fail_after is not None and index == fail_after:
            raise ConnectionResetError("client went away")
        yield part


def stage(parts: list[bytes], staging: Path, max_bytes: int, fail_after: int | None = None):
    return asyncio.run(stage_upload(chunks_of(parts, fail_after), staging, max_bytes))


def test_an_upload_is_staged_with_its_sha256_and_size(tmp_path: Path) -> None:
    parts = [b"PK\x03\x04", b"x" * 100_000, b"", "Hồ sơ".encode()]
    staged = stage(parts, tmp_path / "staging", max_bytes=1_000_000)

    data = b"".join(parts)
    assert staged.path.parent == tmp_path / "staging"
    assert staged.path.read_bytes() == data
    assert (staged.sha256, staged.size) == (hashlib.sha256(data).hexdigest(), len(data))


def test_an_upload_over_the_limit_is_refused_and_removed(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    with pytest.raises(UploadTooLarge) as refused:
        stage([b"a" * 60, b"b" * 60], staging, max_bytes=100)
    assert refused.value.max_bytes == 100
    assert list(staging.iterdir()) == []


def test_an_upload_of_exactly_the_limit_is_accepted(tmp_path: Path) -> None:
    assert stage([b"a" * 60, b"b" * 40], tmp_path, max_bytes=100).size == 100


def test_an_interrupted_upload_leaves_nothing(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    with pytest.raises(ConnectionResetError):
        stage([b"a" * 10, b"b" * 10, b"c"], staging, max_bytes=1000, fail_after=2)
    assert list(staging.iterdir()) == []


def test_a_stream_is_staged_like_an_upload_and_discarded_once_or_twice(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000
    staged = stage_stream(io.BytesIO(data), tmp_path, max_bytes=len(data))
    assert staged == StagedFile(staged.path, hashlib.sha256(data).hexdigest(), len(data))
    with pytest.raises(UploadTooLarge):
        stage_stream(io.BytesIO(data), tmp_path, max_bytes=len(data) - 1)
    assert [p.name for p in tmp_path.iterdir()] == [staged.path.name]
    discard(staged)
    discard(staged)
    assert list(tmp_path.iterdir()) == []


def test_deposit_files_are_found_and_removed_by_deposit_id(tmp_path: Path) -> None:
    deposit_path(tmp_path, "d1").write_bytes(b"sip")
    (work_path(tmp_path, "d1") / "urn_G09_x").mkdir(parents=True)
    (work_path(tmp_path, "d2")).mkdir()
    upload = stage_stream(io.BytesIO(b"upload"), tmp_path, max_bytes=100)

    assert staged_deposit_ids(tmp_path) == {"d1", "d2"}
    assert stale_uploads(tmp_path, older_than=0) == []
    assert stale_uploads(tmp_path, older_than=upload.path.stat().st_mtime + 1) == [upload.path]
    remove_deposit_files(tmp_path, "d1")
    remove_deposit_files(tmp_path, "d1")
    assert staged_deposit_ids(tmp_path) == {"d2"}
