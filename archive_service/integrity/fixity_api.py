"""HTTP routes of fixity for auditors: verify a dossier now, start and read runs, the report.

Thin: parse, call ``FixityService``, shape the answer. The service lives on ``app.state.fixity``
(made on first use); ``start_fixity_background(app)`` also starts the in-process scheduler of the
embedded default and returns the function that stops both (call it from the app's lifespan).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from pydantic import BaseModel, Field, model_validator

from archive_service.errors import error_responses, not_found
from archive_service.integrity.fixity_report import FixityReport
from archive_service.integrity.fixity_service import (
    FixityRunNotFound,
    FixityService,
    UnknownAgency,
    UnknownDossier,
)
from archive_service.integrity.fixity_targets import FixityScope, ScopeKind
from archive_service.integrity.fixity_views import ChecksShown, RunDetail, RunPage, RunView
from archive_service.integrity.repair import open_replica_store
from archive_service.integrity.scheduler import FixityScheduler
from archive_service.packages.mets import VN_TZ
from archive_service.security.api import require
from archive_service.security.models import Role
from archive_service.security.service import Principal

router = APIRouter(tags=["fixity"])
Auditor = Annotated[Principal, Depends(require(Role.AUDITOR))]

_SERVICE_LOCK = threading.Lock()


def fixity_service_of(app: FastAPI) -> FixityService:
    """The application's fixity service, made on first use from its settings and storage."""
    with _SERVICE_LOCK:
        service: FixityService | None = getattr(app.state, "fixity", None)
        if service is None:
            settings = app.state.settings
            service = FixityService(
                settings,
                app.state.database,
                app.state.repository,
                replica=open_replica_store(settings),
            )
            app.state.fixity = service
        return service


def start_fixity_background(app: FastAPI) -> Callable[[], None]:
    """Start the in-process fixity scheduler (embedded default: no broker, scheduler enabled);
    return the function that stops it and the service's background runs."""
    service = fixity_service_of(app)
    settings = service.settings
    scheduler = None
    if settings.fixity_scheduler and not settings.broker_url:
        scheduler = FixityScheduler(service.run_due, settings.fixity_tick_seconds)
        scheduler.start()

    def stop() -> None:
        if scheduler is not None:
            scheduler.stop()
        service.close()

    return stop


async def _service(request: Request) -> FixityService:
    return fixity_service_of(request.app)


Service = Annotated[FixityService, Depends(_service)]


class RunRequest(BaseModel):
    """What an on-demand run checks."""

    scope: ScopeKind = Field(
        examples=["agency"], description="all, dossier (give dossier_code) or agency (agency_id)"
    )
    dossier_code: str | None = Field(default=None, max_length=100)
    agency_id: str | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _scope_is_complete(self) -> RunRequest:
        wanted = {ScopeKind.DOSSIER: self.dossier_code, ScopeKind.AGENCY: self.agency_id}
        if self.scope is ScopeKind.SCHEDULED:
            raise ValueError("scope must be all, dossier or agency")
        if self.scope in wanted and not wanted[self.scope]:
            raise ValueError(f"scope {self.scope.value} needs its {self.scope.value} id")
        return self

    def fixity_scope(self) -> FixityScope:
        if self.scope is ScopeKind.DOSSIER:
            return FixityScope.dossier(self.dossier_code or "")
        if self.scope is ScopeKind.AGENCY:
            return FixityScope.agency(self.agency_id or "")
        return FixityScope.everything()


@router.post(
    "/dossiers/{dossier_code}/verify",
    response_model=RunDetail,
    summary="Re-hash every stored object of a dossier now (per-file result)",
    responses=error_responses(401, 403, 404),
)
def verify_dossier(principal: Auditor, service: Service, dossier_code: str) -> RunDetail:
    """Synchronous: each current object of the dossier is read from storage, re-hashed and
    compared with the SHA-256 recorded at ingest and with its OCFL inventory; damaged objects
    are repaired from the replica when one is configured. ``status`` is ``passed`` only when
    every object was read and found intact."""
    with _mapped_errors():
        return service.verify_dossier(dossier_code, actor=principal.actor)


@router.post(
    "/fixity/runs",
    response_model=RunView,
    status_code=202,
    summary="Start a fixity run over everything, an agency or a dossier",
    responses=error_responses(401, 403, 404, 422),
)
def start_run(
    principal: Auditor, service: Service, body: RunRequest, response: Response
) -> RunView:
    """The run starts in the background; follow it with ``GET /fixity/runs/{id}``."""
    with _mapped_errors():
        run = service.start_run(body.fixity_scope(), actor=principal.actor)
    response.headers["Location"] = f"/api/v1/fixity/runs/{run.id}"
    return run


@router.get(
    "/fixity/runs",
    response_model=RunPage,
    summary="Fixity runs, newest first",
    responses=error_responses(401, 403, 422),
)
def list_runs(
    _principal: Auditor,
    service: Service,
    status: Annotated[str | None, Query(description="running, passed, failed or error")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> RunPage:
    return service.list_runs(status=status, limit=limit, offset=offset)


@router.get(
    "/fixity/runs/{run_id}",
    response_model=RunDetail,
    summary="A fixity run with its checks",
    responses=error_responses(401, 403, 404, 422),
)
def get_run(
    _principal: Auditor,
    service: Service,
    run_id: int,
    checks: Annotated[
        ChecksShown, Query(description="checks listed: all, failed (default) or none")
    ] = ChecksShown.FAILED,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> RunDetail:
    with _mapped_errors():
        return service.get_run(run_id, checks, limit=limit, offset=offset)


@router.get(
    "/fixity/report",
    response_model=FixityReport,
    summary="Fixity report: coverage, objects and bytes checked, failures, repairs",
    responses=error_responses(401, 403, 422),
)
def report(
    _principal: Auditor,
    service: Service,
    period_from: Annotated[
        datetime | None, Query(alias="from", description="default: one cycle before 'to'")
    ] = None,
    period_to: Annotated[datetime | None, Query(alias="to", description="default: now")] = None,
) -> FixityReport:
    """Times without an offset are Vietnam time (UTC+7)."""
    return service.report(_aware(period_from), _aware(period_to))


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=VN_TZ)


@contextmanager
def _mapped_errors() -> Iterator[None]:
    """Turn the service's refusals into API errors."""
    try:
        yield
    except UnknownDossier as exc:
        raise not_found(str(exc), code="DOSSIER_NOT_FOUND") from exc
    except UnknownAgency as exc:
        raise not_found(str(exc), code="AGENCY_NOT_FOUND") from exc
    except FixityRunNotFound as exc:
        raise not_found(str(exc), code="FIXITY_RUN_NOT_FOUND") from exc
