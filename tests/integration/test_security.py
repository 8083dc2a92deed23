"""API keys and principals on SQLite and PostgreSQL: keys authenticate, nothing else does."""

from __future__ import annotations

import hashlib
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from archive_service.db.models import Agency, ApiKey, AuditEntry, Base
from archive_service.db.session import Database
from archive_service.errors import install_error_handlers
from archive_service.security.api import CurrentPrincipal, require, require_action
from archive_service.security.models import Role
from archive_service.security.service import (
    Action,
    ApiKeyInfo,
    ApiKeyNotFound,
    Principal,
    authenticate,
    create_api_key,
    list_api_keys,
    revoke_api_key,
)

AGENCY = "000.00.12.H12"


def new_key(database: Database, role: Role, agency_id: str | None = None) -> str:
    with database.session() as session:
        return create_api_key(session, role=role, agency_id=agency_id, label="test")


def principal_of(database: Database, key: str) -> Principal | None:
    with database.session() as session:
        return authenticate(session, key)


def test_a_created_key_authenticates_as_its_role_and_agency(database: Database) -> None:
    key = new_key(database, Role.DEPOSITOR, AGENCY)
    assert key.startswith("ak_")
    assert len(key) == 43
    principal = principal_of(database, key)
    assert principal is not None
    assert principal.role is Role.DEPOSITOR
    assert principal.agency_id == AGENCY
    assert principal.actor == f"key:{principal.key_id}"
    archivist = principal_of(database, new_key(database, Role.ARCHIVIST))
    assert archivist is not None
    assert archivist.role is Role.ARCHIVIST
    assert archivist.agency_id is None
    assert archivist.key_id != principal.key_id


def test_wrong_keys_do_not_authenticate(database: Database) -> None:
    key = new_key(database, Role.ADMIN)
    last = "A" if key[-1] != "A" else "B"
    for wrong in [key[:-1] + last, key[:-1], key + "x", key.upper(), "", "Bearer " + key, "ak_"]:
        assert principal_of(database, wrong) is None, wrong
    assert principal_of(database, f"  {key}\n") is not None


def test_a_revoked_key_no_longer_authenticates(database: Database) -> None:
    key = new_key(database, Role.AUDITOR)
    principal = principal_of(database, key)
    assert principal is not None and principal.key_id is not None
    with database.session() as session:
        revoked = revoke_api_key(session, principal.key_id, actor="cli:root")
    assert not revoked.active
    assert principal_of(database, key) is None
    with database.session() as session:
        again = revoke_api_key(session, principal.key_id)
        assert again.revoked_at == revoked.revoked_at
        with pytest.raises(ApiKeyNotFound):
            revoke_api_key(session, principal.key_id + 1000)
        revocations = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "key.revoked")
        ).all()
    assert [(e.actor, e.target_id) for e in revocations] == [("cli:root", str(principal.key_id))]


def test_only_the_hash_of_a_key_is_stored(database: Database) -> None:
    key = new_key(database, Role.DEPOSITOR, AGENCY)
    with database.session() as session:
        row = session.scalars(select(ApiKey)).one()
        assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
        assert row.prefix == key[:12]
        stored_text: list[str] = []
        for table in Base.metadata.sorted_tables:
            for db_row in session.execute(select(table)).all():
                stored_text.extend(str(value) for value in db_row)
    assert stored_text
    assert not [value for value in stored_text if key in value or key[12:] in value]
    assert [info.prefix for info in _keys(database)] == [key[:12]]


def test_a_depositor_key_creates_its_agency_once_and_is_audited(database: Database) -> None:
    first = new_key(database, Role.DEPOSITOR, AGENCY)
    new_key(database, Role.DEPOSITOR, AGENCY)
    with database.session() as session:
        assert session.scalars(select(Agency.id)).all() == [AGENCY]
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [e.action for e in entries] == ["agency.created", "key.created", "key.created"]
    principal = principal_of(database, first)
    assert principal is not None
    created = entries[1]
    assert created.actor == "cli"
    assert created.target_type == "api_key"
    assert created.target_id == str(principal.key_id)
    assert created.detail == {"role": "depositor", "agency_id": AGENCY, "label": "test"}
    assert created.at.tzinfo is not None
    assert (entries[0].target_type, entries[0].target_id) == ("agency", AGENCY)


def test_the_creating_principal_is_the_audited_actor(database: Database) -> None:
    with database.session() as session:
        create_api_key(session, role=Role.ARCHIVIST, agency_id=None, actor="key:1")
        entry = session.scalars(select(AuditEntry)).one()
    assert (entry.actor, entry.action) == ("key:1", "key.created")


WRONG_SCOPES: list[tuple[Role | str, str | None, str]] = [
    (Role.DEPOSITOR, None, "phải gắn với một cơ quan"),
    (Role.DEPOSITOR, "  ", "phải gắn với một cơ quan"),
    (Role.ARCHIVIST, AGENCY, "không nhận --agency"),
    (Role.ADMIN, AGENCY, "không nhận --agency"),
    ("superuser", None, "không hợp lệ"),
]


def test_keys_with_a_wrong_role_or_agency_scope_are_refused_and_leave_nothing(
    database: Database,
) -> None:
    for role, agency_id, message in WRONG_SCOPES:
        with pytest.raises(ValueError, match=message), database.session() as session:
            create_api_key(session, role=role, agency_id=agency_id)
    with database.session() as session:
        for table in (ApiKey, Agency, AuditEntry):
            assert session.scalar(select(func.count()).select_from(table)) == 0


