"""The audit trail on SQLite and PostgreSQL: written in the caller's transaction, append-only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from archive_service.db.models import AuditEntry
from archive_service.db.session import Database
from archive_service.integrity.audit import AuditTrailIsAppendOnly, record_audit
from archive_service.security.models import Role


def entries(database: Database) -> list[AuditEntry]:
    with database.session() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_an_entry_records_who_what_on_what_from_where_and_when(database: Database) -> None:
    before = datetime.now(UTC)
    with database.session() as session:
        written = record_audit(
            session,
            actor="key:7",
            role=Role.AUDITOR,
            action="document.read",
            target_type="document",
            target_id="000.00.12.H12-240610-0001/2",
            remote_addr="203.0.113.9",
            detail={"bytes": 1234, "range": "0-99"},
        )
        assert written.id is not None
    after = datetime.now(UTC)
    [entry] = entries(database)
    assert entry.id == written.id
    assert (entry.actor, entry.role, entry.action) == ("key:7", "auditor", "document.read")
    assert (entry.target_type, entry.target_id) == ("document", "000.00.12.H12-240610-0001/2")
    assert entry.remote_addr == "203.0.113.9"
    assert entry.detail == {"bytes": 1234, "range": "0-99"}
    assert before <= entry.at <= after
    assert entry.at.tzinfo is not None


def test_optional_fields_default_to_empty(database: Database) -> None:
    with database.session() as session:
        record_audit(session, actor="system", action="deposit.archived")
    [entry] = entries(database)
    assert (entry.role, entry.target_type, entry.target_id, entry.remote_addr) == (
        None,
        None,
        None,
        None,
    )
    assert entry.detail == {}


def test_entries_belong_to_the_callers_transaction(database: Database) -> None:
    with pytest.raises(RuntimeError), database.session() as session:
        record_audit(session, actor="system", action="deposit.checking", target_id="d1")
        raise RuntimeError("the work failed after the entry was written")
    assert entries(database) == []
    with database.session() as session:
        record_audit(session, actor="system", action="deposit.checking", target_id="d1")
        record_audit(session, actor="system", action="deposit.packaging", target_id="d1")
    assert [e.action for e in entries(database)] == ["deposit.checking", "deposit.packaging"]


def test_identity_numbers_in_details_are_masked_before_they_are_written(
    database: Database,
) -> None:
    with database.session() as session:
        record_audit(
            session,
            actor="key:3",
            action="dossier.read",
            detail={"query": "038090001234", "applicants": [{"id": "123456789"}], "page": 2},
        )
    [entry] = entries(database)
    assert entry.detail == {
        "query": "0380******34",
        "applicants": [{"id": "1234***89"}],
        "page": 2,
    }


def test_entries_can_be_neither_changed_nor_deleted(database: Database) -> None:
    with database.session() as session:
        record_audit(session, actor="key:1", action="key.created", target_id="1")
    with pytest.raises(AuditTrailIsAppendOnly), database.session() as session:
        entry = session.scalars(select(AuditEntry)).one()
        entry.actor = "someone else"
    with pytest.raises(AuditTrailIsAppendOnly), database.session() as session:
        session.delete(session.scalars(select(AuditEntry)).one())
    [entry] = entries(database)
    assert entry.actor == "key:1"


MALFORMED: list[tuple[dict[str, Any], str]] = [
    ({"actor": "", "action": "x"}, "actor"),
    ({"actor": "system", "action": ""}, "action"),
    ({"actor": "system", "action": "x", "target_id": "t" * 201}, "target_id"),
    ({"actor": "a" * 201, "action": "x"}, "actor"),
]


def test_malformed_entries_are_refused_and_nothing_is_written(database: Database) -> None:
    for fields, message in MALFORMED:
        with pytest.raises(ValueError, match=message), database.session() as session:
            record_audit(session, **fields)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0
