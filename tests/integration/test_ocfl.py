"""OCFL objects on the filesystem store and on S3, checked from outside by ocfl-py's validator."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO

import ocfl
import pytest
from ocfl.layout_0003_hash_and_id_n_tuple import Layout_0003_Hash_And_Id_N_Tuple
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from archive_service.storage import filesystem
from archive_service.storage import ocfl as ocfl_repository
from archive_service.storage.advisory_locks import LOCK_CLASS, AdvisoryWriterLocks
from archive_service.storage.base import (
    ChecksumMismatch,
    ObjectNotFound,
    ObjectStore,
    StoreBusy,
    WriterLockLost,
)
from archive_service.storage.concurrency import parallel_requests
from archive_service.storage.filesystem import FilesystemStore
from archive_service.storage.ocfl import (
    InvalidLogicalPath,
    InventoryCorrupt,
    LayoutMismatch,
    OcflError,
    OcflRepository,
)
from archive_service.storage.ocfl_layout import HashAndIdNTupleLayout
from archive_service.storage.s3 import S3Store
from archive_service.streams import FileSource
from tests.file_system_flush import flush_file_system

REPO_ROOT = Path(__file__).resolve().parents[2]
OBJECT_ID = "urn:G09:uuid-2F1D7C4E-5B8A-4C1D-9E3F-0A1B2C3D4E5F"
ICT = timezone(timedelta(hours=7))
WHO = {"user_name": "Lưu trữ viên", "user_address": "mailto:luutru@g09.gov.vn"}

V1_FILES = {
    "METS.xml": b"<mets>v1</mets>",
    "representations/rep1/data/Giấy phép.pdf": b"%PDF-1.7 giay phep " * 200,
    "metadata/preservation/premis.xml": b"<premis>v1</premis>",
    "metadata/descriptive/EAD.xml": b"<ead>unchanged</ead>",
}


# Sources and backends


def source(data: bytes, *, declared: bool = True) -> FileSource:
    """A file held in memory, with its digest and size declared or left for the writer."""
    return FileSource(
        open=lambda: nullcontext(io.BytesIO(data)),
        size=len(data) if declared else None,
        sha256=hashlib.sha256(data).hexdigest() if declared else None,
    )


def sources(files: dict[str, bytes]) -> dict[str, FileSource]:
    return {path: source(data) for path, data in files.items()}


def unreadable(data: bytes) -> FileSource:
    """A source that declares its digest but fails the test if the writer opens it."""

    def refuse() -> AbstractContextManager[BinaryIO]:
        raise AssertionError("content already in the object was read again")

    return FileSource(open=refuse, size=len(data), sha256=hashlib.sha256(data).hexdigest())


class BreakingStream(io.RawIOBase):
    """Serves ``size`` bytes but raises after ``break_at`` of them, like a dropped upload."""

    def __init__(self, size: int, break_at: int) -> None:
        self._left = size
        self._until_break = break_at

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._until_break <= 0:
            raise OSError("kết nối bị ngắt giữa chừng")
        n = min(len(buffer), self._left, self._until_break)
        buffer[:n] = b"x" * n
        self._left -= n
        self._until_break -= n
        return n


def breaking(size: int) -> FileSource:
    return FileSource(open=lambda: nullcontext(BreakingStream(size, size // 2)))  # type: ignore[arg-type]


def add(repo: OcflRepository, changes: dict[str, FileSource], message: str, **kwargs: object):
    return repo.add_version(
        OBJECT_ID,
        changes,
        message=message,
        created=datetime(2025, 6, 1, 9, 30, tzinfo=ICT),
        **WHO,
        **kwargs,  # type: ignore[arg-type]
    )


@dataclass
class Backend:
    """A store under test and a way to see it as an OCFL storage root on disk."""

    store: ObjectStore
    scratch: Path
    fs_root: Path | None

    @property
    def repo(self) -> OcflRepository:
        return OcflRepository(self.store)

    def ocfl_root(self) -> Path:
        """The filesystem root itself, or a fresh copy of every S3 key."""
        if self.fs_root is not None:
            return self.fs_root
        copy = Path(tempfile.mkdtemp(dir=self.scratch))
        for info in self.store.list():
            target = copy / info.key
            target.parent.mkdir(parents=True, exist_ok=True)
            with self.store.open(info.key) as stream, target.open("wb") as out:
                while chunk := stream.read(1 << 20):
                    out.write(chunk)
        return copy


@pytest.fixture
def backend(store: ObjectStore, tmp_path: Path) -> Backend:
    """Each backend of the shared ``store`` fixture: the filesystem, then each S3 server."""
    fs_root = store.root if isinstance(store, FilesystemStore) else None
    return Backend(store, tmp_path, fs_root)


@pytest.fixture
def fs_backend(fs_store: FilesystemStore, tmp_path: Path) -> Backend:
    return Backend(fs_store, tmp_path, fs_store.root)


def ocfl_py_findings(root: Path) -> tuple[bool, set[str], list[tuple[str, str]]]:
    """Validate a storage root with ocfl-py: (valid, error/warning codes, objects found)."""
    storage_root = ocfl.StorageRoot(str(root))
    traversal_ok = storage_root.validate(log_warnings=True)
    codes = set(re.findall(r"\[([EW]\d{3}[a-z]?)\]", str(storage_root.log)))
    for _, messages in storage_root.errors:
        codes |= set(re.findall(r"\[([EW]\d{3}[a-z]?)\]", messages))
    all_good = traversal_ok and storage_root.good_objects == storage_root.num_objects
    objects = sorted(storage_root.list_objects()) if traversal_ok else []
    return all_good, codes, objects


def assert_valid(backend: Backend, objects: int = 1) -> None:
    root = backend.ocfl_root()
    valid, codes, found = ocfl_py_findings(root)
    # W004: OCFL prefers sha512; sha256 is allowed and is what the archive uses.
    assert valid and codes <= {"W004"}, codes
    assert len(found) == objects


def read_state(repo: OcflRepository, version: str | None = None) -> dict[str, bytes]:
    contents = {}
    for path in repo.state(OBJECT_ID, version):
        with repo.open(OBJECT_ID, path, version) as stream:
            contents[path] = stream.read()
    return contents


def version_keys(repo: OcflRepository, version: str) -> list[str]:
    prefix = f"{repo.object_root(OBJECT_ID)}/{version}/"
    return [key for key in repo.content_keys(OBJECT_ID) if key.startswith(prefix)]


# Layout


@pytest.mark.parametrize(
    "object_id",
    [
        OBJECT_ID,
        "object-01",
        "..hor/rib:le-$id",
        "urn:G09:hồ sơ/Đà Nẵng 100%",
        "urn:G09:" + "x" * 120,
        "urn:G09:" + "đ" * 40,
    ],
)
def test_object_paths_follow_published_extension_0003(object_id: str) -> None:
    ours = HashAndIdNTupleLayout().object_path(object_id)
    assert ours == Layout_0003_Hash_And_Id_N_Tuple().identifier_to_path(object_id)
    assert ":" not in ours.rsplit("/", 1)[1]


def test_object_path_examples_of_the_extension_text() -> None:
    layout = HashAndIdNTupleLayout()
    assert layout.object_path("object-01") == "3c0/ff4/240/object-01"
    assert layout.object_path("..hor/rib:le-$id") == "487/326/d8c/%2e%2ehor%2frib%3ale-%24id"
    long_path = layout.object_path("a" * 101)
    digest = hashlib.sha256(b"a" * 101).hexdigest()
    assert long_path == f"{digest[:3]}/{digest[3:6]}/{digest[6:9]}/{'a' * 100}-{digest}"


# Storage root


def test_initialize_writes_a_root_ocfl_py_accepts_and_is_idempotent(fs_backend: Backend) -> None:
    repo = fs_backend.repo
    repo.initialize()
    repo.initialize()
    root = fs_backend.ocfl_root()
    assert (root / "0=ocfl_1.1").read_bytes() == b"ocfl_1.1\n"
    assert json.loads((root / "ocfl_layout.json").read_text())["extension"] == (
        "0003-hash-and-id-n-tuple-storage-layout"
    )
    config = root / "extensions/0003-hash-and-id-n-tuple-storage-layout/config.json"
    assert json.loads(config.read_text()) == {
        "extensionName": "0003-hash-and-id-n-tuple-storage-layout",
        "digestAlgorithm": "sha256",
        "tupleSize": 3,
        "numberOfTuples": 3,
    }
    storage_root = ocfl.StorageRoot(str(root))
    assert storage_root.validate()
    assert storage_root.layout.tuple_size == 3


def test_initialize_refuses_a_root_with_another_layout(fs_backend: Backend) -> None:
    fs_backend.repo.initialize()
    config = fs_backend.ocfl_root() / "extensions/0003-hash-and-id-n-tuple-storage-layout"
    (config / "config.json").write_text(
        '{"extensionName": "0003-hash-and-id-n-tuple-storage-layout", "tupleSize": 2}'
    )
    with pytest.raises(LayoutMismatch):
        fs_backend.repo.initialize()


def test_initialize_refuses_another_ocfl_version(tmp_path: Path) -> None:
    root = tmp_path / "old-root"
    root.mkdir()
    (root / "0=ocfl_1.0").write_bytes(b"ocfl_1.0\n")
    with pytest.raises(LayoutMismatch):
        OcflRepository(FilesystemStore(root)).initialize()


def test_objects_need_an_initialized_root(fs_backend: Backend) -> None:
    with pytest.raises(OcflError, match="initialize"):
        add(fs_backend.repo, sources(V1_FILES), "v1")
    assert list(fs_backend.store.list()) == []


# Versions


def test_versions_round_trip_deduplicate_and_validate(backend: Backend) -> None:
    repo = backend.repo
    repo.initialize()
    assert not repo.exists(OBJECT_ID) and repo.head(OBJECT_ID) is None

    first = add(repo, sources(V1_FILES), "Nộp lưu hồ sơ")
    assert (first.version, repo.head(OBJECT_ID), repo.exists(OBJECT_ID)) == ("v1", "v1", True)
    assert {w.logical_paths for w in first.written} == {(p,) for p in V1_FILES}
    assert_valid(backend)
    _, _, found = ocfl_py_findings(backend.ocfl_root())
    assert found == [(repo.object_root(OBJECT_ID), OBJECT_ID)]

    v2_changes = {
        "METS.xml": source(b"<mets>v2</mets>"),  # changed
        "metadata/preservation/premis-2.xml": source(b"<premis>v2</premis>"),  # added
        "representations/rep1/data/Giấy phép.pdf": unreadable(
            V1_FILES["representations/rep1/data/Giấy phép.pdf"]
        ),  # same bytes, declared digest: not read, not stored
        "copy/EAD.xml": source(V1_FILES["metadata/descriptive/EAD.xml"], declared=False),
    }
    second = add(repo, v2_changes, "Bổ sung", removed=["metadata/preservation/premis.xml"])
    assert (second.version, repo.head(OBJECT_ID)) == ("v2", "v2")
    written = {w.logical_paths: w for w in second.written}
    assert set(written) == {("METS.xml",), ("metadata/preservation/premis-2.xml",)}
    assert written[("METS.xml",)].size == len(b"<mets>v2</mets>")
    assert version_keys(repo, "v2") == sorted(
        [w.key for w in second.written]
        + [
            f"{second.object_root}/v2/inventory.json",
            f"{second.object_root}/v2/inventory.json.sha256",
        ]
    )
    assert_valid(backend)

    assert read_state(repo, "v1") == V1_FILES
    expected_v2 = {
        **{p: d for p, d in V1_FILES.items() if p != "metadata/preservation/premis.xml"},
        "METS.xml": b"<mets>v2</mets>",
        "metadata/preservation/premis-2.xml": b"<premis>v2</premis>",
        "copy/EAD.xml": V1_FILES["metadata/descriptive/EAD.xml"],
    }
    assert read_state(repo) == expected_v2 == read_state(repo, "v2")

    state = repo.state(OBJECT_ID)
    unchanged = state["metadata/descriptive/EAD.xml"]
    assert unchanged.content_key.endswith("/v1/content/metadata/descriptive/EAD.xml")
    assert state["copy/EAD.xml"] == unchanged

    inventory = repo.inventory(OBJECT_ID)
    assert inventory["head"] == "v2" and list(inventory["versions"]) == ["v1", "v2"]
    assert inventory["versions"]["v2"]["created"] == "2025-06-01T09:30:00+07:00"
    assert inventory["versions"]["v2"]["user"] == {
        "name": "Lưu trữ viên",
        "address": "mailto:luutru@g09.gov.vn",
    }
    stored_inventory = f"{second.object_root}/inventory.json"
    with backend.store.open(stored_inventory) as stream:
        assert hashlib.sha256(stream.read()).hexdigest() == second.inventory_sha256
    assert repo.recover(OBJECT_ID) == []


def test_content_keys_cover_the_whole_object(backend: Backend) -> None:
    repo = backend.repo
    repo.initialize()
    add(repo, sources(V1_FILES), "v1")
    root = repo.object_root(OBJECT_ID)
    assert repo.content_keys(OBJECT_ID) == sorted(
        [f"{root}/0=ocfl_object_1.1", f"{root}/inventory.json", f"{root}/inventory.json.sha256"]
        + [f"{root}/v1/inventory.json", f"{root}/v1/inventory.json.sha256"]
        + [f"{root}/v1/content/{path}" for path in V1_FILES]
    )


def test_read_errors_name_what_is_missing(fs_backend: Backend) -> None:
    repo = fs_backend.repo
    repo.initialize()
    with pytest.raises(ObjectNotFound):
        repo.inventory(OBJECT_ID)
    add(repo, sources(V1_FILES), "v1")
    with pytest.raises(ObjectNotFound, match="v7"):
        repo.state(OBJECT_ID, "v7")
    with pytest.raises(ObjectNotFound, match=r"nope\.pdf"):
        repo.open(OBJECT_ID, "nope.pdf")


# Bad input


def test_a_wrong_declared_digest_or_size_stores_nothing(backend: Backend) -> None:
    repo = backend.repo
    repo.initialize()
    add(repo, sources(V1_FILES), "v1")
    lying = FileSource(
        open=lambda: nullcontext(io.BytesIO(b"real bytes")), sha256=hashlib.sha256(b"x").hexdigest()
    )
    with pytest.raises(ChecksumMismatch, match=r"new\.pdf"):
        add(repo, {"a.txt": source(b"fine"), "new.pdf": lying}, "v2")
    short = FileSource(open=lambda: nullcontext(io.BytesIO(b"12345")), size=9)
    with pytest.raises(ChecksumMismatch, match=r"short\.bin"):
        add(repo, {"short.bin": short}, "v2")
    assert repo.head(OBJECT_ID) == "v1"
    assert version_keys(repo, "v2") == []
    assert_valid(backend)


@pytest.mark.parametrize(
    ("changes", "removed"),
    [
        ({"../escape.pdf": b"x"}, []),
        ({"/absolute.pdf": b"x"}, []),
        ({"a//b.pdf": b"x"}, []),
        ({"a\\b.pdf": b"x"}, []),
        ({"tab\t.pdf": b"x"}, []),
        ({"d" * 1000 + ".pdf": b"x"}, []),  # the object key would pass 1024 bytes
        ({"METS.xml/inner.xml": b"x"}, []),  # METS.xml is a file in the head
        ({"METS.xml": b"x"}, ["METS.xml"]),
        ({}, ["not-there.xml"]),
    ],
)
def test_bad_logical_paths_are_refused_before_writing(
    fs_backend: Backend, changes: dict[str, bytes], removed: list[str]
) -> None:
    repo = fs_backend.repo
    repo.initialize()
    add(repo, sources(V1_FILES), "v1")
    before = repo.content_keys(OBJECT_ID)
    with pytest.raises(InvalidLogicalPath):
        add(repo, sources(changes), "v2", removed=removed)
    assert repo.content_keys(OBJECT_ID) == before


def test_version_metadata_is_checked(fs_backend: Backend) -> None:
    repo = fs_backend.repo
    repo.initialize()
    common = {"message": "m", "user_name": "A"}
    with pytest.raises(ValueError, match="timezone"):
        repo.add_version(
            OBJECT_ID, {}, created=datetime(2025, 1, 1), user_address="mailto:a@b", **common
        )
    with pytest.raises(ValueError, match="URI"):
        repo.add_version(OBJECT_ID, {}, created=datetime.now(UTC), user_address="a at b", **common)


# Interrupted writes


def assert_v2_fails_leaving_v1(backend: Backend, changes: dict[str, FileSource]) -> None:
    """Writing ``changes`` as v2 fails when a stream breaks, and nothing of v2 is left."""
    repo = backend.repo
    with pytest.raises(OSError, match="ngắt"):
        add(repo, changes, "v2")
    assert repo.head(OBJECT_ID) == "v1"
    assert version_keys(repo, "v2") == []
    assert read_state(repo) == V1_FILES
    assert_valid(backend)


def test_a_stream_failing_in_the_second_file_leaves_v1(backend: Backend) -> None:
    repo = backend.repo
    repo.initialize()
    add(repo, sources(V1_FILES), "v1")
    changes = {"a-first.txt": source(b"first"), "b-second.bin": breaking(3 * 1024 * 1024)}
    assert_v2_fails_leaving_v1(backend, changes)

    retry = add(repo, sources({"a-first.txt": b"first", "b-second.bin": b"second"}), "v2")
    assert retry.version == "v2"
    assert read_state(repo)["b-second.bin"] == b"second"
    assert_valid(backend)


def test_a_file_failing_among_small_files_written_together_leaves_v1(backend: Backend) -> None:
    """On S3 the small files of a version are written several at a time: one failing among
    them still leaves nothing of v2 once every other write has ended."""
    repo = backend.repo
    repo.initialize()
    add(repo, sources(V1_FILES), "v1")
    changes = {f"small-{n:02}.txt": source(f"small {n}".encode()) for n in range(12)}
    size = 64 * 1024
    changes["small-05-breaks.bin"] = FileSource(
        open=lambda: nullcontext(BreakingStream(size, size // 2)),  # type: ignore[arg-type]
        size=size,
    )
    assert_v2_fails_leaving_v1(backend, changes)
    expected = 1 if isinstance(backend.store, FilesystemStore) else S3Store.parallel_requests
    assert parallel_requests(backend.store) == expected


def test_a_failed_first_version_leaves_no_object(backend: Backend) -> None:
    repo = backend.repo
    repo.initialize()
    with pytest.raises(OSError):
        add(repo, {"a.txt": source(b"a"), "b.bin": breaking(1024 * 1024)}, "v1")
    assert not repo.exists(OBJECT_ID)
    assert repo.content_keys(OBJECT_ID) == []
    assert_valid(backend, objects=0)


KILLED_WRITER = """
import io, sys
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path
from archive_service.storage.filesystem import FilesystemStore
from archive_service.storage.ocfl import OcflRepository
from archive_service.streams import FileSource

