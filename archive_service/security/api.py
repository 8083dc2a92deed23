"""FastAPI dependencies of access control: who is calling (401) and whether they may (403).

They read the database from ``request.app.state.database`` (a
:class:`archive_service.db.session.Database`, set by the application factory). Use them as::

    @router.get("/…")
    def handler(principal: Annotated[Principal, Depends(require(Role.ARCHIVIST))]) -> …

The authenticated principal is also left on ``request.state.principal``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from archive_service.db.session import Database
from archive_service.errors import forbidden, unauthorized
from archive_service.security.models import Role
from archive_service.security.service import Action, Principal, authenticate

__all__ = ["CurrentPrincipal", "bearer_scheme", "current_principal", "require", "require_action"]

logger = logging.getLogger(__name__)

#: Declares ``Authorization: Bearer <api key>`` in the OpenAPI document (``Authorize`` in /docs).
bearer_scheme = HTTPBearer(
    auto_error=False,
    bearerFormat="API key",
    description="Khóa API do `archive admin create-key` cấp: `Authorization: Bearer ak_…`.",
)


def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """The principal of the request's API key.

    401 ``AUTH_REQUIRED`` without an ``Authorization`` header; 401 ``AUTH_INVALID`` for another
    scheme, an unknown key or a revoked key (both with ``WWW-Authenticate: Bearer``).
    """
    if credentials is None:
        if request.headers.get("Authorization") is None:
            raise unauthorized(
                "Cần khóa API: gửi tiêu đề `Authorization: Bearer <khóa>`.",
                code="AUTH_REQUIRED",
            )
        raise _invalid_key()
    database: Database = request.app.state.database
    with database.read_connection() as connection:  # never queues behind writers
        principal = authenticate(connection, credentials.credentials)
    if principal is None:
        logger.warning("refused an unknown or revoked API key from %s", _client(request))
        raise _invalid_key()
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting ``roles`` (and always ``admin``); 403 ``FORBIDDEN`` otherwise."""
    allowed = frozenset(roles) | {Role.ADMIN}

    async def role_allowed(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            raise _forbidden(principal)
        return principal

    return role_allowed


def require_action(action: Action) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting the roles that may do ``action``; 403 ``FORBIDDEN`` otherwise."""

    async def action_allowed(principal: CurrentPrincipal) -> Principal:
        if not principal.may(action):
            raise _forbidden(principal)
        return principal

    return action_allowed


def _invalid_key() -> Exception:
    return unauthorized("Khóa API không hợp lệ hoặc đã bị thu hồi.", code="AUTH_INVALID")


def _forbidden(principal: Principal) -> Exception:
    return forbidden(f"Vai trò {principal.role.value} không được phép thực hiện thao tác này.")


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"
