"""OCFL 1.1 objects on any ``ObjectStore``: one archival package per object, one version per change.

The storage root uses extension 0003 (``ocfl_layout.py``); inventories are built in
``ocfl_inventory.py``. Keys are the OCFL paths, so a filesystem store *is* an OCFL storage root
and an S3 bucket holds the same tree.

Writing a version follows one order, which makes the root ``inventory.json`` the commit point:

1. the new content files under ``vN/content/`` (streamed, hashed on the way);
2. ``vN/inventory.json`` then ``vN/inventory.json.sha256``;
3. for a new object, its ``0=ocfl_object_1.1`` declaration;
4. the root ``inventory.json`` (atomic replace: rename on disk, one PUT on S3) — committed;
5. the root ``inventory.json.sha256``.

On a store with a ``SyncBarrier`` (the filesystem) the files of steps 1–3 are written without
flushing each one, then made durable by one barrier, so that everything the root inventory
references is on disk before it is written; the root inventory and its sidecar are flushed as
they are written. Every S3 PUT is durable when acknowledged.

Until step 4 the previous version stays the object's head, intact and readable; ``recover()``
deletes the keys of a version the root inventory does not know. After step 4 a missing or stale
root sidecar is accepted when it matches the head version's sidecar and is rewritten by
``recover()``. Only one writer may change a given object at a time (the database serialises
writers); readers may run concurrently. On a store that has them (the filesystem),
``exclusive`` enforces this with a lock that dies with its holder, so a writer presumed dead
(its lease ran out) cannot have its half-written version removed under it, nor write into
another's.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Concatenate, ParamSpec, TypeVar, cast

from archive_service.storage.base import (
    ChecksumMismatch,
    ExclusiveWriters,
    HeldLock,
    ObjectNotFound,
    ObjectStore,
    PutResult,
    StorageError,
    SyncBarrier,
)
from archive_service.storage.concurrency import each, parallel_requests
from archive_service.storage.ocfl_inventory import (
    CONTENT_DIRECTORY,
    INVENTORY_FILE,
    OBJECT_DECLARATION,
    OBJECT_DECLARATION_FILE,
    SIDECAR_FILE,
    InvalidLogicalPath,
    Inventory,
    InventoryCorrupt,
    OcflError,
    check_inventory,
    check_logical_path,
    check_non_conflicting,
    check_user_address,
    format_created,
    parse_sidecar,
    serialize,
    sha256_hex,
    sidecar,
    state_of,
    version_name,
    version_number,
    with_new_version,
)
from archive_service.storage.ocfl_layout import (
    LAYOUT_KEY,
    ROOT_DECLARATION,
    ROOT_DECLARATION_KEY,
    HashAndIdNTupleLayout,
    parse_layout_config,
)
from archive_service.storage.validation import InvalidKey, validate_key
from archive_service.streams import FileSource, HashingReader, iter_chunks

__all__ = [
    "InvalidLogicalPath",
    "InventoryCorrupt",
    "LayoutMismatch",
    "OcflError",
    "OcflRepository",
    "StateEntry",
    "VersionResult",
    "WrittenContent",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")

MAX_INVENTORY_BYTES = 256 * 1024 * 1024
#: How long a writer waits for another writer of the same object before ``StoreBusy``: a
#: version of a large dossier takes seconds; a holder gone for longer is stuck, not slow.
WRITER_WAIT_SECONDS = 30.0
#: Content files up to this size are written several at a time (``concurrency``).
PARALLEL_FILE_BYTES = 1024 * 1024


class LayoutMismatch(OcflError):
    """The store holds a storage root this repository cannot use (other layout or version)."""


@dataclass(frozen=True)
class StateEntry:
    """One logical file of a version: its digest and the key that holds its bytes."""

    digest: str
    content_key: str


@dataclass(frozen=True)
class WrittenContent:
    """A content file stored by ``add_version`` (bytes not already in the object)."""

    key: str
    logical_paths: tuple[str, ...]
    sha256: str
    size: int


@dataclass(frozen=True)
class VersionResult:
    """What ``add_version`` committed."""

    object_id: str
    version: str
    object_root: str
    inventory_sha256: str
    written: tuple[WrittenContent, ...]


@dataclass(frozen=True)
class _Committed:
    inventory: Inventory
    sha256: str
    sidecar_current: bool


def _one_writer(
    method: Callable[Concatenate[OcflRepository, str, _P], _R],
) -> Callable[Concatenate[OcflRepository, str, _P], _R]:
    """The method, run as the only writer of its object (``OcflRepository.exclusive``)."""

    @functools.wraps(method)
    def exclusively(
        self: OcflRepository, object_id: str, *args: _P.args, **kwargs: _P.kwargs
    ) -> _R:
        with self.exclusive(object_id):
            return method(self, object_id, *args, **kwargs)

    return exclusively


class OcflRepository:
    """An OCFL 1.1 storage root (layout 0003, sha256, 3×3 tuples) kept in an ``ObjectStore``."""

    def __init__(self, store: ObjectStore, *, writers: ExclusiveWriters | None = None) -> None:
        """``writers`` keep one writer per object where ``store`` cannot (S3); a store that
        can (the filesystem) is its own."""
        self._store = store
        self._writers = store if isinstance(store, ExclusiveWriters) else writers
        self._barrier = store if isinstance(store, SyncBarrier) else None
        self._layout = HashAndIdNTupleLayout()
        self._root_checked = False
        self._writing = threading.local()  # .objects: the objects this thread holds

    @property
    def store(self) -> ObjectStore:
        """The object store holding the storage root (to stat or re-read stored keys)."""
        return self._store

    @contextlib.contextmanager
    def exclusive(self, object_id: str, *, wait: float | None = None) -> Iterator[None]:
        """Be the only writer of the object until the block ends: ``StoreBusy`` when another
        keeps it for ``wait`` seconds (``WRITER_WAIT_SECONDS``). ``add_version`` and
        ``recover`` take it themselves; a caller holds it to decide and write under one lock.
        Re-entrant within a thread. Without writer locks (an S3 store on its own) nothing
        is locked."""
        held = self._held_here()
        if object_id in held or self._writers is None:
            yield
            return
        timeout = WRITER_WAIT_SECONDS if wait is None else wait
        with self._writers.exclusive(self.object_root(object_id), timeout=timeout) as lock:
            held[object_id] = lock
            try:
                yield
            finally:
                del held[object_id]

    def _held_here(self) -> dict[str, HeldLock]:
        """The objects this thread holds, with their locks; none in a forked child, whose
        inherited locks were closed at the fork (``writer_locks``)."""
        if getattr(self._writing, "pid", None) != os.getpid():
            self._writing.pid, self._writing.objects = os.getpid(), {}
        return cast(dict[str, HeldLock], self._writing.objects)

    def _confirm_writer(self, object_id: str) -> None:
        """``WriterLockLost`` if this thread's lock of the object was lost (on PostgreSQL, with
        its connection): what is written may be another writer's, so nothing is committed."""
        lock = self._held_here().get(object_id)
        if lock is not None:
            lock.confirm()

    # The storage root

    def initialize(self) -> None:
        """Create the storage root, or check that the existing one uses this layout.

        Idempotent: completes a half-written root; raises ``LayoutMismatch`` for a root with
        another OCFL version, another layout or other layout parameters.
        """
        config = self._layout.config()
        declarations = [i.key for i in self._store.list("0=") if i.key != ROOT_DECLARATION_KEY]
        if declarations:
            raise LayoutMismatch(
                f"the store holds another storage root declaration: {declarations}"
            )
        self._ensure_root_file(
            self._layout.config_key,
            _json_bytes(config),
            lambda data: parse_layout_config(data) == config,
        )
        self._ensure_root_file(
            LAYOUT_KEY,
            _json_bytes(self._layout.layout_declaration()),
            lambda data: json.loads(data).get("extension") == self._layout.name,
        )
        self._ensure_root_file(
            ROOT_DECLARATION_KEY, ROOT_DECLARATION, lambda data: data == ROOT_DECLARATION
        )
        self._root_checked = True

    def _ensure_root_file(self, key: str, content: bytes, same: Callable[[bytes], bool]) -> None:
        try:
            existing = self._read(key, limit=64 * 1024)
        except ObjectNotFound:
            self._put_bytes(key, content)
            return
        try:
            matches = same(existing)
        except (ValueError, AttributeError):
            matches = False
        if not matches:
            raise LayoutMismatch(f"storage root file {key} differs from this repository's layout")

    def _require_root(self) -> None:
        if not self._root_checked:
            if not self._store.exists(ROOT_DECLARATION_KEY):
                raise OcflError("the store is not an OCFL storage root yet: call initialize()")
            self._root_checked = True

    # Reading objects

    def object_root(self, object_id: str) -> str:
        """Key prefix (directory, no trailing ``/``) of the object in the storage root."""
        return self._layout.object_path(object_id)

    def exists(self, object_id: str) -> bool:
        """Whether the object has a committed version."""
        return self._store.exists(f"{self.object_root(object_id)}/{INVENTORY_FILE}")

    def head(self, object_id: str) -> str | None:
        """The object's latest committed version (``"v3"``), ``None`` when there is none."""
        committed = self._load(object_id)
        return None if committed is None else str(committed.inventory["head"])

    def inventory(self, object_id: str) -> Inventory:
        """The root inventory, checked against its sidecar digest; ``ObjectNotFound`` if absent."""
        return self._require(object_id).inventory

    def state(
        self, object_id: str, version: str | None = None, *, inventory: Inventory | None = None
    ) -> dict[str, StateEntry]:
        """Logical path → digest and content key, for ``version`` (the head when ``None``);
        ``inventory``: the root inventory already read and checked, not to read it again."""
        if inventory is None:
            inventory = self._require(object_id).inventory
        try:
            paths = state_of(inventory, version)
        except KeyError:
            raise ObjectNotFound(f"OCFL object {object_id!r} has no version {version!r}") from None
        root = self.object_root(object_id)
        manifest = inventory["manifest"]
        return {
            path: StateEntry(digest=digest, content_key=f"{root}/{manifest[digest][0]}")
            for path, digest in sorted(paths.items())
        }

    def open(
        self, object_id: str, logical_path: str, version: str | None = None
    ) -> AbstractContextManager[BinaryIO]:
        """Open a logical file of a version (the head when ``None``) for streaming reads."""
        return self.opener(object_id, version)(logical_path)

    def opener(
        self,
        object_id: str,
        version: str | None = None,
        *,
        inventory: Inventory | None = None,
        preread: Mapping[str, bytes] | None = None,
        versions: Mapping[str, str] | None = None,
    ) -> Callable[[str], AbstractContextManager[BinaryIO]]:
        """``open`` for many files of one version: the inventory is read (and checked) once,
        not once per file — on S3, three requests per file become one; or not at all when the
        caller gives the one it read (``state``). ``preread``: content key → the bytes the
        caller already read and verified, served from memory; ``versions``: content key → the
        store version to read."""
        state = self.state(object_id, version, inventory=inventory)
        held, pinned = preread or {}, versions or {}

        def open_file(logical_path: str) -> AbstractContextManager[BinaryIO]:
            entry = state.get(logical_path)
            if entry is None:
                raise ObjectNotFound(
                    f"OCFL object {object_id!r} has no file {logical_path!r} "
                    f"in version {version or 'head'}"
                )
            data = held.get(entry.content_key)
            if data is not None:
                return contextlib.nullcontext(cast(BinaryIO, io.BytesIO(data)))
            return self._store.open(entry.content_key, version_id=pinned.get(entry.content_key))

        return open_file

    def content_keys(self, object_id: str) -> list[str]:
        """Every key stored under the object root, sorted (committed or not)."""
        return [info.key for info in self._store.list(f"{self.object_root(object_id)}/")]

    # Writing objects

    @_one_writer
    def add_version(
        self,
        object_id: str,
        changes: Mapping[str, FileSource],
        *,
        removed: Iterable[str] = (),
        message: str,
        user_name: str,
        user_address: str,
        created: datetime,
    ) -> VersionResult:
        """Commit a new version: the head's state, minus ``removed``, with ``changes`` applied.

        ``v1`` when the object is new. Only bytes the object does not hold yet are stored; a
        ``FileSource.sha256`` already in the manifest is trusted and not read at all. A declared
        ``sha256`` or ``size`` that differs from the bytes read raises ``ChecksumMismatch``
        and nothing becomes visible. ``user_address`` is a URI (``mailto:…``), ``created``
        timezone-aware. On any error the partial version is removed (best effort) and the
        previous head stays current; if only the final sidecar write failed, the version is
        committed (``head()`` tells) and ``recover()`` rewrites the sidecar.
        """
        removed_paths = set(removed)
        _check_request(changes, removed_paths, user_name, user_address, created)
        self._require_root()
        self.recover(object_id)
        previous = self._load(object_id)
        prior_inventory = previous.inventory if previous else None
        prior_state = state_of(prior_inventory) if prior_inventory else {}
        version = version_name(_head_number(prior_inventory) + 1)
        root = self.object_root(object_id)
        _check_new_state(f"{root}/{version}", changes, removed_paths, set(prior_state))
        manifest = {d: list(p) for d, p in (prior_inventory or {}).get("manifest", {}).items()}
        try:
            written, digests = self._write_content(object_id, version, changes, manifest)
            state = {p: d for p, d in prior_state.items() if p not in removed_paths} | digests
            inventory = with_new_version(
                prior_inventory,
                object_id,
                version=version,
                manifest=manifest,
                state=state,
                created=created,
                message=message,
                user_name=user_name,
                user_address=user_address,
            )
            data = serialize(inventory)
            digest = sha256_hex(data)
            version_files = {
                f"{root}/{version}/{INVENTORY_FILE}": data,
                f"{root}/{version}/{SIDECAR_FILE}": sidecar(digest),
            }
            if prior_inventory is None:
                version_files[f"{root}/{OBJECT_DECLARATION_FILE}"] = OBJECT_DECLARATION
            for key, content in version_files.items():
                self._put_bytes(key, content, durable=False)
            # One barrier for the version's content and its own files: until the root
            # inventory below names it, a version directory is invisible, and a partial one is
            # removed by ``recover``; only the order against the root inventory matters.
            self._sync([*(item.key for item in written), *version_files])
            self._confirm_writer(object_id)
            self._put_bytes(f"{root}/{INVENTORY_FILE}", data)
        except BaseException:
            with contextlib.suppress(StorageError):
                self._confirm_writer(object_id)  # a lock lost: the keys may be another's now
                self.recover(object_id)
            raise
        self._put_bytes(f"{root}/{SIDECAR_FILE}", sidecar(digest))
        return VersionResult(object_id, version, root, digest, tuple(written))

    def _write_content(
        self,
        object_id: str,
        version: str,
        changes: Mapping[str, FileSource],
        manifest: dict[str, list[str]],
    ) -> tuple[list[WrittenContent], dict[str, str]]:
        """Store the bytes ``manifest`` lacks; return what was written and path → digest.

        Small files are written several at a time on a store that serves requests in parallel
        (``concurrency``); larger ones one at a time, so memory stays bounded. Every write has
        ended before this returns or raises."""
        root = self.object_root(object_id)
        digests: dict[str, str] = {}
        planned: list[tuple[str, str, FileSource]] = []  # (path, content path, source)
        declared_planned: set[str] = set()
        for path in sorted(changes):
            source = changes[path]
            declared = source.sha256.lower() if source.sha256 else None
            if declared is not None and (declared in manifest or declared in declared_planned):
                digests[path] = declared
                continue
            if declared is not None:
                declared_planned.add(declared)
            planned.append((path, f"{version}/{CONTENT_DIRECTORY}/{path}", source))

        def put(item: tuple[str, str, FileSource]) -> tuple[str, int]:
            path, content_path, source = item
            return self._put_source(object_id, path, f"{root}/{content_path}", source)

        small = [item for item in planned if _small(item[2])]
        parallel = parallel_requests(self._store)
        results = dict(zip([item[0] for item in small], each(small, put, parallel), strict=True))
        results.update((item[0], put(item)) for item in planned if not _small(item[2]))
        stored: dict[str, tuple[str, int]] = {}
        for path, content_path, _source in planned:
            digest, size = results[path]
            digests[path] = digest
            if digest in manifest:  # same bytes already held; the digest was not declared
                self._store.delete(f"{root}/{content_path}")
                continue
            manifest[digest] = [content_path]
            stored[digest] = (f"{root}/{content_path}", size)
        written = [
            WrittenContent(
                key=key,
                logical_paths=tuple(p for p, d in digests.items() if d == digest),
                sha256=digest,
                size=size,
            )
            for digest, (key, size) in stored.items()
        ]
        return written, digests

    def _put_source(
        self, object_id: str, path: str, key: str, source: FileSource
    ) -> tuple[str, int]:
        """Stream one file into ``key``; check it against what the source declared."""
        declared = source.sha256.lower() if source.sha256 else None
        where = f"OCFL object {object_id!r}, file {path!r}"
        with source.open() as stream:
            reader = _SizeCheckingReader(stream, source.size, where)
            try:
                result = self._put(
                    key,
                    cast(BinaryIO, reader),
                    size=source.size,
                    expected_sha256=declared,
                    durable=False,
                )
            except _SizeBroken:
                raise
            except ChecksumMismatch as exc:
                raise ChecksumMismatch(f"{where}: bytes do not have SHA-256 {declared}") from exc
            if reader.read(1):
                raise StorageError(f"{where}: the store stopped reading before the end")
        if declared is not None and reader.sha256 != declared:
            raise ChecksumMismatch(f"{where}: SHA-256 {reader.sha256}, declared {declared}")
        if (result.sha256, result.size) != (reader.sha256, reader.size):
            raise StorageError(f"{where}: the store kept other bytes than were sent to {key}")
        return reader.sha256, reader.size

    # Recovery

    @_one_writer
    def recover(self, object_id: str) -> list[str]:
        """Delete what an interrupted ``add_version`` left; return the deleted keys.

        Removes every key under a version directory newer than the committed head (all of a
        never-committed new object) and rewrites a stale root sidecar. Refuses (with
        ``InventoryCorrupt``) to delete anything from an object whose root inventory is missing
        while it holds more than a partial ``v1``.
        """
        root = self.object_root(object_id)
        keys = self.content_keys(object_id)
        if not keys:
            return []
        committed = self._load(object_id)
        if committed is None:
            leftovers = keys
            foreign = [k for k in keys if not _is_partial_first_version(root, k)]
            if foreign:
                raise InventoryCorrupt(
                    f"OCFL object {object_id!r} has no root inventory but holds {foreign[:5]}; "
                    "nothing was deleted"
                )
        else:
            if not committed.sidecar_current:
                self._put_bytes(f"{root}/{SIDECAR_FILE}", sidecar(committed.sha256))
            head = _head_number(committed.inventory)
            leftovers = [k for k in keys if (_version_of(root, k) or 0) > head]
        for key in leftovers:
            with contextlib.suppress(ObjectNotFound):
                self._store.delete(key)
        return leftovers

    # Storage helpers

    def _require(self, object_id: str) -> _Committed:
        committed = self._load(object_id)
        if committed is None:
            raise ObjectNotFound(f"no OCFL object {object_id!r}")
        return committed

    def _load(self, object_id: str) -> _Committed | None:
        """The committed root inventory, checked against the root (or head version) sidecar."""
        root = self.object_root(object_id)
        try:
            data = self._read(f"{root}/{INVENTORY_FILE}", limit=MAX_INVENTORY_BYTES)
        except ObjectNotFound:
            return None
        digest = sha256_hex(data)
        try:
            inventory = check_inventory(json.loads(data), object_id)
        except ValueError as exc:
            raise InventoryCorrupt(f"inventory of {object_id!r} is not valid JSON: {exc}") from exc
        if self._read_sidecar(f"{root}/{SIDECAR_FILE}") == digest:
            return _Committed(inventory, digest, sidecar_current=True)
        if self._read_sidecar(f"{root}/{inventory['head']}/{SIDECAR_FILE}") == digest:
            return _Committed(inventory, digest, sidecar_current=False)
        raise InventoryCorrupt(f"inventory of {object_id!r} does not match its sha256 sidecar")

    def _read_sidecar(self, key: str) -> str | None:
        try:
            return parse_sidecar(self._read(key, limit=1024))
        except ObjectNotFound:
            return None

    def _read(self, key: str, *, limit: int) -> bytes:
        """A small stored object (inventory, sidecar, root file), at most ``limit`` bytes."""
        buffer = bytearray()
        with self._store.open(key) as stream:
            for chunk in iter_chunks(stream):
                buffer += chunk
                if len(buffer) > limit:
                    raise OcflError(f"{key} is larger than {limit} bytes")
        return bytes(buffer)

    def _put_bytes(self, key: str, data: bytes, *, durable: bool = True) -> None:
        self._put(
            key, io.BytesIO(data), size=len(data), expected_sha256=sha256_hex(data), durable=durable
        )

    def _put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        size: int | None,
        expected_sha256: str | None,
        durable: bool,
    ) -> PutResult:
        """Store ``stream``; unflushed when ``durable`` is false and the store has a barrier."""
        if self._barrier is not None:
            return self._barrier.put(
                key, stream, size=size, expected_sha256=expected_sha256, durable=durable
            )
        return self._store.put(key, stream, size=size, expected_sha256=expected_sha256)

    def _sync(self, keys: Iterable[str]) -> None:
        """The barrier: every key put with ``durable=False`` so far is on disk afterwards."""
        if self._barrier is not None:
            self._barrier.sync(keys)


