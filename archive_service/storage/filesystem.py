"""Object store on a local directory: keys are paths under the root, exactly.

An OCFL storage root written through this store is an ordinary directory tree that outside
tools (``ocfl-py``) can validate on disk. The SHA-256 of each file is kept in an extended
attribute of the file itself (``user.archive.sha256``). What else S3 keeps beside the bytes
(user metadata, retention, legal hold) lives in a sidecar directory *outside* the root, one
record per key that has any of them in a small SQLite database (``sidecar.py``), so the tree
itself stays clean; no record means no metadata and no lock (on a file system without user
extended attributes every key gets a record, for its digest). Object Lock rules are enforced
in code and locked files are made read-only; only the bytes a lock protects may be written
again over a locked file (a repair from a copy), and the lock stays. There are no versions: a
put replaces the key atomically. Changes of one key are serialised by an exclusive ``flock`` on
its directory. The root directory is created by the first put. A writer that changes many keys
together (an OCFL version) holds ``exclusive(prefix)``: a kernel lock, kept in the sidecar
directory, that dies with its holder (``writer_locks.py``).

A put is durable when it returns (file, rename and new directories flushed), unless it is
given ``durable=False``: then ``sync(keys)`` is the barrier that flushes a batch of keys — with
one ``syncfs`` of the file system on Linux ≥ 5.15 when the batch is this thread's own (``_Batch``),
else one ``fsync`` per file and per directory (``SyncBarrier`` in ``base.py``). Likewise retention
and legal holds set with ``durable=False`` are in force at once and made durable together by
``sync_metadata`` (``MetadataBarrier``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import io
import os
import re
import secrets
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, cast

from archive_service.storage import lockrules
from archive_service.storage.base import (
    Capabilities,
    HeldLock,
    ObjectInfo,
    ObjectLocked,
    ObjectNotFound,
    PutResult,
    Retention,
    StorageError,
    StorageUnavailable,
)
from archive_service.storage.sidecar import Record, Sidecar
from archive_service.storage.validation import (
    InvalidKey,
    check_received,
    normalize_sha256,
    validate_key,
    validate_metadata,
    validate_new_retention,
    validate_range,
)
from archive_service.storage.writer_locks import WriterLocks
from archive_service.streams import copy_with_sha256

# Temporary files carry a backslash, which no valid key contains: they can never collide with
# an object, and listings skip them.
TEMP_SUFFIX = "\\partial"
READ_ONLY = 0o444
#: Extended attribute holding the lower-case hex SHA-256 of a stored file.
DIGEST_ATTRIBUTE = "user.archive.sha256"
#: The lock file of ``exclusive``, in the sidecar directory.
WRITER_LOCK_FILE = "writers.lock"
#: Directories ``set_retention_many`` locks at once (each lock holds a file descriptor).
_DIRECTORIES_PER_BATCH = 128

CAPABILITIES = Capabilities(
    versioning=False, object_lock=True, legal_hold=True, server_checksum=False
)


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
        self._sidecar = Sidecar(sidecar or self.root.with_name(self.root.name + ".sidecar"))
        self._writers = WriterLocks(self._sidecar.directory / WRITER_LOCK_FILE)
        # Directories this process created whose entry in their parent is not flushed yet.
        self._unsynced_directories: set[Path] = set()
        self._unsynced_lock = threading.Lock()
        self._batches = threading.local()  # each thread's _Batch of deferred puts

    def __repr__(self) -> str:
        return f"FilesystemStore({str(self.root)!r})"

    @property
    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    def exclusive(self, prefix: str, *, timeout: float) -> AbstractContextManager[HeldLock]:
        """Keep every other ``exclusive`` holder of ``prefix`` out until the block ends (other
        threads and processes alike); ``StoreBusy`` after ``timeout`` seconds of waiting."""
        return self._writers.exclusive(validate_key(prefix), timeout=timeout)

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
        durable: bool = True,
    ) -> PutResult:
        """Write to a temporary file beside the target, verify, then rename it into place.

        With ``durable=False`` nothing is flushed: call ``sync`` before relying on the key.
        """
        target = self._path(key)
        expected = normalize_sha256(expected_sha256)
        record_metadata = validate_metadata(metadata)
        validate_new_retention(retention)
        temp, descriptor = self._create_temporary(target.parent, key)
        try:
            batch = None if durable else self._batch()
            digest, written = _fill(descriptor, stream)
            check_received(key, digest, written, expected_sha256=expected, expected_size=size)
            record = Record(digest, record_metadata, retention, legal_hold)
            needs_record = not (_tag_digest(descriptor, digest) and record.describes_only_bytes)
            if durable:
                os.fsync(descriptor)
            with _directory_lock(target.parent):
                self._install(key, target, temp, record if needs_record else None)
            if durable:
                self._sync_directories([target.parent])
            elif batch is not None:
                batch.keys.add(key)
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
            sha256=record.sha256 or _read_digest(path),
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
        with self._lock_of(key, path):
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
        durable: bool = True,
    ) -> None:
        """``ObjectStore.set_retention``; with ``durable=False`` the lock is in force at once
        but only made durable by ``sync_metadata`` (``MetadataBarrier``)."""
        validate_new_retention(retention)
        path = self._existing(key, version_id)
        with self._lock_of(key, path):
            record = self._sidecar.read(key)
            lockrules.refuse_retention_change(
                key, record.retention, retention, bypass_governance=bypass_governance
            )
            self._update(key, path, replace(record, retention=retention), durable)

    def set_retention_many(
        self, keys: Sequence[str], retention: Retention, *, durable: bool = True
    ) -> tuple[str, ...]:
        """``set_retention`` on each of ``keys`` (``RetentionBatch``), their records written
        in one transaction per ``_DIRECTORIES_PER_BATCH`` directories, whose locks are taken
        in sorted order (so two batches cannot deadlock).

        The keys an active lock forbids to change so (``ObjectLocked`` from ``set_retention``)
        are left as they are and returned. ``ObjectNotFound`` when a key is absent: every key
        is looked at first, so nothing changes then; a key deleted meanwhile fails its own
        transaction, the earlier ones stay (as they would have, key by key)."""
        validate_new_retention(retention)
        paths = {key: self._existing(key, None) for key in keys}
        keys_in: dict[Path, list[str]] = {}
        for key, path in paths.items():
            keys_in.setdefault(path.parent, []).append(key)
        directories = sorted(keys_in)
        refused: list[str] = []
        for start in range(0, len(directories), _DIRECTORIES_PER_BATCH):
            batch = directories[start : start + _DIRECTORIES_PER_BATCH]
            chosen = {key: paths[key] for directory in batch for key in keys_in[directory]}
            refused += self._retention_batch(
                chosen, [keys_in[d][0] for d in batch], retention, durable
            )
        return tuple(refused)

    def _retention_batch(
        self,
        paths: Mapping[str, Path],
        one_key_each: Sequence[str],
        retention: Retention,
        durable: bool,
    ) -> tuple[str, ...]:
        """One transaction of ``set_retention_many``, under the locks of the directories of
        ``paths`` (``one_key_each``: a key of each directory, in sorted order); the refused."""
        refused: list[str] = []
        with ExitStack() as stack:
            for key in one_key_each:
                stack.enter_context(self._lock_of(key, paths[key]))
            records = self._sidecar.read_many(paths)
            changed: dict[str, Record] = {}
            for key, path in paths.items():
                try:
                    lockrules.refuse_retention_change(
                        key, records[key].retention, retention, bypass_governance=False
                    )
                except ObjectLocked:
                    refused.append(key)
                    continue
                if not path.is_file():  # deleted before its directory was locked
                    raise ObjectNotFound(key)
                changed[key] = replace(records[key], retention=retention)
            self._sidecar.write_many(changed, durable=durable)
            for key, record in changed.items():
                self._protect(paths[key], record)
        return tuple(refused)

    def set_legal_hold(
        self, key: str, on: bool, *, version_id: str | None = None, durable: bool = True
    ) -> None:
        path = self._existing(key, version_id)
        with self._lock_of(key, path):
            self._update(key, path, replace(self._sidecar.read(key), legal_hold=on), durable)

    def sync_metadata(self) -> None:
        """Make every retention and legal hold set with ``durable=False`` durable at once."""
        self._sidecar.sync()

    def check(self) -> None:
        if not self.root.is_dir():
            raise StorageUnavailable(f"storage root {self.root} does not exist")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageUnavailable(f"storage root {self.root} is not writable")
        try:
            self._sidecar.check()
        except OSError as exc:
            raise StorageUnavailable(f"sidecar {self._sidecar.directory}: {exc}") from exc

    def sync(self, keys: Iterable[str]) -> None:
        """Make ``keys`` durable: the barrier of puts made with ``durable=False``;
        ``ObjectNotFound`` if a key is absent.

        When every key was put by this thread since its last barrier, one ``syncfs`` of the file
        system (``_Batch``) flushes them all, with their new directories and renames; otherwise
        each file is flushed once, then each directory entry on the way.
        """
        paths = {key: self._path(key) for key in keys}
        for key, path in paths.items():
            if not path.is_file():
                raise ObjectNotFound(key)
        if not paths:
            return
        batch: _Batch | None = getattr(self._batches, "batch", None)
        if batch is not None and paths.keys() <= batch.keys:
            self._batches.batch = None
            with self._unsynced_lock:
                created = set(self._unsynced_directories)
            batch.sync(self.root)
            with self._unsynced_lock:
                self._unsynced_directories -= created
            return
        for key, path in paths.items():
            try:
                _fsync_path(path, os.O_RDONLY)
            except (FileNotFoundError, IsADirectoryError) as exc:
                raise ObjectNotFound(key) from exc
        self._sync_directories({path.parent for path in paths.values()})

    def _batch(self) -> _Batch | None:
        """This thread's open batch of deferred puts (begun now if none); ``None`` where
        ``syncfs`` cannot serve as the barrier."""
        if _SYNCFS is None:
            return None
        batch: _Batch | None = getattr(self._batches, "batch", None)
        if batch is None:
            batch = self._batches.batch = _Batch(self.root)
        return batch

    # -- helpers -------------------------------------------------------------------------------

    def _sync_directories(self, directories: Iterable[Path]) -> None:
        """Flush each directory once, and the parents of those this process created unflushed."""
        flushed: set[Path] = set()
        for directory in sorted(directories, reverse=True):
            chain = [directory]
            with self._unsynced_lock:
                while chain[-1] in self._unsynced_directories:
                    chain.append(chain[-1].parent)
            for each in chain:
                if each not in flushed:
                    _fsync_directory(each)
                    flushed.add(each)
            with self._unsynced_lock:
                self._unsynced_directories.difference_update(chain)

    @contextmanager
    def _lock_of(self, key: str, path: Path) -> Iterator[None]:
        """The lock of an existing key's directory; ``ObjectNotFound`` if it has gone."""
        with ExitStack() as stack:
            try:
                stack.enter_context(_directory_lock(path.parent))
            except FileNotFoundError as exc:
                raise ObjectNotFound(key) from exc
            yield

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

    def _update(self, key: str, path: Path, record: Record, durable: bool = True) -> None:
        if not path.is_file():
            raise ObjectNotFound(key)
        self._sidecar.write(key, record, durable=durable)
        self._protect(path, record)

    @staticmethod
    def _protect(path: Path, record: Record) -> None:
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

    def _install(self, key: str, target: Path, temp: Path, record: Record | None) -> None:
        """Rename a verified temporary file over ``key`` (caller holds its directory's lock).

        ``record`` is written after the rename; ``None`` leaves the key without one.
        """
        if target.is_dir():
            raise StorageError(f"{key}: a directory of other objects has this name")
        old = self._sidecar.read(key)
        if lockrules.is_locked(old.retention, old.legal_hold):
            # Only the bytes the lock protects may be written again (a repair from a copy), and
            # a lock outlives a file that vanished: what is written back is locked as it was.
            digest = record.sha256 if record is not None else _read_digest(temp)
            protected = old.sha256 or _read_digest(target)
            if target.exists() and (protected is None or digest != protected):
                lockrules.refuse_overwrite(key, old.retention, old.legal_hold)
            record = replace(
                record or Record(digest), retention=old.retention, legal_hold=old.legal_hold
            )
        # Never leave a record describing other bytes: drop it before the rename (a key
        # without one, as every new key, costs no second look).
        if old != Record():
            self._sidecar.remove(key)
        os.replace(temp, target)
        if record is not None:
            _fsync_directory(target.parent)  # the bytes exist before a record describes them
            self._sidecar.write(key, record)
            self._protect(target, record)

    def _make_directories(self, directory: Path, key: str) -> None:
        """Create missing parents of an object (the root too); a later sync flushes them."""
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
            with self._unsynced_lock:
                self._unsynced_directories.add(new)

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
    """Copy ``stream`` into the open file ``descriptor`` (not flushed); hash on the way."""
    with os.fdopen(descriptor, "wb", closefd=False) as out:
        digest, size = copy_with_sha256(stream, cast(BinaryIO, out))
    return digest, size