class Stalling(io.RawIOBase):
    def __init__(self, size):
        self.served, self.half = 0, size // 2
    def readable(self):
        return True
    def readinto(self, buffer):
        if self.served >= self.half:
            print("halfway", flush=True)
            sys.stdin.read()  # wait here until the parent kills us
        n = min(len(buffer), self.half - self.served)
        buffer[:n] = b"y" * n
        self.served += n
        return n

repo = OcflRepository(FilesystemStore(Path(sys.argv[1])))
repo.add_version(
    sys.argv[2],
    {
        "a-small.txt": FileSource(open=lambda: nullcontext(io.BytesIO(b"small"))),
        "b-large.bin": FileSource(open=lambda: nullcontext(Stalling(16 * 1024 * 1024))),
    },
    message="v2", user_name="worker", user_address="mailto:worker@g09.gov.vn",
    created=datetime.now(timezone.utc),
)
print("finished", flush=True)
"""


def test_a_writer_killed_mid_file_leaves_v1_and_a_retry_finishes(fs_backend: Backend) -> None:
    repo = fs_backend.repo
    repo.initialize()
    add(repo, sources(V1_FILES), "v1")
    root = fs_backend.ocfl_root()
    with subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(root), OBJECT_ID],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO_ROOT,
    ) as writer:
        assert writer.stdout is not None
        assert writer.stdout.readline() == b"halfway\n"
        os.kill(writer.pid, signal.SIGKILL)
        assert writer.wait() == -signal.SIGKILL

    assert repo.head(OBJECT_ID) == "v1"
    assert read_state(repo) == V1_FILES
    leftovers = version_keys(repo, "v2")
    assert f"{repo.object_root(OBJECT_ID)}/v2/content/a-small.txt" in leftovers
    valid, codes, _ = ocfl_py_findings(root)
    assert not valid and "E046b" in codes  # the outside validator sees the partial v2

    assert repo.recover(OBJECT_ID) == leftovers
    assert_valid(fs_backend)
    retry = add(repo, sources({"a-small.txt": b"small", "b-large.bin": b"large"}), "v2")
    assert retry.version == "v2"
    assert read_state(repo)["b-large.bin"] == b"large"
    assert_valid(fs_backend)


def test_a_stalled_writer_keeps_every_other_writer_out_of_its_object(
    fs_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that hangs mid-version (presumed dead by whoever waits, but alive) keeps its
    object: nobody removes its partial version or writes beside it, and when it goes on, its
    version commits whole."""
    monkeypatch.setattr(ocfl_repository, "WRITER_WAIT_SECONDS", 0.2)
    repo = fs_backend.repo
    repo.initialize()
    add(repo, sources(V1_FILES), "v1")
    with subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(fs_backend.ocfl_root()), OBJECT_ID],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO_ROOT,
    ) as writer:
        assert writer.stdin is not None and writer.stdout is not None
        assert writer.stdout.readline() == b"halfway\n"
        partial = version_keys(repo, "v2")
        assert partial

        with pytest.raises(StoreBusy):
            repo.recover(OBJECT_ID)
        with pytest.raises(StoreBusy):
            add(repo, sources({"other.txt": b"another writer's v2"}), "v2 of another writer")
        assert version_keys(repo, "v2") == partial
        assert repo.head(OBJECT_ID) == "v1"
        other = repo.add_version(  # other objects are not held up
            "urn:G09:another-object",
            sources({"x.txt": b"x"}),
            message="v1",
            created=datetime(2025, 6, 1, 9, 30, tzinfo=ICT),
            **WHO,
        )
        assert other.version == "v1"

        writer.stdin.close()  # the stalled writer goes on: its large file ends at half size
        assert writer.wait(60) == 0
        assert writer.stdout.read().endswith(b"finished\n")

    assert repo.head(OBJECT_ID) == "v2"
    assert read_state(repo)["b-large.bin"] == b"y" * (8 * 1024 * 1024)
    assert "other.txt" not in repo.state(OBJECT_ID)
    assert_valid(fs_backend, objects=2)


