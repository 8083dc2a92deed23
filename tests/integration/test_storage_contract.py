"""The ObjectStore contract, run against the filesystem store and every S3 test server."""

from __future__ import annotations

import base64
import ctypes
import errno
import fcntl
import hashlib
import io
import os
import random
import re
import sqlite3
import stat
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from minio.error import S3Error

from archive_service.storage import filesystem
from archive_service.storage.base import (
    ChecksumMismatch,
    ObjectLocked,
    ObjectNotFound,
    ObjectStore,
    PutResult,
    Retention,
    RetentionMode,
    StorageError,
    StorageUnavailable,
)
from archive_service.storage.factory import open_store
from archive_service.storage.filesystem import TEMP_SUFFIX, FilesystemStore
from archive_service.storage.s3 import MIN_PART_SIZE, S3Store, ensure_bucket, make_client
from archive_service.storage.sidecar import DATABASE_NAME
from archive_service.storage.validation import InvalidKey
from tests.file_system_flush import flush_file_system
from tests.s3server.servers import S3Server, closed_port

MiB = 1024 * 1024
LARGE = 20 * MiB  # four 5 MiB parts on S3
VIETNAMESE_KEY = "Hồ sơ/Quyết định số 12 – cấp phép xây dựng/Tài liệu đính kèm.pdf"
VIETNAMESE_METADATA = {
    "title": "Quyết định về việc cấp giấy phép xây dựng nhà ở riêng lẻ",
    "note": "100% bản chính; a=b&c, “ngoặc kép”",
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def noise(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def put_bytes(store: ObjectStore, key: str, data: bytes, **options: Any) -> PutResult:
    return store.put(key, io.BytesIO(data), size=len(data), **options)


def read(store: ObjectStore, key: str, **options: Any) -> bytes:
    with store.open(key, **options) as stream:
        return stream.read()


def later(days: int = 1) -> datetime:
    """A whole-second future instant (some servers keep lock dates to the second)."""
    return datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)


class TrickleStream:
    """A non-seekable stream with short reads, like a socket or a decompressor."""

    def __init__(self, data: bytes, step: int = 65_537, fail_after: int | None = None) -> None:
        self._data = data
        self._position = 0
        self._step = step
        self._fail_after = fail_after

    def read(self, n: int = -1) -> bytes:
        if self._fail_after is not None and self._position >= self._fail_after:
            raise OSError("source went away")
        n = self._step if n < 0 else min(n, self._step)
        chunk = self._data[self._position : self._position + n]
        self._position += len(chunk)
        return chunk

    def seekable(self) -> bool:
        return False


# Round trips


def test_put_then_open_returns_the_bytes_digest_and_size(store: ObjectStore) -> None:
    data = b"Bi\xc3\xaan b\xe1\xba\xa3n b\xc3\xa0n giao\n" * 100
    result = put_bytes(store, "objects/a/v1/content/file.txt", data)
    assert (result.key, result.size, result.sha256) == (
        "objects/a/v1/content/file.txt",
        len(data),
        sha256(data),
    )
    assert read(store, "objects/a/v1/content/file.txt") == data


def test_zero_byte_object(store: ObjectStore) -> None:
    result = put_bytes(store, "empty", b"")
    assert (result.size, result.sha256) == (0, sha256(b""))
    assert read(store, "empty") == b""
    assert store.stat("empty").size == 0


def test_large_object_is_streamed_and_verified(store: ObjectStore) -> None:
    data = noise(LARGE)
    result = put_bytes(store, "big.bin", data, expected_sha256=sha256(data))
    assert (result.size, result.sha256) == (LARGE, sha256(data))
    digest = hashlib.sha256()
    with store.open("big.bin") as stream:
        while chunk := stream.read(MiB):
            digest.update(chunk)
    assert digest.hexdigest() == sha256(data)
    assert store.stat("big.bin").sha256 == sha256(data)


def test_stream_of_unknown_size_and_digest(store: ObjectStore) -> None:
    data = noise(MIN_PART_SIZE + 12_345, seed=3)
    result = store.put("unknown.bin", TrickleStream(data))  # type: ignore[arg-type]
    assert (result.size, result.sha256) == (len(data), sha256(data))
    assert store.stat("unknown.bin").sha256 == sha256(data)
    assert read(store, "unknown.bin") == data


def test_overwrite_makes_the_new_content_current(store: ObjectStore) -> None:
    put_bytes(store, "k", b"first")
    put_bytes(store, "k", b"second")
    assert read(store, "k") == b"second"
    assert store.stat("k").sha256 == sha256(b"second")


# Range reads


@pytest.mark.parametrize(
    ("start", "length", "expected"),
    [
        (0, 4, b"0123"),
        (3, 4, b"3456"),
        (7, None, b"789"),
        (8, 100, b"89"),
        (5, 0, b""),
        (10, None, b""),
        (10, 5, b""),
        (25, None, b""),
    ],
)
def test_range_reads(store: ObjectStore, start: int, length: int | None, expected: bytes) -> None:
    put_bytes(store, "digits", b"0123456789")
    assert read(store, "digits", start=start, length=length) == expected


def test_negative_ranges_are_refused(store: ObjectStore) -> None:
    put_bytes(store, "digits", b"0123456789")
    with pytest.raises(ValueError):
        store.open("digits", start=-1)
    with pytest.raises(ValueError):
        store.open("digits", length=-1)


# Describing and listing


def test_stat_and_exists(store: ObjectStore) -> None:
    data = b"content"
    result = put_bytes(store, "dir/file", data, metadata={"dossier": "G09.01-2025-000123"})
    info = store.stat("dir/file")
    assert (info.key, info.size, info.sha256) == ("dir/file", len(data), sha256(data))
    assert info.version_id == result.version_id
    assert info.metadata == {"dossier": "G09.01-2025-000123"}
    assert info.last_modified is not None and info.last_modified.tzinfo is not None
    assert (info.retention, info.legal_hold) == (None, False)
    assert store.exists("dir/file")
    assert not store.exists("dir/fil")
    assert not store.exists("dir")


def test_list_is_sorted_and_respects_prefix_boundaries(store: ObjectStore) -> None:
    keys = ["z", "a/bc", "a-c", "a/b/d", "Ă", "a0", "a/b/c", "đ/x", "ab", "a/b/e/f"]
    for key in keys:
        put_bytes(store, key, key.encode())

    def listed(prefix: str) -> list[str]:
        return [info.key for info in store.list(prefix)]

    assert listed("") == sorted(keys)
    assert listed("a/b") == ["a/b/c", "a/b/d", "a/b/e/f", "a/bc"]
    assert listed("a/b/") == ["a/b/c", "a/b/d", "a/b/e/f"]
    assert listed("a") == ["a-c", "a/b/c", "a/b/d", "a/b/e/f", "a/bc", "a0", "ab"]
    assert listed("Ă") == ["Ă"]
    assert listed("đ/") == ["đ/x"]
    assert listed("q") == []
    assert listed("../") == []
    assert listed("a/b/e/f/") == []
    sizes = {info.key: info.size for info in store.list()}
    assert sizes == {key: len(key.encode()) for key in keys}


def test_vietnamese_keys_and_metadata(store: ObjectStore) -> None:
    data = "Nội dung tài liệu".encode()
    put_bytes(store, VIETNAMESE_KEY, data, metadata=VIETNAMESE_METADATA)
    assert read(store, VIETNAMESE_KEY) == data
    info = store.stat(VIETNAMESE_KEY)
    assert info.metadata == VIETNAMESE_METADATA
    assert info.sha256 == sha256(data)
    assert [i.key for i in store.list("Hồ sơ/")] == [VIETNAMESE_KEY]


@pytest.mark.parametrize("name", ["Title", "sha256", "x_y", "", "tên"])
def test_bad_metadata_names_are_refused(store: ObjectStore, name: str) -> None:
    with pytest.raises(ValueError):
        put_bytes(store, "k", b"x", metadata={name: "v"})
    assert not store.exists("k")


# Integrity of uploads


@pytest.mark.parametrize("size", [1000, MIN_PART_SIZE + 1], ids=["single-part", "multipart"])
def test_expected_sha256_mismatch_keeps_nothing(store: ObjectStore, size: int) -> None:
    data = noise(size, seed=11)
    wrong = sha256(data + b"!")
    with pytest.raises(ChecksumMismatch):
        put_bytes(store, "bad/object", data, expected_sha256=wrong)
    assert not store.exists("bad/object")
    assert list(store.list_versions()) == []


def test_mismatch_leaves_the_previous_content_current(store: ObjectStore) -> None:
    put_bytes(store, "k", b"good")
    with pytest.raises(ChecksumMismatch):
        put_bytes(store, "k", b"evil", expected_sha256=sha256(b"good"))
    assert read(store, "k") == b"good"


@pytest.mark.parametrize("declared", [5, 7])
def test_size_mismatch_keeps_nothing(store: ObjectStore, declared: int) -> None:
    with pytest.raises(ChecksumMismatch):
        store.put("k", io.BytesIO(b"123456"), size=declared)
    assert not store.exists("k")


def test_expected_sha256_in_upper_case_is_accepted(store: ObjectStore) -> None:
    result = put_bytes(store, "k", b"abc", expected_sha256=sha256(b"abc").upper())
    assert result.sha256 == sha256(b"abc")


def test_failing_source_keeps_nothing(store: ObjectStore) -> None:
    stream = TrickleStream(noise(LARGE), fail_after=7 * MiB)
    with pytest.raises(OSError, match="source went away"):
        store.put("k", stream, size=LARGE, expected_sha256="0" * 64)  # type: ignore[arg-type]
    assert not store.exists("k")
    assert list(store.list_versions()) == []


# Keys


BAD_KEYS = ["", "/abs", "a//b", "a/", "a/../b", "..", "a/./b", "a\\b", "a\x00b", "a\nb", "é" * 600]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        put_bytes(store, key, b"x")
    for call in (store.stat, store.exists, store.open, store.delete):
        with pytest.raises(InvalidKey):
            call(key)
    assert list(store.list()) == []


# Deletion and absence


def test_delete_removes_the_object(store: ObjectStore) -> None:
    put_bytes(store, "dir/sub/k", b"x")
    put_bytes(store, "dir/other", b"y")
    store.delete("dir/sub/k")
    assert not store.exists("dir/sub/k")
    assert [i.key for i in store.list()] == ["dir/other"]
    assert list(store.list_versions("dir/sub/")) == []


def test_missing_keys_and_versions_are_not_found(store: ObjectStore) -> None:
    result = put_bytes(store, "present", b"x")
    absent: list[Callable[[], object]] = [
        lambda: store.stat("absent"),
        lambda: store.open("absent").__enter__(),
        lambda: store.delete("absent"),
        lambda: store.set_legal_hold("absent", True),
        lambda: store.set_retention("absent", Retention(RetentionMode.GOVERNANCE, later())),
        lambda: store.stat("present", version_id="no-such-version"),
        lambda: store.open("present", version_id="no-such-version").__enter__(),
        lambda: store.delete("present", version_id="no-such-version"),
        lambda: store.set_legal_hold("present", True, version_id="no-such-version"),
        lambda: store.set_retention(
            "present", Retention(RetentionMode.GOVERNANCE, later()), version_id="no-such-version"
        ),
        lambda: store.set_retention(
            "absent", Retention(RetentionMode.GOVERNANCE, later()), version_id=result.version_id
        ),
    ]
    for call in absent:
        with pytest.raises(ObjectNotFound):
            call()
    assert store.stat("present").version_id == result.version_id


# Object Lock (enforced by the server on S3, by the adapter on the filesystem)


def test_compliance_retention_forbids_delete_and_shortening(store: ObjectStore) -> None:
    until = later(days=2)
    compliance = Retention(RetentionMode.COMPLIANCE, until)
    result = put_bytes(store, "kept", b"record", retention=compliance)
    version = result.version_id

    info = store.stat("kept", version_id=version)
    assert info.retention == compliance
    for bypass in (False, True):
        with pytest.raises(ObjectLocked):
            store.delete("kept", version_id=version, bypass_governance=bypass)
    shorter = Retention(RetentionMode.COMPLIANCE, until - timedelta(days=1))
    weaker = Retention(RetentionMode.GOVERNANCE, until + timedelta(days=1))
    for attempt in (shorter, weaker):
        for bypass in (False, True):
            with pytest.raises(ObjectLocked):
                store.set_retention("kept", attempt, version_id=version, bypass_governance=bypass)
    longer = Retention(RetentionMode.COMPLIANCE, until + timedelta(days=30))
    store.set_retention("kept", longer, version_id=version)
    assert store.stat("kept", version_id=version).retention == longer
    assert read(store, "kept") == b"record"


def test_governance_retention_yields_only_to_bypass(store: ObjectStore) -> None:
    until = later()
    governance = Retention(RetentionMode.GOVERNANCE, until)
    result = put_bytes(store, "kept", b"record", retention=governance)
    version = result.version_id
    assert store.stat("kept", version_id=version).retention == governance

    with pytest.raises(ObjectLocked):
        store.delete("kept", version_id=version)
    shorter = Retention(RetentionMode.GOVERNANCE, until - timedelta(hours=12))
    with pytest.raises(ObjectLocked):
        store.set_retention("kept", shorter, version_id=version)
    store.set_retention("kept", shorter, version_id=version, bypass_governance=True)
    assert store.stat("kept", version_id=version).retention == shorter

    store.delete("kept", version_id=version, bypass_governance=True)
    assert not store.exists("kept")


def test_legal_hold_forbids_delete_until_lifted(store: ObjectStore) -> None:
    result = put_bytes(store, "held", b"record", legal_hold=True)
    version = result.version_id
    assert store.stat("held", version_id=version).legal_hold
    with pytest.raises(ObjectLocked):
        store.delete("held", version_id=version, bypass_governance=True)

    store.set_legal_hold("held", False, version_id=version)
    assert not store.stat("held", version_id=version).legal_hold
    store.delete("held", version_id=version)
    assert not store.exists("held")


def test_locks_set_after_upload(store: ObjectStore) -> None:
    version = put_bytes(store, "later", b"record").version_id
    store.set_legal_hold("later", True, version_id=version)
    store.set_retention("later", Retention(RetentionMode.GOVERNANCE, later()), version_id=version)
    with pytest.raises(ObjectLocked):
        store.delete("later", version_id=version, bypass_governance=True)
    store.set_legal_hold("later", False, version_id=version)
    with pytest.raises(ObjectLocked):
        store.delete("later", version_id=version)
    store.delete("later", version_id=version, bypass_governance=True)


def test_large_upload_is_locked_too(store: ObjectStore) -> None:
    data = noise(MIN_PART_SIZE + 1)
    compliance = Retention(RetentionMode.COMPLIANCE, later())
    result = put_bytes(
        store, "big", data, expected_sha256=sha256(data), retention=compliance, legal_hold=True
    )
    info = store.stat("big", version_id=result.version_id)
    assert (info.retention, info.legal_hold, info.sha256) == (compliance, True, sha256(data))


def test_retention_dates_must_be_in_the_future(store: ObjectStore) -> None:
    past = Retention(RetentionMode.GOVERNANCE, datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(ValueError):
        put_bytes(store, "k", b"x", retention=past)
    assert not store.exists("k")
    put_bytes(store, "k", b"x")
    with pytest.raises(ValueError):
        store.set_retention("k", past)


# Capabilities and health


def test_capabilities_and_check(store: ObjectStore) -> None:
    capabilities = store.capabilities
    assert (capabilities.object_lock, capabilities.legal_hold) == (True, True)
    assert capabilities.versioning == isinstance(store, S3Store)
    store.check()


# S3 only


def test_versions_are_kept_on_overwrite(s3_store: S3Store) -> None:
    first = put_bytes(s3_store, "doc", b"one")
    second = put_bytes(s3_store, "doc", b"two")
    other = put_bytes(s3_store, "doc2", b"other")
    assert first.version_id and second.version_id and first.version_id != second.version_id
    versions = [(i.key, i.version_id, i.size) for i in s3_store.list_versions("doc")]
    assert versions == [
        ("doc", second.version_id, 3),
        ("doc", first.version_id, 3),
        ("doc2", other.version_id, 5),
    ]
    assert read(s3_store, "doc", version_id=first.version_id) == b"one"
    assert s3_store.stat("doc", version_id=first.version_id).sha256 == sha256(b"one")

    s3_store.delete("doc")  # the latest version, for good: the previous one is current again
    assert read(s3_store, "doc") == b"one"
    assert [i.version_id for i in s3_store.list_versions("doc") if i.key == "doc"] == [
        first.version_id
    ]


def test_locked_version_stays_when_a_new_one_is_written(s3_store: S3Store) -> None:
    locked = put_bytes(s3_store, "doc", b"one", legal_hold=True)
    put_bytes(s3_store, "doc", b"two")
    with pytest.raises(ObjectLocked):
        s3_store.delete("doc", version_id=locked.version_id, bypass_governance=True)
    assert read(s3_store, "doc", version_id=locked.version_id) == b"one"


def test_server_checksum_capability_is_truthful(s3_server: S3Server, s3_store: S3Store) -> None:
    data = b"bytes as sent"
    corrupted_claim = base64.b64encode(hashlib.sha256(b"other bytes").digest()).decode()

    def upload() -> None:
        s3_server.client().put_object(
            s3_store.bucket,
            "corrupted",
            io.BytesIO(data),
            len(data),
            metadata={"x-amz-checksum-sha256": corrupted_claim},
        )

    if s3_store.capabilities.server_checksum:
        with pytest.raises(S3Error):
            upload()
        assert not s3_store.exists("corrupted")
    else:
        upload()
        assert s3_store.exists("corrupted")


def test_unreachable_s3_endpoint_is_unavailable() -> None:
    with closed_port() as sock:
        endpoint = f"127.0.0.1:{sock.getsockname()[1]}"
        client = make_client(endpoint, "key", "secret", region="us-east-1", retries=1)
        store = S3Store(client, "archive")
        calls: list[Callable[[], object]] = [
            store.check,
            lambda: store.stat("k"),
            lambda: store.exists("k"),
            lambda: put_bytes(store, "k", b"x"),
            lambda: list(store.list()),
            lambda: store.capabilities,
        ]
        for call in calls:
            with pytest.raises(StorageUnavailable):
                call()


def test_ensure_bucket_is_idempotent_and_refuses_a_bucket_without_lock(
    s3_server: S3Server, s3_store: S3Store
) -> None:
    client = s3_server.client()
    ensure_bucket(client, s3_store.bucket)
    assert S3Store(client, s3_store.bucket).capabilities.versioning
    plain = f"{s3_store.bucket}-plain"
    client.make_bucket(plain)
    try:
        with pytest.raises(StorageError, match="without Object Lock"):
            ensure_bucket(client, plain)
        capabilities = S3Store(client, plain).capabilities
        assert (capabilities.versioning, capabilities.object_lock) == (False, False)
    finally:
        client.remove_bucket(plain)


def test_open_store_builds_both_backends(
    s3_server: S3Server, s3_store: S3Store, tmp_path: Any
) -> None:
    on_disk = open_store((tmp_path / "root").as_uri())
    assert isinstance(on_disk, FilesystemStore) and on_disk.root == tmp_path / "root"
    on_s3 = open_store(
        f"s3://{s3_store.bucket}",
        endpoint=s3_server.endpoint,
        access_key=s3_server.access_key,
        secret_key=s3_server.secret_key,
        region=s3_server.region,
    )
    put_bytes(on_s3, "k", b"through the factory")
    assert read(s3_store, "k") == b"through the factory"


@pytest.mark.parametrize(
    "url", ["file://relative/path", "file:///", "s3://", "s3://bucket/prefix", "http://x", "/abs"]
)
def test_open_store_refuses_other_urls(url: str) -> None:
    with pytest.raises(ValueError):
        open_store(url, endpoint="127.0.0.1:9")


# Filesystem only


def test_filesystem_tree_holds_only_the_objects(fs_store: FilesystemStore) -> None:
    put_bytes(
        fs_store,
        "o/v1/content/a.txt",
        b"a",
        metadata={"title": "x"},
        retention=Retention(RetentionMode.GOVERNANCE, later()),
        legal_hold=True,
    )
    put_bytes(fs_store, "o/inventory.json", b"{}")
    with pytest.raises(ChecksumMismatch):
        put_bytes(fs_store, "o/v2/content/b.txt", b"b", expected_sha256="0" * 64)
    files = sorted(
        str(path.relative_to(fs_store.root)) for path in fs_store.root.rglob("*") if path.is_file()
    )
    assert files == ["o/inventory.json", "o/v1/content/a.txt"]
    assert not (fs_store.root / "o" / "v2").exists()


def test_filesystem_locked_files_are_read_only_and_not_replaced(fs_store: FilesystemStore) -> None:
    put_bytes(fs_store, "held", b"original", legal_hold=True)
    mode = stat.S_IMODE(os.stat(fs_store.root / "held").st_mode)
    assert mode & 0o222 == 0
    with pytest.raises(ObjectLocked):
        put_bytes(fs_store, "held", b"replacement")
    assert read(fs_store, "held") == b"original"
    assert sorted(p.name for p in fs_store.root.iterdir()) == ["held"]


def test_filesystem_file_and_directory_names_cannot_clash(fs_store: FilesystemStore) -> None:
    put_bytes(fs_store, "a/b", b"file")
    put_bytes(fs_store, "c/d/e", b"file")
    with pytest.raises(StorageError):
        put_bytes(fs_store, "a/b/c", b"x")
    with pytest.raises(StorageError):
        put_bytes(fs_store, "c/d", b"x")
    assert [i.key for i in fs_store.list()] == ["a/b", "c/d/e"]


def test_filesystem_delete_sweeps_what_dead_writers_left(fs_store: FilesystemStore) -> None:
    put_bytes(fs_store, "o/v2/content/a", b"a")
    content = fs_store.root / "o" / "v2" / "content"
    (content / f"dead{TEMP_SUFFIX}").write_bytes(b"half of a file")  # its writer was killed
    live = os.open(content / f"live{TEMP_SUFFIX}", os.O_WRONLY | os.O_CREAT)
    try:
        fcntl.flock(live, fcntl.LOCK_EX)  # as a writer still at work holds it
        assert [i.key for i in fs_store.list()] == ["o/v2/content/a"]
        fs_store.delete("o/v2/content/a")
        assert sorted(p.name for p in content.iterdir()) == [f"live{TEMP_SUFFIX}"]
    finally:
        os.close(live)
    put_bytes(fs_store, "o/v2/content/b", b"b")
    fs_store.delete("o/v2/content/b")
    assert list(fs_store.root.iterdir()) == []


@pytest.fixture(params=[128, 1], ids=["one-transaction", "one-directory-each"])
def batching_store(
    fs_store: FilesystemStore, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> FilesystemStore:
    """The filesystem store, its batches of locks spanning ``request.param`` directories."""
    monkeypatch.setattr(filesystem, "_DIRECTORIES_PER_BATCH", request.param)
    return fs_store


def test_filesystem_locks_many_keys_in_one_batch(batching_store: FilesystemStore) -> None:
    fs_store = batching_store
    keys = ["o/v1/content/a", "p/x", "o/v1/content/b", "o/v1/inventory.json", "q/y"]
    for key in keys:
        put_bytes(fs_store, key, key.encode(), metadata={"title": "hồ sơ"})
    wanted = Retention(RetentionMode.COMPLIANCE, later(30))

    assert fs_store.set_retention_many(keys, wanted, durable=False) == ()
    fs_store.sync_metadata()

    for key in keys:
        info = fs_store.stat(key)
        assert (info.retention, info.metadata, info.sha256) == (
            wanted,
            {"title": "hồ sơ"},
            sha256(key.encode()),
        )
        assert stat.S_IMODE(os.stat(fs_store.root / key).st_mode) & 0o222 == 0
        with pytest.raises(ObjectLocked):
            fs_store.delete(key)
    # The same lock again, or a longer one, is no change the rules forbid.
    longer = Retention(RetentionMode.COMPLIANCE, later(60))
    assert fs_store.set_retention_many(keys, longer) == ()
    assert {fs_store.stat(key).retention for key in keys} == {longer}


def test_filesystem_batch_leaves_the_keys_a_lock_protects_and_says_which(
    batching_store: FilesystemStore,
) -> None:
    fs_store = batching_store
    keys = ["a/free", "b/kept", "c/held", "d/governed", "e/free"]
    for key in keys:
        put_bytes(fs_store, key, b"x")
    kept = Retention(RetentionMode.COMPLIANCE, later(60))
    governed = Retention(RetentionMode.GOVERNANCE, later(60))
    fs_store.set_retention("b/kept", kept)
    fs_store.set_retention("d/governed", governed)
    fs_store.set_legal_hold("c/held", True)
    shorter = Retention(RetentionMode.COMPLIANCE, later(30))

    assert fs_store.set_retention_many(keys, shorter) == ("b/kept", "d/governed")

    assert (fs_store.stat("b/kept").retention, fs_store.stat("d/governed").retention) == (
        kept,
        governed,
    )
    assert [fs_store.stat(key).retention for key in ("a/free", "e/free")] == [shorter, shorter]
    held = fs_store.stat("c/held")
    assert (held.retention, held.legal_hold) == (shorter, True)  # a hold is no retention
    # GOVERNANCE shortened is refused too: a batch never bypasses a lock.
    shorter_governance = Retention(RetentionMode.GOVERNANCE, later(30))
    assert fs_store.set_retention_many(["d/governed"], shorter_governance) == ("d/governed",)
    assert fs_store.stat("d/governed").retention == governed


def test_filesystem_batch_with_an_absent_key_or_a_past_date_changes_nothing(
    fs_store: FilesystemStore,
) -> None:
    put_bytes(fs_store, "a/one", b"1")
    put_bytes(fs_store, "b/two", b"2")
    with pytest.raises(ObjectNotFound):
        fs_store.set_retention_many(
            ["a/one", "b/absent", "b/two"], Retention(RetentionMode.GOVERNANCE, later())
        )
    with pytest.raises(ValueError):
        fs_store.set_retention_many(
            ["a/one"], Retention(RetentionMode.GOVERNANCE, datetime.now(UTC) - timedelta(days=1))
        )
    with pytest.raises(InvalidKey):
        fs_store.set_retention_many(["a/one", "../b"], Retention(RetentionMode.GOVERNANCE, later()))
    assert [fs_store.stat(key).retention for key in ("a/one", "b/two")] == [None, None]
    assert sidecar_records(fs_store) == []
    fs_store.delete("a/one")  # still free to go


def test_filesystem_check_needs_the_root(tmp_path: Any) -> None:
    store = FilesystemStore(tmp_path / "missing")
    with pytest.raises(StorageUnavailable):
        store.check()
    put_bytes(store, "k", b"x")  # the first put creates the root
    store.check()


def sidecar_records(store: FilesystemStore) -> list[str]:
    """Keys with a record, read from the sidecar database as an outside tool would."""
    database = store.root.with_name(store.root.name + ".sidecar") / DATABASE_NAME
    if not database.exists():
        return []
    with closing(sqlite3.connect(database)) as connection:
        return [key for (key,) in connection.execute("SELECT key FROM records ORDER BY key")]


def test_filesystem_records_only_keys_with_metadata_or_locks(fs_store: FilesystemStore) -> None:
    put_bytes(fs_store, "plain", b"plain bytes")
    assert sidecar_records(fs_store) == []
    info = fs_store.stat("plain")
    assert (info.sha256, info.metadata, info.retention, info.legal_hold) == (
        sha256(b"plain bytes"),
        {},
        None,
        False,
    )
    put_bytes(fs_store, "described", b"one", metadata={"title": "hồ sơ"})
    assert len(sidecar_records(fs_store)) == 1
    put_bytes(fs_store, "described", b"two")  # replaced by a plain put: the record goes
    assert sidecar_records(fs_store) == []
    assert (fs_store.stat("described").metadata, fs_store.stat("described").sha256) == (
        {},
        sha256(b"two"),
    )
    fs_store.set_legal_hold("plain", True)
    info = fs_store.stat("plain")
    assert (info.legal_hold, info.sha256) == (True, sha256(b"plain bytes"))
    with pytest.raises(ObjectLocked):
        fs_store.delete("plain")


def test_filesystem_without_extended_attributes_keeps_digests_in_records(
    fs_store: FilesystemStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> None:
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(os, "setxattr", refuse)
    put_bytes(fs_store, "k", b"bytes")
    assert len(sidecar_records(fs_store)) == 1
    assert fs_store.stat("k").sha256 == sha256(b"bytes")


def flushed_paths(
    store: FilesystemStore, monkeypatch: pytest.MonkeyPatch, *, syncfs: bool = False
) -> list[str]:
    """Paths (relative to the root, ``.`` for it) flushed by ``os.fsync`` from now on, and
    ``syncfs .`` for each flush of the whole file system. Without ``syncfs`` the store runs as
    where that call is missing."""
    flushed: list[str] = []
    real_fsync = os.fsync

    def relative(descriptor: int) -> str:
        return os.path.relpath(os.readlink(f"/proc/self/fd/{descriptor}"), store.root)

    def fsync(descriptor: int) -> None:
        flushed.append(relative(descriptor))
        real_fsync(descriptor)

    def whole_file_system(descriptor: int) -> int:
        flushed.append(f"syncfs {relative(descriptor)}")
        return flush_file_system(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(filesystem, "_SYNCFS", whole_file_system if syncfs else None)
    return flushed


def test_filesystem_deferred_puts_are_flushed_once_by_the_barrier(
    fs_store: FilesystemStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    flushed = flushed_paths(fs_store, monkeypatch)
    for key in ["a/b/c", "a/b/d", "e"]:
        fs_store.put(key, io.BytesIO(key.encode()), durable=False)
    assert flushed == []
    assert [read(fs_store, key) for key in ["a/b/c", "a/b/d", "e"]] == [b"a/b/c", b"a/b/d", b"e"]
    assert fs_store.stat("a/b/c").sha256 == sha256(b"a/b/c")

    fs_store.sync(["a/b/c", "a/b/d", "e", "a/b/c"])
    # Each file once, then each directory holding a new entry once: a/b and e's root, and the
    # directories created on the way (a/b in a, a in the root).
    assert sorted(flushed) == [".", "a", "a/b", "a/b/c", "a/b/d", "e"]
    flushed.clear()
    fs_store.sync(["e"])
    assert flushed == ["e", "."]  # directories already flushed are not walked up again
    with pytest.raises(ObjectNotFound):
        fs_store.sync(["missing"])


def test_filesystem_barrier_on_linux_is_one_syncfs_of_the_file_system(
    fs_store: FilesystemStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    flushed = flushed_paths(fs_store, monkeypatch, syncfs=True)
    for key in ["a/b/c", "a/b/d", "e"]:
        fs_store.put(key, io.BytesIO(key.encode()), durable=False)
    fs_store.sync(["a/b/c", "a/b/d", "e"])
    assert flushed == ["syncfs ."]
    # The directories the deferred puts created were flushed too: a durable put beside them
    # flushes its file and its own directory only.
    flushed.clear()
    put_bytes(fs_store, "a/b/f", b"f")
    assert flushed[1:] == ["a/b"]
    with pytest.raises(ObjectNotFound):
        fs_store.sync(["a/b/c", "missing"])


def test_filesystem_syncfs_descriptor_is_opened_before_the_batch_writes(
    fs_store: FilesystemStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # syncfs reports a write-back error only to descriptors opened before it was first seen:
    # the barrier's descriptor must already be open when the batch's first bytes are written.
    real_fill = filesystem._fill
    open_at_first_write: list[set[int]] = []
    given: list[int] = []

    def fill(descriptor: int, stream: Any) -> Any:
        if not open_at_first_write:
            open_at_first_write.append(
                {
                    int(name)
                    for name in os.listdir("/proc/self/fd")
                    if os.path.realpath(f"/proc/self/fd/{name}") == str(fs_store.root)
                }
            )
        return real_fill(descriptor, stream)

    def syncfs(descriptor: int) -> int:
        given.append(descriptor)
        return flush_file_system(descriptor)

    monkeypatch.setattr(filesystem, "_fill", fill)
    monkeypatch.setattr(filesystem, "_SYNCFS", syncfs)
    for key in ["x/1", "x/2"]:
        fs_store.put(key, io.BytesIO(key.encode()), durable=False)
    fs_store.sync(["x/1", "x/2"])
    assert len(given) == 1 and given[0] in open_at_first_write[0]


def test_filesystem_barrier_of_keys_this_thread_did_not_defer_flushes_file_by_file(
    fs_store: FilesystemStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_bytes(fs_store, "d/durable", b"d")  # a durable put: in no batch
    flushed = flushed_paths(fs_store, monkeypatch, syncfs=True)
    fs_store.put("d/deferred", io.BytesIO(b"e"), durable=False)
    fs_store.sync(["d/deferred", "d/durable"])
    assert "syncfs ." not in flushed
    assert {"d/deferred", "d/durable"} <= set(flushed)


def test_filesystem_write_back_error_fails_the_barrier_and_ends_the_batch(
    fs_store: FilesystemStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(descriptor: int) -> int:
        ctypes.set_errno(errno.EIO)
        return -1

    monkeypatch.setattr(filesystem, "_SYNCFS", failing)
    fs_store.put("f/1", io.BytesIO(b"1"), durable=False)
    with pytest.raises(OSError, match=f"syncfs {re.escape(str(fs_store.root))}") as raised:
        fs_store.sync(["f/1"])
    assert raised.value.errno == errno.EIO
    flushed = flushed_paths(fs_store, monkeypatch, syncfs=True)
    fs_store.put("f/2", io.BytesIO(b"2"), durable=False)  # a new batch, a new descriptor
    fs_store.sync(["f/2"])
    assert flushed == ["syncfs ."]


def test_filesystem_durable_put_flushes_directories_a_deferred_put_created(
    fs_store: FilesystemStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    flushed = flushed_paths(fs_store, monkeypatch)
    fs_store.put("x/y/1", io.BytesIO(b"1"), durable=False)
    put_bytes(fs_store, "x/y/2", b"2")
    # The new file (flushed before its rename, under its temporary name), then its directory
    # and each directory entry the deferred put left unflushed.
    assert flushed[0].startswith("x/y/") and flushed[0].endswith(TEMP_SUFFIX)
    assert flushed[1:] == ["x/y", "x", "."]
