"""Which stored objects a fixity run checks, grouped by dossier (one OCFL object each).

Only *current* ``StoredObject`` rows count: a key rewritten in place gets a new row for its new
store version (on S3, the root ``inventory.json`` of every new AIP version), and only the newest
row of a key says what the key must hold now.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, exists, func, select
from sqlalchemy.orm import Session, aliased

from archive_service.db.base import utcnow
from archive_service.db.session import Database
from archive_service.dossiers.models import Dossier, StoredObject
from archive_service.ingest.catalogue import PRIMARY_STORAGE
from archive_service.integrity.fixity_check import Reference

_S = TypeVar("_S", bound=Select[*tuple[Any, ...]])

DOSSIER_PAGE = 200
ID_BATCH = 500


class ScopeKind(StrEnum):
    ALL = "all"
    DOSSIER = "dossier"
    AGENCY = "agency"
    SCHEDULED = "scheduled"  # the objects the scheduler found due


@dataclass(frozen=True)
class FixityScope:
    """What a run checks: everything, a dossier (by code), an agency (by id), or given objects."""

    kind: ScopeKind
    value: str | None = None
    object_ids: tuple[int, ...] = field(default=(), repr=False)

    @classmethod
    def everything(cls) -> FixityScope:
        return cls(ScopeKind.ALL)

    @classmethod
    def dossier(cls, dossier_code: str) -> FixityScope:
        return cls(ScopeKind.DOSSIER, dossier_code)

    @classmethod
    def agency(cls, agency_id: str) -> FixityScope:
        return cls(ScopeKind.AGENCY, agency_id)

    @classmethod
    def objects(cls, stored_object_ids: Iterable[int]) -> FixityScope:
        ids = tuple(sorted(set(stored_object_ids)))
        return cls(ScopeKind.SCHEDULED, f"{len(ids)} đối tượng đến hạn", ids)


@dataclass(frozen=True)
class DossierGroup:
    """The current objects of one dossier (``dossier_id`` ``None``: objects of no dossier)."""

    dossier_id: int | None
    dossier_code: str | None
    ocfl_object_id: str | None
    references: tuple[Reference, ...]


def is_current() -> ColumnElement[bool]:
    """SQL condition: this ``StoredObject`` row is the newest of its key."""
    newer = aliased(StoredObject)
    return ~exists().where(
        newer.storage == StoredObject.storage,
        newer.key == StoredObject.key,
        newer.id > StoredObject.id,
    )


def last_verified() -> ColumnElement[datetime]:
    """SQL value: when the bytes were last proven (a fixity check, else the ingest read-back)."""
    return func.coalesce(StoredObject.last_checked_at, StoredObject.stored_at)


def current_primary_objects() -> Select[StoredObject]:
    """Current rows of the primary store."""
    return select(StoredObject).where(StoredObject.storage == PRIMARY_STORAGE, is_current())


def overdue_objects(session: Session, cycle_days: float, now: datetime | None = None) -> int:
    """Current objects whose bytes were not proven intact within the last cycle."""
    limit = (now or utcnow()) - timedelta(days=cycle_days)
    current = current_primary_objects().where(last_verified() < limit).subquery()
    return int(session.scalar(select(func.count()).select_from(current)) or 0)


def scope_size(session: Session, scope: FixityScope) -> tuple[int, int]:
    """(objects, bytes) a run over ``scope`` checks."""
    query = _scoped(
        select(func.count(StoredObject.id), func.coalesce(func.sum(StoredObject.size), 0)).where(
            StoredObject.storage == PRIMARY_STORAGE, is_current()
        ),
        scope,
    )
    if scope.kind is ScopeKind.SCHEDULED:
        objects = bytes_ = 0
        for batch in _batches(scope.object_ids):
            count, size = session.execute(query.where(StoredObject.id.in_(batch))).one()
            objects, bytes_ = objects + int(count), bytes_ + int(size)
        return objects, bytes_
    count, size = session.execute(query).one()
    return int(count), int(size)


def dossier_exists(session: Session, dossier_code: str) -> bool:
    return (
        session.scalar(select(Dossier.id).where(Dossier.dossier_code == dossier_code)) is not None
    )


def groups(database: Database, scope: FixityScope) -> Iterator[DossierGroup]:
    """The objects of ``scope``, one dossier at a time, read in short read-only sessions."""
    if scope.kind is ScopeKind.SCHEDULED:
        yield from _scheduled_groups(database, scope.object_ids)
        return
    after = 0
    while True:
        with database.read_session() as session:
            page = session.execute(
                _dossier_filter(
                    select(Dossier.id, Dossier.dossier_code, Dossier.aip_object_id)
                    .where(Dossier.id > after)
                    .order_by(Dossier.id)
                    .limit(DOSSIER_PAGE),
                    scope,
                )
            ).all()
            loaded = [(row, _references(session, row.id)) for row in page]
        for row, references in loaded:
            yield DossierGroup(row.id, row.dossier_code, row.aip_object_id, references)
        if len(page) < DOSSIER_PAGE:
            break
        after = page[-1].id
    if scope.kind is ScopeKind.ALL:
        with database.read_session() as session:
            orphans = _references(session, None)
        if orphans:
            yield DossierGroup(None, None, None, orphans)


def reference_of(row: StoredObject) -> Reference:
    return Reference(
        stored_object_id=row.id,
        dossier_id=row.dossier_id,
        storage=row.storage,
        key=row.key,
        version_id=row.version_id,
        aip_version=row.aip_version,
        size=row.size,
        sha256=row.sha256,
    )


def _scoped(query: _S, scope: FixityScope) -> _S:
    if scope.kind in (ScopeKind.DOSSIER, ScopeKind.AGENCY):
        query = query.join(Dossier, Dossier.id == StoredObject.dossier_id)
        return _dossier_filter(query, scope)
    return query


def _dossier_filter(query: _S, scope: FixityScope) -> _S:
    if scope.kind is ScopeKind.DOSSIER:
        return query.where(Dossier.dossier_code == scope.value)
    if scope.kind is ScopeKind.AGENCY:
        return query.where(Dossier.agency_id == scope.value)
    return query


def _references(session: Session, dossier_id: int | None) -> tuple[Reference, ...]:
    query = current_primary_objects().order_by(StoredObject.key)
    if dossier_id is None:
        query = query.where(StoredObject.dossier_id.is_(None))
    else:
        query = query.where(StoredObject.dossier_id == dossier_id)
    return tuple(reference_of(row) for row in session.scalars(query))


def _scheduled_groups(database: Database, object_ids: Sequence[int]) -> Iterator[DossierGroup]:
    by_dossier: dict[int | None, list[Reference]] = {}
    with database.read_session() as session:
        for batch in _batches(object_ids):
            rows = session.scalars(current_primary_objects().where(StoredObject.id.in_(batch)))
            for row in rows:
                by_dossier.setdefault(row.dossier_id, []).append(reference_of(row))
        known = [dossier_id for dossier_id in by_dossier if dossier_id is not None]
        dossiers = {
            row.id: row
            for batch in _batches(known)
            for row in session.execute(
                select(Dossier.id, Dossier.dossier_code, Dossier.aip_object_id).where(
                    Dossier.id.in_(batch)
                )
            )
        }
    for dossier_id in sorted(by_dossier, key=lambda d: -1 if d is None else d):
        references = tuple(sorted(by_dossier[dossier_id], key=lambda r: r.key))
        dossier = dossiers.get(dossier_id) if dossier_id is not None else None
        yield DossierGroup(
            dossier_id,
            dossier.dossier_code if dossier else None,
            dossier.aip_object_id if dossier else None,
            references,
        )


def _batches(values: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), ID_BATCH):
        yield values[start : start + ID_BATCH]
