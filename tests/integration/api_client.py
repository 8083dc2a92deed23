"""A real ``archive serve`` in a subprocess, for tests that go through HTTP like a client would.

``start_server(data_dir, env=…)`` runs ``archive db upgrade`` (unless told not to), starts the
server on a free port with ``ARCHIVE_DATA_DIR`` (plus any ``ARCHIVE_…`` settings in ``env``:
database URL, storage, broker …), and waits until ``/healthz`` answers. ``server.create_key``
makes keys with ``archive admin create-key``; ``server.client(key)`` is an ``httpx.Client`` on the
server. ``server.stop()`` ends it (SIGINT, so the lifespan shuts down cleanly) and returns its log.
``spawn_archive``/``stop_process`` do the same for any long-running command (``archive worker``).

``in_process_archive(data_dir)`` is the same application in-process behind a ``TestClient``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from archive_service.app import create_app, prepare_first_run
from archive_service.config import Settings
from archive_service.db.migrate import upgrade
from archive_service.db.session import Database
from archive_service.ingest.models import Deposit
from archive_service.security.service import create_api_key

if TYPE_CHECKING:  # imported where used: scripts that start servers need no test client
    from fastapi.testclient import TestClient

ARCHIVE = [sys.executable, "-m", "archive_service.cli"]
FINAL_STATUSES = frozenset({"archived", "rejected", "failed"})
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def archive_environment(data_dir: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment of ``archive`` commands: no inherited ``ARCHIVE_*`` settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")}
    return {**base, "ARCHIVE_DATA_DIR": str(data_dir), **(env or {})}


def run_archive(
    *args: str, environment: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run an ``archive`` command; fail the test with its output when it does not exit 0."""
    result = subprocess.run(
        [*ARCHIVE, *args],
        capture_output=True,
        text=True,
        env=dict(environment),
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"archive {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return result


@dataclass
class ArchiveServer:
    """A running ``archive serve``."""

    base_url: str
    data_dir: Path
    environment: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def staging_dir(self) -> Path:
        return self.data_dir / "staging"

    @property
    def database_url(self) -> str:
        """The server's database: the one it was given, else its embedded SQLite file."""
        default = f"sqlite:///{(self.data_dir / 'archive.db').resolve()}"
        return self.environment.get("ARCHIVE_DATABASE_URL", default)

    def staging_once_emptied(self, timeout: float = 30.0) -> list[Path]:
        """What staging holds once the server has emptied it (what is left after ``timeout``).

        A deposit reads ``archived`` as soon as its database transaction commits; its task
        removes its staged files just after, so a look right then can still find them.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                left = sorted(self.staging_dir.rglob("*")) if self.staging_dir.exists() else []
            except FileNotFoundError:  # a folder removed by the server while it was listed
                left = [self.staging_dir]
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.05)

    def create_key(self, role: str, agency: str | None = None) -> str:
        """A new API key (``archive admin create-key``)."""
        args = ["admin", "create-key", "--role", role]
        if agency is not None:
            args += ["--agency", agency]
        return run_archive(*args, environment=self.environment).stdout.strip()

    def client(self, key: str | None = None, **options: Any) -> httpx.Client:
        """An HTTP client on the server, authenticated with ``key`` when given."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        options.setdefault("timeout", httpx.Timeout(60.0, connect=10.0))
        return httpx.Client(base_url=self.base_url, headers=headers, **options)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> str:
        """Stop the server (as Ctrl-C would) and return what it logged."""
        stop_process(self.process)
        return self.log()


def spawn_archive(
    *args: str, environment: Mapping[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """Start a long-running ``archive`` command (``serve``, ``worker`` …), output to a file."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [*ARCHIVE, *args], env=dict(environment), stdout=log, stderr=subprocess.STDOUT
        )


def stop_process(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """Interrupt ``process`` (as Ctrl-C would), killing it if it does not end in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_server(
    data_dir: Path,
    env: Mapping[str, str] | None = None,
    *,
    migrate: bool = True,
    log_path: Path | None = None,
) -> ArchiveServer:
    """Start ``archive serve`` on a free port and wait until ``/healthz`` answers."""
    environment = archive_environment(data_dir, env)
    if migrate:
        run_archive("db", "upgrade", environment=environment)
    port = free_port()
    log_path = log_path or data_dir.parent / f"serve-{port}.log"
    process = spawn_archive(
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        environment=environment,
        log_path=log_path,
    )
    server = ArchiveServer(f"http://127.0.0.1:{port}", data_dir, environment, process, log_path)
    try:
        _wait_until_healthy(server)
    except BaseException:
        server.stop()
        raise
    return server


@contextmanager
def running_server(
    data_dir: Path, env: Mapping[str, str] | None = None, **options: Any
) -> Iterator[ArchiveServer]:
    """``start_server`` as a context manager that always stops the server."""
    server = start_server(data_dir, env, **options)
    try:
        yield server
    finally:
        server.stop()


def _wait_until_healthy(server: ArchiveServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    with httpx.Client(base_url=server.base_url, timeout=2.0) as client:
        while True:
            if server.process.poll() is not None:
                raise AssertionError(f"archive serve exited early:\n{server.log()}")
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"archive serve did not answer /healthz:\n{server.log()}")
            time.sleep(0.1)


def wait_for_final_status(
    client: httpx.Client, deposit_id: str, *, timeout: float = 120.0
) -> dict[str, Any]:
    """Poll ``GET /api/v1/deposits/{id}`` until the deposit is at an end; return its JSON."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/api/v1/deposits/{deposit_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] in FINAL_STATUSES:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"deposit {deposit_id} still {body['status']} after {timeout}s")
        time.sleep(0.1)


# --- the same application in-process (TestClient), for the many small request-level tests ------


@dataclass
class InProcessArchive:
    """``create_app`` on a temporary data directory, its lifespan running, with helpers."""

    app: FastAPI
    client: TestClient

    @property
    def settings(self) -> Settings:
        settings: Settings = self.app.state.settings
        return settings

    @property
    def database(self) -> Database:
        database: Database = self.app.state.database
        return database

    @property
    def staging_dir(self) -> Path:
        return self.settings.staging_dir

    def create_key(self, role: str, agency: str | None = None) -> str:
        with self.database.session() as session:
            return create_api_key(session, role=role, agency_id=agency, actor="test")

    def client_for(self, key: str | None, **options: Any) -> TestClient:
        """Another client of the same application (no second lifespan), sending ``key``."""
        from fastapi.testclient import TestClient

        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return TestClient(self.app, headers=headers, **options)

    def deposit_count(self) -> int:
        with self.database.session() as session:
            return int(session.scalar(select(func.count(Deposit.id))) or 0)

    def stored_keys(self) -> list[str]:
        return [info.key for info in self.app.state.repository.store.list("")]

    def staged_files(self) -> list[Path]:
        """What is left in staging once the pipeline is idle.

        A deposit reads ``archived`` as soon as its database transaction commits; the task then
        removes its staged files, so the check waits for the in-process pipeline to finish first.
        """
        assert self.app.state.dispatcher.wait_idle(60), "the pipeline did not become idle"
        return sorted(self.staging_dir.rglob("*")) if self.staging_dir.exists() else []


@contextmanager
def in_process_archive(
    data_dir: Path, *, database_url: str | None = None, **settings: Any
) -> Iterator[InProcessArchive]:
    """The application on ``data_dir`` (embedded SQLite unless ``database_url``), migrated.

    Its pipeline runs on threads unless ``pipeline_processes`` says otherwise: child processes
    would cost every test their start-up, and ``archive serve`` tests cover them."""
    settings.setdefault("pipeline_processes", 0)
    config = Settings(data_dir=data_dir, database_url=database_url, **settings)
    if database_url is not None:
        upgrade(database_url)
    prepare_first_run(config)
    app = create_app(config)
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        yield InProcessArchive(app, client)
