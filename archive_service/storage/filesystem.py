"""Object store on a local directory: keys are paths under the root, exactly.

An OCFL storage root written through this store is an ordinary directory tree that outside
tools (``ocfl-py``) can validate on disk. What S3 keeps beside the bytes (SHA-256, user
metadata, retention, legal hold) lives in a sidecar directory *outside* the root, one small
JSON record per key, so the tree itself stays clean. Object Lock rules are enforced in code
and locked files are made read-only. There are no versions: a put replaces the key atomically.
The root directory is created by the first put.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, cast

from archive_service.storage import lockrules
from archive_service.storage.base import (
    Capabilities,
    ObjectInfo,
    ObjectNotFound,
    PutResult,
    Retention,
    RetentionMode,
    StorageError,
    StorageUnavailable,
)
from archive_service.storage.validation import (
    InvalidKey,
    check_received,
    normalize_sha256,
    validate_key,
    validate_metadata,
    validate_new_retention,
    validate_range,
)
from archive_service.streams import copy_with_sha256

# Temporary files carry a backslash, which no valid key contains: they can never collide with
# an object, and listings skip them.
TEMP_SUFFIX = "\\partial"
READ_ONLY = 0o444

CAPABILITIES = Capabilities(
    versioning=False, object_lock=True, legal_hold=True, server_checksum=False
)


@dataclass(frozen=True)
class _Record:
    """What the sidecar remembers of one key."""

    sha256: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    retention: Retention | None = None
    legal_hold: bool = False

    def to_json(self) -> str:
        retention = self.retention and {
            "mode": self.retention.mode.value,
            "until": self.retention.until.isoformat(),
        }
        return json.dumps(
            {
                "sha256": self.sha256,
                "metadata": dict(self.metadata),
                "retention": retention,
                "legal_hold": self.legal_hold,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> _Record:
        data = json.loads(text)
        retention = data.get("retention")
        return cls(
            sha256=data.get("sha256"),
            metadata=data.get("metadata") or {},
            retention=retention
            and Retention(
                RetentionMode(retention["mode"]), datetime.fromisoformat(retention["until"])
            ),
            legal_hold=bool(data.get("legal_hold")),
        )


class _Sidecar:
    """Records of keys, stored under a hash of the key (any key maps to a distinct file)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self.directory / "records" / digest[:2] / f"{digest}.json"

    def read(self, key: str) -> _Record:
        try:
            return _Record.from_json(self._path(key).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return _Record()

    def write(self, key: str, record: _Record) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(path.name + TEMP_SUFFIX)
        try:
            with temp.open("w", encoding="utf-8") as out:
                out.write(record.to_json())
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)
        _fsync_directory(path.parent)

    def remove(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        _fsync_directory(path.parent)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Serialise changes of records and files across threads and processes."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / "lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


class _Window(io.RawIOBase):
    """At most ``length`` bytes of an open file, from its current position."""

    def __init__(self, file: io.BufferedReader, length: int) -> None:
        self._file = file
        self._left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: self._left]
        count = self._file.readinto(view)
        self._left -= count
        return count