def _tag_digest(descriptor: int, digest: str) -> bool:
    """Record ``digest`` on the file itself; ``False`` where extended attributes are refused."""
    try:
        os.setxattr(descriptor, DIGEST_ATTRIBUTE, digest.encode("ascii"))
    except OSError:
        return False
    return True


def _read_digest(path: Path) -> str | None:
    """The digest recorded on a file by ``_tag_digest``, if any."""
    try:
        return os.getxattr(path, DIGEST_ATTRIBUTE).decode("ascii")
    except OSError:
        return None


@contextmanager
def _directory_lock(directory: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``directory`` (threads and processes alike)."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


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


#: The first Linux release whose ``syncfs`` reports write-back errors (5.8) and passes the call
#: on to FUSE file systems (5.15).
SYNCFS_MINIMUM_KERNEL = (5, 15)


def _kernel_release() -> tuple[int, int]:
    """The running Linux kernel's major and minor release; (0, 0) when unreadable."""
    found = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return (int(found[1]), int(found[2])) if found else (0, 0)


def _load_syncfs() -> Callable[[int], int] | None:
    """libc's ``syncfs`` on a Linux kernel where it reports write-back errors, else ``None``."""
    if sys.platform != "linux" or _kernel_release() < SYNCFS_MINIMUM_KERNEL:
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function = libc.syncfs
    except (AttributeError, OSError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return cast(Callable[[int], int], function)


_SYNCFS = _load_syncfs()


class _Batch:
    """A thread's puts made with ``durable=False`` since its last barrier, and a descriptor of
    the storage root opened *before* the first of them wrote anything.

    ``syncfs`` reports a write-back error to each descriptor that has not seen it yet, counted
    from when the descriptor was opened — whoever else saw it first. A descriptor opened at the
    barrier could miss the failure of one of this batch's files that another caller had already
    been told of; this one cannot. (It may also report another writer's failure since it was
    opened: the batch then fails and is written again, the safe side.)
    """

    def __init__(self, root: Path) -> None:
        self.descriptor: int | None = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        self.keys: set[str] = set()

    def sync(self, root: Path) -> None:
        """Flush the whole file system holding ``root`` and end the batch; ``OSError`` on a
        write-back error."""
        assert _SYNCFS is not None and self.descriptor is not None
        try:
            if _SYNCFS(self.descriptor) != 0:
                error = ctypes.get_errno()
                raise OSError(error, f"syncfs {root}: {os.strerror(error)}")
        finally:
            self.close()

    def close(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)
            self.descriptor = None

    def __del__(self) -> None:  # a thread that ended with its batch open
        self.close()


def _fsync_directory(directory: Path) -> None:
    _fsync_path(directory, os.O_RDONLY | os.O_DIRECTORY)


def _fsync_path(path: Path, flags: int) -> None:
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _mtime(status: os.stat_result) -> datetime:
    return datetime.fromtimestamp(status.st_mtime, UTC)