def test_a_crash_before_the_root_sidecar_keeps_the_committed_version(backend: Backend) -> None:
    repo = backend.repo
    repo.initialize()
    first = add(repo, sources(V1_FILES), "v1")
    add(repo, {"METS.xml": source(b"<mets>v2</mets>")}, "v2")
    root = repo.object_root(OBJECT_ID)
    # The state after step 4 of a write: root inventory replaced, root sidecar still of v1.
    backend.store.put(
        f"{root}/inventory.json.sha256",
        io.BytesIO(f"{first.inventory_sha256} inventory.json\n".encode()),
    )
    valid, codes, _ = ocfl_py_findings(backend.ocfl_root())
    assert not valid and "E060" in codes

    assert repo.head(OBJECT_ID) == "v2"
    assert repo.recover(OBJECT_ID) == []
    assert_valid(backend)


def test_a_tampered_inventory_is_refused(backend: Backend) -> None:
    repo = backend.repo
    repo.initialize()
    add(repo, sources(V1_FILES), "v1")
    key = f"{repo.object_root(OBJECT_ID)}/inventory.json"
    with backend.store.open(key) as stream:
        tampered = stream.read().replace("Lưu trữ viên".encode(), b"Someone else")
    backend.store.put(key, io.BytesIO(tampered))
    with pytest.raises(InventoryCorrupt):
        repo.inventory(OBJECT_ID)


