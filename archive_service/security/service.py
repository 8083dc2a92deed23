"""Principals, roles and API keys: who is calling and what they may do.

Keys look like ``ak_`` followed by 40 URL-safe characters. Only their first 12 characters (to find
the row) and the SHA-256 of the whole key are stored; the plaintext is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from archive_service.db.base import utcnow
from archive_service.integrity.audit import record_audit
from archive_service.security.masking import MaskingFilter, mask_id_number
from archive_service.security.models import Agency, ApiKey, Role

__all__ = [
    "Action",
    "ApiKeyInfo",
    "ApiKeyNotFound",
    "MaskingFilter",
    "Principal",
    "authenticate",
    "create_api_key",
    "hash_api_key",
    "list_api_keys",
    "mask_id_number",
    "revoke_api_key",
]

KEY_SCHEME = "ak_"
KEY_RANDOM_BYTES = 30  # 40 URL-safe characters
KEY_LENGTH = len(KEY_SCHEME) + 40
PREFIX_LENGTH = 12
MAX_AGENCY_ID_LENGTH = 100
MAX_LABEL_LENGTH = 200


class Action(StrEnum):
    """What a principal may be allowed to do."""

    DEPOSIT = "deposit"
    READ = "read"
    READ_AIP = "read_aip"
    ADMIN = "admin"


_ALLOWED: dict[Action, frozenset[Role]] = {
    Action.DEPOSIT: frozenset({Role.DEPOSITOR, Role.ADMIN}),
    Action.READ: frozenset(Role),
    Action.READ_AIP: frozenset({Role.ARCHIVIST, Role.AUDITOR, Role.ADMIN}),
    Action.ADMIN: frozenset({Role.ADMIN}),
}
_SEES_IDENTITY_NUMBERS = frozenset({Role.ARCHIVIST, Role.ADMIN})

#: What ``authenticate`` reads of the keys sharing a prefix: built once, so every request reuses
#: the compiled statement instead of building and hashing a new one.
_KEYS_BY_PREFIX = select(
    ApiKey.id, ApiKey.key_hash, ApiKey.role, ApiKey.agency_id, ApiKey.revoked_at
).where(ApiKey.prefix == bindparam("prefix"))


@dataclass(frozen=True)
class Principal:
    """The caller of an operation: an API key's role, and its agency for depositors.

    ``key_id`` is ``None`` for the system itself (background work, command line).
    """

    key_id: int | None
    role: Role
    agency_id: str | None

    @property
    def actor(self) -> str:
        """How the audit trail names this principal: ``key:<id>``, or ``system``."""
        return f"key:{self.key_id}" if self.key_id is not None else "system"

    @property
    def sees_identity_numbers(self) -> bool:
        """Whether applicants' identity numbers are shown unmasked (archivist and admin)."""
        return self.role in _SEES_IDENTITY_NUMBERS

    def may(self, action: str) -> bool:
        """Whether the role allows ``action`` (one of :class:`Action`); agency scope aside."""
        try:
            allowed = _ALLOWED[Action(action)]
        except ValueError:
            raise ValueError(f"unknown action {action!r}") from None
        return self.role in allowed

    def can_read_agency(self, agency_id: str | None) -> bool:
        """Whether dossiers of ``agency_id`` may be read: depositors see only their own."""
        if self.role is Role.DEPOSITOR:
            return agency_id is not None and agency_id == self.agency_id
        return True

    def can_deposit_for(self, agency_id: str | None) -> bool:
        """Whether a SIP of ``agency_id`` may be deposited: depositors only for their agency."""
        if not self.may(Action.DEPOSIT):
            return False
        return self.can_read_agency(agency_id)


@dataclass(frozen=True)
class ApiKeyInfo:
    """What may be shown about a stored key (never the key itself)."""

    id: int
    prefix: str
    role: Role
    agency_id: str | None
    label: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class ApiKeyNotFound(LookupError):
    """No API key has this id."""


