"""The second witness of a fixity check: the digests an OCFL object's inventory gives its content.

The root inventory is read through ``OcflRepository.inventory``, which checks it against its
sidecar digest. When it cannot be read (gone, damaged, storage down) the content files are still
compared with the database, and the reason is noted; the inventory's own key is checked like any
other object and fails there.
"""

from __future__ import annotations

from archive_service.integrity.fixity_check import NOT_LISTED, InventoryDigest
from archive_service.storage.base import StorageError
from archive_service.storage.ocfl import OcflRepository
from archive_service.storage.ocfl_inventory import CONTENT_DIRECTORY, version_number


class InventoryDigests:
    """Key → what the inventory of one OCFL object says of it."""

    def __init__(
        self, root: str | None, by_path: dict[str, str] | None, problem: str | None
    ) -> None:
        self._root = root
        self._by_path = by_path
        self._problem = problem

    @classmethod
    def absent(cls) -> InventoryDigests:
        """For objects of no OCFL object (no dossier): nothing to compare with."""
        return cls(None, None, None)

    @classmethod
    def load(cls, repository: OcflRepository, ocfl_object_id: str) -> InventoryDigests:
        """The manifest of the object's committed root inventory, or why it cannot be read."""
        root = repository.object_root(ocfl_object_id)
        try:
            inventory = repository.inventory(ocfl_object_id)
        except (StorageError, ValueError, KeyError) as exc:
            return cls(root, None, f"không đối chiếu được với inventory OCFL: {exc}")
        by_path = {
            path: digest for digest, paths in inventory["manifest"].items() for path in paths
        }
        return cls(root, by_path, None)

    def for_key(self, key: str) -> InventoryDigest:
        """The inventory digest of a content key; ``NOT_LISTED`` for the object's other keys."""
        if self._root is None:
            return NOT_LISTED
        prefix = f"{self._root}/"
        if not key.startswith(prefix):
            return InventoryDigest(
                problem=f"khóa {key} nằm ngoài đối tượng OCFL {self._root}", contradicts=True
            )
        path = key[len(prefix) :]
        if not _is_content_path(path):
            return NOT_LISTED
        if self._by_path is None:
            return InventoryDigest(problem=self._problem)
        digest = self._by_path.get(path)
        if digest is None:
            return InventoryDigest(
                problem=f"tệp {path} không có trong manifest của inventory OCFL", contradicts=True
            )
        return InventoryDigest(sha256=digest)


def _is_content_path(path: str) -> bool:
    """``vN/content/…``: a content file, listed in the manifest."""
    parts = path.split("/", 2)
    return (
        len(parts) == 3 and version_number(parts[0]) is not None and parts[1] == CONTENT_DIRECTORY
    )