def test_recover_deletes_nothing_when_the_root_inventory_is_lost(fs_backend: Backend) -> None:
    repo = fs_backend.repo
    repo.initialize()
    add(repo, sources(V1_FILES), "v1")
    add(repo, {"METS.xml": source(b"<mets>v2</mets>")}, "v2")
    root = repo.object_root(OBJECT_ID)
    fs_backend.store.delete(f"{root}/inventory.json")
    before = repo.content_keys(OBJECT_ID)
    with pytest.raises(InventoryCorrupt, match="nothing was deleted"):
        repo.recover(OBJECT_ID)
    assert repo.content_keys(OBJECT_ID) == before


# Durability on the filesystem: one barrier per step, in commit order. Both barriers are
# tested: one ``syncfs`` of the file system (Linux) and, where it is missing, ``fsync`` per file
# and per directory.


@dataclass
class DiskEvents:
    """The ``fsync``, ``syncfs`` and ``rename`` calls a write made, as paths relative to the
    store root (``syncfs`` names the root, ``.``)."""

    root: Path
    barrier: str  # "syncfs" or "fsync"
    log: list[tuple[str, str]]

    def fsyncs(self) -> list[str]:
        return [path for kind, path in self.log if kind == "fsync"]

    def index(self, kind: str, path: str) -> int:
        return self.log.index((kind, path))

    def flushed_between(self, path: str, start: int, end: int) -> bool:
        """Whether ``path`` was made durable after event ``start`` and before event ``end``:
        an ``fsync`` of it, or a ``syncfs`` of the whole file system."""
        return any(
            event in {("fsync", path), ("syncfs", ".")} for event in self.log[start + 1 : end]
        )