def hash_api_key(key: str) -> str:
    """SHA-256 (lower-case hex) of a key, as stored."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_api_key(
    session: Session,
    *,
    role: Role | str,
    agency_id: str | None,
    label: str = "",
    actor: str = "cli",
) -> str:
    """Create a key and return its plaintext (shown once; only its hash is kept).

    A depositor key needs ``agency_id`` (its Agency row is created when new); other roles must
    not have one. Raises ``ValueError`` with a message for people otherwise. Audited as
    ``key.created`` (and ``agency.created``) on behalf of ``actor``, in the caller's transaction.
    """
    role = _parse_role(role)
    agency_id = _check_agency(role, agency_id)
    if len(label) > MAX_LABEL_LENGTH:
        raise ValueError(f"Nhãn khóa dài quá {MAX_LABEL_LENGTH} ký tự.")
    if agency_id is not None:
        _ensure_agency(session, agency_id, actor)
    key = KEY_SCHEME + secrets.token_urlsafe(KEY_RANDOM_BYTES)
    row = ApiKey(
        prefix=key[:PREFIX_LENGTH],
        key_hash=hash_api_key(key),
        role=role.value,
        agency_id=agency_id,
        label=label,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="key.created",
        target_type="api_key",
        target_id=str(row.id),
        detail={"role": role.value, "agency_id": agency_id, "label": label},
    )
    return key


def authenticate(reader: Session | Connection, presented: str) -> Principal | None:
    """The principal of an active key, or ``None`` for an unknown, malformed or revoked key.

    ``reader`` is a session or, cheaper for a request, a read connection
    (``Database.read_connection``)."""
    presented = presented.strip()
    if len(presented) != KEY_LENGTH or not presented.startswith(KEY_SCHEME):
        return None
    presented_hash = hash_api_key(presented)
    candidates = reader.execute(_KEYS_BY_PREFIX, {"prefix": presented[:PREFIX_LENGTH]}).all()
    for row in candidates:
        if hmac.compare_digest(row.key_hash, presented_hash):
            if row.revoked_at is not None:
                return None
            return Principal(key_id=row.id, role=Role(row.role), agency_id=row.agency_id)
    return None


def revoke_api_key(session: Session, key_id: int, *, actor: str = "cli") -> ApiKeyInfo:
    """Revoke a key for good (a second revocation keeps the first date). Audited."""
    row = session.get(ApiKey, key_id)
    if row is None:
        raise ApiKeyNotFound(f"Không có khóa API số {key_id}.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        record_audit(
            session,
            actor=actor,
            action="key.revoked",
            target_type="api_key",
            target_id=str(row.id),
            detail={"role": row.role, "agency_id": row.agency_id},
        )
    return _info(row)


def list_api_keys(session: Session) -> list[ApiKeyInfo]:
    """Every key, oldest first."""
    return [_info(row) for row in session.scalars(select(ApiKey).order_by(ApiKey.id))]


def _info(row: ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=row.id,
        prefix=row.prefix,
        role=Role(row.role),
        agency_id=row.agency_id,
        label=row.label,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def _parse_role(role: Role | str) -> Role:
    try:
        return Role(role.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise ValueError(f"Vai trò {role!r} không hợp lệ; chọn một trong: {names}.") from None


def _check_agency(role: Role, agency_id: str | None) -> str | None:
    agency_id = agency_id.strip() if agency_id else None
    if role is Role.DEPOSITOR and not agency_id:
        raise ValueError("Khóa của vai trò depositor phải gắn với một cơ quan (--agency).")
    if role is not Role.DEPOSITOR and agency_id:
        raise ValueError(
            f"Chỉ khóa depositor gắn với cơ quan; vai trò {role.value} không nhận --agency."
        )
    if agency_id and len(agency_id) > MAX_AGENCY_ID_LENGTH:
        raise ValueError(f"Mã cơ quan dài quá {MAX_AGENCY_ID_LENGTH} ký tự.")
    return agency_id


def _ensure_agency(session: Session, agency_id: str, actor: str) -> None:
    if session.get(Agency, agency_id) is not None:
        return
    session.add(Agency(id=agency_id, created_at=utcnow()))
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="agency.created",
        target_type="agency",
        target_id=agency_id,
    )
