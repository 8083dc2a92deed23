"""FastAPI application factory: wiring of the services, routers, error shape and lifespan.

``create_app(settings)`` opens what the service needs — the database (which must be migrated),
the OCFL repository in the configured store, the task dispatcher — builds the services on them
and mounts the routers: ``/api/v1/deposits``, ``/api/v1/dossiers``, ``/healthz`` and
``/readyz``. The dispatcher starts with the application (the in-process one resumes unfinished
deposits) and stops with it.

``prepare_first_run(settings)`` is what ``archive serve`` calls before ``create_app``: on the
embedded default it creates the data directory and migrates the SQLite database; on any database
it creates the storage root and, when no API key exists yet, a first admin key to print.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
from fastapi import APIRouter, FastAPI
from sqlalchemy import func, select

from archive_service import __version__
from archive_service.config import Settings, get_settings
from archive_service.db.cli import sqlite_file
from archive_service.db.migrate import (
    DatabaseNotMigrated,
    current_revision,
    head_revision,
    require_up_to_date,
    upgrade,
)
from archive_service.db.session import Database
from archive_service.dossiers.api import DOSSIER_ERRORS
from archive_service.dossiers.api import router as dossiers_router
from archive_service.dossiers.service import DossierService
from archive_service.errors import install_domain_errors, install_error_handlers
from archive_service.ingest.api import DEPOSIT_ERRORS
from archive_service.ingest.api import router as deposits_router
from archive_service.ingest.dispatch import make_dispatcher
from archive_service.ingest.service import DepositService
from archive_service.ingest.status_bell import StatusBell
from archive_service.integrity.audit_api import router as audit_router
from archive_service.integrity.checkpoint_schedule import start_checkpoint_background
from archive_service.integrity.fixity_api import router as fixity_router
from archive_service.integrity.fixity_api import start_fixity_background
from archive_service.integrity.replica_schedule import start_replica_background
from archive_service.metrics import router as metrics_router
from archive_service.ops import router as ops_router
from archive_service.security.models import ApiKey, Role
from archive_service.security.service import create_api_key
from archive_service.storage.setup import open_archive_repository
from retention.api import install_retention
from retention.startup import start_recompute_background

API_PREFIX = "/api/v1"
FIRST_ADMIN_KEY_LABEL = "first admin key (archive serve)"

DESCRIPTION = """\
Lưu trữ hồ sơ thủ tục hành chính (TTHC) điện tử: gói SIP/AIP theo Thông tư 05/2025 (E-ARK CSIP,
METS, PREMIS), lưu dưới dạng đối tượng OCFL.

**Xác thực**: `Authorization: Bearer <khóa API>` (khóa do `archive admin create-key` cấp).
Vai trò: `depositor` (một cơ quan), `archivist`, `auditor`, `admin`.

**Lỗi**: mọi lỗi có dạng `{"error": {"code", "message", "details": [...]}}`; `code` ổn định
cho chương trình, `message` cho người đọc.
"""

TAGS = [
    {"name": "deposits", "description": "Nộp lưu hồ sơ (gói SIP ZIP hoặc tệp rời) và trạng thái."},
    {"name": "dossiers", "description": "Tra cứu hồ sơ đã lưu trữ, tải tài liệu và gói AIP."},
    {"name": "ops", "description": "Kiểm tra hoạt động và sẵn sàng của dịch vụ."},
]


def create_app(settings: Settings | None = None) -> FastAPI:
    """The HTTP application for ``settings`` (default: the process settings).

    Raises ``DatabaseNotMigrated`` when the database is missing or not at the current schema.
    """
    settings = settings or get_settings()
    database = open_migrated_database(settings)
    repository = open_archive_repository(settings)
    dispatcher = make_dispatcher(settings)
    deposits = DepositService(settings, database, repository, dispatcher)
    status_bell = StatusBell()
    dispatcher.on_task_end(status_bell.ring)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(dispatcher.start, deposits)
        stop_fixity = start_fixity_background(app)
        stop_checkpoints = start_checkpoint_background(settings, database, repository.store)
        stop_replica = start_replica_background(settings, database, repository.store)
        stop_recompute = start_recompute_background(app)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(stop_recompute)
            await anyio.to_thread.run_sync(stop_replica)
            await anyio.to_thread.run_sync(stop_checkpoints)
            await anyio.to_thread.run_sync(stop_fixity)
            await anyio.to_thread.run_sync(dispatcher.close)
            await anyio.to_thread.run_sync(deposits.pipeline.close)
            database.dispose()

    app = FastAPI(
        title="Archive service",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.repository = repository
    app.state.store = repository.store
    app.state.dispatcher = dispatcher
    app.state.deposits = deposits
    app.state.status_bell = status_bell
    app.state.dossiers = DossierService(database, repository)
    install_error_handlers(app)
    install_domain_errors(app, {**DEPOSIT_ERRORS, **DOSSIER_ERRORS})
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(deposits_router)
    api.include_router(dossiers_router)
    api.include_router(fixity_router)
    api.include_router(audit_router)
    install_retention(app, api)
    app.include_router(api)
    app.include_router(ops_router)
    app.include_router(metrics_router)
    return app


def open_migrated_database(settings: Settings) -> Database:
    """The configured database; ``DatabaseNotMigrated`` unless its schema is current.

    A missing SQLite file is reported without creating it.
    """
    url = settings.effective_database_url()
    file = sqlite_file(url)
    if file is not None and not file.exists():
        raise DatabaseNotMigrated(
            f"Chưa có cơ sở dữ liệu {file}: chạy `archive db upgrade` trước khi khởi động dịch vụ."
        )
    database = Database(url)
    try:
        require_up_to_date(database.engine)
    except BaseException:
        database.dispose()
        raise
    return database


@dataclass(frozen=True)
class FirstRun:
    """What ``prepare_first_run`` did: migrated the embedded database, made a first key."""

    migrated: bool
    admin_key: str | None


def prepare_first_run(settings: Settings) -> FirstRun:
    """Make the embedded default usable: data directory, schema, storage root, a first key.

    Migrates only the embedded SQLite database (no ``ARCHIVE_DATABASE_URL``); a configured
    database must be migrated with ``archive db upgrade``. Creates an admin key (returned, to be
    shown once) only when the database has no API key at all.
    """
    migrated = False
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        url = settings.effective_database_url()
        database = Database(url)
        try:
            if current_revision(database.engine) != head_revision():
                upgrade(url)
                migrated = True
        finally:
            database.dispose()
    database = open_migrated_database(settings)
    try:
        open_archive_repository(settings)
        settings.staging_dir.mkdir(parents=True, exist_ok=True)
        with database.session() as session:
            if session.scalar(select(func.count(ApiKey.id))):
                return FirstRun(migrated, None)
            key = create_api_key(
                session,
                role=Role.ADMIN,
                agency_id=None,
                label=FIRST_ADMIN_KEY_LABEL,
                actor="system",
            )
        return FirstRun(migrated, key)
    finally:
        database.dispose()