class FilesystemStore:
    """An ``ObjectStore`` on a directory; see the module docstring."""

    def __init__(self, root: Path, *, sidecar: Path | None = None) -> None:
        self.root = Path(root)
        if not self.root.name:
            raise ValueError(f"a storage root needs a directory of its own, not {self.root}")
        self._sidecar = _Sidecar(sidecar or self.root.with_name(self.root.name + ".sidecar"))

    def __repr__(self) -> str:
        return f"FilesystemStore({str(self.root)!r})"

    @property
    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        size: int | None = None,
        expected_sha256: str | None = None,
        metadata: Mapping[str, str] | None = None,
        retention: Retention | None = None,
        legal_hold: bool = False,
    ) -> PutResult:
        """Write to a temporary file beside the target, verify, then rename it into place."""
        target = self._path(key)
        expected = normalize_sha256(expected_sha256)
        record_metadata = validate_metadata(metadata)
        validate_new_retention(retention)
        temp, descriptor = self._create_temporary(target.parent, key)
        try:
            digest, written = _fill(descriptor, stream)
            check_received(key, digest, written, expected_sha256=expected, expected_size=size)
            record = _Record(digest, record_metadata, retention, legal_hold)
            with self._sidecar.exclusive():
                self._install(key, target, temp, record)
        except BaseException:
            temp.unlink(missing_ok=True)
            self._prune(target.parent)
            raise
        finally:
            os.close(descriptor)  # releases the writer's lock on the file
        return PutResult(key=key, size=written, sha256=digest)

    def open(
        self,
        key: str,
        *,
        version_id: str | None = None,
        start: int = 0,
        length: int | None = None,
    ) -> AbstractContextManager[BinaryIO]:
        validate_range(start, length)
        path = self._existing(key, version_id)
        return self._reader(key, path, start, length)

    @contextmanager
    def _reader(self, key: str, path: Path, start: int, length: int | None) -> Iterator[BinaryIO]:
        try:
            file = path.open("rb")
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc
        with file:
            file.seek(start)
            if length is None:
                yield file
            else:
                yield cast(BinaryIO, io.BufferedReader(_Window(file, length)))

    def stat(self, key: str, *, version_id: str | None = None) -> ObjectInfo:
        path = self._existing(key, version_id)
        try:
            status = path.stat()
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc
        record = self._sidecar.read(key)
        return ObjectInfo(
            key=key,
            size=status.st_size,
            last_modified=_mtime(status),
            sha256=record.sha256,
            retention=record.retention,
            legal_hold=record.legal_hold,
            metadata=dict(record.metadata),
        )

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        directory, _, _ = prefix.rpartition("/")
        try:
            start = self._path(directory) if directory else self.root
        except InvalidKey:  # no key can start with this prefix
            return
        for key, status in self._walk(start, directory + "/" if directory else "", prefix):
            yield ObjectInfo(key=key, size=status.st_size, last_modified=_mtime(status))

    def list_versions(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self.list(prefix)

    def delete(
        self, key: str, *, version_id: str | None = None, bypass_governance: bool = False
    ) -> None:
        path = self._existing(key, version_id)
        with self._sidecar.exclusive():
            if not path.is_file():
                raise ObjectNotFound(key)
            record = self._sidecar.read(key)
            lockrules.refuse_delete(
                key, record.retention, record.legal_hold, bypass_governance=bypass_governance
            )
            path.unlink()
            _fsync_directory(path.parent)
            self._sidecar.remove(key)
            self._prune(path.parent)

    def set_retention(
        self,
        key: str,
        retention: Retention,
        *,
        version_id: str | None = None,
        bypass_governance: bool = False,
    ) -> None:
        validate_new_retention(retention)
        path = self._existing(key, version_id)
        with self._sidecar.exclusive():
            record = self._sidecar.read(key)
            lockrules.refuse_retention_change(
                key, record.retention, retention, bypass_governance=bypass_governance
            )
            self._update(key, path, replace(record, retention=retention))

    def set_legal_hold(self, key: str, on: bool, *, version_id: str | None = None) -> None:
        path = self._existing(key, version_id)
        with self._sidecar.exclusive():
            self._update(key, path, replace(self._sidecar.read(key), legal_hold=on))

    def check(self) -> None:
        if not self.root.is_dir():
            raise StorageUnavailable(f"storage root {self.root} does not exist")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageUnavailable(f"storage root {self.root} is not writable")
        try:
            with self._sidecar.exclusive():
                pass
        except OSError as exc:
            raise StorageUnavailable(f"sidecar {self._sidecar.directory}: {exc}") from exc

    # -- helpers -------------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def _existing(self, key: str, version_id: str | None) -> Path:
        """The file of ``key``; ``ObjectNotFound`` if absent or a version is asked for."""
        path = self._path(key)
        if version_id is not None:
            raise ObjectNotFound(f"{key}: version {version_id} (this store keeps no versions)")
        if not path.is_file():
            raise ObjectNotFound(key)
        return path

    def _update(self, key: str, path: Path, record: _Record) -> None:
        if not path.is_file():
            raise ObjectNotFound(key)
        self._sidecar.write(key, record)
        self._protect(path, record)

    @staticmethod
    def _protect(path: Path, record: _Record) -> None:
        if lockrules.is_locked(record.retention, record.legal_hold):
            path.chmod(READ_ONLY)

    def _create_temporary(self, directory: Path, key: str) -> tuple[Path, int]:
        """A new empty temporary file beside the object (parents created): path, descriptor."""
        try:
            return self._open_temporary(directory, key)
        except FileNotFoundError:  # a concurrent delete pruned a directory just created
            return self._open_temporary(directory, key)

    def _open_temporary(self, directory: Path, key: str) -> tuple[Path, int]:
        """Create, and lock for as long as it is open, a file no other writer can choose."""
        self._make_directories(directory, key)
        temp = directory / f"{secrets.token_hex(8)}{TEMP_SUFFIX}"
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        return temp, descriptor

    def _install(self, key: str, target: Path, temp: Path, record: _Record) -> None:
        """Rename a verified temporary file over ``key`` (caller holds the sidecar lock)."""
        if target.is_dir():
            raise StorageError(f"{key}: a directory of other objects has this name")
        if target.exists():
            old = self._sidecar.read(key)
            lockrules.refuse_overwrite(key, old.retention, old.legal_hold)
        # Never leave a record describing other bytes: drop it before the rename.
        self._sidecar.remove(key)
        os.replace(temp, target)
        _fsync_directory(target.parent)
        self._sidecar.write(key, record)
        self._protect(target, record)

    def _make_directories(self, directory: Path, key: str) -> None:
        """Create missing parents of an object (the root too), making each new entry durable."""
        if not self.root.is_dir():
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageUnavailable(f"cannot create storage root {self.root}: {exc}") from exc
        missing: list[Path] = []
        while not directory.is_dir():
            if directory.exists():
                raise StorageError(f"{key}: {directory.relative_to(self.root)} is an object")
            missing.append(directory)
            directory = directory.parent
        for new in reversed(missing):
            try:
                new.mkdir(exist_ok=True)
            except (FileExistsError, NotADirectoryError) as exc:
                raise StorageError(f"{key}: {new.relative_to(self.root)} is an object") from exc
            _fsync_directory(new.parent)

    def _prune(self, directory: Path) -> None:
        """Remove directories left empty by a delete, up to (not including) the root.

        Temporary files of writers that died (killed mid-put) go first, so that deleting the
        keys a crashed writer left behind leaves no trace of it.
        """
        _remove_orphans(directory)
        while directory != self.root:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    def _walk(
        self, directory: Path, key_prefix: str, prefix: str
    ) -> Iterator[tuple[str, os.stat_result]]:
        """Files under ``directory`` whose key starts with ``prefix``, in key order.

        A directory sorts as its name plus ``/``, so depth-first order equals key order.
        """
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            return
        keyed = []
        for entry in entries:
            if TEMP_SUFFIX in entry.name:
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            keyed.append((entry.name + "/" if is_dir else entry.name, entry, is_dir))
        for sort_name, entry, is_dir in sorted(keyed, key=lambda item: item[0]):
            key = key_prefix + sort_name
            if is_dir:
                if key.startswith(prefix) or prefix.startswith(key):
                    yield from self._walk(Path(entry.path), key, prefix)
            elif entry.is_file(follow_symlinks=False) and key.startswith(prefix):
                yield key, entry.stat(follow_symlinks=False)


def _fill(descriptor: int, stream: BinaryIO) -> tuple[str, int]:
    """Copy ``stream`` into the open file ``descriptor`` and make it durable; hash on the way."""
    with os.fdopen(descriptor, "wb", closefd=False) as out:
        digest, size = copy_with_sha256(stream, cast(BinaryIO, out))
        out.flush()
        os.fsync(out.fileno())
    return digest, size


def _remove_orphans(directory: Path) -> None:
    """Delete the temporary files in ``directory`` that no live writer holds locked."""
    try:
        names = [entry.name for entry in os.scandir(directory) if entry.name.endswith(TEMP_SUFFIX)]
    except OSError:
        return
    for name in names:
        try:
            descriptor = os.open(directory / name, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a writer is still at work
        else:
            (directory / name).unlink(missing_ok=True)
        finally:
            os.close(descriptor)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _mtime(status: os.stat_result) -> datetime:
    return datetime.fromtimestamp(status.st_mtime, UTC)