@pytest.fixture(params=["syncfs", "fsync"])
def disk_events(
    request: pytest.FixtureRequest, fs_store: FilesystemStore, monkeypatch: pytest.MonkeyPatch
) -> DiskEvents:
    """Record every ``os.fsync``, ``syncfs`` and ``os.replace`` of this process (the store's own
    calls); with the ``fsync`` parameter the store runs as where ``syncfs`` is missing."""
    events = DiskEvents(fs_store.root, request.param, [])
    real_fsync, real_replace = os.fsync, os.replace

    def relative(path: str) -> str:
        return os.path.relpath(path, events.root)

    def fsync(descriptor: int) -> None:
        events.log.append(("fsync", relative(os.readlink(f"/proc/self/fd/{descriptor}"))))
        real_fsync(descriptor)

    def syncfs(descriptor: int) -> int:
        events.log.append(("syncfs", relative(os.readlink(f"/proc/self/fd/{descriptor}"))))
        return flush_file_system(descriptor)

    def replace(source: str | Path, target: str | Path) -> None:
        real_replace(source, target)
        # A temporary file flushed before its rename counts as the file it became.
        renamed = [("fsync", relative(str(target))), ("fsync", relative(str(source)))]
        events.log[:] = [renamed[0] if event == renamed[1] else event for event in events.log]
        events.log.append(("rename", relative(str(target))))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    if request.param == "fsync":
        monkeypatch.setattr(filesystem, "_SYNCFS", None)
    else:
        monkeypatch.setattr(filesystem, "_SYNCFS", syncfs)
    return events


