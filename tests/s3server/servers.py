"""Start, share and stop the S3 test servers of ``tests/s3server/<name>.sh``.

Every script has the same interface (``start STATE_DIR PORT`` / ``stop STATE_DIR``, see
README.md). pytest-xdist workers of one session share each server: the first worker to need it
starts it, the last one to finish stops it (a count of users kept under a file lock).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import random
import socket
import subprocess
import tempfile
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from minio import Minio

from archive_service.storage.s3 import ensure_bucket, make_client

SCRIPTS = Path(__file__).resolve().parent
SERVERS_VARIABLE = "ARCHIVE_TEST_S3_SERVERS"
DEFAULT_SERVERS = "seaweedfs"
SCRIPT_TIMEOUT = 600  # seconds; each script enforces its own, shorter, start timeout
PORT_BLOCK = 16  # consecutive free ports offered: a script may use PORT .. PORT + 15
START_ATTEMPTS = 3  # a start that fails (a port taken meanwhile) is tried again on new ports


@dataclass(frozen=True)
class ServerKind:
    """What the tests must know of a server beyond its script ``<name>.sh``."""

    server_checksum: bool  # verifies x-amz-checksum-sha256 on single-part uploads


KINDS: dict[str, ServerKind] = {
    "seaweedfs": ServerKind(server_checksum=True),
    "ceph": ServerKind(server_checksum=False),
}


class ServerStartError(RuntimeError):
    """A test server could not be started."""


@dataclass(frozen=True)
class S3Server:
    """A running test server, as described by the ``env`` file its script wrote."""

    name: str
    endpoint: str
    access_key: str
    secret_key: str
    region: str
    state_dir: Path
    kind: ServerKind

    def client(self) -> Minio:
        """A client of this server with the default retries and timeouts."""
        return make_client(self.endpoint, self.access_key, self.secret_key, region=self.region)

    def archive_settings(self, bucket: str) -> dict[str, str]:
        """The archive's settings (``Settings`` field names) for storing in ``bucket`` here."""
        return {
            "storage_url": f"s3://{bucket}",
            "s3_endpoint": self.endpoint,
            "s3_access_key": self.access_key,
            "s3_secret_key": self.secret_key,
            "s3_region": self.region,
        }


def requested_servers() -> list[str]:
    """The names in ARCHIVE_TEST_S3_SERVERS (comma-separated; default: seaweedfs)."""
    raw = os.environ.get(SERVERS_VARIABLE, DEFAULT_SERVERS)
    names = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in names if name not in KINDS]
    if unknown:
        raise ValueError(f"{SERVERS_VARIABLE}: unknown S3 servers {unknown}; known: {list(KINDS)}")
    return names


def start_server(name: str, state_dir: Path, attempts: int = START_ATTEMPTS) -> S3Server:
    """Run ``<name>.sh start`` on a free port block; raise ServerStartError when it fails.

    A port found free can be taken by another server starting at the same moment (parallel
    test workers) before ours binds it: a failed start is tried again on new ports."""
    for attempt in range(1, attempts + 1):
        try:
            return _start_once(name, state_dir)
        except ServerStartError:
            if attempt == attempts:
                raise
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                stop_server(name, state_dir)
    raise AssertionError("unreachable")


