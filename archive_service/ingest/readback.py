"""Read a committed OCFL version back from storage and prove it holds what its inventory says.

Every key the head version added (its ``vN/`` directory) and every file at the object's root
(``inventory.json``, its sidecar, the object declaration) is streamed and hashed (several at a
time on a store that serves requests in parallel), each in the version that one listing of the
object's versions names as current: no request per key to learn its version. Content files
must hash to their manifest digest, the version's inventory copy to the root inventory's digest,
and every content file the head version's manifest names must exist. What was read becomes the
database's record of the object (key, store version id, size, SHA-256): fixity checks compare
later readings with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from archive_service.storage.base import ObjectInfo, StorageError
from archive_service.storage.concurrency import each, parallel_requests
from archive_service.storage.ocfl import OcflRepository
from archive_service.storage.ocfl_inventory import Inventory
from archive_service.streams import sha256_of_stream

INVENTORY = "inventory.json"


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
    stored = tuple(
        each(
            sorted(current),
            lambda key: _read(repository, current[key], expected.get(key)),
            parallel,
        )
    )
    root_copy, version_copy = (next(s for s in stored if s.key == key) for key in inventories)
    if root_copy.sha256 != version_copy.sha256:
        raise StoredVersionCorrupt(
            f"OCFL object {object_id!r}: root inventory differs from the {head} inventory"
        )
    message = str(inventory["versions"][head].get("message", ""))
    return StoredVersion(object_id, head, message, stored, inventory)


def _read(repository: OcflRepository, info: ObjectInfo, expected: str | None) -> StoredKey:
    """Stream and hash the listed version of one key (the listing named it: no lookup)."""
    with repository.store.open(info.key, version_id=info.version_id) as stream:
        sha256, size = sha256_of_stream(stream)
    if expected is not None and sha256 != expected:
        raise StoredVersionCorrupt(
            f"{info.key}: stored bytes have SHA-256 {sha256}, expected {expected}"
        )
    return StoredKey(info.key, info.version_id or "", size, sha256)