def many_files(count: int) -> dict[str, bytes]:
    return {
        f"representations/rep1/data/{index:02d}.pdf": b"PDF %d" % index for index in range(count)
    } | {"METS.xml": b"<mets/>", "metadata/preservation/premis.xml": b"<premis/>"}


def test_a_first_version_of_n_files_needs_a_few_barriers_not_one_per_file(
    fs_backend: Backend, disk_events: DiskEvents
) -> None:
    repo = fs_backend.repo
    repo.initialize()
    files = many_files(40)
    disk_events.log.clear()
    add(repo, sources(files), "v1")

    fsyncs = disk_events.fsyncs()
    directories = [path for path in fsyncs if (disk_events.root / path).is_dir()]
    files_flushed = [path for path in fsyncs if path not in directories]
    syncfs_calls = [event for event in disk_events.log if event[0] == "syncfs"]
    if disk_events.barrier == "syncfs":
        # One barrier for the content and the version's own files: one syncfs; the root
        # inventory and its sidecar are single durable puts (file, then directory).
        assert len(syncfs_calls) == 1
        assert len(fsyncs) <= 6
    else:
        assert not syncfs_calls
        # Each content file, the version's inventory, sidecar and declaration, the root
        # inventory and its sidecar: flushed exactly once each.
        assert sorted(files_flushed) == sorted(set(files_flushed))
        assert len(files_flushed) == len(files) + 5
        # Each directory once in the version's barrier: the 12 directories of a new object
        # (content tree, v1, object root, the 3 tuple levels, the storage root); then the
        # object root once per root file.
        assert len(set(directories)) == 12
        assert len(directories) == len(set(directories)) + 2
        assert len(fsyncs) < 2 * len(files)
    assert_valid(fs_backend)


