"""Read a committed OCFL version back from storage and prove it holds what its inventory says.

Every key the head version added (its ``vN/`` directory) and every file at the object's root
(``inventory.json``, its sidecar, the object declaration) is streamed and hashed (several at a
time on a store that serves requests in parallel), each in the version that one listing of the
object's versions names as current: no request per key to learn its version. Content files
must hash to their manifest digest, the version's inventory copy to the root inventory's digest,
and every content file the head version's manifest names must exist. What was read becomes the
database's record of the object (key, store version id, size, SHA-256): fixity checks compare
later readings with it.

With ``keep_metadata`` (the pipeline's finish step) the verified bytes of the version's XML
files are kept, up to ``KEEP_FILE_BYTES`` each and ``KEEP_TOTAL_BYTES`` in all (reserved before
a read starts, so several reads at once stay within it), and ``StoredVersion.opener`` serves
them from memory; the version's other files it opens in the store version the read-back
verified. Only files an earlier version stored (unchanged files of a supplement) are read as
they are now.
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
    #: The root inventory the keys were checked against.
    inventory: Inventory = field(repr=False, compare=False)
    #: Content key → the verified bytes of a metadata file (``keep_metadata``).
    kept: Mapping[str, bytes] = field(default_factory=dict, repr=False, compare=False)

    def opener(
        self, repository: OcflRepository
    ) -> Callable[[str], AbstractContextManager[BinaryIO]]:
        """``OcflRepository.opener`` for this version: over the inventory that was checked,
        the kept files from memory, the version's other keys in the store version read back."""
        return repository.opener(
            self.object_id,
            self.version,
            inventory=self.inventory,
            preread=self.kept,
            versions={key.key: key.version_id for key in self.keys if key.version_id},
        )


def head_message(repository: OcflRepository, object_id: str) -> str | None:
    """The message of the object's head version; ``None`` when the object has none committed."""
    if not repository.exists(object_id):
        return None
    inventory = repository.inventory(object_id)
    return str(inventory["versions"][inventory["head"]].get("message", ""))


def read_back_head(
    repository: OcflRepository, object_id: str, *, keep_metadata: bool = False
) -> StoredVersion:
    """Re-read and verify the head version's keys; ``StoredVersionCorrupt`` on any mismatch.
    ``keep_metadata``: keep the verified bytes of its XML files (see the module text)."""
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
    versioned = repository.store.capabilities.versioning  # else no version ids, as ``stat``
    budget = _Budget(KEEP_TOTAL_BYTES if keep_metadata else 0)
    stored = tuple(
        each(
            sorted(current),
            lambda key: _read(repository, current[key], expected.get(key), versioned, budget),
            parallel_requests(repository.store),
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
    """Room for kept metadata files, reserved before each read (reads run on several threads)."""

    def __init__(self, total: int) -> None:
        self.kept: dict[str, bytes] = {}
        self._left = total
        self._lock = threading.Lock()

    def reserve(self, info: ObjectInfo, expected: str | None) -> int:
        """Bytes reserved to keep this key (its listed size), or 0: not metadata with a digest
        to check, or no room left."""
        if expected is None or not info.key.endswith(".xml") or info.size > KEEP_FILE_BYTES:
            return 0
        with self._lock:
            if info.size > self._left:
                return 0
            self._left -= info.size
            return info.size

    def keep(self, key: str, data: bytes) -> None:
        with self._lock:
            self.kept[key] = data


def _read(
    repository: OcflRepository,
    info: ObjectInfo,
    expected: str | None,
    versioned: bool,
    budget: _Budget,
) -> StoredKey:
    """Stream and hash the listed version of one key (the listing named it: no lookup); keep
    its bytes when the budget reserved room for them and they hash as expected."""
    version_id = info.version_id if versioned else None
    reserved = budget.reserve(info, expected)
    chunks: list[bytes] | None = [] if reserved else None
    with repository.store.open(info.key, version_id=version_id) as stream:
        reader = HashingReader(stream)
        for chunk in iter_chunks(cast(BinaryIO, reader)):
            if chunks is not None and reader.size <= reserved:
                chunks.append(chunk)
            else:  # not kept, or larger than listed: streamed only
                chunks = None
    sha256, size = reader.sha256, reader.size
    if expected is not None and sha256 != expected:
        raise StoredVersionCorrupt(
            f"{info.key}: stored bytes have SHA-256 {sha256}, expected {expected}"
        )
    if chunks is not None:
        budget.keep(info.key, b"".join(chunks))
    return StoredKey(info.key, version_id or "", size, sha256)
