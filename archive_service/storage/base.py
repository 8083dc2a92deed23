"""The object storage port: one small interface, two adapters (filesystem, S3).

Keys are ``/``-separated paths without a leading slash. Digests are lower-case hex SHA-256.
Every adapter passes the same contract suite (``tests/integration/test_storage_contract.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import BinaryIO, Protocol, runtime_checkable


class RetentionMode(StrEnum):
    """S3 Object Lock modes: a privileged caller may bypass governance, never compliance."""

    GOVERNANCE = "GOVERNANCE"
    COMPLIANCE = "COMPLIANCE"


@dataclass(frozen=True)
class Retention:
    """Keep an object version unchanged and undeletable until ``until`` (timezone-aware)."""

    mode: RetentionMode
    until: datetime

    def __post_init__(self) -> None:
        if self.until.tzinfo is None:
            raise ValueError("retention dates must be timezone-aware")


@dataclass(frozen=True)
class Capabilities:
    """What a backend really enforces; callers adapt, tests assert."""

    versioning: bool
    object_lock: bool
    legal_hold: bool
    server_checksum: bool  # the server verifies a SHA-256 sent with the upload


@dataclass(frozen=True)
class ObjectInfo:
    """What the store says of one object version."""

    key: str
    size: int
    version_id: str | None = None
    last_modified: datetime | None = None
    sha256: str | None = None  # known when the backend recorded it; never an ETag
    retention: Retention | None = None
    legal_hold: bool = False
    metadata: Mapping[str, str] = field(default_factory=dict)
    latest: bool = True  # False only for the older versions ``list_versions`` gives


@dataclass(frozen=True)
class PutResult:
    """What was stored: the digest and size are those computed while uploading."""

    key: str
    size: int
    sha256: str
    version_id: str | None = None


class StorageError(Exception):
    """Any failure of the storage layer."""


class ObjectNotFound(StorageError):
    """The key (or the version) does not exist."""


class ObjectLocked(StorageError):
    """The store refused to delete or change a version under retention or legal hold."""


class ChecksumMismatch(StorageError):
    """The bytes received do not have the SHA-256 the caller expected; nothing was kept."""


class StorageUnavailable(StorageError):
    """The store could not be reached or answered with a server error."""


class StoreBusy(StorageError):
    """Another writer is changing the same object; nothing was changed."""


class WriterLockLost(StoreBusy):
    """The writer lock of an object was lost while it was being written (its database
    connection ended): another writer may hold it now, so nothing was committed and what was
    written is left for the next holder to clear."""


@runtime_checkable
class ObjectStore(Protocol):
    """Where archived bytes live."""

    @property
    def capabilities(self) -> Capabilities: ...

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
        """Store ``stream`` under ``key``, hashing on the way.

        With ``expected_sha256``, a mismatch raises ``ChecksumMismatch`` and leaves nothing
        visible. Without versioning, an existing key is replaced atomically.
        """
        ...

    def open(
        self,
        key: str,
        *,
        version_id: str | None = None,
        start: int = 0,
        length: int | None = None,
    ) -> AbstractContextManager[BinaryIO]:
        """Open an object (or a byte range of it) for streaming reads."""
        ...

    def stat(self, key: str, *, version_id: str | None = None) -> ObjectInfo:
        """Describe an object version; ``ObjectNotFound`` when absent."""
        ...

    def exists(self, key: str) -> bool:
        """Whether the latest version of ``key`` exists."""
        ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Latest versions of every object whose key starts with ``prefix``, sorted by key."""
        ...

    def list_versions(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every stored version (all of them where the backend keeps versions, each with its
        version id; ``latest`` tells the key's current one)."""
        ...

    def delete(
        self, key: str, *, version_id: str | None = None, bypass_governance: bool = False
    ) -> None:
        """Delete one version (or, without ``version_id``, the latest).

        Raises ``ObjectLocked`` when retention or a legal hold forbids it.
        """
        ...

    def set_retention(
        self,
        key: str,
        retention: Retention,
        *,
        version_id: str | None = None,
        bypass_governance: bool = False,
    ) -> None:
        """Set or extend a version's retention; shortening a compliance lock is refused."""
        ...

    def set_legal_hold(self, key: str, on: bool, *, version_id: str | None = None) -> None:
        """Place or lift a legal hold on a version."""
        ...

    def check(self) -> None:
        """Raise ``StorageUnavailable`` when the store cannot be used now (readiness probe)."""
        ...


@runtime_checkable
class SyncBarrier(Protocol):
    """A store whose writes can be made durable in batches (the filesystem store).

    Its ``put`` also accepts ``durable=False``: the key is written and renamed into place but
    neither the file nor its directory is flushed, so a crash may lose or tear it. ``sync``
    then makes every listed key, and the directory entries leading to it, durable at once. A
    store without this protocol (S3: every PUT is durable when acknowledged) needs no barrier.
    """

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
        """``ObjectStore.put``; with ``durable=False`` the key is not flushed until ``sync``."""
        ...

    def sync(self, keys: Iterable[str]) -> None:
        """Flush each of ``keys`` once and each directory their entries live in once."""
        ...


@runtime_checkable
class ExclusiveWriters(Protocol):
    """What can keep every other writer out of the keys under a prefix: the filesystem store
    (kernel locks that die with their holder), or for an S3 store, which has no such lock, the
    database's (``advisory_locks``) or a lock file beside an SQLite database (``setup``)."""

    def exclusive(self, prefix: str, *, timeout: float) -> AbstractContextManager[HeldLock]:
        """Be the only holder of ``prefix`` until the block ends; ``StoreBusy`` when another
        holder keeps it for ``timeout`` seconds."""
        ...


class HeldLock(Protocol):
    """A writer lock being held (what ``ExclusiveWriters.exclusive`` gives its block)."""

    def confirm(self) -> None:
        """Raise ``WriterLockLost`` unless the lock is still held (a writer asks just before
        it commits)."""
        ...


@runtime_checkable
class RetentionBatch(Protocol):
    """A store that gives many keys one retention at once (the filesystem store: its records
    of a batch in one transaction instead of one each)."""

    def set_retention_many(
        self, keys: Sequence[str], retention: Retention, *, durable: bool = True
    ) -> tuple[str, ...]:
        """``set_retention`` on many keys (no versions); returns the keys refused because an
        active lock forbids the change, which are left as they are."""
        ...


@runtime_checkable
class MetadataBarrier(Protocol):
    """A store whose retention and legal-hold changes can be made durable in batches (the
    filesystem store): with ``durable=False`` a change is in force at once but may be lost to
    a crash until ``sync_metadata`` returns. S3 needs none: each change is durable when
    acknowledged."""

    def set_retention(
        self,
        key: str,
        retention: Retention,
        *,
        version_id: str | None = None,
        bypass_governance: bool = False,
        durable: bool = True,
    ) -> None: ...

    def set_legal_hold(
        self, key: str, on: bool, *, version_id: str | None = None, durable: bool = True
    ) -> None: ...

    def sync_metadata(self) -> None:
        """Make every change made with ``durable=False`` durable."""
        ...
