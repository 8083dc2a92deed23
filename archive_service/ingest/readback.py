"""Read a committed OCFL version back from storage and prove it holds what its inventory says.

Every key the head version added (its ``vN/`` directory) and every file at the object's root
(``inventory.json``, its sidecar, the object declaration) is streamed and hashed (several at a
time on a store that serves requests in parallel), each in the version that one listing of the
object's versions names as current: no request per key to learn its version. Content files
must hash to their manifest digest, the version's inventory copy to the root inventory's digest,
and every content file the head version's manifest names must exist. What was read becomes the
database's record of the object (key, store version id, size, SHA-256): fixity checks compare
later readings with it. The metadata files read back (XML, up to ``KEEP_FILE_BYTES`` each and
``KEEP_TOTAL_BYTES`` in all) are kept, so that the catalogue is made from the very bytes that were
verified (``StoredVersion.opener``) instead of reading them once more.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import BinaryIO, cast

from archive_service.storage.base import ObjectInfo, StorageError
from archive_service.storage.concurrency import each, parallel_requests
from archive_service.storage.ocfl import OcflRepository
from archive_service.storage.ocfl_inventory import Inventory
from archive_service.streams import HashingReader, iter_chunks

INVENTORY = "inventory.json"
#: Metadata files kept in memory by the read-back: each up to this size, all up to the total.
KEEP_FILE_BYTES = 8 * 1024 * 1024
KEEP_TOTAL_BYTES = 32 * 1024 * 1024


class StoredVersionCorrupt(StorageError):
    """What storage gives back is not what the committed inventory says."""


@dataclass(frozen=True)
class StoredKey:
    """One object in storage as read back: key, store version id ("" without versions)."""

    key: str
    version_id: str
    size: int
    sha256: str


@dataclass(frozen=True)
class StoredVersion:
    """A committed OCFL version as read back."""

    object_id: str
    version: str
    message: str
    keys: tuple[StoredKey, ...]
    inventory: Inventory  # the root inventory the keys were checked against
    kept: Mapping[str, bytes] = field(default_factory=dict)  # content key → verified bytes

    def opener(
        self, repository: OcflRepository
    ) -> Callable[[str], AbstractContextManager[BinaryIO]]:
        """``OcflRepository.opener`` for this version: the inventory that was checked, and the
        kept metadata files served from memory."""
        return repository.opener(
            self.object_id, self.version, inventory=self.inventory, preread=self.kept
        )


def head_message(repository: OcflRepository, object_id: str) -> str | None:
    """The message of the object's head version; ``None`` when the object has none committed."""
    if not repository.exists(object_id):
        return None
    inventory = repository.inventory(object_id)
    return str(inventory["versions"][inventory["head"]].get("message", ""))


def read_back_head(repository: OcflRepository, object_id: str) -> StoredVersion:
    """Re-read and verify the head version's keys; ``StoredVersionCorrupt`` on any mismatch."""
    inventory = repository.inventory(object_id)
    head = str(inventory["head"])
    root = repository.object_root(object_id)
    expected = {
        f"{root}/{path}": digest
        for digest, paths in inventory["manifest"].items()
        for path in paths
        if path.startswith(f"{head}/")
    }
    current = {
        info.key: info
        for info in repository.store.list_versions(f"{root}/")
        if info.latest
        and (info.key.startswith(f"{root}/{head}/") or "/" not in info.key[len(root) + 1 :])
    }
    inventories = (f"{root}/{INVENTORY}", f"{root}/{head}/{INVENTORY}")
    missing = sorted((set(expected) | set(inventories)) - set(current))
    if missing:
        raise StoredVersionCorrupt(f"OCFL object {object_id!r} {head}: missing {missing[:5]}")
    parallel = parallel_requests(repository.store)
    budget = _Budget(KEEP_TOTAL_BYTES)
    stored = tuple(
        each(
            sorted(current),
            lambda key: _read(repository, current[key], expected.get(key), budget),
            parallel,
        )
    )
    root_copy, version_copy = (next(s for s in stored if s.key == key) for key in inventories)
    if root_copy.sha256 != version_copy.sha256:
        raise StoredVersionCorrupt(
            f"OCFL object {object_id!r}: root inventory differs from the {head} inventory"
        )
    message = str(inventory["versions"][head].get("message", ""))
    return StoredVersion(object_id, head, message, stored, inventory, budget.kept)


class _Budget:
    """The metadata files kept so far, within a total size (reads run on several threads)."""

    def __init__(self, total: int) -> None:
        self.kept: dict[str, bytes] = {}
        self._left = total
        self._lock = threading.Lock()

    def wants(self, info: ObjectInfo) -> bool:
        return info.key.endswith(".xml") and info.size <= min(KEEP_FILE_BYTES, self._left)

    def keep(self, key: str, data: bytes) -> None:
        with self._lock:
            if len(data) <= min(KEEP_FILE_BYTES, self._left):
                self.kept[key] = data
                self._left -= len(data)


def _read(
    repository: OcflRepository, info: ObjectInfo, expected: str | None, budget: _Budget
) -> StoredKey:
    """Stream and hash the listed version of one key (the listing named it: no lookup); keep
    its bytes when they are metadata within the budget and hash as expected."""
    chunks: list[bytes] | None = [] if budget.wants(info) else None
    with repository.store.open(info.key, version_id=info.version_id) as stream:
        reader = HashingReader(stream)
        for chunk in iter_chunks(cast(BinaryIO, reader)):
            if chunks is not None and reader.size <= KEEP_FILE_BYTES:
                chunks.append(chunk)
            else:  # not metadata, or larger than listed: streamed only
                chunks = None
    sha256, size = reader.sha256, reader.size
    if expected is not None and sha256 != expected:
        raise StoredVersionCorrupt(
            f"{info.key}: stored bytes have SHA-256 {sha256}, expected {expected}"
        )
    if chunks is not None:
        budget.keep(info.key, b"".join(chunks))
    return StoredKey(info.key, info.version_id or "", size, sha256)