def test_everything_a_version_references_is_flushed_before_its_root_inventory(
    fs_backend: Backend, disk_events: DiskEvents
) -> None:
    repo = fs_backend.repo
    repo.initialize()
    add(repo, sources(V1_FILES), "v1")
    disk_events.log.clear()
    changed = {"METS.xml": b"<mets>v2</mets>", "metadata/other/new.xml": b"<new/>"}
    add(repo, sources(changed), "v2")

    root = repo.object_root(OBJECT_ID)
    commit = disk_events.index("rename", f"{root}/inventory.json")
    referenced = [f"{root}/v2/content/{path}" for path in changed]
    referenced += [f"{root}/v2/inventory.json", f"{root}/v2/inventory.json.sha256"]
    for path in referenced:
        written = disk_events.index("rename", path)
        directories = [os.path.dirname(path)]
        while directories[-1] != root:  # every directory v2 created, up to the object root
            directories.append(os.path.dirname(directories[-1]))
        assert disk_events.flushed_between(path, written, commit), path
        for directory in directories:
            assert disk_events.flushed_between(directory, -1, commit), directory
    # The root inventory itself is flushed before it replaces the old one, its directory after.
    assert disk_events.index("fsync", f"{root}/inventory.json") < commit
    assert ("fsync", root) in disk_events.log[commit:]
    assert_valid(fs_backend)