def _start_once(name: str, state_dir: Path) -> S3Server:
    script = SCRIPTS / f"{name}.sh"
    if not script.is_file():
        raise ServerStartError(f"{name}: no script {script}")
    port = free_port_block(PORT_BLOCK)
    try:
        completed = subprocess.run(
            [str(script), "start", str(state_dir), str(port)],
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        stop_server(name, state_dir)
        raise ServerStartError(f"{name}: {script.name} start did not return in time") from exc
    if completed.returncode != 0:
        raise ServerStartError(
            f"{name}: {script.name} start failed (exit {completed.returncode}):\n"
            f"{completed.stderr.strip() or completed.stdout.strip()}"
        )
    return read_server(name, state_dir)


def stop_server(name: str, state_dir: Path) -> None:
    """Run ``<name>.sh stop``; its failure is reported, not hidden."""
    subprocess.run(
        [str(SCRIPTS / f"{name}.sh"), "stop", str(state_dir)],
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
        check=True,
    )


def read_server(name: str, state_dir: Path) -> S3Server:
    """The server described by ``STATE_DIR/env`` (KEY=VALUE lines)."""
    lines = (state_dir / "env").read_text(encoding="utf-8").splitlines()
    values = dict(line.split("=", 1) for line in lines if "=" in line)
    return S3Server(
        name=name,
        endpoint=values["S3_ENDPOINT"],
        access_key=values["S3_ACCESS_KEY"],
        secret_key=values["S3_SECRET_KEY"],
        region=values.get("S3_REGION", "us-east-1"),
        state_dir=state_dir,
        kind=KINDS[name],
    )


@contextmanager
def shared_server(name: str, shared_dir: Path) -> Iterator[S3Server]:
    """Join the server ``name`` of this test session, starting it if nobody runs it now."""
    home = shared_dir / f"s3-{name}"
    home.mkdir(parents=True, exist_ok=True)
    with _exclusive(home / "lock"):
        state_dir = _join(name, home)
    try:
        yield read_server(name, state_dir)
    finally:
        with _exclusive(home / "lock"):
            _leave(name, home, state_dir)


def _join(name: str, home: Path) -> Path:
    users_file = home / "users.json"
    if users_file.exists():
        users = json.loads(users_file.read_text())
        users["count"] += 1
        users_file.write_text(json.dumps(users))
        return Path(users["state_dir"])
    state_dir = Path(tempfile.mkdtemp(prefix="run-", dir=home))  # scripts want a fresh one
    start_server(name, state_dir)
    users_file.write_text(json.dumps({"state_dir": str(state_dir), "count": 1}))
    return state_dir


def _leave(name: str, home: Path, state_dir: Path) -> None:
    users_file = home / "users.json"
    users = json.loads(users_file.read_text())
    users["count"] -= 1
    if users["count"] > 0:
        users_file.write_text(json.dumps(users))
        return
    users_file.unlink()
    stop_server(name, state_dir)


@contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class BucketPool:
    """Fresh buckets (versioning, Object Lock), prepared in the background ahead of need.

    A server may spend a while on the first write into a new bucket (SeaweedFS allocates a
    volume for it: about 0.2 s); preparing a few buckets in parallel hides that wait.
    """

    def __init__(self, client: Minio, ahead: int = 4) -> None:
        self._client = client
        self._executor = ThreadPoolExecutor(ahead, thread_name_prefix="bucket-pool")
        self._ready: deque[Future[str]] = deque(
            self._executor.submit(self._prepare) for _ in range(ahead)
        )

    def take(self) -> str:
        """A new empty bucket that no one else uses."""
        future = self._ready.popleft()
        self._ready.append(self._executor.submit(self._prepare))
        return future.result()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _prepare(self) -> str:
        bucket = f"t-{uuid.uuid4().hex[:24]}"
        ensure_bucket(self._client, bucket, object_lock=True)
        written = self._client.put_object(bucket, "warm-up", io.BytesIO(b"x"), 1)
        self._client.remove_object(bucket, "warm-up", version_id=written.version_id)
        return bucket


def free_port_block(count: int, attempts: int = 200) -> int:
    """The first of ``count`` consecutive ports free on 127.0.0.1, below the ephemeral range."""
    for _ in range(attempts):
        first = random.randrange(20000, 32000 - count)
        if all(_is_free(port) for port in range(first, first + count)):
            return first
    raise ServerStartError(f"no {count} consecutive free ports found")


def closed_port() -> socket.socket:
    """A socket bound (not listening) on 127.0.0.1: connections to its port are refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
