"""Small helpers shared by the retention routes."""

from __future__ import annotations

from fastapi import Request


def client_address(request: Request) -> str | None:
    """The caller's address, for the audit trail."""
    return request.client.host if request.client else None