def _ending_lock_sessions(database_url: str, data: bytes) -> FileSource:
    """A file whose opening ends the database session holding an OCFL writer lock in this
    test's database (as a server restart or a network cut would), then serves ``data``."""

    def open_after_cut() -> AbstractContextManager[BinaryIO]:
        admin = create_engine(database_url, poolclass=NullPool)
        with admin.connect() as connection:
            ended = connection.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND classid = :lock_class AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"lock_class": LOCK_CLASS},
            )
        admin.dispose()
        assert ended == 1
        return nullcontext(io.BytesIO(data))

    return FileSource(open=open_after_cut)


def test_a_writer_that_lost_its_database_lock_commits_nothing_and_clears_nothing(
    s3_store: S3Store, postgres_url: str
) -> None:
    """On S3 the writer lock is the database's: if its session ends mid-version, another
    writer may take the object, so the first stops before its commit and leaves the keys it
    wrote for the next holder (who recovers them under the lock)."""
    repo = OcflRepository(s3_store, writers=AdvisoryWriterLocks(postgres_url))
    repo.initialize()
    add(repo, sources(V1_FILES), "v1")
    changes = {"zz-last.txt": _ending_lock_sessions(postgres_url, b"written after the cut")}
    with pytest.raises(WriterLockLost):
        add(repo, {**sources({"METS.xml": b"<mets>v2</mets>"}), **changes}, "v2")
    assert repo.head(OBJECT_ID) == "v1"
    left = version_keys(repo, "v2")
    assert any(key.endswith("zz-last.txt") for key in left)  # not cleared by the lost writer

    retry = add(repo, sources({"METS.xml": b"<mets>v2 again</mets>"}), "v2")  # recovers first
    assert retry.version == "v2"
    assert not any(key.endswith("zz-last.txt") for key in version_keys(repo, "v2"))
    assert read_state(repo)["METS.xml"] == b"<mets>v2 again</mets>"
