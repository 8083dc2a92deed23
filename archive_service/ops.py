"""Probes for operators and orchestrators: liveness (``/healthz``) and readiness (``/readyz``).

Readiness checks what a request needs: the database answers and its schema is current, the
object store can be used, and the broker answers when one is configured. Any failure gives
``503`` in the API's error shape with one detail per failed check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import text

from archive_service import __version__
from archive_service.config import Settings
from archive_service.db.migrate import require_up_to_date
from archive_service.db.session import Database
from archive_service.errors import ApiError, unavailable
from archive_service.storage.base import ObjectStore

BROKER_TIMEOUT_SECONDS = 3.0
IN_PROCESS = "in-process"

router = APIRouter(tags=["ops"])


class Health(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "ok", "version": "0.1.0"}]}
    )

    status: str
    version: str


class Readiness(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ready",
                    "checks": {"database": "ok", "storage": "ok", "broker": IN_PROCESS},
                }
            ]
        }
    )

    status: str
    checks: dict[str, str]


@router.get("/healthz", response_model=Health, summary="Liveness")
def healthz() -> Health:
    """The process answers."""
    return Health(status="ok", version=__version__)


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness (database, storage, broker)",
    responses={503: {"description": "A dependency cannot be used now"}},
)
def readyz(request: Request) -> Readiness:
    """Every dependency the service needs can be used now."""
    state = request.app.state
    checks: dict[str, Callable[[], str]] = {
        "database": lambda: check_database(state.database),
        "storage": lambda: check_storage(state.store),
        "broker": lambda: check_broker(state.settings),
    }
    results: dict[str, str] = {}
    failures: list[dict[str, Any]] = []
    for name, check in checks.items():
        try:
            results[name] = check()
        except Exception as exc:  # every failure is reported, whatever it is
            results[name] = "failed"
            failures.append({"check": name, "message": f"{type(exc).__name__}: {exc}"})
    if failures:
        raise _not_ready(failures)
    return Readiness(status="ready", checks=results)


def check_database(database: Database) -> str:
    """``SELECT 1`` answers and the schema is at the head revision."""
    with database.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    require_up_to_date(database.engine)
    return "ok"


def check_storage(store: ObjectStore) -> str:
    """The object store can be used (``StorageUnavailable`` otherwise)."""
    store.check()
    return "ok"


def check_broker(settings: Settings) -> str:
    """The broker accepts a connection; without one, tasks run in-process."""
    if not settings.broker_url:
        return IN_PROCESS
    from kombu import Connection

    with Connection(settings.broker_url, connect_timeout=BROKER_TIMEOUT_SECONDS) as connection:
        connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
    return "ok"


def _not_ready(failures: list[dict[str, Any]]) -> ApiError:
    names = ", ".join(failure["check"] for failure in failures)
    return unavailable(f"Dịch vụ chưa sẵn sàng: {names}.", code="NOT_READY", details=failures)
