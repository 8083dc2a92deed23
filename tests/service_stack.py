"""Whole archive services for end-to-end tests and benchmarks, started and stopped in one place.

- ``embedded_service(directory)``: ``archive serve`` on a data directory (SQLite, filesystem
  storage, pipeline in-process) — the zero-set-up default.
- ``production_service(directory, …)``: PostgreSQL (a fresh database unless one is given),
  an S3 server (SeaweedFS of its own unless one is given) with a fresh versioned Object Lock
  bucket, ``archive worker`` processes over Redis (a Redis database of its own, flushed at the
  end) and ``archive serve``.

Both migrate the database (``archive db upgrade``), create a depositor key for the agency of the
sample dossiers (``AGENCY_ID``; other keys: ``service.server.create_key``), and stop every
process and remove what they made when left.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import redis
from sqlalchemy import create_engine, text

from archive_service.storage.s3 import ensure_bucket, make_client
from tests.factories import DOSSIER_CODE
from tests.integration.api_client import ArchiveServer, start_server

if TYPE_CHECKING:
    from tests.integration.worker_process import WorkerProcess

#: The agency of the dossier codes made by ``tests.factories`` (``000.00.19.H56-…``).
AGENCY_ID = DOSSIER_CODE.split("-")[0]
POSTGRES_SERVER_URL = os.environ.get(
    "ARCHIVE_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
REDIS_SERVER_URL = os.environ.get("ARCHIVE_TEST_REDIS_URL", "redis://127.0.0.1:6379")
REDIS_CLAIM_KEY = "archive-test:claimed-by"


@dataclass(frozen=True)
class S3Endpoint:
    """Where an S3-compatible server listens and the keys to use it."""

    endpoint: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"


@dataclass(frozen=True)
class RunningService:
    """A started archive service: its server, a depositor key, and what runs it."""

    server: ArchiveServer
    depositor_key: str
    description: str
    workers: tuple[WorkerProcess, ...] = ()

    @property
    def url(self) -> str:
        return self.server.base_url


# --- the two stacks --------------------------------------------------------------------------


@contextmanager
def embedded_service(
    directory: Path, settings: Mapping[str, str] | None = None
) -> Iterator[RunningService]:
    """``archive serve`` on ``directory/archive-data``: SQLite, files, pipeline in-process
    (``settings``: extra ``ARCHIVE_*`` variables)."""
    with _serving(directory / "archive-data", dict(settings or {})) as server:
        yield _with_keys(server, "embedded: SQLite + filesystem + in-process pipeline")


@contextmanager
def production_service(
    directory: Path,
    *,
    workers: int = 1,
    database_url: str | None = None,
    s3: S3Endpoint | None = None,
) -> Iterator[RunningService]:
    """PostgreSQL + S3 (Object Lock bucket) + ``archive worker`` over Redis + ``archive serve``.

    ``workers`` worker processes are started (each runs one deposit at a time).
    """
    from tests.integration.worker_process import start_worker

    with ExitStack() as stack:
        if database_url is None:
            database_url = stack.enter_context(postgres_database())
        if s3 is None:
            s3 = stack.enter_context(seaweedfs(directory / "seaweedfs"))
        broker_url = stack.enter_context(redis_database())
        settings = {
            "ARCHIVE_DATABASE_URL": database_url,
            "ARCHIVE_STORAGE_URL": f"s3://{fresh_bucket(s3)}",
            "ARCHIVE_S3_ENDPOINT": s3.endpoint,
            "ARCHIVE_S3_ACCESS_KEY": s3.access_key,
            "ARCHIVE_S3_SECRET_KEY": s3.secret_key,
            "ARCHIVE_S3_REGION": s3.region,
            "ARCHIVE_BROKER_URL": broker_url,
        }
        server = stack.enter_context(_serving(directory / "archive-data", settings))
        started = []
        for _ in range(workers):
            started.append(start_worker(server.environment))
            stack.callback(started[-1].stop)
        yield _with_keys(
            server,
            f"production: PostgreSQL + S3 ({s3.endpoint}) + {workers} Celery worker(s) over Redis",
            tuple(started),
        )


@contextmanager
def _serving(data_dir: Path, settings: Mapping[str, str]) -> Iterator[ArchiveServer]:
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = start_server(data_dir, settings)
    try:
        yield server
    finally:
        server.stop()


def _with_keys(
    server: ArchiveServer, description: str, workers: tuple[WorkerProcess, ...] = ()
) -> RunningService:
    return RunningService(
        server=server,
        depositor_key=server.create_key("depositor", AGENCY_ID),
        description=description,
        workers=workers,
    )


# --- resources -------------------------------------------------------------------------------


@contextmanager
def postgres_database(server_url: str = POSTGRES_SERVER_URL) -> Iterator[str]:
    """A new, empty PostgreSQL database (its URL), dropped with everything in it afterwards."""
    name = f"archive_stack_{uuid.uuid4().hex[:12]}"
    _postgres_admin(server_url, f'CREATE DATABASE "{name}"')
    base, _, _ = server_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        _postgres_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _postgres_admin(server_url: str, statement: str) -> None:
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


@contextmanager
def redis_database(server_url: str = REDIS_SERVER_URL) -> Iterator[str]:
    """The URL of an empty Redis database claimed for this run only; flushed afterwards.

    A database is claimed by writing a marker key into it while it is empty (``SET NX``), so
    that concurrent runs (pytest-xdist workers, a benchmark) never share one.
    """
    with redis.Redis.from_url(f"{server_url}/0") as probe:
        count = int(probe.config_get("databases").get("databases", 16))
    owner = uuid.uuid4().hex
    for number in random.sample(range(1, count), count - 1):
        with redis.Redis.from_url(f"{server_url}/{number}") as client:
            if client.dbsize() != 0 or not client.set(REDIS_CLAIM_KEY, owner, nx=True):
                continue
            try:
                yield f"{server_url}/{number}"
            finally:
                client.flushdb()
            return
    raise RuntimeError(f"no empty Redis database left on {server_url}")


def fresh_bucket(s3: S3Endpoint) -> str:
    """A new bucket with versioning and Object Lock."""
    bucket = f"stack-{uuid.uuid4().hex[:20]}"
    client = make_client(s3.endpoint, s3.access_key, s3.secret_key, region=s3.region)
    ensure_bucket(client, bucket, object_lock=True)
    return bucket


@contextmanager
def seaweedfs(state_dir: Path) -> Iterator[S3Endpoint]:
    """A SeaweedFS S3 server of its own (started by the test harness's script), then stopped."""
    from tests.s3server.servers import start_server as start_s3_server
    from tests.s3server.servers import stop_server as stop_s3_server

    state_dir.mkdir(parents=True, exist_ok=True)
    server = start_s3_server("seaweedfs", state_dir)
    try:
        yield S3Endpoint(server.endpoint, server.access_key, server.secret_key, server.region)
    finally:
        stop_s3_server("seaweedfs", state_dir)
