"""The stored object versions of a dossier that carry its retention locks and legal holds."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive_service.dossiers.models import Dossier, StoredObject
from archive_service.storage.ocfl import OcflRepository
from archive_service.storage.ocfl_inventory import INVENTORY_FILE, SIDECAR_FILE


@dataclass(frozen=True)
class ObjectVersion:
    """A stored object version: its key and store version id (``None``: the only one)."""

    key: str
    version_id: str | None


def lock_targets(
    session: Session, dossier: Dossier, repository: OcflRepository
) -> list[ObjectVersion]:
    """Every stored object version of the dossier the catalogue records, except — on a store
    without versions — the root inventory and its sidecar, which each new version rewrites."""
    rows = session.execute(
        select(StoredObject.key, StoredObject.version_id)
        .where(StoredObject.dossier_id == dossier.id)
        .order_by(StoredObject.key, StoredObject.version_id)
    ).all()
    mutable: set[str] = set()
    if not repository.store.capabilities.versioning:
        root = repository.object_root(dossier.aip_object_id)
        mutable = {f"{root}/{INVENTORY_FILE}", f"{root}/{SIDECAR_FILE}"}
    return [ObjectVersion(key, version or None) for key, version in rows if key not in mutable]