class _SizeBroken(ChecksumMismatch):
    """A source yielded more or fewer bytes than it declared."""


class _SizeCheckingReader(HashingReader):
    """Hashes what is read and stops as soon as the stream breaks its declared size."""

    def __init__(self, stream: BinaryIO, declared_size: int | None, where: str) -> None:
        super().__init__(stream)
        self._declared_size = declared_size
        self._where = where

    def read(self, n: int = -1) -> bytes:
        data = super().read(n)
        expected = self._declared_size
        if expected is not None:
            if self.size > expected:
                raise _SizeBroken(f"{self._where}: more than {expected} bytes (declared size)")
            if not data and n != 0 and self.size < expected:
                raise _SizeBroken(f"{self._where}: {self.size} bytes, declared {expected}")
        return data


def _check_request(
    changes: Mapping[str, FileSource],
    removed: set[str],
    user_name: str,
    user_address: str,
    created: datetime,
) -> None:
    """Refuse a malformed ``add_version`` call before touching the store."""
    for path in [*changes, *removed]:
        check_logical_path(path)
    both = sorted(removed & set(changes))
    if both:
        raise InvalidLogicalPath(f"paths both changed and removed: {both}")
    if not user_name.strip():
        raise ValueError("a version needs the name of the user who made it")
    check_user_address(user_address)
    format_created(created)