def _keys(database: Database) -> list[ApiKeyInfo]:
    with database.session() as session:
        return list(list_api_keys(session))


# --- role rules -----------------------------------------------------------------------------


def principal(role: Role, agency_id: str | None = None) -> Principal:
    return Principal(key_id=1, role=role, agency_id=agency_id)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.DEPOSITOR, {Action.DEPOSIT, Action.READ}),
        (Role.ARCHIVIST, {Action.READ, Action.READ_AIP}),
        (Role.AUDITOR, {Action.READ, Action.READ_AIP}),
        (Role.ADMIN, set(Action)),
    ],
)
def test_each_role_may_do_exactly_its_actions(role: Role, allowed: set[Action]) -> None:
    someone = principal(role, AGENCY if role is Role.DEPOSITOR else None)
    assert {action for action in Action if someone.may(action)} == allowed
    assert someone.may(next(iter(allowed)).value)
    with pytest.raises(ValueError, match="unknown action"):
        someone.may("delete")


def test_depositors_are_scoped_to_their_agency_and_others_see_all() -> None:
    depositor = principal(Role.DEPOSITOR, AGENCY)
    assert depositor.can_read_agency(AGENCY)
    assert not depositor.can_read_agency("000.00.99.H99")
    assert not depositor.can_read_agency(None)
    assert depositor.can_deposit_for(AGENCY)
    assert not depositor.can_deposit_for("000.00.99.H99")
    for role in (Role.ARCHIVIST, Role.AUDITOR, Role.ADMIN):
        assert principal(role).can_read_agency("000.00.99.H99")
    assert principal(Role.ADMIN).can_deposit_for("000.00.99.H99")
    assert not principal(Role.ARCHIVIST).can_deposit_for(AGENCY)
    assert not principal(Role.AUDITOR).can_deposit_for(AGENCY)


def test_only_archivists_and_admins_see_identity_numbers() -> None:
    seen = {role for role in Role if principal(role).sees_identity_numbers}
    assert seen == {Role.ARCHIVIST, Role.ADMIN}
    assert Principal(key_id=None, role=Role.ADMIN, agency_id=None).actor == "system"


# --- HTTP dependencies ----------------------------------------------------------------------


@pytest.fixture
def client(database: Database) -> TestClient:
    """A real FastAPI application whose routes use the access-control dependencies."""
    app = FastAPI()
    app.state.database = database
    install_error_handlers(app)

    @app.get("/whoami")
    def whoami(who: CurrentPrincipal) -> dict[str, object]:
        return {"role": who.role.value, "agency": who.agency_id, "actor": who.actor}

    @app.get("/archivists")
    def archivists(
        who: Annotated[Principal, Depends(require(Role.ARCHIVIST))],
    ) -> dict[str, str]:
        return {"role": who.role.value}

    @app.get("/aip")
    def aip(who: Annotated[Principal, Depends(require_action(Action.READ_AIP))]) -> dict[str, str]:
        return {"role": who.role.value}

    return TestClient(app)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_valid_key_is_the_request_principal(client: TestClient, database: Database) -> None:
    key = new_key(database, Role.DEPOSITOR, AGENCY)
    response = client.get("/whoami", headers=bearer(key))
    assert response.status_code == 200
    assert response.json()["role"] == "depositor"
    assert response.json()["agency"] == AGENCY
    assert response.json()["actor"].startswith("key:")


def test_a_missing_key_is_401_auth_required(client: TestClient) -> None:
    response = client.get("/whoami")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    error = response.json()["error"]
    assert error["code"] == "AUTH_REQUIRED"
    assert error["message"]
    assert error["details"] == []


def test_unknown_malformed_and_revoked_keys_are_401_auth_invalid(
    client: TestClient, database: Database
) -> None:
    key = new_key(database, Role.ARCHIVIST)
    revoked = new_key(database, Role.ARCHIVIST)
    revoked_principal = principal_of(database, revoked)
    assert revoked_principal is not None and revoked_principal.key_id is not None
    with database.session() as session:
        revoke_api_key(session, revoked_principal.key_id)
    for headers in [
        bearer(key[:-2] + "zz" if not key.endswith("zz") else key[:-2] + "yy"),
        bearer(revoked),
        {"Authorization": f"Basic {key}"},
        {"Authorization": "Bearer"},
    ]:
        response = client.get("/whoami", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "AUTH_INVALID", headers
    assert client.get("/whoami", headers=bearer(key)).status_code == 200


def test_roles_outside_the_requirement_are_403_and_admin_is_always_admitted(
    client: TestClient, database: Database
) -> None:
    keys = {
        role: new_key(database, role, AGENCY if role is Role.DEPOSITOR else None) for role in Role
    }
    archivists = {role: client.get("/archivists", headers=bearer(k)) for role, k in keys.items()}
    aip = {role: client.get("/aip", headers=bearer(k)).status_code for role, k in keys.items()}
    assert {role: r.status_code for role, r in archivists.items()} == {
        Role.DEPOSITOR: 403,
        Role.ARCHIVIST: 200,
        Role.AUDITOR: 403,
        Role.ADMIN: 200,
    }
    assert archivists[Role.AUDITOR].json()["error"]["code"] == "FORBIDDEN"
    assert aip == {Role.DEPOSITOR: 403, Role.ARCHIVIST: 200, Role.AUDITOR: 200, Role.ADMIN: 200}
    assert client.get("/archivists").json()["error"]["code"] == "AUTH_REQUIRED"