def _check_new_state(
    version_key: str, changes: Mapping[str, FileSource], removed: set[str], prior: set[str]
) -> None:
    """Refuse removals of unknown paths, conflicting paths and keys no store accepts."""
    missing = sorted(removed - prior)
    if missing:
        raise InvalidLogicalPath(f"cannot remove {missing}: not in the head version")
    check_non_conflicting((prior - removed) | set(changes))
    for path in changes:
        try:
            validate_key(f"{version_key}/{CONTENT_DIRECTORY}/{path}")
        except InvalidKey as exc:
            raise InvalidLogicalPath(f"logical path {path!r} cannot be stored: {exc}") from exc


def _head_number(inventory: Inventory | None) -> int:
    """The head's version number, 0 before the first version."""
    return version_number(str(inventory["head"])) or 0 if inventory else 0


def _version_of(root: str, key: str) -> int | None:
    """The version number of the directory ``key`` lies in, ``None`` outside version dirs."""
    relative = key[len(root) + 1 :]
    first, _, rest = relative.partition("/")
    return version_number(first) if rest else None


def _is_partial_first_version(root: str, key: str) -> bool:
    return key == f"{root}/{OBJECT_DECLARATION_FILE}" or _version_of(root, key) == 1


def _json_bytes(value: object) -> bytes:
    return (json.dumps(value, indent=2) + "\n").encode("utf-8")


def _small(source: FileSource) -> bool:
    """Known to be small enough to be written beside others (``PARALLEL_FILE_BYTES``)."""
    return source.size is not None and source.size <= PARALLEL_FILE_BYTES
